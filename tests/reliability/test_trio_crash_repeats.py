"""The inputs that crashed TrioWorker's process, each sent 100 times (issue 15, "Done when").

One request used to be enough to kill the worker: an h2c upgrade whose
HTTP2-Settings value is not base64 (or badly padded) raised from h2 out of
hypercorn's connection task; a WebSocket upgrade with the first frame in the
same write, and a refused chunked HTTP/1.0 POST followed by a bare CRLF, raced
hypercorn's error reply against another send on the same stream (h11's
``LocalProtocolError``, Trio's ``BusyResourceError``). Each exception ended
the whole worker, and with it every other connection it served.

Each input is sent 100 times, on fresh connections, while a request on
another connection is in flight (its body half sent). The worker must keep
its pid throughout, finish the in-flight request once its body arrives, and
then serve a normal request.
"""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

import pytest

from tests import servers
from tests.reliability.conftest import SOAK
from tests.reliability.differential import (
    HOST,
    PROBES,
    Reply,
    needs_hypercorn,
    parse_replies,
    read_until_close,
)
from tests.reliability.load import connect

pytestmark = [
    needs_hypercorn,
    pytest.mark.timeout(180 * SOAK),
]

CRASHERS = (
    "h2c bad HTTP2-Settings",
    "h2c HTTP2-Settings bad padding",
    "WebSocket upgrade + first frame",
    "refused HTTP/1.0 chunked POST + CRLF",
)
RAW = {probe.name: probe.raw for probe in PROBES if probe.name in CRASHERS}
REPEATS = 100


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (not gone, not a zombie waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def send_once(server: servers.Server, raw: bytes) -> None:
    """Write ``raw`` on a fresh connection, half-close, read until the server closes."""
    with contextlib.closing(connect(server, 2)) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
        read_until_close(sock)


class InFlight:
    """``POST /inflight`` with ``Content-Length: 10``: 5 bytes now, 5 in :meth:`finish`."""

    def __init__(self, server: servers.Server) -> None:
        self.sock = connect(server, 10)
        self.sock.sendall(
            b"POST /inflight HTTP/1.1\r\n" + HOST + b"Content-Length: 10\r\n"
            b"Connection: close\r\n\r\n01234"
        )

    def finish(self) -> list[Reply] | str:
        """The rest of the body; the replies, or what went wrong."""
        try:
            self.sock.sendall(b"56789")
        except OSError as exc:
            return f"the connection was lost ({exc!r})"
        data, error = read_until_close(self.sock)
        self.sock.close()
        return parse_replies(data) or f"no reply ({error or 'closed'}, {data[:80]!r})"


@pytest.mark.parametrize("name", CRASHERS)
def test_an_input_that_crashed_the_worker_leaves_the_same_worker_serving(name: str) -> None:
    raw = RAW[name]
    with servers.gunicorn("recording_app:app", "-k", "safeworkers.TrioWorker", "-w", "1") as server:
        (pid,) = server.worker_pids()
        slow = InFlight(server)
        for sent in range(1, REPEATS * SOAK + 1):
            send_once(server, raw)
            if not alive(pid):
                pytest.fail(
                    f"{name!r} killed worker {pid} at send {sent}/{REPEATS * SOAK}; the "
                    f"request in flight on another connection got: {slow.finish()}\n"
                    f"log:\n{server.log[-5000:]}"
                )
        replies = slow.finish()
        assert replies == [Reply(200, "POST /inflight")], f"in-flight request: {replies}"
        after = server.fetch("/after")
        assert after.status == 200, after
        assert after.headers["x-pid"] == str(pid), f"served by {after.headers['x-pid']}"
        assert server.worker_pids() == {pid}, server.log[-5000:]

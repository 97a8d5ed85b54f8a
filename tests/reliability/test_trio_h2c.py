"""Cleartext HTTP/2 (h2c) on TrioWorker: off by default, gunicorn's setting turns it on.

hypercorn answers ``Upgrade: h2c`` and the HTTP/2 connection preface on any
listener. Behind a proxy that passes ``Upgrade`` through, an h2c upgrade is a
known way past the proxy's rules (the proxy sees one HTTP/1.1 request, the
server then serves any number of HTTP/2 streams), and an HTTP2-Settings value
that is not base64 used to kill the worker (issue 15, items 1 and 2).

By default, as gunicorn's own workers: the upgrade is ignored (the request is
served as HTTP/1.1) and a connection opening with the preface is refused.
gunicorn's ``--http2-cleartext`` (off / prior-knowledge / upgrade / both,
gunicorn >= 26.2; h2 must be in ``--http-protocols``, and the peer in
``forwarded_allow_ips``, which holds 127.0.0.1 by default) turns them on; the
tests with it on run against gunicorn's ``-k asgi`` too, as a reference for the
HTTP/2 client code here.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import ConnectionTerminated, DataReceived, ResponseReceived, StreamEnded

from tests import servers
from tests.reliability.differential import (
    GOOD_SETTINGS,
    Reply,
    Target,
    get,
    h2_client_start,
    h2c_upgrade,
    needs_hypercorn,
    parse_replies,
    read_until_quiet,
)
from tests.reliability.load import connect

pytestmark = [needs_hypercorn, pytest.mark.timeout(180)]

H2C_SETTING = servers.gunicorn_version() >= (26, 2) and servers.gunicorn_has_option(
    "--http2-cleartext", servers.gunicorn_exe()
)
needs_h2c_setting = pytest.mark.skipif(
    not H2C_SETTING, reason="--http2-cleartext is new in gunicorn 26.2"
)
#: gunicorn's settings for h2c by upgrade and by prior knowledge.
H2C_ON = ("--http-protocols", "h1,h2", "--http2-cleartext", "both")
WORKERS = {"TrioWorker": "safeworkers.TrioWorker", "gunicorn asgi": "asgi"}


def _send(server: servers.Server, raw: bytes) -> list[Reply]:
    """``raw`` on a fresh connection; the replies (HTTP/1.x and HTTP/2).

    The client waits for the server to fall quiet before it half-closes:
    gunicorn's asgi worker drops unwritten replies on a half-close.
    """
    with contextlib.closing(connect(server, 2)) as sock:
        with contextlib.suppress(OSError):  # a reset: the replies, if any, are read below
            sock.sendall(raw)
        data, _ = read_until_quiet(sock)
    return parse_replies(data)


# --------------------------------------------------------------------------- defaults


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    log = tmp_path_factory.mktemp("h2c") / "ran.jsonl"
    log.touch()
    with servers.gunicorn(
        "recording_app:app",
        "-k",
        "safeworkers.TrioWorker",
        "-w",
        "1",
        env={"SWTEST_RAN_LOG": str(log)},
    ) as server:
        yield Target("TrioWorker", server, log, half_close=True)


def test_an_h2c_upgrade_is_served_as_http11_by_default(default: Target) -> None:
    outcome = default.send(h2c_upgrade(GOOD_SETTINGS))
    assert outcome.replies == [Reply(200, "GET /h2c")], outcome


def test_the_http2_preface_is_refused_by_default(default: Target) -> None:
    outcome = default.send(h2_client_start(1, b"/prior"))
    assert all(not r.h2 and r.status == 400 for r in outcome.replies), outcome
    assert not outcome.ran, outcome


def test_a_bad_http2_settings_value_is_ignored_by_default(default: Target) -> None:
    outcome = default.send(h2c_upgrade(b"!!!notbase64"))
    assert outcome.replies == [Reply(200, "GET /h2c")], outcome
    assert not outcome.died, outcome


# --------------------------------------------------------------------------- --http2-cleartext both


def _h2(**kwargs: Any) -> H2Connection:
    return H2Connection(H2Configuration(client_side=True, header_encoding=None, **kwargs))


def _response(
    sock: socket.socket, conn: H2Connection, stream: int, data: bytes = b""
) -> dict[bytes, bytes]:
    """Read until ``stream`` ends (``data``: bytes already read); its headers and ``body``."""
    headers: dict[bytes, bytes] = {}
    body = b""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for event in conn.receive_data(data) if data else ():
            if isinstance(event, ResponseReceived) and event.stream_id == stream:
                headers = dict(event.headers)
            elif isinstance(event, DataReceived) and event.stream_id == stream:
                body += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, stream)
            elif isinstance(event, StreamEnded) and event.stream_id == stream:
                return {**headers, b"body": body}
            elif isinstance(event, ConnectionTerminated):
                raise AssertionError(f"GOAWAY before stream {stream} ended: {event}")
        sock.sendall(conn.data_to_send())
        data = sock.recv(65536)
        if not data:
            raise AssertionError(f"closed before stream {stream} ended: {headers}, {body!r}")
    raise AssertionError(f"stream {stream} did not end within 5 s: {headers}, {body!r}")


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """An HTTP/1.1 response head, and the bytes after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"closed after {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


@pytest.fixture(scope="module", params=list(WORKERS))
def h2c_on(request: pytest.FixtureRequest) -> Iterator[tuple[str, servers.Server]]:
    if not H2C_SETTING:
        pytest.skip("--http2-cleartext is new in gunicorn 26.2")
    with servers.gunicorn(
        "recording_app:app", "-k", WORKERS[request.param], "-w", "1", *H2C_ON
    ) as server:
        yield request.param, server


def test_h2c_upgrade_with_the_setting_on(h2c_on: tuple[str, servers.Server]) -> None:
    name, server = h2c_on
    conn = _h2()
    settings = conn.initiate_upgrade_connection()
    with contextlib.closing(connect(server, 5)) as sock:
        sock.sendall(h2c_upgrade(settings, path=b"/upgraded"))
        head, rest = _read_head(sock)
        assert head.startswith(b"HTTP/1.1 101"), f"{name}: {head!r}"
        response = _response(sock, conn, 1, rest)
    assert response[b":status"] == b"200", f"{name}: {response}"
    assert response[b"x-ran"] == b"GET /upgraded", f"{name}: {response}"


def test_prior_knowledge_http2_with_the_setting_on(h2c_on: tuple[str, servers.Server]) -> None:
    name, server = h2c_on
    conn = _h2()
    conn.initiate_connection()
    conn.send_headers(
        1,
        [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/prior"), (b":authority", b"x")],
        end_stream=True,
    )
    with contextlib.closing(connect(server, 5)) as sock:
        response = _response(sock, conn, 1)
    assert response[b":status"] == b"200", f"{name}: {response}"
    assert response[b"x-ran"] == b"GET /prior", f"{name}: {response}"


@pytest.mark.parametrize("value", [b"!!!notbase64", b"AAMAAABkAA="])
def test_a_bad_http2_settings_value_does_not_kill_the_worker_with_the_setting_on(
    h2c_on: tuple[str, servers.Server], value: bytes
) -> None:
    name, server = h2c_on
    pid = server.fetch("/before").headers["x-pid"]
    replies = _send(server, h2c_upgrade(value))
    after = server.fetch("/after")
    assert after.headers.get("x-pid") == pid, (
        f"{name}: worker {pid} died (replies to the bad upgrade: {replies}); "
        f"log:\n{server.log[-4000:]}"
    )
    assert server.worker_pids() == {int(pid)}


@needs_h2c_setting
@pytest.mark.parametrize("worker", list(WORKERS))
def test_h2c_is_refused_to_a_peer_outside_forwarded_allow_ips(worker: str) -> None:
    with servers.gunicorn(
        "recording_app:app",
        "-k",
        WORKERS[worker],
        "-w",
        "1",
        *H2C_ON,
        "--forwarded-allow-ips",
        "10.9.8.7",
    ) as server:
        upgrade = _send(server, h2c_upgrade(GOOD_SETTINGS))
        prior = _send(server, h2_client_start(1, b"/prior"))
        plain = _send(server, get(path=b"/plain"))
    assert upgrade == [Reply(200, "GET /h2c")], f"{worker}: {upgrade}"
    assert all(not r.h2 for r in prior), f"{worker}: {prior}"
    assert plain == [Reply(200, "GET /plain")], f"{worker}: {plain}"

"""TrioWorker against gunicorn's own ``-k asgi`` worker on the same raw bytes (issue 15).

One server of each, one worker each, for the whole module, both running
tests/apps/recording_app.py (it logs every request it runs). Each probe
(tests/reliability/differential.py: transfer-coding and length abuse, chunk
framing, header abuse, request lines, protocol switching, pipelining,
smuggled requests) goes to gunicorn once, as the reference, and to TrioWorker
once, or 30 times for the inputs whose outcome races. TrioWorker may refuse
more than gunicorn, never run more, never die, never lose a reply gunicorn
sends, and every request its app runs gets its own response.

The client half-closes after writing to TrioWorker (as test_hostile.py
does), and waits for gunicorn to fall quiet instead: gunicorn's asgi worker
drops the responses it has not written yet when the client half-closes, so
its answers to a half-closing client are not the reference.

Two checks go beyond upstream, where gunicorn is unsafe too (issue 15, item
6): a request without ``Host`` and a body cut short by the client's close.
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import servers
from tests.reliability.conftest import SOAK
from tests.reliability.differential import (
    HOST,
    PROBES,
    TABLE_HEAD,
    Probe,
    Target,
    get,
    needs_asgi_worker,
    needs_hypercorn,
    parse_replies,
    read_until_close,
    row,
    violations,
)
from tests.reliability.load import connect

pytestmark = [
    needs_hypercorn,
    needs_asgi_worker,
    pytest.mark.timeout(180 * SOAK),
]


@dataclass
class Pair:
    ours: Target
    theirs: Target


def serve(log: Path, worker: str, **env: str) -> contextlib.AbstractContextManager[servers.Server]:
    log.touch()
    return servers.gunicorn(
        "recording_app:app", "-k", worker, "-w", "1", env={"SWTEST_RAN_LOG": str(log), **env}
    )


#: TrioWorker's two HTTP/1.1 paths: its own fast path (the default) and hypercorn's.
PATHS = {"fast path": "1", "hypercorn path": "0"}


@pytest.fixture(scope="module", params=list(PATHS))
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("differential")
    fast = {"SAFEWORKERS_TRIO_FAST": PATHS[request.param]}
    with (
        serve(tmp / "trio.jsonl", "safeworkers.TrioWorker", **fast) as ours,
        serve(tmp / "asgi.jsonl", "asgi") as theirs,
    ):
        yield Pair(
            Target("TrioWorker", ours, tmp / "trio.jsonl", half_close=True),
            Target("gunicorn asgi", theirs, tmp / "asgi.jsonl", half_close=False),
        )


def _id(probe: Probe) -> str:
    return re.sub(r"[^A-Za-z0-9.+*]+", "-", f"{probe.family}-{probe.name}").strip("-")


@pytest.mark.parametrize("probe", PROBES, ids=_id)
def test_trio_worker_refuses_at_least_what_gunicorn_refuses_and_keeps_serving(
    pair: Pair, probe: Probe
) -> None:
    theirs = pair.theirs.send(probe.raw)
    tries = probe.repeats * SOAK
    seen: Counter[str] = Counter()
    rows: list[str] = []
    for _ in range(tries):
        ours = pair.ours.send(probe.raw)
        wrong = violations(probe, ours, theirs)
        seen.update(wrong)
        if wrong and len(rows) < 3:
            rows.append(row(probe.name, ours, theirs, wrong))
    failed = ", ".join(f"{what}: {n}/{tries}" for what, n in seen.items())
    assert not seen, f"{probe.family} / {probe.name}: {failed}\n{TABLE_HEAD}\n" + "\n".join(rows)


# --------------------------------------------------------------------------- beyond upstream


def test_a_request_without_host_is_refused(pair: Pair) -> None:
    # RFC 9112 3.2: a server MUST answer 400 to an HTTP/1.1 request without
    # Host. gunicorn's asgi worker (and every gunicorn worker) answers 200:
    # this asserts TrioWorker only.
    raw = b"GET /nohost HTTP/1.1\r\n\r\n"
    ours = pair.ours.send(raw)
    theirs = pair.theirs.send(raw)
    statuses = [reply.status for reply in ours.replies]
    assert statuses == [400], f"TrioWorker: {ours} (gunicorn asgi: {theirs})"
    assert not ours.ran_keys(), f"TrioWorker ran it: {ours}"


def test_a_body_cut_short_by_the_client_is_an_error_to_the_app(pair: Pair) -> None:
    """Content-Length: 100, 10 bytes, then the client closes: http.disconnect, not a body."""
    target = pair.ours
    with contextlib.closing(connect(target.server, 5)) as sock:
        port = sock.getsockname()[1]
        sock.sendall(
            b"POST /short HTTP/1.1\r\n" + HOST + b"Content-Length: 100\r\n\r\n" + b"x" * 10
        )
        sock.shutdown(socket.SHUT_WR)
        data, _ = read_until_close(sock)
    target.ask_pid()  # the app has logged by the time the worker answers again
    ran = target.ran_by(port)
    assert [(r.method, r.path, r.ended) for r in ran] == [("POST", "/short", "disconnect")], (
        f"the app saw {[str(r) for r in ran]}; the client got {parse_replies(data)}"
    )


def test_the_reference_server_serves_the_plain_requests(pair: Pair) -> None:
    """The comparison means something only if gunicorn's worker serves well-formed input."""
    for target in (pair.theirs, pair.ours):
        outcome = target.send(get(path=b"/plain"))
        assert [(r.status, r.ran) for r in outcome.replies] == [(200, "GET /plain")], (
            f"{target.name}: {outcome}"
        )

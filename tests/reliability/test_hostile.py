"""Hostile clients: at least 1,000 malformed requests per worker, and slow-loris connections.

Every answer must be a 4xx or a closed connection (501 is allowed for a
transfer coding the server does not implement: RFC 9112 6.1 asks for it and
gunicorn sends it), never another 5xx; the worker process must survive (same
pid) and keep serving. On TCP, each worker's answers are compared with
gunicorn's own worker on the same inputs: the WSGI workers (gunicorn's parser)
must answer exactly as their twin; TrioWorker (h11's parser) must refuse
everything gunicorn refuses, except the leniencies RFC 9112 permits that
h11 has (listed below, each one checked to be answered, not crashed on).
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

from tests import servers
from tests.reliability import hostile
from tests.reliability.conftest import (
    SOAK,
    WORKER_TRANSPORTS,
    Spec,
    rss_kib,
    transport,
    twin_args,
    wait_until,
)
from tests.reliability.load import one_request
from tests.reliability.report import record

pytestmark = pytest.mark.timeout(180 * SOAK)

#: Inputs gunicorn refuses that TrioWorker may accept: none since its strict
#: HTTP/1.1 framer (docs/trio.md, "Malformed requests").
STRICT_EXCEPTIONS: frozenset[str] = frozenset()
#: Cases about transfer codings: 501 is a valid refusal for these.
CODINGS = frozenset(name for name in hostile.CASES if name.startswith(("te ", "cl+te", "te+cl")))
#: Requests sent per worker (the corpus, repeated).
ROUNDS = math.ceil(1000 / len(hostile.CASES)) * SOAK


def rejected(status: int | None) -> bool:
    return status is None or 400 <= status < 600


def acceptable(name: str, status: int | None) -> bool:
    """4xx, a close, a 2xx (only where the twin accepts too: checked separately), or 501."""
    if status is None or 200 <= status < 300 or 400 <= status < 500:
        return True
    return status == 501 and name in CODINGS


def same_answer(ours: int | None, theirs: int | None) -> bool:
    """Both refused (a status, when both sent one, the same) or both accepted alike."""
    if rejected(ours) and rejected(theirs):
        return ours is None or theirs is None or ours == theirs
    return ours == theirs


def _loris_size(spec: Spec) -> int:
    # Green and Trio workers read request heads without tying up a thread:
    # fill all but one connection slot. Sync and gthread block a thread per
    # connection being read (as upstream): one stalled client per thread.
    return spec.per_process - 1 if spec.per_process > 4 else spec.per_process


@pytest.mark.parametrize(("spec", "unix"), WORKER_TRANSPORTS)
def test_hostile_requests_get_a_4xx_or_a_close_and_never_kill_the_worker(
    spec: Spec, unix: bool
) -> None:
    with servers.gunicorn(spec.body_app, *spec.worker_args, "-w", "1", unix=unix) as server:
        for _ in range(50):
            assert one_request(server) == 200
        (pid,) = server.worker_pids()
        rss_before = rss_kib(pid)
        answers: dict[str, Counter[int | None]] = {name: Counter() for name in hostile.CASES}
        for _ in range(ROUNDS):
            for name, raw in hostile.CASES.items():
                answers[name][hostile.send_raw(server, raw)] += 1
        loris = _loris_size(spec)
        with hostile.SlowLoris(server, loris) as stalled:
            stalled.trickle()
            if spec.per_process > 4:  # a connection slot is left: it is served
                assert one_request(server, timeout=10) == 200
            held = len(stalled.socks)
        wait_until(lambda: one_request(server) == 200, 30, "served after", lambda: server.log)
        rss_after = rss_kib(pid)
        assert server.worker_pids() == {pid}, f"the worker died\n{server.log[-6000:]}"

    statuses: Counter[int | None] = sum(answers.values(), Counter())
    sent = sum(statuses.values())
    fives = sum(n for s, n in statuses.items() if s is not None and s >= 500)
    record(
        "hostile requests + slow-loris",
        spec.name,
        transport(unix),
        requests=sent,
        failed="-",
        **{
            "non-2xx": sum(n for s, n in statuses.items() if s is None or s >= 300),
            "5xx": f"{fives} (501 only)" if fives else 0,
            "detail": (
                f"{len(hostile.CASES)} kinds; closed {statuses[None]}; loris {held}/{loris} held; "
                f"RSS {rss_before / 1024:.1f} -> {rss_after / 1024:.1f} MiB"
            ),
        },
    )
    assert sent >= 1000
    wrong = {
        name: dict(seen)
        for name, seen in answers.items()
        if not all(acceptable(name, status) for status in seen)
    }
    assert not wrong, wrong
    if not unix:
        _compare_with_gunicorn(
            spec, {name: seen.most_common(1)[0][0] for name, seen in answers.items()}
        )


def _compare_with_gunicorn(spec: Spec, ours: dict[str, int | None]) -> None:
    with servers.gunicorn("body_app:wsgi", *twin_args(spec), "-w", "1") as twin:
        theirs = {name: hostile.send_raw(twin, raw) for name, raw in hostile.CASES.items()}
    if spec.name == "TrioWorker":
        missed = {
            name: (ours[name], theirs[name])
            for name in hostile.CASES
            if rejected(theirs[name]) and not rejected(ours[name]) and name not in STRICT_EXCEPTIONS
        }
        assert not missed, f"gunicorn refuses these, TrioWorker accepts them: {missed}"
        for name in STRICT_EXCEPTIONS:
            assert ours[name] is None or ours[name] < 500, (name, ours[name])
        return
    differ = {
        name: (ours[name], theirs[name])
        for name in hostile.CASES
        if not same_answer(ours[name], theirs[name])
    }
    assert not differ, f"(ours, gunicorn's) differ: {differ}"

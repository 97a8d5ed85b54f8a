"""Reloads, recycling, scaling, stops and crashes under load, for every worker.

Each test runs a real gunicorn (two worker processes) on TCP and on a Unix
socket, with four clients opening a new connection per request (so a lost
connection is a failed request, not a hidden retry), and records its figures
in the reliability summary printed at the end of the run. Counts are small
here (bounded for CI); ``make soak`` multiplies them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

import pytest

from tests import servers
from tests.reliability.conftest import (
    SOAK,
    WORKER_SPECS,
    WORKER_TRANSPORTS,
    Spec,
    scaled,
    transport,
    wait_until,
)
from tests.reliability.load import Load, Stats, connect, one_request, read_all, status_of
from tests.reliability.report import record

pytestmark = pytest.mark.timeout(180 * SOAK)

CLIENTS = 4
WORKERS = 2


def _workers(server: servers.Server, count: int, *, none_of: frozenset[int] = frozenset()) -> float:
    """Wait until the master has ``count`` workers, none of them in ``none_of``."""

    def ready() -> bool:
        now = server.worker_pids()
        return len(now) == count and not (now & none_of)

    return wait_until(ready, 30, f"{count} workers (not {sorted(none_of)})", lambda: server.log)


def _record(scenario: str, spec: Spec, unix: bool, stats: Stats, detail: str = "") -> None:
    errors = ", ".join(f"{n} {kind}" for kind, n in sorted(stats.errors.items()))
    record(
        scenario,
        spec.name,
        transport(unix),
        requests=stats.total,
        failed=stats.failed,
        **{
            "non-2xx": stats.non_2xx,
            "5xx": sum(n for s, n in stats.statuses.items() if s >= 500),
            "detail": "; ".join(p for p in (detail, errors) if p),
        },
    )


def _serve(spec: Spec, unix: bool, *args: str) -> contextlib.AbstractContextManager[servers.Server]:
    return servers.gunicorn(spec.app, *spec.worker_args, "-w", str(WORKERS), *args, unix=unix)


@pytest.mark.parametrize(("spec", "unix"), WORKER_TRANSPORTS)
def test_sighup_twice_under_load_loses_nothing(spec: Spec, unix: bool) -> None:
    reloads = 2 if SOAK == 1 else 2 * SOAK
    took = []
    with _serve(spec, unix) as server, Load(server, clients=CLIENTS) as load:
        load.wait_for(100)
        for _ in range(reloads):
            old = server.worker_pids()
            server.signal(signal.SIGHUP)
            took.append(_workers(server, WORKERS, none_of=frozenset(old)))
            load.wait_for(100)
    stats = load.stats
    _record(f"SIGHUP x{reloads} under load", spec, unix, stats, f"reload {max(took):.1f}s")
    assert stats.failed == 0, f"{stats}\n{server.log[-6000:]}"
    assert stats.non_2xx == 0, stats
    assert stats.ok >= 100 * (1 + reloads)  # the load waited for that many


@pytest.mark.parametrize(("spec", "unix"), WORKER_TRANSPORTS)
def test_max_requests_churn_answers_every_request(spec: Spec, unix: bool) -> None:
    args = ("--max-requests", "20", "--max-requests-jitter", "5")
    wanted = 4 * SOAK  # restarts
    with _serve(spec, unix, *args) as server, Load(server, clients=CLIENTS) as load:
        # 120 requests over two workers recycling every 15-25: five or six restarts.
        load.wait_total(scaled(120), timeout=60)
        # Green workers look at the count on their loop tick (about a second,
        # as upstream), so they may need longer than a burst to recycle.
        wait_until(
            lambda: server.log.count("Autorestarting worker") >= wanted,
            30,
            f"{wanted} restarts",
            lambda: server.log,
        )
        restarts = server.log.count("Autorestarting worker")
    stats = load.stats
    _record("--max-requests 20 churn", spec, unix, stats, f"{restarts} restarts")
    assert stats.non_2xx == 0, stats
    assert stats.failed == 0, f"{stats}\n{server.log[-6000:]}"


@pytest.mark.parametrize(("spec", "unix"), WORKER_TRANSPORTS)
def test_sigterm_lets_slow_requests_in_flight_finish(spec: Spec, unix: bool) -> None:
    """Every request in the app when SIGTERM comes is answered, within graceful_timeout."""
    graceful = 5
    in_flight = min(8, spec.per_process * WORKERS)
    results: list[int | str] = []
    lock = threading.Lock()

    with _serve(spec, unix, "--graceful-timeout", str(graceful)) as server:

        def slow() -> None:
            try:
                status: int | str = one_request(server, "/slow?s=1.2", timeout=15)
            except OSError as exc:
                status = type(exc).__name__
            with lock:
                results.append(status)

        threads = [threading.Thread(target=slow) for _ in range(in_flight)]
        for thread in threads:
            thread.start()
        time.sleep(0.6)  # every request is inside the app (1.2 s) now
        started = time.monotonic()
        server.signal(signal.SIGTERM)
        code = server.wait(timeout=graceful + 10)
        stopped = time.monotonic() - started
        for thread in threads:
            thread.join(timeout=15)
    stats = Stats()
    for status in results:
        if isinstance(status, int):
            stats.statuses[status] += 1
        else:
            stats.errors[status] += 1
    _record("SIGTERM, slow requests in flight", spec, unix, stats, f"stopped in {stopped:.1f}s")
    assert code == 0, server.log[-6000:]
    assert results.count(200) == in_flight, (results, server.log[-6000:])
    assert stopped < graceful, stopped


@pytest.mark.parametrize(("spec", "unix"), WORKER_TRANSPORTS)
def test_ttin_ttou_under_load_loses_nothing(spec: Spec, unix: bool) -> None:
    with _serve(spec, unix) as server, Load(server, clients=CLIENTS) as load:
        load.wait_for(100)
        for _ in range(SOAK):
            # One at a time: the kernel merges a signal sent while one is pending.
            for count in (WORKERS + 1, WORKERS + 2):
                server.signal(signal.SIGTTIN)
                _workers(server, count)
            load.wait_for(100)
            for count in (WORKERS + 1, WORKERS):
                server.signal(signal.SIGTTOU)
                _workers(server, count)
            load.wait_for(100)
    stats = load.stats
    _record("TTIN x2, TTOU x2 under load", spec, unix, stats, "2 -> 4 -> 2 workers")
    assert stats.failed == 0, f"{stats}\n{server.log[-6000:]}"
    assert stats.non_2xx == 0, stats


@pytest.mark.parametrize(("spec", "unix"), WORKER_TRANSPORTS)
def test_sigkill_of_a_worker_is_respawned_and_costs_at_most_its_requests(
    spec: Spec, unix: bool
) -> None:
    """A killed worker takes only the connections it held (at most one per client)."""
    respawns = []
    with _serve(spec, unix) as server, Load(server, clients=CLIENTS) as load:
        load.wait_for(100)
        for _ in range(SOAK):
            victim = min(server.worker_pids())
            os.kill(victim, signal.SIGKILL)
            respawns.append(_workers(server, WORKERS, none_of=frozenset({victim})))
            load.wait_for(100)
    stats = load.stats
    detail = f"respawned in {max(respawns):.1f}s"
    _record("SIGKILL of a worker under load", spec, unix, stats, detail)
    assert stats.failed <= CLIENTS * SOAK, f"{stats}\n{server.log[-6000:]}"
    assert stats.non_2xx == 0, stats
    assert stats.total >= 100 * (1 + SOAK)  # the load waited for that many


@pytest.mark.parametrize("spec", WORKER_SPECS)
def test_a_connection_accepted_before_the_stop_gets_its_request_answered(spec: Spec) -> None:
    """The deterministic form of the SIGHUP race: connect, stop the worker, then ask.

    The connection was accepted (or sits in the backlog) before the stop, so
    gunicorn's workers answer its request; hypercorn's own stop closed it as
    "idle" without reading it.
    """
    with _serve(spec, False, "--keep-alive", "5") as server:
        sock = connect(server)
        with contextlib.closing(sock):
            time.sleep(0.5)  # accepted by a worker (or queued for one)
            server.signal(signal.SIGTERM)
            time.sleep(0.5)  # the stop has begun
            sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            response = read_all(sock)
        code = server.wait(timeout=15)
    assert status_of(response) == 200, (response[:200], server.log[-4000:])
    assert code == 0

"""Blocking drivers under real green workers, against a real PostgreSQL and a real gRPC server.

A C driver waits for its server without going through the patched standard
library: without its cure a green worker serves one request at a time while
it waits. Each test sends parallel requests that wait in the server, and the
server's own clock says whether they waited *at the same time* (every
interval overlaps every other) or one after the other (none overlaps): the
shape of the answer, never a duration, is asserted. The wall time is printed
(``-s``); bench/run.py measures it.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests import postgres, servers

CLI = str(servers.BIN / "safeworkers")
PARALLEL = 8
SLEEP = 0.5


@pytest.fixture(scope="session")
def pg() -> Iterator[postgres.Cluster]:
    """One throwaway PostgreSQL per test process (xdist worker), started here."""
    reason = postgres.unavailable()
    if reason is not None:
        pytest.skip(reason)
    with postgres.cluster() as cluster:
        yield cluster


def waits(server: servers.Server, path: str, n: int) -> tuple[list[tuple[float, float]], float]:
    """``n`` parallel requests; the server-side (start, end) of each, and the wall time."""

    def get(_: int) -> tuple[float, float]:
        response = server.client(timeout=60).get(path)
        assert response.status_code == 200, server.log
        body = response.json()
        return body["started"], body["ended"]

    started = time.monotonic()
    with ThreadPoolExecutor(n) as pool:
        intervals = list(pool.map(get, range(n)))
    return intervals, time.monotonic() - started


def all_at_once(intervals: list[tuple[float, float]]) -> bool:
    """Every request was waiting at one same moment."""
    return max(start for start, _ in intervals) < min(end for _, end in intervals)


def one_at_a_time(intervals: list[tuple[float, float]]) -> bool:
    """No two requests waited at the same moment."""
    ordered = sorted(intervals)
    return all(prev_end <= start for (_, prev_end), (start, _) in itertools.pairwise(ordered))


@pytest.mark.parametrize(
    ("worker", "said"),
    [
        ("GeventWorker", "applied psycogreen.gevent:patch_psycopg: psycopg2 (at pg_app.py:12)"),
        # eventlet.monkey_patch() sets eventlet's own wait callback for psycopg2
        ("EventletWorker", "psycopg2 (at pg_app.py:12) waits on eventlet's hub already"),
    ],
)
def test_psycopg2_is_made_green_and_the_log_says_so(
    worker: str, said: str, pg: postgres.Cluster
) -> None:
    env = {"SWTEST_PG_DSN": pg.dsn}
    with servers.gunicorn("pg_app:app", "-k", f"safeworkers.{worker}", env=env) as server:
        intervals, wall = waits(server, f"/sleep?s={SLEEP}", PARALLEL)
        log = server.log
    print(f"{worker}, cure applied: {PARALLEL} x pg_sleep({SLEEP}) in {wall:.2f} s")
    assert all_at_once(intervals), (intervals, log)
    assert said in log
    assert "without yielding" not in log


def test_without_the_cure_one_request_at_a_time_and_the_warning_says_so(
    pg: postgres.Cluster,
) -> None:
    env = {"SWTEST_PG_DSN": pg.dsn, "SAFEWORKERS_GREEN_DRIVERS": "0"}
    with servers.gunicorn("pg_app:app", "-k", "safeworkers.GeventWorker", env=env) as server:
        intervals, wall = waits(server, f"/sleep?s={SLEEP}", PARALLEL)
        log = server.log
    print(f"GeventWorker, no cure: {PARALLEL} x pg_sleep({SLEEP}) in {wall:.2f} s")
    assert one_at_a_time(intervals), intervals
    warning = next(line for line in log.splitlines() if "without yielding" in line)
    assert "[WARNING] safeworkers GeventWorker: psycopg2 (at pg_app.py:12) waits for " in warning
    assert "one request at a time per worker" in warning
    assert "psycogreen" in warning
    assert "not applied: SAFEWORKERS_GREEN_DRIVERS=0" in warning


def test_eventlet_makes_psycopg2_green_by_itself_and_every_command_says_so(
    pg: postgres.Cluster,
) -> None:
    """eventlet.monkey_patch() sets psycopg2's wait callback (its psycopg patch is on by
    default): nothing to install, nothing to turn on, and recommend says what the worker does."""
    env = {"SWTEST_PG_DSN": pg.dsn, "SAFEWORKERS_GREEN_DRIVERS": "0"}
    with servers.gunicorn("pg_app:app", "-k", "safeworkers.EventletWorker", env=env) as server:
        intervals, _ = waits(server, f"/sleep?s={SLEEP}", 4)
        log = server.log
    assert all_at_once(intervals), (intervals, log)
    assert "psycopg2 (at pg_app.py:12) waits on eventlet's hub already" in log
    said = recommend("pg_app:app", {**env, "SAFEWORKERS_BACKEND": "eventlet"})
    assert (
        "green workers: worth it where the app waits on I/O: psycopg2 (pg_app.py:12) waits on "
        "eventlet's hub: eventlet's own patching makes it green" in said
    )
    assert "blocks eventlet's hub" not in said


def test_a_driver_the_app_imported_through_a_library_is_found_after_the_load(
    pg: postgres.Cluster,
) -> None:
    """The code shows no driver (a library imports it): checked once the app is loaded."""
    env = {"SWTEST_PG_DSN": pg.dsn, "SWTEST_INDIRECT": "pg_app"}
    with servers.gunicorn("indirect_app:app", "-k", "safeworkers.GeventWorker", env=env) as server:
        intervals, _ = waits(server, f"/sleep?s={SLEEP}", 4)
        log = server.log
    assert all_at_once(intervals), (intervals, log)
    assert (
        "applied psycogreen.gevent:patch_psycopg: psycopg2 (imported while the app loaded, "
        "not by the app's own code) now waits on gevent's hub" in log
    )


@pytest.fixture(scope="module")
def grpc_server() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.grpc_server"],
        cwd=servers.ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdin is not None
    try:
        port = int(proc.stdout.readline())
        yield f"127.0.0.1:{port}"
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


def test_grpc_gets_init_gevent_before_the_app_makes_its_channel(grpc_server: str) -> None:
    env = {"SWTEST_GRPC_TARGET": grpc_server}
    with servers.gunicorn("grpc_app:app", "-k", "safeworkers.GeventWorker", env=env) as server:
        intervals, wall = waits(server, f"/call?s={SLEEP}", 4)
        log = server.log
    print(f"GeventWorker, gRPC: 4 x {SLEEP} s calls in {wall:.2f} s")
    assert all_at_once(intervals), (intervals, log)
    assert "applied grpc.experimental.gevent:init_gevent: grpcio (at grpc_app.py:" in log


def test_grpc_imported_by_a_library_names_the_hook_that_cures_it(grpc_server: str) -> None:
    """The worker applies init_gevent() before the app's import only for a grpc the app's code
    shows; through a library, the warning names the after-patch hook, which does cure it."""
    env = {"SWTEST_GRPC_TARGET": grpc_server, "SWTEST_INDIRECT": "grpc_app"}
    argv = ("indirect_app:app", "-k", "safeworkers.GeventWorker")
    with servers.gunicorn(*argv, env=env) as server:
        log = server.log
    warning = next(line for line in log.splitlines() if "without yielding" in line)
    assert "grpcio (imported while the app loaded, not by the app's own code)" in warning
    assert warning.endswith(
        "Cure: grpc.experimental.gevent.init_gevent() after patching, before any channel; the "
        "app's own code does not import it, so this worker did not apply it: set "
        "SAFEWORKERS_AFTER_PATCH=grpc.experimental.gevent:init_gevent (the hook runs after "
        "patching, before the app is imported)"
    )
    assert "eventlet" not in warning
    assert "by itself" not in warning
    hooked = {**env, "SAFEWORKERS_AFTER_PATCH": "grpc.experimental.gevent:init_gevent"}
    with servers.gunicorn(*argv, env=hooked) as server:
        intervals, _ = waits(server, f"/call?s={SLEEP}", 4)
        log = server.log
    assert all_at_once(intervals), (intervals, log)
    assert "without yielding" not in log


def recommend(app: str, env: dict[str, str] | None = None) -> str:
    code, output = servers.run_to_exit([CLI, "recommend", app], env=env)
    assert code == 0, output
    return output


def test_recommend_says_whether_a_green_worker_is_worth_it() -> None:
    """The same facts as the boot log, before deploying; the app is imported (no server)."""
    env = {"SWTEST_PG_DSN": "host=/nonexistent"}
    cured = recommend("pg_app:app", env)
    assert "blocking drivers: psycopg2 at pg_app.py:12" in cured
    assert (
        "green workers: worth it where the app waits on I/O: psycopg2 (pg_app.py:12) is made "
        "green at boot (psycogreen.gevent:patch_psycopg)" in cured
    )
    off = recommend("pg_app:app", {**env, "SAFEWORKERS_GREEN_DRIVERS": "0"})
    assert (
        "green workers: not worth it as things stand: psycopg2 (pg_app.py:12; its cure "
        "psycogreen.gevent:patch_psycopg is installed, not applied: SAFEWORKERS_GREEN_DRIVERS=0)"
        in off
    )
    assert "one request at a time per worker" in off


def test_autoworker_never_claims_concurrency_a_driver_takes_away(tmp_path: object) -> None:
    """A self-patching app with psycopg2 and the cure off: AutoWorker says it blocks."""
    env = {"SWTEST_PG_DSN": "host=/nonexistent", "SAFEWORKERS_GREEN_DRIVERS": "0"}
    output = recommend("pg_selfpatch:app", env)
    assert output.startswith("gunicorn -k safeworkers.GeventWorker")
    assert "serves green I/O concurrently" not in output
    assert "blocks gevent's hub: while it waits the worker serves one request at a time" in output


def test_check_shows_the_warning_under_the_worker_that_gave_it() -> None:
    env = {"SWTEST_PG_DSN": "host=/nonexistent", "SAFEWORKERS_GREEN_DRIVERS": "0"}
    argv = [CLI, "check", "pg_app:app", "--worker", "safeworkers.GeventWorker", "--only"]
    code, output = servers.run_to_exit([*argv, "--chdir", str(servers.TEST_APPS)], env=env)
    assert code == 0, output
    assert "blocking drivers: psycopg2 at pg_app.py:12" in output
    assert "green workers: not worth it as things stand: psycopg2 (pg_app.py:12;" in output
    warns = next(line for line in output.splitlines() if "warns:" in line)
    assert "warns: psycopg2 (at pg_app.py:12) waits for PostgreSQL without yielding" in warns

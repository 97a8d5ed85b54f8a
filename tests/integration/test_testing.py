"""safeworkers.testing on its own: the simulation reaches spawned workers, failures are clear."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from safeworkers import testing
from tests import servers

PROBE_APP = """
import json, select, sys
from safeworkers.simulation import PlatformSimulator

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = json.dumps({
        "simulated": [f.fake for f in sys.meta_path if isinstance(f, PlatformSimulator)],
        "epoll": hasattr(select, "epoll"),
    }).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})
"""


def test_simulation_reaches_hypercorns_spawned_workers_and_chains_sitecustomize(
    tmp_path: Path,
) -> None:
    """hypercorn spawns its workers (a fresh interpreter each): the simulation must be
    installed at interpreter start, and the suite's own sitecustomize must still run."""
    (tmp_path / "probe_app.py").write_text(PROBE_APP)
    env = {"SWTEST_REMOVE_EPOLL": "1"}  # handled by tests/harness/site/sitecustomize.py
    with testing.hypercorn(
        "probe_app:app",
        worker="asyncio",
        simulate="freebsd",
        env=env,
        cwd=tmp_path,
        pythonpath=[servers.SITE, servers.ROOT, tmp_path],
    ) as server:
        facts = json.loads(server.fetch("/").body)
    assert facts == {"simulated": ["freebsd14"], "epoll": False}


def test_bad_simulate_name_fails_before_starting() -> None:
    with (
        pytest.raises(ValueError, match="accepted values are darwin, freebsd"),
        testing.gunicorn("wsgi_plain:app", simulate="windows"),
    ):
        pass


def test_a_server_that_cannot_boot_raises_with_its_log() -> None:
    with (
        pytest.raises(testing.ServerExited) as failure,
        testing.gunicorn(
            "broken_app:app", pythonpath=[servers.TEST_APPS], cwd=servers.ROOT, ready_timeout=30
        ),
    ):
        pass
    assert "DATABASE_URL is not set" in str(failure.value)
    assert failure.value.returncode != 0
    assert "DATABASE_URL is not set" in failure.value.server.log  # readable after the stop


def test_a_prefix_command_runs_the_server_and_the_server_is_what_is_stopped() -> None:
    """``prefix`` (bench/ pins servers with taskset): the command execs the server."""
    with servers.gunicorn("wsgi_plain:app", "-k", "sync") as plain:
        base = os.getpriority(os.PRIO_PROCESS, plain.proc.pid)
    with testing.gunicorn(
        "wsgi_plain:app",
        "-k",
        "sync",
        prefix=("nice", "-n", "3"),
        gunicorn_bin=servers.gunicorn_exe(),
        cwd=servers.ROOT,
        pythonpath=servers.PYTHONPATH,
    ) as server:
        assert server.wait_ready(5, path="/", poll=0.002).status == 200
        assert os.getpriority(os.PRIO_PROCESS, server.proc.pid) == min(base + 3, 19)
        assert server.argv[0] == servers.gunicorn_exe()  # the server's command, without prefix
    assert server.proc.returncode == 0


def test_waiting_on_a_server_that_has_no_log_yet(tmp_path: Path) -> None:
    """A Server view of another process (nginx, in test_deploy_e2e) whose log file does not
    exist yet: the wait looks for a crashed worker in it, and finds none."""
    import subprocess
    import sys

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    server = testing.Server(
        sleeper, tmp_path / "not-yet.log", f"http://127.0.0.1:{testing.free_port()}"
    )
    try:
        with pytest.raises(testing.ServerNotReady) as failure:
            server.wait_ready(timeout=0.5)
        assert not isinstance(failure.value, testing.WorkerCrashed)
    finally:
        sleeper.kill()
        sleeper.wait()

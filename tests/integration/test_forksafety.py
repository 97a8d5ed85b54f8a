"""macOS's fork-safety crash, side by side: upstream `-k sync` dies by signal 6, ours serve.

An app that looks the proxy settings up per request (urllib, requests: tests/apps/
proxy_lookup.py) makes a worker gunicorn forked ask macOS through ``_scproxy``, and the
Objective-C runtime aborts it. On Linux the darwin simulation reproduces it
(safeworkers.simulation: urllib takes its macOS branch, and a stand-in ``_scproxy``
aborts a forked child unless OBJC_DISABLE_INITIALIZE_FORK_SAFETY=YES was set when the
interpreter started). safeworkers' workers serve because their master reads the
settings before forking, in a fresh interpreter, and hands them over.

Marked real_platform: CI's macOS job runs this module on a real Mac with nothing
simulated. There the side-by-side tests check the real thing: ours must serve, and
upstream must either die by a crash signal or is reported as a skip with the reason
(whether a Mac kills it depends on the master having run a thread, which the
simulation assumes). The tests that need simulated system settings skip there.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from safeworkers import simulation, testing
from tests import servers

pytestmark = pytest.mark.real_platform

#: Simulate macOS unless this is one.
SIMULATE = None if sys.platform == "darwin" else "darwin"
OBJC = "OBJC_DISABLE_INITIALIZE_FORK_SAFETY"
OBJC_LINE = "may have been in progress in another thread when fork() was called"
simulation_only = pytest.mark.skipif(
    SIMULATE is None, reason="sets macOS's state through the simulation; a real Mac has its own"
)
URLLIB = "proxy_lookup:urllib_app"
REQUESTS = "proxy_lookup:requests_app"
SCPROXY = "proxy_lookup:scproxy_app"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The servers inherit this environment: no proxy variable, the Objective-C check on."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name == OBJC:
            monkeypatch.delenv(name)


def request(server: testing.Server) -> testing.Fetched | None:
    """One request; None when the worker died under it."""
    try:
        return server.fetch("/", timeout=20)
    except (OSError, http.client.HTTPException):
        return None


def killed_by(server: testing.Server) -> str:
    """The crash signal gunicorn reports a worker was killed by (waits for the line)."""
    server.wait_for_log(" was sent SIG", timeout=20)
    found = testing._crash_line(server.log)
    assert found is not None, server.log
    return found[1]


# ------------------------------------------------------------------ side by side


@pytest.mark.parametrize("app", [URLLIB, REQUESTS])
def test_upstream_sync_dies_by_signal_6(app: str) -> None:
    with servers.gunicorn(app, "-k", "sync", fake_platform=SIMULATE, wait=False) as server:
        server.wait_for_log("Booting worker")
        answer = request(server)
        if answer is not None:
            assert SIMULATE is None, server.log  # simulated, it must die
            pytest.skip(
                "upstream -k sync served on this Mac: its master had not run a thread when it "
                f"forked ({answer.status})"
            )
        signal_name = killed_by(server)
        assert signal_name in ("SIGABRT", "SIGSEGV"), server.log
        if signal_name == "SIGABRT":
            assert OBJC_LINE in server.log


OURS = ("AutoWorker", "SyncWorker", "ThreadWorker", "GeventWorker", "EventletWorker", "TrioWorker")


@pytest.mark.parametrize(
    ("worker", "app"),
    [*((w, URLLIB) for w in OURS), *((w, REQUESTS) for w in ("AutoWorker", "GeventWorker"))],
)
def test_every_safeworkers_worker_serves(worker: str, app: str) -> None:
    args = ("-k", f"safeworkers.{worker}", "-w", "2")
    with servers.gunicorn(app, *args, fake_platform=SIMULATE) as server:
        answers = [request(server) for _ in range(3)]
        assert all(a is not None and a.status == 200 for a in answers), server.log
        data = json.loads(answers[0].body)  # type: ignore[union-attr]
        assert data["handed_over"], data  # the master read them before forking
        if app == REQUESTS:
            assert data["requests"] == "refused"  # proxies looked up, then the closed port
        elif SIMULATE:
            assert data == {**data, "proxies": {"no": "*"}, "bypass": True}
        log = server.log
    assert "proxy settings read before forking and handed to the workers" in log
    # Two workers forked, one warning: the master's, at boot.
    assert log.count(f"{OBJC}=YES was not in the environment when gunicorn started") == 1
    assert " was sent SIG" not in log


# ------------------------------------------------------------------ the handover


@simulation_only
def test_the_system_proxy_settings_reach_the_workers() -> None:
    system = {
        "proxies": {"http": "http://proxy.test:3128", "https": "http://proxy.test:3128"},
        "settings": {"exclude_simple": False, "exceptions": ["*.local", "169.254/16"]},
    }
    env = {"_SAFEWORKERS_SIMULATE_SYSTEM_PROXIES": json.dumps(system)}
    with servers.gunicorn(
        URLLIB, "-k", "safeworkers.SyncWorker", fake_platform=SIMULATE, env=env
    ) as server:
        data = json.loads(server.fetch("/").body)
    assert data["proxies"] == {
        "http": "http://proxy.test:3128",
        "https": "http://proxy.test:3128",
        "no": ".local,169.254.0.0/16",
    }
    assert data["bypass"] is False
    assert data["handed_over"] == "http_proxy,https_proxy,no_proxy"


@simulation_only
def test_the_users_own_proxy_variable_wins() -> None:
    env = {"HTTPS_PROXY": "http://mine.test:8080"}
    with servers.gunicorn(
        URLLIB, "-k", "safeworkers.SyncWorker", fake_platform=SIMULATE, env=env
    ) as server:
        data = json.loads(server.fetch("/").body)
        log = server.log
    assert data["proxies"] == {"https": "http://mine.test:8080"}
    assert data["handed_over"] is None
    assert "proxy settings come from the environment (HTTPS_PROXY)" in log


def test_upstream_workers_served_through_the_config_module() -> None:
    """safeworkers.gunicorn_config's on_starting does the master's part for any worker."""
    with servers.gunicorn(
        URLLIB,
        "-c",
        "python:safeworkers.gunicorn_config",
        "-k",
        "sync",
        "-w",
        "1",
        fake_platform=SIMULATE,
    ) as server:
        assert request(server) is not None, server.log
        assert "handed to the workers" in server.log


# ------------------------------------------------------------------ what only the switch cures


@simulation_only
def test_the_master_names_the_cause_when_a_worker_dies() -> None:
    """An app that calls _scproxy itself: no handover helps; the master's log says what does."""
    with servers.gunicorn(
        SCPROXY, "-k", "safeworkers.SyncWorker", fake_platform=SIMULATE, wait=False
    ) as server:
        server.wait_for_log("Booting worker")
        assert request(server) is None
        server.wait_for_log("safeworkers: worker ")
        log = server.log
    assert killed_by(server) == "SIGABRT"
    line = next(x for x in log.splitlines() if "safeworkers: worker " in x)
    assert "[ERROR]" in line
    assert "was killed by SIGABRT: on macOS this is most often" in line
    assert f"{OBJC}=YES gunicorn" in line


def test_the_switch_at_interpreter_start_cures_it() -> None:
    env = {OBJC: "YES"}
    with servers.gunicorn(SCPROXY, "-k", "sync", fake_platform=SIMULATE, env=env) as server:
        assert request(server) is not None, server.log


@simulation_only
def test_the_switch_set_later_from_python_changes_nothing(tmp_path: Path) -> None:
    """What the runtime does: it reads the variable once, when the process starts."""
    config = tmp_path / "late.conf.py"
    config.write_text(f"import os\nos.environ[{OBJC!r}] = 'YES'\n")
    with servers.gunicorn(
        SCPROXY, "-c", str(config), "-k", "sync", fake_platform=SIMULATE, wait=False
    ) as server:
        server.wait_for_log("Booting worker")
        assert request(server) is None
        assert killed_by(server) == "SIGABRT"


@simulation_only
def test_the_gunicorn_template_restarts_with_the_switch(tmp_path: Path) -> None:
    from tests.integration import deploy

    rendered = deploy.render("gunicorn", tmp_path, "--app", SCPROXY, "--worker", "sync")
    with servers.gunicorn(
        SCPROXY, "-c", str(rendered / "gunicorn.conf.py"), fake_platform=SIMULATE, bind_via_env=True
    ) as server:
        assert request(server) is not None, server.log
        assert f"[safeworkers] restarting with {OBJC}=YES" in server.log


@simulation_only
def test_safeworkers_run_starts_the_interpreter_with_the_switch() -> None:
    with testing.gunicorn(
        SCPROXY,
        worker="sync",
        simulate=SIMULATE,
        env=servers.QUIET,
        cwd=servers.ROOT,
        pythonpath=servers.PYTHONPATH,
        gunicorn_bin=servers.gunicorn_exe(),
        prefix=(str(servers.BIN / "safeworkers"), "run", "--"),
    ) as server:
        assert request(server) is not None, server.log


# ------------------------------------------------------------------ the stand-in itself

FORKS = """
import json, os, sys, urllib.request
print(json.dumps({"parent": urllib.request.getproxies()}), flush=True)
if sys.argv[1] == "late":
    os.environ["OBJC_DISABLE_INITIALIZE_FORK_SAFETY"] = "YES"  # after start: too late
pid = os.fork()
if pid == 0:
    urllib.request.getproxies()
    os._exit(0)
print(json.dumps({"child": os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}), flush=True)
"""


@simulation_only
@pytest.mark.parametrize(
    ("case", "env", "child"),
    [
        ("plain", {}, -6),  # SIGABRT, as the Objective-C runtime does it
        ("late", {}, -6),
        ("plain", {OBJC: "YES"}, 0),
        ("plain", {"no_proxy": "*"}, 0),  # urllib reads the environment: no _scproxy
    ],
)
def test_the_stand_in_aborts_a_forked_child(case: str, env: dict[str, str], child: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", FORKS, case],
        env=simulation.child_env("darwin", {**os.environ, **env}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[0]["parent"] == ({"no": "*"} if "no_proxy" in env else {}), done.stderr
    assert lines[1] == {"child": child}, done.stderr
    assert (OBJC_LINE in done.stderr) is (child != 0)

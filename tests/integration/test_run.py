"""`safeworkers run` and SAFEWORKERS_GUARD_PROCESS with real self-patching processes: a Celery
worker with a green pool, a script that patches and imports httpx, its child processes; and the
command's errors. Each case runs the same command without the guard first (the control)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from safeworkers.facts import distributions
from tests import markers, servers

SAFEWORKERS = str(servers.BIN / "safeworkers")
PYTHON = sys.executable
SCRIPT = str(servers.TEST_APPS / "patch_then_httpx.py")

#: What kills each green process without the guard, on the platform it is tested on.
FAILURE = {
    "eventlet": "no attribute 'sendmsg'",  # Linux: trio's import fails on GreenSocket
    "gevent": "monkey-patched out by gevent",  # macOS/BSD (simulated): no kqueue, no epoll
}
#: The platform each patcher is tested on: where it breaks without the guard.
PLATFORM = {"eventlet": None, "gevent": "darwin"}
PATCHED_SOCKET = {"eventlet": "eventlet.greenio.base", "gevent": "gevent._socket3"}


def child_env(fake_platform: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEWORKERS_")}
    paths = [str(servers.SITE), str(servers.TEST_APPS), str(servers.ROOT)]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONWARNINGS"] = "ignore"
    if markers.simulated(fake_platform):
        env["SWTEST_FAKE_PLATFORM"] = str(fake_platform)
    env.update(extra)
    return env


def run(argv: list[str], env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    proc = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    return proc.returncode, proc.stdout + proc.stderr


def last_json(output: str) -> dict[str, object]:
    lines = [line for line in output.splitlines() if line.startswith("{")]
    assert lines, output
    result: dict[str, object] = json.loads(lines[-1])
    return result


# --------------------------------------------------------------------------- scripts


@pytest.mark.parametrize("patcher", ["eventlet", "gevent"])
def test_script_that_patches_then_imports_httpx(patcher: str) -> None:
    env = child_env(PLATFORM[patcher])
    code, output = run([PYTHON, SCRIPT, patcher], env)
    assert code != 0, output  # the control
    assert FAILURE[patcher] in output, output

    code, output = run([SAFEWORKERS, "run", "--", PYTHON, SCRIPT, patcher], env)
    assert code == 0, output
    assert last_json(output) == {
        "socket": PATCHED_SOCKET[patcher],
        "guarded": True,
        "trio": False,
    }


def test_the_environment_variable_alone_guards_and_child_processes_inherit_it() -> None:
    """For Procfiles, systemd units and containers: no `safeworkers run` needed."""
    code, output = run([PYTHON, SCRIPT, "spawn", "eventlet"], child_env())
    assert code != 0
    assert FAILURE["eventlet"] in output
    env = child_env(SAFEWORKERS_GUARD_PROCESS="1")
    code, output = run([PYTHON, SCRIPT, "spawn", "eventlet"], env)
    assert code == 0, output
    assert last_json(output)["guarded"] is True
    # Set to a false value: no guard.
    code, output = run(
        [PYTHON, SCRIPT, "spawn", "eventlet"], {**env, "SAFEWORKERS_GUARD_PROCESS": "0"}
    )
    assert code != 0
    assert FAILURE["eventlet"] in output


def test_guard_mode_and_modules_settings_apply_at_start_up() -> None:
    code = (
        "import sys, safeworkers.guard as g; "
        "print(g.installed(), sorted(g.guarded_modules()), 'trio' in sys.modules)"
    )
    env = child_env(SAFEWORKERS_GUARD_PROCESS="1", SAFEWORKERS_GUARD_MODULES="trio,mylib")
    assert run([PYTHON, "-c", code], env) == (0, "True ['mylib', 'trio'] False\n")
    env = child_env(SAFEWORKERS_GUARD_PROCESS="1", SAFEWORKERS_GUARD="preimport")
    assert run([PYTHON, "-c", code], env) == (0, "True ['trio'] True\n")
    env = child_env(SAFEWORKERS_GUARD_PROCESS="1", SAFEWORKERS_GUARD="off")
    assert run([PYTHON, "-c", code], env) == (0, "False [] False\n")


def test_a_bad_setting_stops_the_process_at_start_up_with_one_line() -> None:
    env = child_env(SAFEWORKERS_GUARD_PROCESS="1", SAFEWORKERS_GUARD="sometimes")
    code, output = run([PYTHON, "-c", "print('ran')"], env)
    assert code == 2
    assert output.startswith(
        "safeworkers: SAFEWORKERS_GUARD='sometimes' is not valid: accepted values are guard, "
        "preimport, off (checked at start-up because SAFEWORKERS_GUARD_PROCESS is set"
    ), output
    assert len(output.splitlines()) == 1, output
    # Switched off, the other settings are not its business.
    env["SAFEWORKERS_GUARD_PROCESS"] = "off"
    assert run([PYTHON, "-c", "print('ran')"], env) == (0, "ran\n")
    code, output = run(
        [PYTHON, "-c", "print('ran')"], child_env(SAFEWORKERS_GUARD_PROCESS="perhaps")
    )
    assert code == 2
    assert "SAFEWORKERS_GUARD_PROCESS='perhaps' is not valid" in output


def test_unset_the_hook_imports_nothing() -> None:
    """The cost when the variable is unset is one dict lookup: safeworkers is not imported."""
    code = "import sys; print(sorted(m for m in sys.modules if m.startswith('safeworkers')))"
    assert run([PYTHON, "-c", code], child_env()) == (0, "[]\n")


# --------------------------------------------------------------------------- the command


def test_command_not_found() -> None:
    code, output = run(
        [SAFEWORKERS, "run", "--", "celery-that-is-not-installed", "worker"], child_env()
    )
    assert code == 127
    assert output.startswith(
        "safeworkers run: command not found: 'celery-that-is-not-installed' is not on PATH"
    ), output
    assert "Traceback" not in output
    code, output = run([SAFEWORKERS, "run", "/no/such/dir/celery"], child_env())
    assert code == 127
    assert "command not found: /no/such/dir/celery (no such file)" in output


def test_not_executable_and_no_command(tmp_path: Path) -> None:
    script = tmp_path / "tasks.py"
    script.write_text("print('hi')\n")
    code, output = run([SAFEWORKERS, "run", str(script)], child_env())
    assert code == 126
    assert f"safeworkers run: {script} is not an executable file" in output
    for argv in ([SAFEWORKERS, "run"], [SAFEWORKERS, "run", "--"]):
        code, output = run(argv, child_env())
        assert code == 2, output
        assert "safeworkers run: no COMMAND given" in output, output


def test_bad_setting_is_refused_before_running_anything() -> None:
    env = child_env(SAFEWORKERS_BACKEND="geventt")
    code, output = run([SAFEWORKERS, "run", "--", PYTHON, "-c", "print('ran')"], env)
    assert code == 2
    assert "safeworkers run: SAFEWORKERS_BACKEND='geventt' is not valid" in output
    assert "ran" not in output


def test_exec_keeps_the_exit_status_and_arguments() -> None:
    code, output = run(
        [
            SAFEWORKERS,
            "run",
            PYTHON,
            "-c",
            "import sys; print(sys.argv[1:]); sys.exit(7)",
            "-x",
            "--",
            "y",
        ],
        child_env(),
    )
    assert (code, output) == (7, "['-x', '--', 'y']\n")


#: The interpreter this virtualenv was made from (``sys._base_executable`` names the
#: venv's own on Python 3.10, so it is found from ``sys.base_prefix``).
BASE_PYTHON = Path(sys.base_prefix, "bin", f"python{sys.version_info[0]}.{sys.version_info[1]}")


@pytest.mark.skipif(
    sys.prefix == sys.base_prefix or not BASE_PYTHON.exists(),
    reason="needs a venv, whose base Python lacks safeworkers",
)
def test_a_command_on_another_python_without_safeworkers_is_refused() -> None:
    other = str(BASE_PYTHON)
    code, output = run([SAFEWORKERS, "run", "--", other, "-c", "print('ran')"], child_env())
    assert code == 2, output
    assert f"runs {other}, not this Python" in output
    assert "No module named 'safeworkers'" in output
    assert "-m pip install safeworkers" in output


# --------------------------------------------------------------------------- Celery


@pytest.fixture(scope="module")
def upstream() -> Iterator[servers.Server]:
    """An HTTP server for the task's module-level httpx client to call."""
    with servers.gunicorn("wsgi_plain:app", "-k", "sync") as server:
        yield server


@contextlib.contextmanager
def celery_worker(
    argv: list[str], env: dict[str, str], log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # warm shutdown
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def wait_for_log(proc: subprocess.Popen[bytes], log_path: Path, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = log_path.read_text(errors="replace")
        if text in log:
            return log
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not logged (exit {proc.poll()}); log:\n{log_path.read_text()}")


@pytest.mark.parametrize("pool", ["eventlet", "gevent"])
def test_celery_green_pool_with_a_module_level_httpx_client(
    pool: str, upstream: servers.Server, tmp_path: Path
) -> None:
    from celery import Celery

    from tests.apps.celery_httpx_tasks import configure

    env = child_env(PLATFORM[pool], SWTEST_CELERY_DIR=str(tmp_path))
    worker = [
        str(servers.BIN / "celery"),
        "-A",
        "celery_httpx_tasks",
        "worker",
        "-P",
        pool,
        "-c",
        "4",
        "-n",
        f"{pool}-{os.getpid()}@localhost",
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
        "--loglevel",
        "INFO",
    ]

    # The control: plain celery dies while it loads the tasks module, or, where eventlet's
    # own import reaches trio (dnspython's DNS-over-HTTPS chain: doctor's
    # eventlet-import-imports-trio), while it imports eventlet.
    code, output = run(worker, env)
    assert code != 0, output
    assert FAILURE[pool] in output, output
    assert "Unable to load celery application" in output or (
        pool == "eventlet" and "eventlet" in distributions.trio_importers()
    )

    log_path = tmp_path / "worker.log"
    with celery_worker([SAFEWORKERS, "run", "--", *worker], env, log_path) as proc:
        wait_for_log(proc, log_path, " ready.", timeout=60)
        sender = Celery("sender")
        configure(sender, str(tmp_path))
        result = sender.send_task("celery_httpx_tasks.fetch", args=[upstream.url + "/from-task"])
        answer = result.get(timeout=30)
    assert answer["status"] == 200
    assert str(answer["body"]).startswith("GET /from-task ")
    assert answer["socket"] == PATCHED_SOCKET[pool]
    assert answer["trio_import"] == "BackendUnavailable"
    assert answer["guarded"] is True
    assert proc.returncode == 0, log_path.read_text()


# --------------------------------------------------------------------------- locust


def test_locust_with_an_httpx_client_in_the_locustfile(upstream: servers.Server) -> None:
    """`import locust` patches with gevent; the locustfile's httpx import then dies on macOS."""
    env = child_env(PLATFORM["gevent"])
    locust = [str(servers.BIN / "locust"), "-f", str(servers.TEST_APPS / "locust_httpx.py")]
    locust += ["--headless", "--users", "1", "--spawn-rate", "1", "--run-time", "1s"]
    locust += ["--host", upstream.url, "--only-summary", "--json", "--loglevel", "WARNING"]
    code, output = run(locust, env)
    assert code != 0, output  # the control
    assert FAILURE["gevent"] in output, output

    guarded = subprocess.run(
        [SAFEWORKERS, "run", "--", *locust], capture_output=True, text=True, env=env, timeout=60
    )
    assert guarded.returncode == 0, guarded.stdout + guarded.stderr
    stats = json.loads(guarded.stdout)  # --json: the final statistics, alone on stdout
    assert stats[0]["name"] == "/from-locust"
    assert stats[0]["num_requests"] > 0
    assert stats[0]["num_failures"] == 0

"""`safeworkers check`: real boots of real apps, the matrix, the exit status."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests import markers, servers

CLI = str(servers.BIN / "safeworkers")

ERROR_APP = """
def app(environ, start_response):
    return 1 / 0
"""


#: The Objective-C fork-safety check off, as on a Mac set up for gunicorn: the tests
#: about Trio's failure see that one alone (tests/integration/test_forksafety.py has
#: the fork-safety crash, which under simulated macOS comes first for an app that
#: builds an httpx client: httpx reads the proxy settings before it touches trio).
OBJC_OFF = {"OBJC_DISABLE_INITIALIZE_FORK_SAFETY": "YES"}


def check(
    *args: str, cwd: Path = servers.TEST_APPS, env: dict[str, str] | None = None
) -> tuple[int, str]:
    extra = env or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEWORKERS_")}
    env["UPSTREAM_URL"] = "http://127.0.0.1:9"
    env.update(extra)
    done = subprocess.run(
        [CLI, "check", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
        timeout=240,
    )
    return done.returncode, done.stdout + done.stderr


@markers.real_platform
def test_flask_httpx_on_simulated_macos_matrix() -> None:
    """The field failure: gunicorn's gevent dies on macOS, ours serve; AutoWorker's pick serves."""
    code, output = check("flask_httpx:app", "--simulate", "darwin", "--json", env=OBJC_OFF)
    assert code == 0, output
    report = json.loads(output)
    results = {r["name"]: r for r in report["results"]}
    assert report["intended"] == ["safeworkers.SyncWorker"]
    assert report["autoworker"]["app_kind"] == "wsgi"
    assert results["safeworkers.SyncWorker"]["intended"] is True
    for ours in ("AutoWorker", "SyncWorker", "ThreadWorker", "GeventWorker", "EventletWorker"):
        assert results[f"safeworkers.{ours}"]["status"] == "serves", results[f"safeworkers.{ours}"]
        assert results[f"safeworkers.{ours}"]["http_status"] == 200
    for upstream in ("sync", "gthread"):
        assert results[upstream]["status"] == "serves"
    assert results["gevent"]["status"] == "fails"
    assert results["gevent"]["cause"] == (
        "NotImplementedError: unsupported platform or primitives Trio depends on are "
        "monkey-patched out by gevent"
    )
    if servers.gunicorn_version() >= (26,):
        assert results["eventlet"]["cause"] == "class uri 'eventlet' invalid or not found"


def test_intended_worker_that_fails_exits_non_zero() -> None:
    code, output = check(
        "flask_httpx:app", "--simulate", "darwin", "--worker", "gevent", "--only", env=OBJC_OFF
    )
    assert code == 1, output
    assert "* gevent" in output
    assert "fails: NotImplementedError: unsupported platform" in output
    assert "* intended (gevent): FAILS" in output
    assert "AutoWorker would pick: safeworkers.SyncWorker" in output
    assert "Traceback" not in output


def test_an_app_that_answers_500_fails_with_the_exception(tmp_path: Path) -> None:
    """Booting is not enough: a 500 is a failure, with the app's exception as the cause."""
    (tmp_path / "error_app.py").write_text(ERROR_APP)
    code, output = check("error_app:app", "--worker", "SyncWorker", "--only", cwd=tmp_path)
    assert code == 1, output
    assert "answers 500: ZeroDivisionError: division by zero" in output


def test_trio_only_asgi_app() -> None:
    """AutoWorker would pick TrioWorker; hypercorn's asyncio worker boots but answers 500."""
    code, output = check(
        "asgi_trio_only:app", "--simulate", "darwin", "--worker", "hypercorn:asyncio", "--json"
    )
    assert code == 1, output
    results = {r["name"]: r for r in json.loads(output)["results"]}
    assert json.loads(output)["autoworker"]["worker_class"] == "safeworkers.TrioWorker"
    assert results["safeworkers.TrioWorker"]["status"] == "serves"
    assert results["hypercorn:trio"]["status"] == "serves"
    assert results["hypercorn:asyncio"]["intended"] is True
    assert results["hypercorn:asyncio"]["cause"].startswith("answers 500: RuntimeError:")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["wsgi_plain"], "Failed to find attribute 'application' in 'wsgi_plain'"),
        (["no_such_module_xyz:app"], "cannot import 'no_such_module_xyz'"),
        (["broken_app:app"], "cannot import 'broken_app': RuntimeError: DATABASE_URL is not set"),
        (["wsgi_plain:app", "--simulate", "windows"], "invalid choice: 'windows'"),
    ],
)
def test_bad_input_is_one_clear_line(args: list[str], message: str) -> None:
    code, output = check(*args)
    assert code != 0
    assert message in output
    assert "Traceback" not in output


def test_takes_what_gunicorn_takes_and_the_header_keeps_its_columns(tmp_path: Path) -> None:
    """A factory call with arguments, from --chdir; short worker names keep the header apart."""
    target = "factory_app:create_named_app('y')"
    chdir = ("--chdir", str(servers.TEST_APPS))
    code, output = check(target, *chdir, "--worker", "sync", "--only", cwd=tmp_path)
    assert code == 0, output
    assert "AutoWorker would pick: safeworkers.SyncWorker (WSGI app" in output
    assert "  worker  server     result" in output
    assert "* sync" in output
    assert "serves (200" in output

"""The test suite's way to start real servers: safeworkers.testing plus the suite's paths.

Servers listen on 127.0.0.1 (a free port) or on a Unix socket in a temporary
directory, run from the repository root, and can import the test apps
(tests/apps), the example apps (examples/apps) and ``tests`` itself.

``SAFEWORKERS_TEST_GUNICORN_BIN`` points the tests at another gunicorn (a venv
with gunicorn 23 or 25 and safeworkers installed): see ``make test-gunicorn``.

``fake_platform="darwin"`` (or ``"freebsd14"``) is safeworkers.testing's
``simulate``, where this host is another platform (natively on a real Mac).
tests/harness/site (a ``sitecustomize`` on ``PYTHONPATH``) adds the test-only
switches ``SWTEST_BLOCK_IMPORTS`` and ``SWTEST_REMOVE_EPOLL``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from safeworkers import testing
from safeworkers.testing import (
    Server,
    ServerExited,
    free_port,
    gunicorn_has_option,
)
from tests import markers

__all__ = [
    "APPS",
    "BIN",
    "PYTHONPATH",
    "ROOT",
    "SITE",
    "TEST_APPS",
    "Server",
    "ServerExited",
    "free_port",
    "gunicorn",
    "gunicorn_exe",
    "gunicorn_has_option",
    "gunicorn_version",
    "hypercorn",
    "run_to_exit",
]

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "examples" / "apps"
TEST_APPS = Path(__file__).resolve().parent / "apps"
SITE = Path(__file__).resolve().parent / "harness" / "site"
BIN = Path(sys.executable).parent
#: What every test server can import, in this order.
PYTHONPATH = (SITE, TEST_APPS, APPS, ROOT)
QUIET = {"PYTHONWARNINGS": "ignore::DeprecationWarning"}


def _has_control_socket(exe: str) -> bool:
    """gunicorn >= 27 opens a control socket at a fixed path: parallel tests would share it."""
    return gunicorn_has_option("--no-control-socket", exe)


def gunicorn_exe() -> str:
    """The gunicorn the tests run: SAFEWORKERS_TEST_GUNICORN_BIN, else this venv's."""
    return os.environ.get("SAFEWORKERS_TEST_GUNICORN_BIN") or str(BIN / "gunicorn")


def gunicorn_version(exe: str | None = None) -> tuple[int, ...]:
    return testing.gunicorn_version(exe or gunicorn_exe())


def _env(fake_platform: str | None, extra: dict[str, str] | None) -> dict[str, str]:
    """The environment of a test process (for tests that start one by hand)."""
    env = testing._child_env({**QUIET, **(extra or {})}, PYTHONPATH, None, keep_settings=False)
    fake_platform = markers.simulated(fake_platform)
    if fake_platform:
        env["SWTEST_FAKE_PLATFORM"] = fake_platform
    return env


@contextlib.contextmanager
def gunicorn(
    app: str,
    *args: str,
    unix: bool = False,
    fake_platform: str | None = None,
    env: dict[str, str] | None = None,
    wait: bool = True,
    ready_timeout: float = 30.0,
    gunicorn_bin: str | Path | None = None,
    bind_via_env: bool = False,
    pythonpath: Sequence[Path] = PYTHONPATH,
    cwd: Path = ROOT,
) -> Iterator[Server]:
    """``safeworkers.testing.gunicorn`` with the suite's paths (or others) and gunicorn."""
    with testing.gunicorn(
        app,
        *args,
        unix=unix,
        simulate=markers.simulated(fake_platform),
        env={**QUIET, **(env or {})},
        wait=wait,
        ready_timeout=ready_timeout,
        gunicorn_bin=gunicorn_bin or gunicorn_exe(),
        bind_via_env=bind_via_env,
        cwd=cwd,
        pythonpath=pythonpath,
    ) as server:
        yield server


@contextlib.contextmanager
def hypercorn(
    app: str,
    *args: str,
    fake_platform: str | None = None,
    env: dict[str, str] | None = None,
    wait: bool = True,
    ready_timeout: float = 30.0,
    bind_via_env: bool = False,
) -> Iterator[Server]:
    """``safeworkers.testing.hypercorn`` with the suite's paths."""
    with testing.hypercorn(
        app,
        *args,
        simulate=markers.simulated(fake_platform),
        env={**QUIET, **(env or {})},
        wait=wait,
        ready_timeout=ready_timeout,
        hypercorn_bin=BIN / "hypercorn",
        bind_via_env=bind_via_env,
        cwd=ROOT,
        pythonpath=PYTHONPATH,
    ) as server:
        yield server


def run_to_exit(
    argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 60
) -> tuple[int, str]:
    """Run a command that is expected to exit by itself; return (code, output)."""
    proc = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(None, env),
        cwd=str(ROOT),
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr

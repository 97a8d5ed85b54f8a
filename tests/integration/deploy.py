"""Shared by the deployment-template tests: the real tools, and rendering with the real command."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from safeworkers import testing
from tests import servers

CONFIGS = servers.ROOT / "examples" / "configs"
CLI = str(servers.BIN / "safeworkers")
#: Where Debian puts nginx and systemd's tools, off a non-root PATH.
SYSTEM_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")


def tool(name: str) -> str | None:
    """``name`` in this venv, on PATH, or in the system directories; None if absent."""
    beside = servers.BIN / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found:
        return found
    for directory in SYSTEM_DIRS:
        candidate = Path(directory) / name
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def need(name: str, how: str) -> str:
    """The tool's path, or skip saying how it gets installed."""
    path = tool(name)
    if path is None:
        pytest.skip(f"{name} is not installed ({how})")
    return path


APT = ".ci/run installs it with apt-get where it can"
PIP = "it is in the test extra: pip install -e '.[test]'"


def render(template: str, out: Path, *args: str, cwd: Path | None = None) -> Path:
    """Run ``safeworkers template TEMPLATE -o OUT ARGS`` (in ``cwd``); return OUT."""
    done = subprocess.run(
        [CLI, "template", template, "-o", str(out), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return out


def prefix_with_this_venv(path: Path, *apps: str) -> Path:
    """A --prefix for the units: PREFIX/.venv is this venv, the demo apps beside it."""
    path.mkdir(parents=True, exist_ok=True)
    (path / ".venv").symlink_to(Path(sys.prefix))
    for app in apps:
        shutil.copy(servers.APPS / f"{app}.py", path)
    return path


def run(argv: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run a validator; assert it succeeded; its output."""
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(argv)} failed ({done.returncode}):\n{output}"
    return output


def unwritable_home(directory: Path) -> dict[str, str]:
    """``HOME`` naming a regular file: a home nobody, root included, can make ``.gunicorn`` in.

    What a service meets with a read-only root filesystem or no home of its own;
    gunicorn >= 25.1 puts its control socket in ``~/.gunicorn`` unless told otherwise.
    """
    home = directory / "home"
    home.write_text("a file, not a directory: nothing can be made under it\n")
    return {"HOME": str(home)}


def service_env() -> dict[str, str]:
    """Our environment as a service manager starts a service: no ``XDG_RUNTIME_DIR`` (a
    login session's) and none of the session's ``SAFEWORKERS_*`` settings."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SAFEWORKERS_") and k != "XDG_RUNTIME_DIR"
    }


def assert_control_socket(server: testing.Server, path: Path | None) -> None:
    """gunicorn's control socket listens at ``path``, or (None) is off.

    Waits for gunicorn to say so, which it does once its first workers are up: "off" is
    said at the debug log level only (``--log-level debug``). Stopped before, gunicorn
    would not log that it failed either. gunicorn < 25.1 has no control socket.
    """
    if not testing.gunicorn_has_option("--no-control-socket"):
        assert "Control socket" not in server.log, server.log
        return
    server.wait_for_log(
        f"Control socket listening at {path}" if path is not None else "Control socket disabled"
    )


#: An error line that is none: gunicorn < 24 logs each worker it stops on HUP or TERM so.
_NOT_AN_ERROR = re.compile(r"\[ERROR\] Worker \(pid:\d+\) was sent SIGTERM!")


def assert_no_error(log: str) -> None:
    """Nothing went wrong: no error line (gunicorn's "[ERROR] Control server error"), no
    traceback."""
    errors = [line for line in log.splitlines() if "[ERROR]" in line]
    assert [line for line in errors if not _NOT_AN_ERROR.search(line)] == [], log
    assert "Traceback" not in log, log


def unit_sections(text: str) -> dict[str, dict[str, str]]:
    """A systemd unit's ``[Section] Key=value`` lines (our units repeat no key)."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current[key] = value
    return sections

"""Shared by the deployment-template tests: the real tools, and rendering with the real command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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

"""How `safeworkers run` finds the Python a command runs (its #! line), without running it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from safeworkers.cli import run as _run


def script(tmp_path: Path, first_line: str, name: str = "tool") -> str:
    path = tmp_path / name
    path.write_text(f"{first_line}\nprint('hi')\n")
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize(
    ("first_line", "expected"),
    [
        ("#!/opt/venv/bin/python3.12", "/opt/venv/bin/python3.12"),
        ("#!/opt/venv/bin/python -I", "/opt/venv/bin/python"),
        ("#!/bin/sh", None),
        ("echo no shebang", None),
    ],
)
def test_python_of_a_script(tmp_path: Path, first_line: str, expected: str | None) -> None:
    assert _run._python_of(script(tmp_path, first_line), {"PATH": ""}) == expected


def test_python_of_an_env_shebang_follows_path(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_python = script(bin_dir, "#!/bin/sh", name="python3")
    tool = script(tmp_path, "#!/usr/bin/env -S python3")
    assert _run._python_of(tool, {"PATH": str(bin_dir)}) == fake_python
    assert _run._python_of(tool, {"PATH": str(tmp_path / "empty")}) is None


def test_python_of_an_interpreter_is_itself() -> None:
    assert _run._python_of("/usr/bin/python3", {}) == "/usr/bin/python3"


def test_same_python_compares_the_environment_not_the_binary() -> None:
    here = os.path.dirname(sys.executable)
    assert _run._same_python(os.path.join(here, "python3"))
    assert not _run._same_python("/nonexistent-venv/bin/python")


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"_SAFEWORKERS_SIMULATE_PLATFORM": "darwin"}, "YES"),  # macOS, simulated
        (
            {
                "_SAFEWORKERS_SIMULATE_PLATFORM": "darwin",
                "OBJC_DISABLE_INITIALIZE_FORK_SAFETY": "NO",
            },
            "NO",
        ),
        ({}, None),  # Linux: nothing to set
    ],
)
def test_run_sets_the_objective_c_switch_on_macos(
    environ: dict[str, str], expected: str | None
) -> None:
    if _run._startup.hook_path() is None:
        pytest.skip("the start-up hook is not installed in this Python")
    _, env = _run.prepare([sys.executable, "-c", "pass"], {"PATH": os.defpath, **environ})
    assert env.get("OBJC_DISABLE_INITIALIZE_FORK_SAFETY") == expected

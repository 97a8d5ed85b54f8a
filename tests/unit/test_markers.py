"""The suite's platform markers (tests/markers.py, tests/conftest.py): what runs natively,
what is simulated, and what skips with the reason, on hosts other than this Linux one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests import markers, servers


@pytest.mark.parametrize(
    ("host", "platform", "simulated", "refused"),
    [
        ("linux", "macos", "macos", False),
        ("linux", "darwin", "darwin", False),
        ("linux", "linux", None, False),
        ("darwin", "macos", None, False),  # natively on a real Mac
        ("darwin", "darwin", None, False),
        ("darwin", "bsd", "bsd", False),  # Trio's backend selection, simulated there too
        ("darwin", "linux", "linux", True),  # nothing simulates Linux: skipped
        ("freebsd14", "freebsd14", None, False),
        ("freebsd14", "bsd", None, False),
    ],
)
def test_simulated_only_where_the_host_is_another_platform(
    monkeypatch: pytest.MonkeyPatch, host: str, platform: str, simulated: str, refused: bool
) -> None:
    monkeypatch.setattr(sys, "platform", host)
    assert markers.simulated(platform) == simulated
    assert (markers.platform_refusal(platform) is not None) == refused


POSIX_ONLY = """
import grp  # noqa: F401


def test_needs_posix() -> None:
    pass
"""
PORTABLE = """
def test_runs_anywhere() -> None:
    pass
"""


def test_modules_that_need_posix_skip_at_collection_where_there_is_none(tmp_path: Path) -> None:
    """With POSIX's modules missing (blocked, as on Windows), a module that imports one is
    skipped with the reason instead of failing to import; the others run."""
    (tmp_path / "test_posix_only.py").write_text(POSIX_ONLY)
    (tmp_path / "test_portable.py").write_text(PORTABLE)
    (tmp_path / "test_broken.py").write_text("import no_such_module_here  # noqa: F401\n")
    env = servers._env(None, {"SWTEST_BLOCK_IMPORTS": ",".join(markers.POSIX_ONLY_MODULES)})
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.conftest",
            "-rs",
            "-q",
            "--continue-on-collection-errors",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    out = done.stdout
    assert "1 passed, 1 skipped, 1 error" in out, out
    assert "needs POSIX, which linux is not (no fcntl, grp, pwd, resource, termios" in out, out
    assert "(it imports grp)" in out, out
    assert "No module named 'no_such_module_here'" in out, out  # other import errors stay errors

"""Markers and skip conditions shared by test modules: each says why, from what the machine answers.

Platforms (CI runs the suite on real Linux, macOS and Windows: .github/workflows/ci.yml):

- ``@pytest.mark.real_platform`` (registered in pyproject.toml): the test's outcome
  depends on the operating system it runs on: the guard matrix, the workers' boot
  tests, socket options, detection. The macOS job runs ``pytest -m real_platform``,
  there without the simulation of macOS (see :func:`simulated`); a test joins that job
  by carrying the marker (the fork-safety reproduction of issue 18 will).
- :data:`needs_posix`: what Windows lacks (fork, fcntl, pwd and grp: gunicorn's arbiter
  and workers, privilege drops). A test module that cannot even be imported there (it
  imports ``grp``, or gunicorn, which imports ``fcntl``) is skipped at collection with
  the same reason by tests/conftest.py, instead of failing at import.
- :func:`platform_refusal`: a test for another platform runs natively on that platform
  and simulated (Trio's backend selection, safeworkers.simulation) elsewhere, except
  Linux, which nothing simulates.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys

import pytest

from safeworkers.sockets import IPPROTO_MPTCP


def _mptcp_refusal() -> str | None:
    try:
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_MPTCP)
    except OSError as exc:
        return f"the kernel refuses socket(AF_INET, SOCK_STREAM, 262): {exc}"
    probe.close()
    return None


#: Why this kernel cannot make MPTCP sockets, or None when it can.
MPTCP_REFUSAL = _mptcp_refusal()
needs_mptcp = pytest.mark.skipif(MPTCP_REFUSAL is not None, reason=str(MPTCP_REFUSAL))


#: Standard modules that only POSIX systems have; gunicorn imports fcntl.
POSIX_ONLY_MODULES = ("fcntl", "grp", "pwd", "resource", "termios")


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # a finder that refuses it
        return False


def _posix_refusal() -> str | None:
    missing = [name for name in POSIX_ONLY_MODULES if not _importable(name)]
    if not hasattr(os, "fork"):
        missing.append("os.fork")
    if not missing:
        return None
    return (
        f"needs POSIX, which {sys.platform} is not (no {', '.join(missing)}): gunicorn's "
        "arbiter forks its workers and uses fcntl, privilege drops use pwd and grp"
    )


#: Why this host cannot run what needs POSIX, or None when it can.
POSIX_REFUSAL = _posix_refusal()
needs_posix = pytest.mark.skipif(POSIX_REFUSAL is not None, reason=str(POSIX_REFUSAL))

real_platform = pytest.mark.real_platform

#: Trio's I/O backend here, as ``safeworkers doctor`` names it.
TRIO_BACKEND = (
    "iocp" if sys.platform == "win32" else "epoll" if sys.platform.startswith("linux") else "kqueue"
)


def platform_refusal(platform: str) -> str | None:
    """Why this host cannot run a test for ``platform`` (a matrix name), or None."""
    if platform == "linux" and not sys.platform.startswith("linux"):
        return (
            f"needs Linux (what gevent and eventlet leave of select and socket there): "
            f"this host is {sys.platform}, and nothing simulates Linux"
        )
    return None


LINUX_REFUSAL = platform_refusal("linux")
needs_linux = pytest.mark.skipif(LINUX_REFUSAL is not None, reason=str(LINUX_REFUSAL))


def simulated(platform: str | None) -> str | None:
    """The platform to simulate for a test of ``platform`` (a matrix name or a
    ``sys.platform`` value): None where there is none or where this host is it, so
    that the test runs natively on a real Mac or BSD box."""
    if platform is None:
        return None
    native = {"macos": "darwin", "bsd": "freebsd"}.get(platform, platform)
    return None if sys.platform.startswith(native) else platform

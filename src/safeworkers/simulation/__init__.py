"""Make Trio's I/O-backend selection see another platform (macOS, FreeBSD) on Linux.

Used by ``safeworkers check --simulate``, :mod:`safeworkers.testing` and the
pytest plugin, so the failures that only happen on a patched Mac or BSD box
can be reproduced on the Linux machine that runs CI.

How it works, and where it differs from a real Mac
--------------------------------------------------
Trio chooses its I/O backend in ``trio._core._run``: on ``sys.platform ==
"linux"`` it takes epoll outright, elsewhere it takes epoll or kqueue if
``select`` has them, and otherwise raises ``NotImplementedError``. The
simulation wraps the loader of that one module so that ``sys.platform`` reads
``"darwin"`` (or ``"freebsd14"``) while it executes, and only then. Under
gevent or eventlet ``select.epoll`` is gone and Linux has no kqueue, so Trio
reaches exactly the branch it reaches on a patched Mac or BSD box.

It differs from a real Mac in that: unpatched, Trio picks epoll instead of
kqueue (the import succeeds, as it does on a Mac); every other module,
including gevent's and eventlet's hubs, the ``socket`` constants and
``safeworkers.facts``, sees Linux; and nothing about the kernel changes. It
reproduces Trio's *backend selection*, nothing more.

In another process
------------------
:func:`child_env` returns the environment that installs the simulation at
interpreter start (a ``sitecustomize`` module on ``PYTHONPATH``, which also
runs in the processes hypercorn spawns, and is inherited by the workers
gunicorn forks).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

#: ``--simulate`` names -> the ``sys.platform`` value Trio sees.
PLATFORMS: Mapping[str, str] = {
    "darwin": "darwin",
    "macos": "darwin",
    "freebsd": "freebsd14",
    "bsd": "freebsd14",
}
#: The names users pass to ``--simulate`` (the aliases are for the test harness).
CHOICES: tuple[str, ...] = ("darwin", "freebsd")
BACKEND_MODULE = "trio._core._run"
#: Read by the sitecustomize in ``_site``; not a SAFEWORKERS_* setting.
ENV_VAR = "_SAFEWORKERS_SIMULATE_PLATFORM"
SITE_DIR = Path(__file__).resolve().parent / "_site"


def platform_value(name: str) -> str:
    """The ``sys.platform`` value for ``name`` (``darwin``, ``freebsd``, or a raw value)."""
    if name in PLATFORMS:
        return PLATFORMS[name]
    if name.startswith(("darwin", "freebsd", "openbsd", "netbsd", "dragonfly")):
        return name
    raise ValueError(f"cannot simulate platform {name!r}: accepted values are {', '.join(CHOICES)}")


class _PlatformLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader, fake: str) -> None:
        self._loader = loader
        self._fake = fake

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        real = sys.platform
        sys.platform = self._fake
        try:
            self._loader.exec_module(module)
        finally:
            sys.platform = real


class PlatformSimulator(importlib.abc.MetaPathFinder):
    """Makes Trio's backend selection see another platform name."""

    def __init__(self, fake: str) -> None:
        self.fake = fake

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != BACKEND_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _PlatformLoader(spec.loader, self.fake)
                return spec
        return None


def install(fake: str) -> None:
    """Install the simulator for ``fake`` (a ``sys.platform`` value or a name) once.

    Install it before anything imports trio: Trio picks its backend once.
    """
    if not any(isinstance(f, PlatformSimulator) for f in sys.meta_path):
        sys.meta_path.insert(0, PlatformSimulator(platform_value(fake)))


def child_env(name: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: ours) plus what makes a child Python simulate ``name``."""
    env = dict(os.environ if environ is None else environ)
    env[ENV_VAR] = platform_value(name)
    paths = [str(SITE_DIR), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env

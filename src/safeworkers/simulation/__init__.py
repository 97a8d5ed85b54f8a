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
including gevent's and eventlet's hubs and the ``socket`` constants, sees
Linux; and nothing about the kernel changes. It reproduces Trio's *backend
selection*, nothing more.

Fork safety (``darwin`` only)
-----------------------------
On a Mac, a worker gunicorn forks can die with SIGABRT when it first uses
CoreFoundation: the Objective-C runtime's fork-safety check (see
:mod:`safeworkers.facts.forksafety`). The commonest way in is the proxy
lookup of ``urllib.request`` (which requests and httpx call). So, under
``darwin``:

- ``urllib.request``'s own top-level code runs with ``sys.platform ==
  "darwin"`` (the modules it imports were imported first, seeing Linux), so
  it takes its macOS branch: ``getproxies()`` and ``proxy_bypass()`` read the
  ``*_proxy`` variables, and only when none is set ask ``_scproxy``;
- ``_scproxy`` is a stand-in (:mod:`safeworkers.simulation.scproxy`) that,
  called in a process forked without exec from the one the simulation
  started in, aborts it as the runtime does, unless
  ``OBJC_DISABLE_INITIALIZE_FORK_SAFETY=YES`` was set when that interpreter
  started (recorded by :func:`install`, which runs at start);
- safeworkers' own facts (:mod:`safeworkers.facts.forksafety`) read the
  simulated platform from the environment, so the master hands the proxy
  settings over and explains a worker's death as it does on a Mac.

What only a real Mac shows: whether the master really was multithreaded when
it forked (the simulation assumes it was), which classes it had initialised,
other Objective-C or CoreFoundation users (``ssl`` with the system keychain,
native libraries), and crashes by SIGSEGV or a trap.

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
import importlib.util
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

from safeworkers.facts.forksafety import OBJC_VARIABLE, objc_check_disabled
from safeworkers.facts.macos import SIMULATE_VARIABLE

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
#: Read by the sitecustomize in ``_site`` and by safeworkers.facts.macos, which names
#: it; not a SAFEWORKERS_* setting.
ENV_VAR = SIMULATE_VARIABLE
SITE_DIR = Path(__file__).resolve().parent / "_site"
#: The module whose top-level code sees darwin, to take its macOS proxy branch.
PROXY_MODULE = "urllib.request"
#: The stand-in for macOS's ``_scproxy``.
SCPROXY_FILE = Path(__file__).resolve().parent / "scproxy.py"

#: The process the simulation started in, and whether the Objective-C fork-safety
#: check was off then: what the runtime reads when the process starts.
_started_pid: int | None = None
_objc_off_at_start = False


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


class _TopLevelLoader(_PlatformLoader):
    """Runs a module's own top-level code with the fake platform, and only that.

    The module runs once seeing the real platform, into a copy that is then
    dropped, so that everything it imports is imported as on this machine;
    then again, for real, with ``sys.platform`` faked.
    """

    def exec_module(self, module: ModuleType) -> None:
        if module.__spec__ is not None:
            self._loader.exec_module(importlib.util.module_from_spec(module.__spec__))
        super().exec_module(module)


class PlatformSimulator(importlib.abc.MetaPathFinder):
    """Makes Trio's backend selection see another platform name (and, for darwin,
    urllib's proxy lookup and ``_scproxy``: see the module's docstring)."""

    def __init__(self, fake: str) -> None:
        self.fake = fake

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        darwin = self.fake == "darwin"
        if darwin and fullname == "_scproxy":
            return importlib.util.spec_from_file_location(fullname, SCPROXY_FILE)
        if fullname == BACKEND_MODULE:
            wrap: type[_PlatformLoader] = _PlatformLoader
        elif darwin and fullname == PROXY_MODULE:
            wrap = _TopLevelLoader
        else:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = wrap(spec.loader, self.fake)
                return spec
        return None


def install(fake: str) -> None:
    """Install the simulator for ``fake`` (a ``sys.platform`` value or a name) once.

    Install it at interpreter start, before anything imports trio (Trio picks
    its backend once) or urllib.request: it also records this process as the
    one the simulation started in, and whether the Objective-C fork-safety
    check was off then (see :mod:`safeworkers.simulation.scproxy`).
    """
    global _started_pid, _objc_off_at_start
    if not any(isinstance(f, PlatformSimulator) for f in sys.meta_path):
        sys.meta_path.insert(0, PlatformSimulator(platform_value(fake)))
        _started_pid = os.getpid()
        _objc_off_at_start = objc_check_disabled(os.environ.get(OBJC_VARIABLE))


def forked_child() -> bool:
    """Whether this process was forked, without exec, from the one the simulation
    started in (a gunicorn worker is; a process started with exec is not)."""
    return _started_pid is not None and os.getpid() != _started_pid


def objc_check_disabled_at_start() -> bool:
    """Whether ``OBJC_DISABLE_INITIALIZE_FORK_SAFETY=YES`` was set when the simulation
    started (the Objective-C runtime reads it only then)."""
    return _objc_off_at_start


def child_env(name: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: ours) plus what makes a child Python simulate ``name``."""
    env = dict(os.environ if environ is None else environ)
    env[ENV_VAR] = platform_value(name)
    paths = [str(SITE_DIR), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env

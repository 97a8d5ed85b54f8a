"""Facts about the app's *code*, read statically: what it imports and whether it patches.

The scan starts at the module named on the command line (``pkg.app`` of
``pkg.app:app``) and follows its imports into the modules of its own package
and project directory, parsing each file with :mod:`ast`. Nothing is imported
or executed, so the scan can run before the app is loaded: in gunicorn's
worker before anything patches, in the hypercorn config (which never loads the
app), and in ``safeworkers recommend``. It is bounded in files, bytes and
time, and says when it stopped early.

What it looks for, in every import form (``import trio``, ``from trio import
sleep``, ``from . import routes``, ``importlib.import_module("trio")``):

- **Trio use**: trio itself and Trio frameworks (quart-trio, trio-websocket,
  ...). An import inside ``try: ... except ImportError`` is *optional*: the
  code runs without it, so it does not make the app need Trio.
- **asyncio-bound code**: libraries that only run on an asyncio loop (uvloop,
  asyncpg, aiohttp, redis.asyncio, motor, ...) and uses of :mod:`asyncio`
  that need a running loop (``asyncio.sleep``, ``get_running_loop``, ...);
  ``asyncio.iscoroutinefunction`` and the exception classes do not count.
- **green libraries and self-patching**: imports of gevent/eventlet, and
  calls that monkey-patch (``gevent.monkey.patch_all()``,
  ``eventlet.monkey_patch()``), whatever name they were imported under, when
  they run at import: at module level, in ``if``/``try`` blocks and class
  bodies, not inside functions (which may never be called);
- **blocking drivers** (:mod:`safeworkers.facts.drivers`): imports of C
  drivers a green worker cannot make cooperative, and the database URLs and
  Django engines that load them;
- **a green library asked for**: Flask-SocketIO / python-socketio
  ``async_mode="gevent"`` (or ``"eventlet"``), gevent-websocket,
  ``eventlet.websocket``;
- **eventlet's API**, every name used, for ``safeworkers migrate``.

A Django project is read as Django reaches it: from ``wsgi.py``/``asgi.py``
to the settings module (``DJANGO_SETTINGS_MODULE`` from the environment, else
as ``os.environ.setdefault`` names it), then ``ROOT_URLCONF`` and the URLconfs
it ``include()``s, ``MIDDLEWARE``, and each of ``INSTALLED_APPS`` with the
modules Django imports of it (``apps``, ``models``, ``admin``).

Code under ``if TYPE_CHECKING:`` and ``if __name__ == "__main__":`` never runs
in a server and is skipped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from safeworkers.facts import _source, appfiles
from safeworkers.facts._source import (
    ASYNCIO_HARMLESS,
    ASYNCIO_MODULES,
    GREEN_MODULES,
    SELF_PATCHING_MODULES,
    TRIO_MODULES,
    Library,
    Use,
)

# Where the app's modules are: the scan and the workers' pre-check share it (appfiles).
from safeworkers.facts.appfiles import find_source as find_source
from safeworkers.facts.appfiles import import_path as import_path
from safeworkers.facts.appfiles import is_library_dir as is_library_dir
from safeworkers.facts.appfiles import library_dirs as library_dirs

__all__ = [
    "ASYNCIO_HARMLESS",
    "ASYNCIO_MODULES",
    "GREEN_MODULES",
    "SELF_PATCHING_MODULES",
    "TRIO_MODULES",
    "AppScan",
    "Library",
    "Use",
    "find_source",
    "is_library_dir",
    "library_dirs",
    "scan",
]

#: Default bounds: enough for any app's own code, small enough to never delay a boot.
MAX_FILES = appfiles.MAX_FILES
MAX_SECONDS = 1.0
MAX_BYTES = appfiles.MAX_BYTES


@dataclass(frozen=True)
class AppScan:
    """What the app's code shows; every fact comes with where it was seen."""

    #: The module the scan started from.
    module: str
    #: Whether that module's source was found.
    found: bool = False
    #: The directory the app's top-level module or package was found in.
    root: str | None = None
    #: Files parsed, in the order they were read.
    files: tuple[str, ...] = ()
    trio: tuple[Use, ...] = ()
    asyncio: tuple[Use, ...] = ()
    green: tuple[Use, ...] = ()
    #: Calls (or imports) that monkey-patch, with the library as ``what``'s owner.
    patches: tuple[tuple[Library, Use], ...] = ()
    #: Why the scan stopped before the end, or ``None`` when it read everything.
    stopped: str | None = None
    #: Files that could not be read or parsed, with the reason.
    unreadable: tuple[str, ...] = ()
    #: Blocking drivers the code imports or loads: (driver name, where).
    drivers: tuple[tuple[str, Use], ...] = ()
    #: Where the code selects a green library itself: (library, where).
    asks: tuple[tuple[Library, Use], ...] = ()
    #: The Django settings module the scan followed, for a Django project.
    django_settings: str | None = None
    #: Every use of eventlet's API (``safeworkers migrate``).
    eventlet_api: tuple[Use, ...] = ()

    @property
    def needs_trio(self) -> bool:
        """The app runs Trio code: a Trio import outside ``try/except ImportError``."""
        return any(not use.optional for use in self.trio)

    @property
    def uses_asyncio(self) -> bool:
        """The app runs code that needs an asyncio loop."""
        return any(not use.optional for use in self.asyncio)

    @property
    def hosts_asyncio_on_trio(self) -> bool:
        """The app imports trio-asyncio, which runs asyncio code on a Trio loop."""
        return any(
            not use.optional and use.what.partition(".")[0] == "trio_asyncio" for use in self.trio
        )

    @property
    def patchers(self) -> tuple[Library, ...]:
        """Which libraries the app monkey-patches the process with, in a stable order."""
        return tuple(sorted({library for library, _ in self.patches}))

    def evidence(self, uses: Iterable[Use], limit: int = 3) -> str:
        """``trio at app.py:3, quart_trio at routes.py:1``: the first few, for messages."""
        uses = list(uses)  # a generator would be empty the second time
        required = [u for u in uses if not u.optional] or uses
        shown = ", ".join(u.describe(self.root) for u in required[:limit])
        more = len(required) - limit
        return shown + (f" and {more} more" if more > 0 else "")

    def patch_evidence(self, limit: int = 2) -> str:
        return self.evidence((use for _, use in self.patches), limit)

    @property
    def asked_for(self) -> tuple[Library, ...]:
        """The green libraries the code selects itself (not under ``except ImportError``)."""
        return tuple(sorted({library for library, use in self.asks if not use.optional}))

    def ask_evidence(self, limit: int = 2) -> str:
        return self.evidence((use for _, use in self.asks), limit)

    def driver_places(self) -> list[tuple[str, str]]:
        """(driver name, ``file:line``) for each driver the code shows, first place each."""
        seen: dict[str, str] = {}
        for name, use in self.drivers:
            seen.setdefault(name, use.where(self.root))
        return list(seen.items())

    def scope(self) -> str:
        """What was read: ``app: 3 files read`` (and what was not: unreadable files, a bound)."""
        if not self.found:
            return f"the source of {self.module or 'the app'} was not found"
        stopped = f", stopped early: {self.stopped}" if self.stopped else ""
        return f"{self.module}: {self._files_read()}{stopped}"

    def _files_read(self) -> str:
        """``3 files read``, and ``1 unreadable`` when a file could not be read."""
        read = f"{len(self.files)} file{'s' if len(self.files) != 1 else ''} read"
        return read + (f", {len(self.unreadable)} unreadable" if self.unreadable else "")

    def summary(self) -> str:
        """One line for logs: what was found, in how many files."""
        if not self.found:
            return f"the source of {self.module} was not found; nothing known about its code"
        facts = []
        if self.needs_trio:
            facts.append(f"uses Trio: {self.evidence(self.trio)}")
        elif self.trio:
            facts.append(f"imports Trio optionally: {self.evidence(self.trio)}")
        if self.uses_asyncio:
            facts.append(f"uses asyncio: {self.evidence(self.asyncio)}")
        if self.patches:
            facts.append(f"monkey-patches with {'+'.join(self.patchers)}: {self.patch_evidence()}")
        elif self.asked_for:
            facts.append(f"asks for {'+'.join(self.asked_for)}: {self.ask_evidence()}")
        elif self.green:
            facts.append(f"imports green libraries: {self.evidence(self.green)}")
        if not facts:
            facts.append("no Trio, asyncio-bound or green code")
        if self.drivers:
            places = ", ".join(f"{name} at {where}" for name, where in self.driver_places()[:3])
            facts.append(f"blocking drivers: {places}")
        django = f", Django settings {self.django_settings}" if self.django_settings else ""
        stopped = f"; stopped early: {self.stopped}" if self.stopped else ""
        return f"{self.module} ({self._files_read()}{django}): {'; '.join(facts)}{stopped}"


# ----------------------------------------------------------------------------- the scan


def scan(
    module: str,
    path: Sequence[str],
    *,
    max_files: int = MAX_FILES,
    max_seconds: float = MAX_SECONDS,
    max_bytes: int = MAX_BYTES,
    clock: Callable[[], float] = time.monotonic,
    libraries: frozenset[str] | None = None,
    module_level_only: bool = False,
    until: Callable[[Use], bool] | None = None,
    follow: Callable[[str], bool] | None = None,
    environ: Mapping[str, str] | None = None,
) -> AppScan:
    """Scan ``module`` and the modules of its own package or project it imports.

    ``path`` is where modules are looked up, like ``sys.path`` (empty entries
    are skipped: pass the current directory explicitly). The project is the
    directory the app's top-level module was found in, unless that is a
    library directory (site-packages, the stdlib; see :func:`library_dirs`):
    then only the app's own top-level package is followed. Imports that leave
    the project are recorded as facts but not read. ``module_level_only``:
    only what runs when the modules are imported (function bodies skipped).
    ``until``: stop at the first Trio use it accepts (the caller asks only
    whether there is one; the facts are then those of the files read so far).
    ``follow``: read only the modules it accepts (the start module always).
    ``environ``: where ``DJANGO_SETTINGS_MODULE`` is looked up (``os.environ``).
    """
    start = clock()
    located = find_source(module, path)
    if located is None:
        return AppScan(module=module)
    first_file, root = located
    top = module.partition(".")[0]
    project_dir = None if is_library_dir(root, libraries) else root

    def in_project(name: str) -> tuple[str, str] | None:
        if name.partition(".")[0] != top and project_dir is None:
            return None
        if follow is not None and name != module and not follow(name):
            return None
        if find_source(name, [root]) is None:  # cheap: most imports leave the project
            return None
        found = find_source(name, path)  # what Python would import: maybe shadowed
        return found if found is not None and found[1] == root else None

    trio: dict[tuple[str, str, int], Use] = {}
    asyncio: dict[tuple[str, str, int], Use] = {}
    green: dict[tuple[str, str, int], Use] = {}
    patches: dict[tuple[str, str, int], tuple[Library, Use]] = {}
    drivers: dict[tuple[str, str, int], tuple[str, Use]] = {}
    asks: dict[tuple[str, str, int], tuple[Library, Use]] = {}
    eventlet: dict[tuple[str, str, int], Use] = {}
    django_settings: str | None = None
    files: list[str] = []
    unreadable: list[str] = []
    #: module -> scanned as optional? (a module reached through a required import is rescanned)
    seen: dict[str, bool] = {}
    queue: list[tuple[str, str, bool]] = []
    stopped: str | None = None

    def enqueue(name: str, optional: bool) -> None:
        # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            prefix = ".".join(parts[:depth])
            if prefix in seen and (optional or not seen[prefix]):
                continue
            found = in_project(prefix)
            if found is not None:
                seen[prefix] = optional
                queue.append((prefix, found[0], optional))

    enqueue(module, False)
    if not queue:  # e.g. a module whose parent package is a namespace elsewhere
        queue.append((module, first_file, False))

    while queue:
        name, file, optional = queue.pop(0)
        if len(files) >= max_files:
            stopped = f"more than {max_files} files"
            break
        if clock() - start > max_seconds:
            stopped = f"over {max_seconds:g}s"
            break
        try:
            if os.path.getsize(file) > max_bytes:
                unreadable.append(f"{file}: larger than {max_bytes} bytes")
                continue
            source = Path(file).read_text(encoding="utf-8", errors="replace")
            found = _source.read(file, name, source, module_level_only)
        except (OSError, SyntaxError, ValueError, RecursionError) as exc:
            unreadable.append(f"{file}: {type(exc).__name__}: {exc}")
            continue
        if file not in files:
            files.append(file)
        for use in found.trio:
            _keep(trio, use, optional)
        for use in found.asyncio:
            _keep(asyncio, use, optional)
        for use in found.green:
            _keep(green, use, optional)
        for library, use in found.patches:
            key = (use.what, use.path, use.line)
            use = _optional(use, optional)
            if key not in patches or patches[key][1].optional:
                patches[key] = (library, use)
        for name_, use in found.drivers:
            drivers.setdefault((name_, use.path, use.line), (name_, _optional(use, optional)))
        for library, use in found.asks:
            key = (use.what, use.path, use.line)
            use = _optional(use, optional)
            if key not in asks or asks[key][1].optional:
                asks[key] = (library, use)
        for use in found.eventlet:
            eventlet.setdefault((use.what, use.path, use.line), use)
        if found.django_settings and django_settings is None:
            # setdefault: the environment's value wins, as it does in Django.
            env = os.environ if environ is None else environ
            django_settings = env.get(appfiles.DJANGO_SETTINGS_VARIABLE) or found.django_settings
            enqueue(django_settings, optional)
        if until is not None and any(until(use) for use in found.trio):
            break
        for imported_name, import_optional in found.imports:
            enqueue(imported_name, optional or import_optional)
    return AppScan(
        module=module,
        found=True,
        root=root,
        files=tuple(files),
        trio=tuple(trio.values()),
        asyncio=tuple(asyncio.values()),
        green=tuple(green.values()),
        patches=tuple(patches.values()),
        stopped=stopped,
        unreadable=tuple(unreadable),
        drivers=tuple(drivers.values()),
        asks=tuple(asks.values()),
        django_settings=django_settings,
        eventlet_api=tuple(eventlet.values()),
    )


def _optional(use: Use, reached_optionally: bool) -> Use:
    if reached_optionally and not use.optional:
        return Use(use.what, use.path, use.line, True)
    return use


def _keep(into: dict[tuple[str, str, int], Use], use: Use, reached_optionally: bool) -> None:
    use = _optional(use, reached_optionally)
    key = (use.what, use.path, use.line)
    if key not in into or into[key].optional:
        into[key] = use

"""An import guard for modules that pick an I/O backend when imported.

Trio chooses its I/O backend while ``trio`` is being imported. In a process
that gevent or eventlet has monkey-patched, the primitives it looks for are
gone or replaced, and the import blows up with ``NotImplementedError``
(macOS/BSD), ``AttributeError`` (eventlet on Linux), or succeeds only for
``trio.run`` to fail later (gevent on Linux). Libraries such as httpcore,
anyio and many SDKs import trio *optionally*, inside ``try/except
ImportError``; the first two exception types sail straight past that and
kill the worker.

The guard is a ``sys.meta_path`` finder that wraps the loader of each guarded
module. It turns those failures into :class:`BackendUnavailable`, a subclass
of ``ImportError``, so the optional imports take their fallback path and a
mandatory import fails with a message that says why and what to do.

Modes (``install(mode=...)`` or ``SAFEWORKERS_GUARD``):

``guard`` (default)
    Check before the guarded module runs, and catch what its backend
    detection raises. Use it for apps where trio is optional, which is
    nearly all WSGI apps served by green workers.
``preimport``
    Import the guarded modules *now*, with the real stdlib, before anything
    patches. Use it for apps that import trio unconditionally but never run
    a Trio loop in the green worker (type imports, shared helper modules):
    the import then succeeds later too. Trio's loop still cannot run under
    the green hub, which is why this is not the default.
``off``
    No guard. For debugging, or when you patch nothing.

Where the guarded import works, the guard is invisible: the module object,
its ``__loader__`` and ``__spec__.loader`` are exactly what they would have
been without it.
"""

from __future__ import annotations

import _thread
import importlib.machinery
import sys

# Imported at interpreter start-up by the .pth hook (SAFEWORKERS_GUARD_PROCESS):
# nothing heavy here. typing, importlib.abc, threading and safeworkers.facts
# cost more than the interpreter's own start; the facts are imported when a
# guarded module is (see _precheck_trio), typing only by type checkers.
from safeworkers import settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from importlib.abc import Loader
    from types import ModuleType

    from safeworkers.settings import GuardMode as Mode

    _LoaderBase = Loader
else:
    _LoaderBase = object

#: The modes ``install`` takes: ``SAFEWORKERS_GUARD``'s accepted values.
MODES: tuple[Mode, ...] = settings.GUARD_MODES

#: Modules guarded unless told otherwise (``SAFEWORKERS_GUARD_MODULES``' default).
DEFAULT_MODULES: tuple[str, ...] = settings.DEFAULT_GUARD_MODULES

#: The exceptions backend detection is known to raise in a patched process.
_DETECTION_ERRORS = (NotImplementedError, AttributeError, OSError)


class BackendUnavailable(ImportError):
    """A guarded module cannot pick an I/O backend in this process.

    Subclasses ``ImportError`` so that ``try: import trio / except
    ImportError:`` in third-party code takes its fallback path.
    """

    def __init__(self, module: str, reason: str, *, patchers: Sequence[str] = ()) -> None:
        self.module = module
        self.reason = reason
        self.patchers = tuple(patchers)
        self.platform = sys.platform
        super().__init__(_message(module, reason, self.patchers), name=module)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self.module, self.reason, self.patchers))


def _rebuild(module: str, reason: str, patchers: tuple[str, ...]) -> BackendUnavailable:
    return BackendUnavailable(module, reason, patchers=patchers)


def _message(module: str, reason: str, patchers: tuple[str, ...]) -> str:
    by = " and ".join(patchers)
    where = f"platform {sys.platform}, monkey-patched by {by}" if patchers else sys.platform
    lines = [
        f"{module} cannot be used in this process: {reason} ({where}).",
        f"Libraries that import {module} optionally (httpx/httpcore, anyio, SDKs) carry on "
        "without it.",
    ]
    if patchers:
        lines.append(
            f"If your app itself needs {module}, do not serve it with "
            f"{'an' if by.startswith('e') else 'a'} {by} worker: use "
            "safeworkers.TrioWorker for Trio ASGI apps, or SyncWorker/ThreadWorker for WSGI; "
            f"if it only needs `import {module}` to succeed, set SAFEWORKERS_GUARD=preimport."
        )
    elif reason.startswith(_no_backend()):
        lines.append(f"Run on a platform that {module} supports (Linux, macOS, BSD or Windows).")
    else:
        lines.append(
            "Something in this process changed the standard library it needs; "
            "safeworkers.detect.patch_state() shows what is patched, and by whom."
        )
    return " ".join(lines)


def _no_backend() -> str:
    from safeworkers.facts import patches

    return patches.NO_BACKEND


def _precheck_trio() -> str | None:
    from safeworkers.facts import patches

    return patches.trio_unusable_reason()


#: Module -> a check run before the module executes, returning why it cannot
#: work here (or ``None``). Only modules whose backend logic we know get one;
#: the rest rely on catching what they raise.
_PRECHECKS: dict[str, Callable[[], str | None]] = {"trio": _precheck_trio}


def _current_patchers() -> tuple[str, ...]:
    from safeworkers.facts import patches

    return patches.green_patchers(patches.patch_state())


def _is_detection_failure(exc: BaseException, patchers: tuple[str, ...]) -> bool:
    """Whether ``exc`` is backend detection failing rather than a plain bug.

    ``NotImplementedError`` at import time is how Trio says "no backend".
    ``AttributeError``/``OSError`` are only blamed on the backend when
    something has patched the process; otherwise they are real bugs and must
    surface unchanged.
    """
    if isinstance(exc, NotImplementedError):
        return True
    return bool(patchers) and isinstance(exc, (AttributeError, OSError))


# The finder and loaders below follow the import protocols (find_spec;
# create_module/exec_module); at run time they do not subclass importlib.abc's
# classes, whose import costs more than the interpreter's start does.


class _FailingLoader(_LoaderBase):
    """Loader for a module already known to be unavailable: fails fast."""

    def __init__(self, error: BackendUnavailable) -> None:
        self._error = error

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        error = self._error
        raise BackendUnavailable(error.module, error.reason, patchers=error.patchers)


class _GuardedLoader(_LoaderBase):
    """Runs the real loader and translates backend detection failures."""

    def __init__(self, loader: Loader, spec: importlib.machinery.ModuleSpec, guard: _Guard) -> None:
        self._loader = loader
        self._spec = spec
        self._guard = guard

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        name = module.__name__
        # Be invisible: the module keeps the loader it would have had.
        self._spec.loader = self._loader
        module.__loader__ = self._loader
        precheck = _PRECHECKS.get(name)
        reason = precheck() if precheck is not None else None
        if reason is not None:
            raise self._guard.remember(
                BackendUnavailable(name, reason, patchers=_current_patchers())
            )
        before = set(sys.modules)
        try:
            self._loader.exec_module(module)
        except _DETECTION_ERRORS as exc:
            patchers = _current_patchers()
            if not _is_detection_failure(exc, patchers):
                raise
            _purge(name, before)
            reason = f"{type(exc).__name__} while selecting its I/O backend: {exc}"
            raise self._guard.remember(BackendUnavailable(name, reason, patchers=patchers)) from exc


def _purge(name: str, before: set[str]) -> None:
    """Drop the half-imported submodules of ``name`` that the failed import added.

    The import system removes ``name`` itself; its submodules would stay
    behind, half initialised, and break the next import in odd ways.
    """
    prefix = name + "."
    for key in list(sys.modules):
        if key.startswith(prefix) and key not in before:
            del sys.modules[key]


class _Guard:
    def __init__(self, modules: Iterable[str]) -> None:
        self.modules = frozenset(modules)
        self.failures: dict[str, BackendUnavailable] = {}

    def remember(self, error: BackendUnavailable) -> BackendUnavailable:
        self.failures[error.module] = error
        return error

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.modules:
            return None
        known = self.failures.get(fullname)
        if known is not None:
            return importlib.machinery.ModuleSpec(fullname, _FailingLoader(known))
        spec = _find_with_others(self, fullname, path, target)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _GuardedLoader(spec.loader, spec, self)
        return spec


def _find_with_others(
    me: object, fullname: str, path: Sequence[str] | None, target: ModuleType | None
) -> importlib.machinery.ModuleSpec | None:
    for finder in sys.meta_path:
        if finder is me:
            continue
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None:
            continue
        spec: importlib.machinery.ModuleSpec | None = find_spec(fullname, path, target)
        if spec is not None:
            return spec
    return None


_lock = _thread.RLock()
_guard: _Guard | None = None


def install(modules: Iterable[str] | None = None, *, mode: Mode = "guard") -> bool:
    """Install the guard for ``modules`` (default: :data:`DEFAULT_MODULES`).

    Idempotent and thread-safe: calling it again with other modules replaces
    the guarded set. Returns whether a guard is installed afterwards (false
    only for ``mode="off"``). Install it *before* anything patches.
    """
    if mode not in MODES:
        raise ValueError(f"guard mode {mode!r} is not one of {', '.join(MODES)}")
    if isinstance(modules, str):  # install("trio"), not the letters t, r, i, o
        modules = (modules,)
    names = tuple(DEFAULT_MODULES if modules is None else modules)
    with _lock:
        if mode == "off":
            uninstall()
            return False
        global _guard
        if _guard is None or _guard.modules != frozenset(names):
            uninstall()
            _guard = _Guard(names)
        if _guard not in sys.meta_path:  # new, or removed by someone else
            sys.meta_path.insert(0, _guard)
        if mode == "preimport":
            _preimport(names)
        return True


def _preimport(names: Sequence[str]) -> None:
    patchers = _current_patchers()
    if patchers:
        import warnings

        warnings.warn(
            f"SAFEWORKERS_GUARD=preimport has no effect: this process is already patched by "
            f"{', '.join(patchers)}; {', '.join(names)} cannot be imported with the real stdlib "
            "any more. The guard is active instead.",
            RuntimeWarning,
            stacklevel=3,
        )
        return
    for name in names:
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except BackendUnavailable:
            pass  # remembered by the guard; later imports fail fast with it
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def uninstall() -> None:
    """Remove the guard. Modules already imported stay imported."""
    global _guard
    with _lock:
        if _guard is not None:
            if _guard in sys.meta_path:
                sys.meta_path.remove(_guard)
            _guard = None


def installed() -> bool:
    """Whether the guard is active in this process."""
    with _lock:
        return _guard is not None and _guard in sys.meta_path


def guarded_modules() -> frozenset[str]:
    """The module names the active guard covers (empty when not installed)."""
    with _lock:
        return _guard.modules if _guard is not None else frozenset()

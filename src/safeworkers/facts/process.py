"""Facts about the running process, gathered without side effects.

Nothing here imports gevent, eventlet, trio or hypercorn. Installed versions
come from package metadata; patch state comes from the patchers' own APIs
*only when they are already imported* (if gevent is not in ``sys.modules``,
nothing can have been patched by it), plus structural evidence: which module
a stdlib primitive really comes from, and primitives missing that the
platform has.

Everything returned is immutable so it can be cached, logged and compared.
"""

from __future__ import annotations

import functools
import sys
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

Severity = Literal["info", "warning", "error"]
TrioBackend = Literal["epoll", "kqueue", "iocp", "none"]

#: Distributions whose versions ``environment()`` reports.
PACKAGES: tuple[str, ...] = (
    "gunicorn",
    "hypercorn",
    "trio",
    "anyio",
    "sniffio",
    "httpcore",
    "httpx",
    "gevent",
    "eventlet",
    "greenlet",
    "httpcore2",
    "httpx2",
    "dnspython",
    "uvloop",
    "httptools",
    "gunicorn-h1c",
    "uvicorn",
    "uvicorn-worker",
)

#: For each stdlib module we report on: ``(module in sys.modules, attribute)``
#: whose defining module reveals the patcher (``gevent.*`` / ``eventlet.*``).
#: ``dns`` is gevent's name for the resolver functions in ``socket``.
_EVIDENCE: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "socket": ("socket", "socket"),
        "dns": ("socket", "getaddrinfo"),
        "select": ("select", "select"),
        "selectors": ("selectors", "DefaultSelector"),
        "threading": ("threading", "get_ident"),
        "time": ("time", "sleep"),
        "ssl": ("ssl", "SSLContext"),
        "os": ("os", "waitpid"),
        "subprocess": ("subprocess", "Popen"),
        "queue": ("queue", "Queue"),
        "signal": ("signal", "signal"),
    }
)

#: The module names eventlet's patcher uses where they differ from ours.
_EVENTLET_NAMES: Mapping[str, str] = MappingProxyType({"threading": "thread"})

PATCHERS: tuple[str, ...] = ("gevent", "eventlet")


@dataclass(frozen=True)
class Finding:
    """A known-bad (or noteworthy) combination, with what to do about it."""

    id: str
    severity: Severity
    message: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "severity": self.severity, "message": self.message, "fix": self.fix}


@dataclass(frozen=True)
class Environment:
    """An immutable snapshot of the facts ``policy`` and ``guard`` decide on."""

    platform: str
    system: str
    machine: str
    python_implementation: str
    python_version: str
    #: The backend Trio would pick with the *original* ``select`` module.
    trio_backend: TrioBackend
    #: Whether Trio could import and run in this process as it is now.
    trio_usable: bool
    #: Why not, when ``trio_usable`` is false.
    trio_unusable_reason: str | None
    #: Distribution name -> installed version (``None`` when not installed).
    packages: Mapping[str, str | None]
    #: Patched stdlib module -> who patched it (``gevent``, ``eventlet`` or ``unknown``).
    patched: Mapping[str, str]
    #: Whether trio was already imported when the snapshot was taken.
    trio_imported: bool
    findings: tuple[Finding, ...] = field(default=())
    #: Installed distributions that import trio at import time -> how
    #: (``safeworkers.distributions.trio_importers``); empty unless findings were asked for.
    trio_importers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def patchers(self) -> tuple[str, ...]:
        """Who patched this process, in a stable order."""
        return tuple(sorted(set(self.patched.values())))

    @property
    def green_patchers(self) -> tuple[str, ...]:
        """The green libraries (:data:`PATCHERS`) that patched this process, sorted;
        not the "unknown" removals."""
        return tuple(sorted(set(self.patched.values()) & set(PATCHERS)))

    @property
    def is_patched(self) -> bool:
        return bool(self.patched)

    def installed(self, name: str) -> bool:
        return self.packages.get(name) is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "system": self.system,
            "machine": self.machine,
            "python": {
                "implementation": self.python_implementation,
                "version": self.python_version,
            },
            "trio": {
                "backend": self.trio_backend,
                "usable": self.trio_usable,
                "unusable_reason": self.trio_unusable_reason,
                "imported": self.trio_imported,
            },
            "packages": dict(self.packages),
            "patched": dict(self.patched),
            "patchers": list(self.patchers),
            "findings": [f.to_dict() for f in self.findings],
            "trio_importers": dict(self.trio_importers),
        }


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or ``None``."""
    from safeworkers.facts import _metadata

    return _metadata.version(name)


class _Versions(Mapping[str, "str | None"]):
    """Distribution name -> installed version, each read when first asked for.

    A worker's decision looks at a few of :data:`PACKAGES` (gunicorn, and
    trio or hypercorn or uvicorn-worker depending on the app); reading the
    metadata of all of them in every worker start was a measurable part of
    AutoWorker's boot. Read-only, like the rest of the snapshot.
    """

    def __init__(self, names: tuple[str, ...]) -> None:
        self._names = names
        self._found: dict[str, str | None] = {}

    def __getitem__(self, name: str) -> str | None:
        if name not in self._names:
            raise KeyError(name)
        if name not in self._found:
            self._found[name] = package_version(name)
        return self._found[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return repr(dict(self))


def installed_packages(names: tuple[str, ...] = PACKAGES) -> Mapping[str, str | None]:
    """Name -> installed version (``None``: not installed), read when looked up."""
    return _Versions(names)


def _patcher_of(obj: object) -> str | None:
    """``gevent``/``eventlet`` if ``obj`` was defined by that patcher."""
    module = getattr(obj, "__module__", None) or ""
    top = module.partition(".")[0]
    return top if top in PATCHERS else None


def _api_says_patched(patcher: str, module: str) -> bool:
    """Ask the patcher itself, but only if it is already imported."""
    if patcher == "gevent":
        monkey = sys.modules.get("gevent.monkey")
        if monkey is None:
            return False
        if module == "dns":
            # gevent records the resolver as part of socket's saved items.
            saved = getattr(monkey, "saved", {}).get("socket", {})
            return "getaddrinfo" in saved
        return bool(monkey.is_module_patched(module))
    patcher_mod = sys.modules.get("eventlet.patcher")
    if patcher_mod is None:
        return False
    return bool(patcher_mod.is_monkey_patched(_EVENTLET_NAMES.get(module, module)))


def patch_state() -> Mapping[str, str]:
    """Which stdlib modules are patched, and by whom.

    A module not yet imported cannot have been patched, so it is not
    imported here to find out.
    """
    patched: dict[str, str] = {}
    for name, (module_name, attribute) in _EVIDENCE.items():
        by_api = [p for p in PATCHERS if _api_says_patched(p, name)]
        if by_api:
            patched[name] = by_api[0]
            continue
        module = sys.modules.get(module_name)
        if module is None:
            continue
        by_structure = _patcher_of(getattr(module, attribute, None))
        if by_structure:
            patched[name] = by_structure
    if "select" not in patched and _native_poller() not in (None, _current_poller()):
        # The platform's poller is gone and nobody owns up to it.
        patched["select"] = "unknown"
    return MappingProxyType(patched)


Poller = Literal["epoll", "kqueue"]


def _native_poller() -> Poller | None:
    """The readiness API this platform's ``select`` module provides natively."""
    name: str = sys.platform  # a plain str, so type checkers do not narrow it
    if name.startswith("linux") or name == "android":
        return "epoll"
    if name == "darwin" or "bsd" in name or name.startswith("dragonfly"):
        return "kqueue"
    return None


def _current_poller() -> Poller | None:
    select = sys.modules.get("select")
    if select is None:
        import select  # a C module, cheap, and never patched by importing it
    pollers: tuple[Poller, ...] = ("epoll", "kqueue")
    for poller in pollers:
        if hasattr(select, poller):
            return poller
    return None


def trio_backend() -> TrioBackend:
    """The I/O backend Trio would select with the original ``select`` module.

    Mirrors the order Trio uses: Windows -> IOCP, Linux -> epoll (by platform
    name, whatever ``select`` holds now), else whichever of epoll/kqueue the
    unpatched ``select`` module has.
    """
    platform_name: str = sys.platform
    if platform_name == "win32":
        return "iocp"
    native = _native_poller() or _current_poller()
    if native is not None:
        return native
    gevent_monkey = sys.modules.get("gevent.monkey")
    if gevent_monkey is not None:
        saved = getattr(gevent_monkey, "saved", {}).get("select", {})
        pollers: tuple[Poller, ...] = ("epoll", "kqueue")
        for poller in pollers:
            if poller in saved:
                return poller
    return "none"


#: How :func:`trio_unusable_reason` starts when the platform itself has no backend.
NO_BACKEND = "Trio has no I/O backend on platform"


def trio_unusable_reason(
    backend: TrioBackend | None = None, patched: Mapping[str, str] | None = None
) -> str | None:
    """Why Trio could not import and run in this process now; ``None`` if it could.

    Mirrors Trio's own choice: IOCP on Windows; epoll on Linux (chosen by
    platform name, so a missing ``select.epoll`` fails when the loop starts);
    elsewhere epoll or kqueue, whichever ``select`` has now. Does not look at
    whether trio is installed: that is a separate fact.
    """
    backend = trio_backend() if backend is None else backend
    patched = patch_state() if patched is None else patched
    if backend == "none":
        return f"{NO_BACKEND} {sys.platform!r} (no epoll, kqueue or IOCP)"
    current = _current_poller()
    needs_epoll = _native_poller() == "epoll"
    if backend in ("epoll", "kqueue") and (current != "epoll" if needs_epoll else current is None):
        missing = "epoll" if needs_epoll else backend
        who = patched.get("select")
        if who in PATCHERS:
            return (
                f"select.{missing} was removed by {who}'s monkey-patching; Trio's I/O loop needs it"
            )
        return (
            f"select.{missing} is missing from this process (removed by something other than "
            "gevent or eventlet); Trio's I/O loop needs it"
        )
    socket_patcher = patched.get("socket")
    if socket_patcher is not None:
        return (
            f"socket.socket was replaced by {socket_patcher}'s monkey-patching; Trio wraps the "
            "real socket type and cannot run on a green one"
        )
    return None


def release(version: str) -> tuple[int, ...]:
    """The numeric release of a version string: ``"1.0.9"`` -> ``(1, 0, 9)``.

    Enough to compare the versions we gate on (gunicorn 24, httpcore 1.0.6);
    pre/post/dev suffixes end the release (``"26.0.0rc1"`` -> ``(26, 0, 0)``)
    and an epoch is skipped (``"2!1.0"`` -> ``(1, 0)``).
    Hand-written because gunicorn, our only dependency, no longer brings
    ``packaging`` (gunicorn >= 27).
    """
    parts: list[int] = []
    _epoch, _, version = version.rpartition("!")  # "2!1.0": the epoch is not the release
    for piece in version.split("."):
        digits = ""
        for char in piece:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) < len(piece):
            break
    return tuple(parts)


def environment(*, findings: bool = True) -> Environment:
    """Take a snapshot of the facts about this process.

    ``findings=False`` skips the known-bad combinations (and the metadata
    scan for trio importers they need): what the workers and config modules
    ask for, since they decide on the other facts only.
    """
    import platform

    packages = installed_packages()
    patched = patch_state()
    backend = trio_backend()
    reason = trio_unusable_reason(backend, patched)
    trio_installed = _importable("trio")
    found: tuple[Finding, ...] = ()
    importers: Mapping[str, str] = MappingProxyType({})
    if findings:
        found, importers = _findings(packages, patched)
    return Environment(
        platform=sys.platform,
        system=platform.system(),
        machine=platform.machine(),
        python_implementation=platform.python_implementation(),
        python_version=platform.python_version(),
        trio_backend=backend,
        trio_usable=reason is None and trio_installed,
        trio_unusable_reason=reason
        if reason is not None or trio_installed
        else "trio is not installed",
        packages=packages,
        patched=patched,
        trio_imported="trio" in sys.modules,
        findings=found,
        trio_importers=importers,
    )


def _importable(module: str) -> bool:
    """Whether ``module`` can be found on ``sys.path`` (not imported; cheaper than reading
    its distribution's metadata, which a worker's start need not pay for)."""
    if module in sys.modules:
        return True
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _findings(
    packages: Mapping[str, str | None], patched: Mapping[str, str]
) -> tuple[tuple[Finding, ...], Mapping[str, str]]:
    from safeworkers.facts import distributions, findings

    importers = distributions.trio_importers()
    guard_mod = sys.modules.get("safeworkers.guard")
    doh = distributions.extra_requirements("dnspython", "doh")
    found = findings.find(
        packages,
        patched,
        trio_importers=importers,
        trio_imported="trio" in sys.modules,
        guarded=bool(guard_mod is not None and guard_mod.installed()),
        doh_packages=tuple(n for n in doh if n in distributions.installed()),
    )
    return tuple(found), importers


AppKind = Literal["wsgi", "asgi"]

#: Frameworks whose apps run Trio code and so need a Trio worker.
_TRIO_FRAMEWORKS: tuple[str, ...] = ("quart_trio",)


def _unwrap(app: object) -> object:
    while isinstance(app, functools.partial):
        app = app.func
    return app


def app_kind(app: object) -> AppKind:
    """``asgi`` for an ASGI 3 app, else ``wsgi``.

    An ASGI app is an ``async def`` function, or an object whose
    ``__call__`` is ``async def`` (Starlette, Quart, Django's ASGIHandler).
    A WSGI app is any other callable.
    """
    import inspect

    target = _unwrap(app)
    if inspect.iscoroutinefunction(target):
        return "asgi"
    if not inspect.isroutine(target) and not isinstance(target, type):
        call = getattr(target, "__call__", None)  # noqa: B004 - we need the method itself
        if call is not None and inspect.iscoroutinefunction(call):
            return "asgi"
    return "wsgi"


def app_needs_trio(app: object, module: str | None = None) -> bool:
    """Whether the app runs Trio code itself, judged from where it comes from.

    True for apps of Trio frameworks (quart-trio) and for apps whose module
    imported trio by name: the module that defines the app, or ``module``
    (the one the server loaded it from, as in ``module:app``). An app that
    merely has httpx installed does not count: httpcore imports trio only
    optionally.
    """
    import inspect

    target = _unwrap(app)
    classes = type(target).__mro__ if not inspect.isroutine(target) else ()
    for cls in classes:
        if cls.__module__.partition(".")[0] in _TRIO_FRAMEWORKS:
            return True
    names = {getattr(target, "__module__", None), module} - {None}
    return any(_imports_trio(sys.modules.get(name or "")) for name in names)


def _imports_trio(module: types.ModuleType | None) -> bool:
    return module is not None and any(
        isinstance(value, types.ModuleType) and value.__name__.partition(".")[0] == "trio"
        for value in vars(module).values()
    )

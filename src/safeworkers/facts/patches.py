"""Whether this process is monkey-patched, and by whom; and whether Trio can run in it.

Patch state comes from the patchers' own APIs *only when they are already
imported* (if gevent is not in ``sys.modules``, nothing can have been patched
by it), plus structural evidence: which module a stdlib primitive really
comes from, and primitives missing that the platform has. Nothing here
imports gevent, eventlet or trio.

The patcher set of a patch state is computed here only
(:func:`green_patchers`, :func:`patchers`): the environment snapshot, the
findings, the guard and the workers ask.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

TrioBackend = Literal["epoll", "kqueue", "iocp", "none"]

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


def patchers(patched: Mapping[str, str]) -> tuple[str, ...]:
    """Who patched, in a stable order: :data:`PATCHERS` and ``unknown`` (a removal nobody
    owns up to)."""
    return tuple(sorted(set(patched.values())))


def green_patchers(patched: Mapping[str, str]) -> tuple[str, ...]:
    """The green libraries (:data:`PATCHERS`) that patched, sorted; not the ``unknown``
    removals."""
    return tuple(sorted(set(patched.values()) & set(PATCHERS)))


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

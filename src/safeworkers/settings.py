"""``SAFEWORKERS_*`` settings, parsed and validated once, at worker start.

Every variable is listed in :data:`VARIABLES` with its accepted values; the
docs' settings table is written from the same facts. A bad value raises
:class:`SettingsError`, whose message names the variable, the value and what
is accepted, so the worker can stop with one readable line.
"""

from __future__ import annotations

import os

# Imported at interpreter start-up by the .pth hook (SAFEWORKERS_GUARD_PROCESS),
# so stdlib modules that cost more than the interpreter's start (typing,
# dataclasses, re) are not imported here; typing only by type checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Literal, TypeVar

    Backend = Literal["auto", "sync", "gthread", "gevent", "eventlet", "trio", "asgi"]
    GuardMode = Literal["guard", "preimport", "off"]
    _Choice = TypeVar("_Choice", bound=str)

BACKENDS: tuple[Backend, ...] = ("auto", "sync", "gthread", "gevent", "eventlet", "trio", "asgi")
GUARD_MODES: tuple[GuardMode, ...] = ("guard", "preimport", "off")
#: The modules the import guard covers unless told otherwise (``safeworkers.guard`` reads it).
DEFAULT_GUARD_MODULES: tuple[str, ...] = ("trio",)

_TRUE = ("1", "true", "yes", "on")
#: Also spelled out in src/safeworkers_guard.pth (tests/integration/test_startup_hook.py).
_FALSE = ("0", "false", "no", "off", "")


class SettingsError(ValueError):
    """A ``SAFEWORKERS_*`` variable has a value we cannot accept."""

    def __init__(self, variable: str, value: str, accepted: str, *, unknown: bool = False) -> None:
        self.variable = variable
        self.value = value
        self.accepted = accepted
        if unknown:
            message = f"{variable} is not a safeworkers setting: known settings are {accepted}"
        else:
            message = f"{variable}={value!r} is not valid: accepted values are {accepted}"
        super().__init__(message)


class Settings:
    """The parsed settings: read-only, compared and printed field by field."""

    #: SAFEWORKERS_BACKEND: which worker AutoWorker uses (``auto`` decides).
    backend: Backend
    #: SAFEWORKERS_GUARD: the import guard mode for green workers.
    guard: GuardMode
    #: SAFEWORKERS_GUARD_MODULES: comma-separated modules the guard covers.
    guard_modules: tuple[str, ...]
    #: SAFEWORKERS_TCP_KEEPALIVE: ``idle,interval,count`` seconds/probes, or off.
    tcp_keepalive: tuple[int, int, int] | None
    #: SAFEWORKERS_MPTCP: create Multipath TCP listeners (config modules).
    mptcp: bool
    #: SAFEWORKERS_GUARD_PROCESS: install the guard at interpreter start-up (the .pth hook).
    guard_process: bool
    #: SAFEWORKERS_AFTER_PATCH: ``module:function`` the green workers call after patching.
    after_patch: str | None

    # A plain class, not a dataclass: see the imports above.
    __slots__ = (
        "after_patch",
        "backend",
        "guard",
        "guard_modules",
        "guard_process",
        "mptcp",
        "tcp_keepalive",
    )

    def __init__(
        self,
        *,
        backend: Backend = "auto",
        guard: GuardMode = "guard",
        guard_modules: tuple[str, ...] = DEFAULT_GUARD_MODULES,
        tcp_keepalive: tuple[int, int, int] | None = None,
        mptcp: bool = False,
        guard_process: bool = False,
        after_patch: str | None = None,
    ) -> None:
        fields = {
            "backend": backend,
            "guard": guard,
            "guard_modules": guard_modules,
            "tcp_keepalive": tcp_keepalive,
            "mptcp": mptcp,
            "guard_process": guard_process,
            "after_patch": after_patch,
        }
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Settings are read-only: cannot set {name!r}")

    # Pickled (hypercorn's spawned workers get the config module's state) and copied
    # field by field; __setattr__ refuses.
    def __getstate__(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state: dict[str, object]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Settings):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"Settings({fields})"


#: name -> (accepted values, description), for errors and the docs table.
VARIABLES: Mapping[str, tuple[str, str]] = {
    "SAFEWORKERS_BACKEND": (
        ", ".join(BACKENDS),
        "the worker AutoWorker uses; `auto` decides from the app and platform",
    ),
    "SAFEWORKERS_GUARD": (
        ", ".join(GUARD_MODES),
        "the Trio import guard's mode in green workers",
    ),
    "SAFEWORKERS_GUARD_MODULES": (
        "comma-separated module names, e.g. trio,mylib",
        "modules the import guard covers (default trio)",
    ),
    "SAFEWORKERS_TCP_KEEPALIVE": (
        "idle,interval,count: idle and interval 1-32767 s, count 1-127 (e.g. 60,15,4), or off",
        "TCP keepalive on accepted TCP connections",
    ),
    "SAFEWORKERS_MPTCP": (
        "1/true/yes/on or 0/false/no/off",
        "create Multipath TCP listeners where the kernel allows (config modules)",
    ),
    "SAFEWORKERS_GUARD_PROCESS": (
        "1/true/yes/on or 0/false/no/off",
        "install the import guard when any Python process starts, before its code can patch "
        "(`safeworkers run` sets it; child processes inherit it)",
    ),
    "SAFEWORKERS_AFTER_PATCH": (
        "module:function, e.g. myapp.hooks:after_patch",
        "called with the worker by the green workers after patching, before the app is imported",
    ),
}


def _choice(
    environ: Mapping[str, str], name: str, choices: tuple[_Choice, ...], default: _Choice
) -> _Choice:
    raw = environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    for choice in choices:
        if choice == value:
            return choice
    raise SettingsError(name, raw, VARIABLES[name][0])


def _modules(environ: Mapping[str, str]) -> tuple[str, ...]:
    name = "SAFEWORKERS_GUARD_MODULES"
    raw = environ.get(name)
    if raw is None:
        return DEFAULT_GUARD_MODULES
    modules = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not modules or not all(all(p.isidentifier() for p in m.split(".")) for m in modules):
        raise SettingsError(name, raw, VARIABLES[name][0])
    return modules


def _keepalive(environ: Mapping[str, str]) -> tuple[int, int, int] | None:
    name = "SAFEWORKERS_TCP_KEEPALIVE"
    raw = environ.get(name)
    if raw is None or raw.strip().lower() in ("off", ""):
        return None
    parts = [p.strip() for p in raw.split(",")]
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise SettingsError(name, raw, VARIABLES[name][0])
    idle, interval, count = (int(p) for p in parts)
    # Linux's limits (MAX_TCP_KEEPIDLE/KEEPINTVL 32767, MAX_TCP_KEEPCNT 127): a kernel
    # that refuses a value leaves the OS default (2 h idle) in place, silently.
    if not (0 < idle <= 32767 and 0 < interval <= 32767 and 0 < count <= 127):
        raise SettingsError(name, raw, VARIABLES[name][0])
    return (idle, interval, count)


def _flag(environ: Mapping[str, str], name: str) -> bool:
    raw = environ.get(name)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(name, raw, VARIABLES[name][0])


def _callable_path(environ: Mapping[str, str], name: str) -> str | None:
    """``module.path:function`` (the function may be dotted), checked for shape only."""
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return None
    from safeworkers.deploy import target  # only when the variable is set: it imports re

    if target.function_parts(raw) is None:
        raise SettingsError(name, raw, VARIABLES[name][0])
    return raw.strip()


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Parse and validate every ``SAFEWORKERS_*`` variable.

    Unknown ``SAFEWORKERS_*`` names are refused too: a typo such as
    ``SAFEWORKERS_BAKCEND`` would otherwise be silently ignored.
    """
    env = os.environ if environ is None else environ
    for key in env:
        if key.startswith("SAFEWORKERS_") and key not in VARIABLES:
            raise SettingsError(key, env[key], ", ".join(VARIABLES), unknown=True)
    return Settings(
        backend=_choice(env, "SAFEWORKERS_BACKEND", BACKENDS, "auto"),
        guard=_choice(env, "SAFEWORKERS_GUARD", GUARD_MODES, "guard"),
        guard_modules=_modules(env),
        tcp_keepalive=_keepalive(env),
        mptcp=_flag(env, "SAFEWORKERS_MPTCP"),
        guard_process=_flag(env, "SAFEWORKERS_GUARD_PROCESS"),
        after_patch=_callable_path(env, "SAFEWORKERS_AFTER_PATCH"),
    )

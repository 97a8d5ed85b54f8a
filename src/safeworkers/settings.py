"""``SAFEWORKERS_*`` settings: one table, parsed and validated once, at worker start.

Each variable is one row of :data:`TABLE`: its name, the :class:`Settings`
field it fills, its parser, its default, the values it accepts and its doc
line. :func:`load` parses from the table; a bad value raises
:class:`SettingsError`, whose message names the variable, the value and the
row's accepted values, so the worker can stop with one readable line; the
settings table of docs/workers.md is :func:`markdown_table` (a test keeps them
equal). A new setting is a row here and a field annotation on
:class:`Settings`.
"""

from __future__ import annotations

import os

# Imported at interpreter start-up by the .pth hook (SAFEWORKERS_GUARD_PROCESS),
# so stdlib modules that cost more than the interpreter's start (typing,
# dataclasses, re) are not imported here; typing only by type checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
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
#: What a yes/no setting accepts, as errors and the docs say it.
_FLAG_VALUES = f"{'/'.join(_TRUE)} or {'/'.join(v for v in _FALSE if v)}"


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


# ------------------------------------------------------------------------------ parsers
# Each takes the variable's raw value (it is set) and returns the field's value, or
# raises ValueError; load() turns that into a SettingsError quoting the row.


def _choice(choices: tuple[_Choice, ...]) -> Callable[[str], _Choice]:
    def parse(raw: str) -> _Choice:
        value = raw.strip().lower()
        for choice in choices:
            if choice == value:
                return choice
        raise ValueError(raw)

    return parse


def _modules(raw: str) -> tuple[str, ...]:
    modules = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not modules or not all(all(p.isidentifier() for p in m.split(".")) for m in modules):
        raise ValueError(raw)
    return modules


def _keepalive(raw: str) -> tuple[int, int, int] | None:
    if raw.strip().lower() in ("off", ""):
        return None
    parts = [p.strip() for p in raw.split(",")]
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(raw)
    idle, interval, count = (int(p) for p in parts)
    # Linux's limits (MAX_TCP_KEEPIDLE/KEEPINTVL 32767, MAX_TCP_KEEPCNT 127): a kernel
    # that refuses a value leaves the OS default (2 h idle) in place, silently.
    if not (0 < idle <= 32767 and 0 < interval <= 32767 and 0 < count <= 127):
        raise ValueError(raw)
    return (idle, interval, count)


def _flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(raw)


def _callable_paths(raw: str) -> str | None:
    """``module.path:function`` (the function may be dotted), or several, comma-separated;
    checked for shape only, and kept as one string with the parts stripped."""
    parts = [part.strip() for part in raw.split(",")]
    if not any(parts):
        return None
    from safeworkers.deploy import target  # only when the variable is set: it imports re

    if not all(target.function_parts(part) is not None for part in parts):
        raise ValueError(raw)
    return ",".join(parts)


#: The shortest SAFEWORKERS_BLOCKING_WARN: the hub's watch ticks every quarter of it, so a
#: microsecond would keep the worker busy ticking instead of serving.
MIN_BLOCKING_WARN = 0.01


def _seconds_or_off(raw: str) -> float | None:
    value = raw.strip().lower()
    if value in ("off", ""):
        return None
    seconds = float(value)  # ValueError for what is not a number
    if not MIN_BLOCKING_WARN <= seconds <= 3600:  # nan fails this too
        raise ValueError(raw)
    return seconds


# ------------------------------------------------------------------------------ the table


class Variable:
    """One ``SAFEWORKERS_*`` variable: a row of :data:`TABLE`."""

    __slots__ = ("accepted", "default", "doc", "field", "name", "parse", "shown_default")

    def __init__(
        self,
        name: str,
        field: str,
        parse: Callable[[str], object],
        default: object,
        accepted: str,
        doc: str,
        *,
        shown_default: str,
    ) -> None:
        #: The environment variable.
        self.name = name
        #: The :class:`Settings` field it fills.
        self.field = field
        #: Raw value -> field value; raises ValueError for a value it does not accept.
        self.parse = parse
        #: The field's value when the variable is not set.
        self.default = default
        #: What it accepts, as errors and the docs say it.
        self.accepted = accepted
        #: What it does: the docs table's last column (Markdown, links relative to docs/).
        self.doc = doc
        #: The default as the docs table shows it.
        self.shown_default = shown_default


#: Every setting, in the order the docs list them.
TABLE: tuple[Variable, ...] = (
    Variable(
        "SAFEWORKERS_BACKEND",
        "backend",
        _choice(BACKENDS),
        "auto",
        ", ".join(BACKENDS),
        "the worker AutoWorker uses; `auto` decides from the app and platform",
        shown_default="`auto`",
    ),
    Variable(
        "SAFEWORKERS_GUARD",
        "guard",
        _choice(GUARD_MODES),
        "guard",
        ", ".join(GUARD_MODES),
        "the Trio import guard's mode in green workers "
        "([why each mode](guard.md#modes-safeworkers_guard-or-installmode))",
        shown_default="`guard`",
    ),
    Variable(
        "SAFEWORKERS_GUARD_MODULES",
        "guard_modules",
        _modules,
        DEFAULT_GUARD_MODULES,
        "comma-separated module names, e.g. trio,mylib",
        "modules the import guard covers",
        shown_default=f"`{','.join(DEFAULT_GUARD_MODULES)}`",
    ),
    Variable(
        "SAFEWORKERS_TCP_KEEPALIVE",
        "tcp_keepalive",
        _keepalive,
        None,
        "idle,interval,count: idle and interval 1-32767 s, count 1-127 (e.g. 60,15,4), or off",
        "TCP keepalive on accepted TCP connections",
        shown_default="`off`",
    ),
    Variable(
        "SAFEWORKERS_MPTCP",
        "mptcp",
        _flag,
        False,
        _FLAG_VALUES,
        "create Multipath TCP listeners where the kernel allows (config modules)",
        shown_default="`0`",
    ),
    Variable(
        "SAFEWORKERS_TRIO_FAST",
        "trio_fast",
        _flag,
        True,
        _FLAG_VALUES,
        "`TrioWorker` serves plain HTTP/1.1 itself, handing TLS, HTTP/2 and WebSocket "
        "connections to hypercorn; `off` hands every connection to hypercorn "
        "([the fast path](trio.md#the-fast-path))",
        shown_default="`1`",
    ),
    Variable(
        "SAFEWORKERS_TRIO_GC_FREEZE",
        "trio_gc_freeze",
        _flag,
        True,
        _FLAG_VALUES,
        "`TrioWorker` moves the objects that exist once the app has started into the "
        "garbage collector's permanent generation (`gc.freeze()`), so full collections "
        "stop walking them ([why](trio.md#the-garbage-collector))",
        shown_default="`1`",
    ),
    Variable(
        "SAFEWORKERS_GUARD_PROCESS",
        "guard_process",
        _flag,
        False,
        _FLAG_VALUES,
        "install the import guard when any Python process starts, before its code can patch; "
        "`safeworkers run` sets it, child processes inherit it "
        "([Celery and other green processes](green-processes.md))",
        shown_default="`0`",
    ),
    Variable(
        "SAFEWORKERS_AFTER_PATCH",
        "after_patch",
        _callable_paths,
        None,
        "module:function, or several comma-separated, e.g. "
        "psycogreen.gevent:patch_psycopg,myapp.hooks:after_patch",
        "called in order by `GeventWorker` and `EventletWorker` after patching, before the app "
        "is imported: with the worker if the function takes one argument, with none if it "
        "takes none ([the after-patch hook]"
        "(green-processes.md#after-patching-the-after-patch-hook-gunicorn-green-workers))",
        shown_default="none",
    ),
    Variable(
        "SAFEWORKERS_GREEN_DRIVERS",
        "green_drivers",
        _flag,
        True,
        _FLAG_VALUES,
        "green workers apply the installed cure of a blocking driver (psycogreen for psycopg2, "
        "gRPC's `init_gevent`) by themselves, and say so; off: they only warn "
        "([blocking drivers](green-processes.md#blocking-drivers))",
        shown_default="`1`",
    ),
    Variable(
        "SAFEWORKERS_BLOCKING_WARN",
        "blocking_warn",
        _seconds_or_off,
        None,
        f"seconds, from {MIN_BLOCKING_WARN:g} to 3600 (e.g. 0.5), or off",
        "green workers log each time a greenlet holds the hub longer than this, with the stack "
        "that held it (and count it in statsd) "
        "([a blocked hub](green-processes.md#a-blocked-hub-safeworkers_blocking_warn))",
        shown_default="`off`",
    ),
)

#: name -> (accepted values, doc line), from :data:`TABLE`.
VARIABLES: Mapping[str, tuple[str, str]] = {v.name: (v.accepted, v.doc) for v in TABLE}


class Settings:
    """The parsed settings: read-only, compared and printed field by field.

    One field per row of :data:`TABLE` (the row's ``field``; its default when
    not given); the annotations are for type checkers.
    """

    backend: Backend
    guard: GuardMode
    guard_modules: tuple[str, ...]
    tcp_keepalive: tuple[int, int, int] | None
    mptcp: bool
    trio_fast: bool
    trio_gc_freeze: bool
    guard_process: bool
    after_patch: str | None
    green_drivers: bool
    blocking_warn: float | None

    # A plain class, not a dataclass: see the imports above.
    __slots__ = tuple(sorted(v.field for v in TABLE))

    def __init__(self, **fields: object) -> None:
        for name in fields:
            if name not in self.__slots__:
                raise TypeError(f"Settings() got an unexpected keyword argument {name!r}")
        for variable in TABLE:
            object.__setattr__(self, variable.field, fields.get(variable.field, variable.default))

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


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Parse and validate every ``SAFEWORKERS_*`` variable.

    Unknown ``SAFEWORKERS_*`` names are refused too: a typo such as
    ``SAFEWORKERS_BAKCEND`` would otherwise be silently ignored.
    """
    env = os.environ if environ is None else environ
    for key in env:
        if key.startswith("SAFEWORKERS_") and key not in VARIABLES:
            raise SettingsError(key, env[key], ", ".join(VARIABLES), unknown=True)
    fields: dict[str, object] = {}
    for variable in TABLE:
        raw = env.get(variable.name)
        if raw is None:
            continue
        try:
            fields[variable.field] = variable.parse(raw)
        except ValueError:
            raise SettingsError(variable.name, raw, variable.accepted) from None
    return Settings(**fields)


def markdown_table() -> str:
    """The settings table of docs/workers.md, one row per variable of :data:`TABLE`."""
    rows = [
        "| variable | accepted values | default | what it does |",
        "|---|---|---|---|",
        *(f"| `{v.name}` | {v.accepted} | {v.shown_default} | {v.doc} |" for v in TABLE),
    ]
    return "\n".join(rows) + "\n"

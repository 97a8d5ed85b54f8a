"""Blocking drivers: C extensions that monkey-patching cannot make green, each with its cure.

gevent and eventlet make the standard library cooperative; a driver written
in C that talks to its server through its own sockets (libpq, libmysqlclient,
gRPC's core, FreeTDS, libldap, librdkafka) never goes through it. While such
a driver waits for its server, the whole green worker waits with it: one
request at a time per worker, whatever ``--worker-connections`` says, and
nothing in the logs says so.

:data:`DRIVERS` is the table: for each driver the modules that name it, the
server it waits for, the cure (and the cure under each library, for a
worker's messages), the cure the workers apply by themselves (``auto``: the
library it is for -> ``module:function``), and the libraries whose own
patching makes it green (``green_under``: eventlet's for psycopg2). A cure
is applied automatically only where it is a documented switch of a library
the user installed, that changes nothing but how the driver waits
(psycogreen's wait callback for psycopg2, gRPC's ``init_gevent``). The
table is the one source for the workers, ``recommend``, ``check`` and
``doctor``.

Everything here reads; nothing imports a driver, gevent or eventlet.
:func:`state` looks at a driver the *process* has imported already (its
module's own records), for the workers to check after the app is loaded.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

Library = Literal["gevent", "eventlet"]
#: What a driver the process imported is doing: waiting on the hub, or blocking it.
State = Literal["green", "blocks"]


def _psycopg2(modules: Mapping[str, Any], library: Library) -> State:
    extensions = modules.get("psycopg2.extensions")
    wait = getattr(extensions, "get_wait_callback", None)
    return "green" if wait is not None and wait() is not None else "blocks"


def _psycopg(modules: Mapping[str, Any], library: Library) -> State:
    # psycopg 3 picks its wait function when psycopg.waiting is imported: the C one
    # (psycopg-binary/psycopg-c) polls in C, unless it saw gevent's patched select.
    waiting = modules.get("psycopg.waiting")
    wait, wait_c = getattr(waiting, "wait", None), getattr(waiting, "wait_c", None)
    return "blocks" if wait is not None and wait is wait_c else "green"


def _grpc(modules: Mapping[str, Any], library: Library) -> State:
    cygrpc = modules.get("grpc._cython.cygrpc")
    activated = library == "gevent" and bool(getattr(cygrpc, "g_gevent_activated", False))
    return "green" if activated else "blocks"


def _always_blocks(modules: Mapping[str, Any], library: Library) -> State:
    return "blocks"


#: The empty mapping, shared by the drivers without automatic or per-library cures.
_NONE: Mapping[Any, str] = MappingProxyType({})


class Driver(NamedTuple):
    """One driver that blocks a green worker's hub, and what cures it.

    A named tuple, not a dataclass: every code scan (each AutoWorker's boot)
    imports this table, and a dataclass compiles its methods at import.
    """

    #: What users call it (the module, or the distribution when it differs).
    name: str
    #: The modules that name it in an app's code (matched with their submodules).
    modules: tuple[str, ...]
    #: The distributions that install it.
    distributions: tuple[str, ...]
    #: What it waits for, for messages.
    server: str
    #: The cure, for the docs and ``doctor`` (under either library).
    cure: str
    #: library -> the cure workers apply by themselves (``module:function``), when installed.
    auto: Mapping[Library, str] = _NONE
    #: The distribution that installs the automatic cure.
    cure_distribution: str | None = None
    #: Whether the automatic cure still works once the app has imported the driver and
    #: made its objects (psycopg2's callback does; gRPC wants it before any channel).
    cures_late: bool = False
    #: What the driver is doing in a process that imported it.
    look: Callable[[Mapping[str, Any], Library], State] = _always_blocks
    #: library -> the cure under that library alone, for a worker's messages (else ``cure``).
    cures: Mapping[Library, str] = _NONE
    #: The libraries whose own patching makes it wait on their hub, with nothing to
    #: install (eventlet.monkey_patch() sets psycopg2's wait callback: its ``psycopg``
    #: patch is on by default).
    green_under: frozenset[Library] = frozenset()

    def auto_cure(self, library: Library) -> str | None:
        return self.auto.get(library)

    def cure_for(self, library: Library) -> str:
        """The cure under ``library``, without what is said of the other library."""
        return self.cures.get(library, self.cure)

    def cure_installed(self, library: Library) -> bool:
        """Whether the module of the automatic cure for ``library`` can be imported here."""
        cure = self.auto_cure(library)
        return cure is not None and importable(cure.partition(":")[0])


#: The drivers, in the order the docs list them.
DRIVERS: tuple[Driver, ...] = (
    Driver(
        "psycopg2",
        ("psycopg2",),
        ("psycopg2", "psycopg2-binary"),
        "PostgreSQL",
        "psycogreen's wait callback (pip install psycogreen; GeventWorker applies it by "
        "itself); under EventletWorker nothing to do: eventlet.monkey_patch() sets eventlet's "
        "own",
        MappingProxyType({"gevent": "psycogreen.gevent:patch_psycopg"}),
        "psycogreen",
        cures=MappingProxyType(
            {
                "gevent": "psycogreen's wait callback (pip install psycogreen; GeventWorker "
                "applies it by itself)",
                "eventlet": "eventlet.monkey_patch() with its psycopg patch on (the default), "
                "before psycopg2 connects",
            }
        ),
        green_under=frozenset({"eventlet"}),
        cures_late=True,
        look=_psycopg2,
    ),
    Driver(
        "psycopg (3)",
        ("psycopg",),
        ("psycopg",),
        "PostgreSQL",
        "import psycopg after patching, under gevent (psycopg then waits through the patched "
        "select; the green workers import the app after patching), or use its async API; "
        "under eventlet, the pure-Python psycopg (without psycopg-binary or psycopg-c)",
        cures=MappingProxyType(
            {
                "gevent": "import psycopg after patching (psycopg then waits through the "
                "patched select; the green workers import the app after patching), or use its "
                "async API",
                "eventlet": "the pure-Python psycopg (without psycopg-binary or psycopg-c)",
            }
        ),
        look=_psycopg,
    ),
    Driver(
        "mysqlclient",
        ("MySQLdb",),
        ("mysqlclient",),
        "MySQL",
        "PyMySQL (pure Python, greened by patching; SQLAlchemy: mysql+pymysql://, Django: "
        "pymysql.install_as_MySQLdb())",
    ),
    Driver(
        "grpcio",
        ("grpc",),
        ("grpcio",),
        "the gRPC server",
        "gevent: grpc.experimental.gevent.init_gevent() after patching, before any channel "
        "(GeventWorker calls it by itself when the app's code imports grpc); eventlet: none "
        "(gRPC has no eventlet support)",
        MappingProxyType({"gevent": "grpc.experimental.gevent:init_gevent"}),
        "grpcio",
        cures=MappingProxyType(
            {
                "gevent": "grpc.experimental.gevent.init_gevent() after patching, before any "
                "channel",
                "eventlet": "none: gRPC has no eventlet support (serve the app with "
                "-k safeworkers.GeventWorker)",
            }
        ),
        look=_grpc,
    ),
    Driver(
        "pymssql",
        ("pymssql",),
        ("pymssql",),
        "SQL Server",
        "python-tds (pytds, pure Python), or the calls in a thread pool "
        "(gevent.get_hub().threadpool, eventlet.tpool)",
        cures=MappingProxyType(
            {
                "gevent": "python-tds (pytds, pure Python), or the calls in gevent's thread "
                "pool (gevent.get_hub().threadpool)",
                "eventlet": "python-tds (pytds, pure Python), or the calls in eventlet.tpool",
            }
        ),
    ),
    Driver(
        "python-ldap",
        ("ldap",),
        ("python-ldap",),
        "the LDAP server",
        "ldap3 (pure Python, greened by patching)",
    ),
    Driver(
        "confluent-kafka",
        ("confluent_kafka",),
        ("confluent-kafka",),
        "Kafka",
        "poll(0) in a loop with a green sleep, or the calls in a thread pool; or kafka-python "
        "(pure Python)",
    ),
    Driver(
        "cx_Oracle",
        ("cx_Oracle",),
        ("cx-Oracle",),
        "Oracle",
        "python-oracledb in its default thin mode (pure Python)",
    ),
    Driver(
        "pylibmc",
        ("pylibmc",),
        ("pylibmc",),
        "memcached",
        "pymemcache (pure Python)",
    ),
    Driver(
        "pyodbc",
        ("pyodbc",),
        ("pyodbc",),
        "the ODBC data source",
        "the calls in a thread pool (gevent.get_hub().threadpool, eventlet.tpool)",
        cures=MappingProxyType(
            {
                "gevent": "the calls in gevent's thread pool (gevent.get_hub().threadpool)",
                "eventlet": "the calls in eventlet.tpool",
            }
        ),
    ),
)

#: String constants in an app's code that load a driver without importing it: database
#: URLs (SQLAlchemy's default driver of each dialect) and Django's database engines.
HINTS: Mapping[str, str] = MappingProxyType(
    {
        "postgresql://": "psycopg2",
        "postgres://": "psycopg2",
        "postgresql+psycopg2://": "psycopg2",
        "postgresql+psycopg://": "psycopg (3)",
        "mysql://": "mysqlclient",
        "mysql+mysqldb://": "mysqlclient",
        "mssql+pymssql://": "pymssql",
        "mssql+pyodbc://": "pyodbc",
        "oracle+cx_oracle://": "cx_Oracle",
        "django.db.backends.postgresql": "psycopg2",
        "django.db.backends.mysql": "mysqlclient",
    }
)

_BY_NAME = {driver.name: driver for driver in DRIVERS}

#: Every distribution of a driver or of an automatic cure, for the process snapshot.
DISTRIBUTIONS: tuple[str, ...] = tuple(
    dict.fromkeys(
        name
        for driver in DRIVERS
        for name in (*driver.distributions, driver.cure_distribution)
        if name is not None
    )
)


def by_name(name: str) -> Driver:
    return _BY_NAME[name]


def for_module(module: str) -> Driver | None:
    """The driver an import of ``module`` (or of a submodule) brings in."""
    for driver in DRIVERS:
        if any(module == m or module.startswith(m + ".") for m in driver.modules):
            return driver
    return None


def for_string(text: str) -> Driver | None:
    """The driver a string constant (a database URL, a Django engine) loads."""
    for prefix, name in HINTS.items():
        if text.startswith(prefix):
            return _BY_NAME[name]
    return None


def importable(module: str) -> bool:
    """Whether ``module``'s top-level package can be found (found, never imported)."""
    top = module.partition(".")[0]
    if top in sys.modules:
        return True
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def installed(driver: Driver) -> bool:
    return any(importable(module) for module in driver.modules)


def imported(modules: Mapping[str, Any] | None = None) -> tuple[Driver, ...]:
    """The drivers this process (``modules``: ``sys.modules``) has imported."""
    modules = sys.modules if modules is None else modules
    return tuple(d for d in DRIVERS if any(m in modules for m in d.modules))


def state(driver: Driver, library: Library, modules: Mapping[str, Any] | None = None) -> State:
    """Whether ``driver``, imported in this process, waits on ``library``'s hub."""
    return driver.look(sys.modules if modules is None else modules, library)


def effect(driver: Driver, library: Library) -> str:
    """What an uncured driver does to a green worker, in one clause."""
    return (
        f"waits for {driver.server} without yielding to {library}'s hub: while it waits the "
        "worker serves nothing else (one request at a time per worker, whatever "
        "--worker-connections says)"
    )


def place(where: str) -> str:
    """``at app.py:3`` for a file:line; a sentence (``imported while ...``) as it is."""
    return where if " " in where else f"at {where}"


def warning(driver: Driver, library: Library, where: str) -> str:
    """The boot warning for a driver that will block this green worker: its cure under
    ``library`` only (a GeventWorker's warning says nothing of eventlet)."""
    return (
        f"{driver.name} ({place(where)}) {effect(driver, library)}. "
        f"Cure: {driver.cure_for(library)}"
    )


def hook_cure(driver: Driver, library: Library) -> str | None:
    """``SAFEWORKERS_AFTER_PATCH=...`` for a driver whose automatic cure must run before its
    first use, when the app's own code does not show it (a library imports it): the
    workers apply such a cure before the app is imported only for drivers the code shows,
    and the after-patch hook runs then for any. ``None`` where that does not apply."""
    cure = driver.auto_cure(library)
    if cure is None or driver.cures_late:
        return None
    return f"SAFEWORKERS_AFTER_PATCH={cure}"


def outlook(
    found: Iterable[tuple[str, str]],
    library: Library,
    installed: Callable[[str], bool],
    *,
    cure: bool = True,
) -> tuple[list[str], list[str]]:
    """What a green worker of ``library`` would do with the drivers an app's code shows.

    ``found``: (driver name, where) pairs, from the app scan; ``installed``:
    whether a distribution is installed (``Environment.installed``). ``cure``:
    the workers apply automatic cures (``SAFEWORKERS_GREEN_DRIVERS``). Returns
    ``(cured, blocking)``, one phrase per installed driver: those the worker
    makes green at boot, and those that block its hub (with their cure).
    """
    cured: list[str] = []
    blocking: list[str] = []
    seen: set[str] = set()
    for name, where in found:
        driver = _BY_NAME[name]
        if name in seen or not any(installed(d) for d in driver.distributions):
            continue
        seen.add(name)
        if library in driver.green_under:
            own = f"{library}'s own patching makes it green"
            cured.append(f"{driver.name} ({where}) waits on {library}'s hub: {own}")
            continue
        automatic = driver.auto_cure(library)
        cure_there = driver.cure_distribution is not None and installed(driver.cure_distribution)
        if automatic and cure_there and cure:
            cured.append(f"{driver.name} ({where}) is made green at boot ({automatic})")
        elif automatic and cure_there:
            blocking.append(
                f"{driver.name} ({where}; its cure {automatic} is installed, not applied: "
                "SAFEWORKERS_GREEN_DRIVERS=0)"
            )
        else:
            blocking.append(f"{driver.name} ({where}; cure: {driver.cure_for(library)})")
    return cured, blocking


def verdict(
    found: Iterable[tuple[str, str]],
    library: Library,
    installed: Callable[[str], bool],
    *,
    cure: bool = True,
) -> str:
    """Whether a green worker is worth it for an app whose code shows ``found``."""
    cured, blocking = outlook(found, library, installed, cure=cure)
    if blocking:
        return (
            f"not worth it as things stand: {'; '.join(blocking)} would block {library}'s hub "
            "(one request at a time per worker)"
        )
    if cured:
        return "worth it where the app waits on I/O: " + "; ".join(cured)
    return (
        f"nothing in the app's code blocks {library}'s hub (no C database or RPC driver "
        "seen): worth it where the app waits on I/O (outbound HTTP, databases, long polling)"
    )

"""Every worker safeworkers names, in one table: ours, gunicorn's own, uvicorn's, hypercorn's.

A row says what the worker is called where users name it (``gunicorn -k``,
hypercorn's ``-k``), the class it resolves to, the server that runs it, the
app kinds it serves, the safeworkers extra that brings what it needs, and why
one picks it. The rest of the package asks this table instead of spelling
names: the policy names its choices from it, AutoWorker and
``import safeworkers`` resolve classes with :func:`resolve`, ``check`` pairs
each of ours with its upstream twin, ``template`` writes each worker's reason,
the gunicorn config recognises gunicorn's own green workers.

A new worker is one row here, next to its class under ``safeworkers/workers/``
(ours) or where it is installed from (upstream); the policy may then choose
it, and ``check`` boot it.
"""

from __future__ import annotations

import importlib
from typing import Literal, NamedTuple

Server = Literal["gunicorn", "hypercorn"]
Kind = Literal["wsgi", "asgi"]

#: The name prefix of our own workers (``gunicorn -k safeworkers.AutoWorker``).
PREFIX = "safeworkers."


class Worker(NamedTuple):
    """One worker a user can name.

    A named tuple, not a dataclass: gunicorn's master imports this table to
    resolve ``-k safeworkers.X`` on every boot, and a frozen dataclass compiles
    its methods when the module is imported (most of a millisecond, with the
    ``dataclasses`` module itself).
    """

    #: What ``-k`` takes: ``safeworkers.SyncWorker``, gunicorn's ``gthread``, hypercorn's ``trio``.
    name: str
    #: Where it is defined: ``module.Class`` (for hypercorn's, the function its ``run`` calls).
    path: str
    server: Server
    #: The app kinds it serves.
    serves: tuple[Kind, ...]
    #: The safeworkers extra that installs what it needs (``pip install 'safeworkers[X]'``).
    extra: str | None = None
    #: The distributions it needs; ``check`` skips it, naming the extra, when one is missing.
    needs: tuple[str, ...] = ()
    #: Why one picks it, for the deployment templates' comments (None: chosen with --worker).
    why: str | None = None
    #: The green library it monkey-patches the process with.
    patches: str | None = None
    #: A thread pool per process: it takes ``--threads``.
    threads: bool = False
    #: One request at a time per thread: a proxy in front buffers, so a slow client cannot
    #: hold it (nginx ``proxy_buffering on``).
    buffered: bool = False

    @property
    def ours(self) -> bool:
        return self.name.startswith(PREFIX)

    @property
    def class_name(self) -> str:
        return self.path.rpartition(".")[2]

    @property
    def module(self) -> str:
        return self.path.rpartition(".")[0]


# ------------------------------------------------------------------------------ ours

AUTO = Worker(
    f"{PREFIX}AutoWorker",
    "safeworkers.workers.auto.AutoWorker",
    "gunicorn",
    ("wsgi", "asgi"),
    why=(
        "it reads the app's code and the process and picks the worker in each worker "
        "process (sync; gthread with --threads; Trio for Trio apps; asyncio for other ASGI "
        "apps; the guarded gevent or eventlet worker when the process is monkey-patched "
        "already or the app patches itself, or when SAFEWORKERS_BACKEND asks), logs the "
        "choice and why, and stops at boot with the reason where a worker would answer 500"
    ),
    buffered=True,
)
SYNC = Worker(
    f"{PREFIX}SyncWorker",
    "safeworkers.workers.sync.SyncWorker",
    "gunicorn",
    ("wsgi",),
    why=(
        "one request at a time per process: the fastest fit for a WSGI app behind a buffering proxy"
    ),
    buffered=True,
)
THREAD = Worker(
    f"{PREFIX}ThreadWorker",
    "safeworkers.workers.gthread.ThreadWorker",
    "gunicorn",
    ("wsgi",),
    why="a thread pool per process (set --threads) for WSGI apps that wait on I/O",
    threads=True,
    buffered=True,
)
GEVENT = Worker(
    f"{PREFIX}GeventWorker",
    "safeworkers.workers.gevent.GeventWorker",
    "gunicorn",
    ("wsgi",),
    extra="gevent",
    needs=("gevent",),
    why=(
        "gevent serves many slow, I/O-bound WSGI requests per process; it installs "
        "the Trio import guard before patching, so httpx/anyio imports cannot kill it"
    ),
    patches="gevent",
)
EVENTLET = Worker(
    f"{PREFIX}EventletWorker",
    "safeworkers.workers.eventlet.EventletWorker",
    "gunicorn",
    ("wsgi",),
    extra="eventlet",
    needs=("eventlet",),
    why=(
        "for apps that depend on eventlet: it runs on gunicorn >= 26, which dropped "
        "-k eventlet, with the Trio import guard installed before patching"
    ),
    patches="eventlet",
)
TRIO = Worker(
    f"{PREFIX}TrioWorker",
    "safeworkers.workers.trio.TrioWorker",
    "gunicorn",
    ("asgi",),
    extra="trio",
    needs=("trio", "hypercorn", "httptools"),
    why=(
        "it serves ASGI apps on Trio (hypercorn's trio serving) under gunicorn's "
        "process management: the only worker for Trio-only apps"
    ),
)

# ------------------------------------------------------------------------------ gunicorn's own

GUNICORN_SYNC = Worker(
    "sync", "gunicorn.workers.sync.SyncWorker", "gunicorn", ("wsgi",), buffered=True
)
GUNICORN_GTHREAD = Worker(
    "gthread",
    "gunicorn.workers.gthread.ThreadWorker",
    "gunicorn",
    ("wsgi",),
    threads=True,
    buffered=True,
)
GUNICORN_GEVENT = Worker(
    "gevent",
    "gunicorn.workers.ggevent.GeventWorker",
    "gunicorn",
    ("wsgi",),
    extra="gevent",
    needs=("gevent",),
    patches="gevent",
)
#: gunicorn <= 25 only: 26 removed it (EVENTLET is ours, for every version).
GUNICORN_EVENTLET = Worker(
    "eventlet",
    "gunicorn.workers.geventlet.EventletWorker",
    "gunicorn",
    ("wsgi",),
    extra="eventlet",
    needs=("eventlet",),
    patches="eventlet",
)
#: gunicorn >= 24's asyncio ASGI worker.
GUNICORN_ASGI = Worker("asgi", "gunicorn.workers.gasgi.ASGIWorker", "gunicorn", ("asgi",))
#: uvicorn-worker's (uvicorn's worker for gunicorn); ``check`` boots it only where installed.
UVICORN = Worker(
    "uvicorn_worker.UvicornWorker", "uvicorn_worker.UvicornWorker", "gunicorn", ("asgi",)
)

# ------------------------------------------------------------------------------ hypercorn's own

HYPERCORN_TRIO = Worker(
    "trio",
    "hypercorn.trio.run.trio_worker",
    "hypercorn",
    ("wsgi", "asgi"),
    extra="trio",
    needs=("hypercorn", "trio"),
    why=(
        "the app's code uses Trio (trio, quart-trio, trio-websocket), which needs Trio's loop; "
        "apps that call asyncio need asyncio, and WSGI apps need hypercorn_config.py's "
        "lifespan fix on Trio"
    ),
)
HYPERCORN_ASYNCIO = Worker(
    "asyncio",
    "hypercorn.asyncio.run.asyncio_worker",
    "hypercorn",
    ("wsgi", "asgi"),
    extra="trio",
    needs=("hypercorn",),
    why=(
        "asyncio serves ASGI apps that call asyncio (most do) and WSGI apps, through "
        "hypercorn's WSGI adapter; apps that use Trio need trio"
    ),
)
HYPERCORN_UVLOOP = Worker(
    "uvloop",
    "hypercorn.asyncio.run.uvloop_worker",
    "hypercorn",
    ("wsgi", "asgi"),
    extra="trio",
    needs=("hypercorn", "uvloop"),
    why="asyncio on uvloop (install it): the fastest for ASGI apps that call asyncio",
)

#: Every row: ours, gunicorn's, then hypercorn's (in the order ``template`` lists them).
WORKERS: tuple[Worker, ...] = (
    AUTO,
    SYNC,
    THREAD,
    GEVENT,
    EVENTLET,
    TRIO,
    GUNICORN_SYNC,
    GUNICORN_GTHREAD,
    GUNICORN_GEVENT,
    GUNICORN_EVENTLET,
    GUNICORN_ASGI,
    UVICORN,
    HYPERCORN_TRIO,
    HYPERCORN_ASYNCIO,
    HYPERCORN_UVLOOP,
)


def find(name: str, server: Server = "gunicorn") -> Worker | None:
    """The row ``-k name`` means under ``server``, or ``None`` if it is none of these."""
    return next((w for w in WORKERS if w.name == name and w.server == server), None)


def ours(class_name: str) -> Worker | None:
    """Our worker whose class is ``class_name`` (``safeworkers.<class_name>``), or ``None``."""
    return next((w for w in WORKERS if w.ours and w.class_name == class_name), None)


def of(server: Server) -> tuple[Worker, ...]:
    """The rows of one server, in table order."""
    return tuple(w for w in WORKERS if w.server == server)


def resolve(name: str) -> type:
    """The class gunicorn's ``-k name`` loads: a row's class, or any ``module.Class``.

    Imports its module (only then: a worker module may import gevent).
    """
    row = find(name)
    module_name, _, attribute = (row.path if row is not None else name).rpartition(".")
    cls: type = getattr(importlib.import_module(module_name), attribute)
    return cls

"""Workers for gunicorn and hypercorn that boot and serve on every platform.

Public names are loaded lazily (PEP 562): ``import safeworkers`` imports
neither gevent, eventlet, trio nor hypercorn. Resolving ``-k
safeworkers.EventletWorker`` or ``TrioWorker`` in gunicorn's master does not
import them either; ``GeventWorker`` subclasses gunicorn's gevent worker and
so imports gevent there, as ``-k gevent`` does (importing patches nothing).

The package reads in layers (docs/architecture.md): ``facts`` (read without
acting), ``decision`` (the table of workers, the policy, one ``decide``),
the actions (``guard``, ``sockets``, ``deploy``), ``workers``, and the entry
points (``cli``, the config modules, ``testing`` and the pytest plugin).
"""

from __future__ import annotations

from safeworkers._version import __version__

# The .pth hook (SAFEWORKERS_GUARD_PROCESS) imports this package at every
# interpreter start: typing, which costs about what the start does, is for
# type checkers only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from safeworkers.workers.auto import AutoWorker
    from safeworkers.workers.eventlet import EventletWorker
    from safeworkers.workers.gevent import GeventWorker
    from safeworkers.workers.gthread import ThreadWorker
    from safeworkers.workers.sync import SyncWorker
    from safeworkers.workers.trio import TrioWorker

__all__ = [
    "AutoWorker",
    "EventletWorker",
    "GeventWorker",
    "SyncWorker",
    "ThreadWorker",
    "TrioWorker",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # `from safeworkers import settings` asks here first, at every start with the
    # start-up hook on: the worker table is read only for a worker's name.
    worker = None
    if name in __all__:
        from safeworkers.decision import registry

        worker = registry.ours(name)
    if worker is None:
        raise AttributeError(f"module 'safeworkers' has no attribute {name!r}")
    value = registry.resolve(worker.name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

"""Workers for gunicorn and hypercorn that boot and serve on every platform.

Public names are loaded lazily (PEP 562): ``import safeworkers`` imports
neither gevent, eventlet, trio nor hypercorn. Resolving ``-k
safeworkers.EventletWorker`` or ``TrioWorker`` in gunicorn's master does not
import them either; ``GeventWorker`` subclasses gunicorn's gevent worker and
so imports gevent there, as ``-k gevent`` does (importing patches nothing).
"""

from __future__ import annotations

import importlib

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
    from safeworkers.workers.sync import SyncWorker, ThreadWorker
    from safeworkers.workers.trio import TrioWorker

# name -> module that defines it
_LAZY = {
    "AutoWorker": "safeworkers.workers.auto",
    "SyncWorker": "safeworkers.workers.sync",
    "ThreadWorker": "safeworkers.workers.sync",
    "GeventWorker": "safeworkers.workers.gevent",
    "EventletWorker": "safeworkers.workers.eventlet",
    "TrioWorker": "safeworkers.workers.trio",
}

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
    try:
        module_name = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'safeworkers' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

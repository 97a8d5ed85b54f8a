"""What the serving modules need of the worker, as a type: they never import ``worker``.

``worker`` imports ``gate``, ``lifespan`` and ``config`` to serve; they, in
turn, call back into the worker they are given. Typing that argument with the
``TrioWorker`` class made each of them import ``worker`` (under
``TYPE_CHECKING``): a cycle, if only for the type checker. This Protocol
names what they use instead, as hypercorn's ``typing.py`` does for its own
modules; ``TrioWorker`` satisfies it.
"""

from __future__ import annotations

from typing import Any, Protocol


class TrioWorkerLike(Protocol):
    """The part of :class:`~safeworkers.workers.trio.worker.TrioWorker` the serving modules use."""

    #: gunicorn's settings and logger.
    cfg: Any
    log: Any
    #: Why the app's lifespan startup failed, set by the lifespan runner.
    _startup_failure: str | None

    def _count_request(self) -> bool:
        """Count one request; True when responses should close their connection."""
        ...

    def _access(self, request: Any, response: Any, request_time: float) -> None:
        """Hand one hypercorn access record to gunicorn's access logger."""
        ...

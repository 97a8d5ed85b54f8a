"""gunicorn's sync worker, with safeworkers' socket handling.

The thread worker lives in :mod:`safeworkers.workers.gthread`, as gunicorn's
does: resolving ``-k safeworkers.SyncWorker`` imports neither gunicorn's
gthread module nor what it imports (a fifth of what this worker adds to a
boot). ``safeworkers.workers.sync.ThreadWorker``, where it used to be, is
still found.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gunicorn.workers.sync import SyncWorker as _GunicornSyncWorker

from safeworkers.facts import appfiles
from safeworkers.workers._base import SafeWorkerMixin

if TYPE_CHECKING:
    from safeworkers.workers.gthread import ThreadWorker as ThreadWorker


class SyncWorker(SafeWorkerMixin, _GunicornSyncWorker):  # type: ignore[misc]
    """One request at a time per process; gunicorn's default worker."""

    safeworkers_name = "SyncWorker"
    safeworkers_adds = "gunicorn sync worker with per-transport socket tuning"
    safeworkers_serves = ("wsgi",)

    def init_process(self) -> None:
        self.safeworkers_start()
        # Few apps ask for a green library; the scan runs only where the code may show it.
        if self.safeworkers_code_may_show(appfiles.ASK_WORDS):
            self.refuse_asking_app()
        super().init_process()

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        self.tune_client(client, listener.fileno())
        super().handle(listener, client, addr)


def __getattr__(name: str) -> Any:
    if name == "ThreadWorker":  # its old place
        from safeworkers.workers.gthread import ThreadWorker

        return ThreadWorker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

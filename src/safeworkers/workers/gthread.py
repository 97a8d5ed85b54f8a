"""gunicorn's gthread worker, with safeworkers' socket handling and its refusals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gunicorn.workers.gthread import ThreadWorker as _GunicornThreadWorker

from safeworkers.facts import appfiles
from safeworkers.workers._base import SafeWorkerMixin

if TYPE_CHECKING:
    from safeworkers.settings import Settings


class ThreadWorker(SafeWorkerMixin, _GunicornThreadWorker):  # type: ignore[misc]
    """A thread pool per process (``--threads``); gunicorn's gthread worker."""

    safeworkers_name = "ThreadWorker"
    safeworkers_adds = "gunicorn gthread worker with per-transport socket tuning"
    safeworkers_serves = ("wsgi",)

    def safeworkers_details(self, current: Settings) -> str:
        return f"threads={self.cfg.threads}"

    def init_process(self) -> None:
        self.safeworkers_start()
        # gthread imports the app in init_process, after its pool and poller exist: an app
        # that patches must be refused before. The scan runs only where the code may show it.
        if self.safeworkers_code_may_show(appfiles.PATCH_WORDS + appfiles.ASK_WORDS):
            self.refuse_self_patching_app("its thread pool and poller")
            self.refuse_asking_app()
        super().init_process()

    def enqueue_req(self, conn: Any) -> None:
        # Every new connection passes here before a thread handles it (and
        # again after keep-alive waits, hence the marker): gunicorn 23-27.
        if not getattr(conn, "_safeworkers_tuned", False):
            conn._safeworkers_tuned = True
            self.tune_client(conn.sock, getattr(conn, "server", None))
        super().enqueue_req(conn)

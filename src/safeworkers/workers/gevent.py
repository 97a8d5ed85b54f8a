"""gunicorn's gevent worker with the Trio import guard installed before patching."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from safeworkers import guard
from safeworkers.workers._afterpatch import AfterPatchMixin
from safeworkers.workers._base import SafeWorkerMixin, find_missing, missing_extra_worker

if TYPE_CHECKING:
    from safeworkers.settings import Settings

_PRELOAD_FIX = (
    "trio was imported in the master before gevent patched this worker (--preload, or an "
    "import in gunicorn.conf.py); trio captured the unpatched stdlib and its event loop "
    "cannot run under gevent. Fix: drop --preload, or move the import of trio (and of "
    "httpx/anyio code that imports it) out of the preloaded modules; optional imports are "
    "already handled by the guard."
)


def _preloaded_trio_warning(log: Any, mode: str) -> None:
    # With SAFEWORKERS_GUARD=preimport the early import is deliberate.
    if "trio" in sys.modules and mode != "preimport":
        log.warning("safeworkers GeventWorker: %s", _PRELOAD_FIX)


# Unlike the other safeworkers workers, this module imports gevent in the
# master (through gunicorn's gevent worker, which it subclasses), as
# `-k gevent` does; importing gevent patches nothing.
_missing: Exception | None = find_missing("gevent", "greenlet")
if _missing is None:
    try:
        # gunicorn's module imports gevent, and (gunicorn >= 27) packaging,
        # which only gunicorn[gevent] installs.
        from gunicorn.workers.ggevent import GeventWorker as _GunicornGeventWorker
    except (ImportError, RuntimeError) as exc:  # RuntimeError: gevent older than gunicorn needs
        _missing = exc
if _missing is not None:
    GeventWorker: type = missing_extra_worker("GeventWorker", "gevent", _missing)
else:

    class GeventWorker(AfterPatchMixin, SafeWorkerMixin, _GunicornGeventWorker):  # type: ignore[misc,no-redef]
        """Greenlets on gevent's hub; trio-importing libraries cannot kill it."""

        safeworkers_name = "GeventWorker"
        safeworkers_adds = "gunicorn gevent worker with the Trio import guard"

        def patch(self) -> None:
            # Runs first thing in init_process, before gevent.monkey.patch_all().
            current = self.safeworkers_settings
            guard.install(current.guard_modules, mode=current.guard)
            _preloaded_trio_warning(self.log, current.guard)
            super().patch()

        def safeworkers_details(self, current: Settings) -> str:
            return f"guard={current.guard} ({','.join(current.guard_modules)})"

        def init_process(self) -> None:
            self.safeworkers_start()  # before patch(): a bad setting stops us unpatched
            super().init_process()

        def handle(self, listener: Any, client: Any, addr: Any) -> None:
            self.tune_client(client, listener.fileno())
            super().handle(listener, client, addr)

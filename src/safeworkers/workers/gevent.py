"""gunicorn's gevent worker with the Trio import guard installed before patching."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from safeworkers import guard
from safeworkers import settings as settings_mod
from safeworkers.workers._afterpatch import AfterPatchMixin
from safeworkers.workers._base import (
    SafeWorkerMixin,
    find_missing,
    guard_details,
    missing_extra_worker,
)

if TYPE_CHECKING:
    from safeworkers.settings import Settings

# Unlike the other safeworkers workers, this module imports gevent in the
# master (through gunicorn's gevent worker, which it subclasses), as
# `-k gevent` does; importing gevent patches nothing. The guard goes in first
# all the same: nothing of ours imports a green library without it.
_missing: Exception | None = find_missing("gevent", "greenlet")
if _missing is None:
    try:  # invisible where trio imports fine, as it does in an unpatched master
        _master = settings_mod.load()
        guard.install(_master.guard_modules, mode=_master.guard)
    except settings_mod.SettingsError:
        guard.install()  # the worker reports the bad value when it boots
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
        safeworkers_adds = "gunicorn gevent worker"
        safeworkers_serves = ("wsgi",)
        safeworkers_library = "gevent"

        def patch(self) -> None:
            # Runs first thing in init_process, before gevent.monkey.patch_all().
            current = self.safeworkers_settings
            self.refuse_other_patcher("gevent")
            guard.install(current.guard_modules, mode=current.guard)
            super().patch()

        def safeworkers_details(self, current: Settings) -> str:
            return guard_details(current)

        def init_process(self) -> None:
            self.safeworkers_start()  # before patch(): a bad setting stops us unpatched
            super().init_process()

        def handle(self, listener: Any, client: Any, addr: Any) -> None:
            self.tune_client(client, listener.fileno())
            super().handle(listener, client, addr)

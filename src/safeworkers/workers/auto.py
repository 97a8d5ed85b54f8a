"""``AutoWorker``: decides in the worker process which worker to be.

gunicorn builds the worker object in the master and calls ``init_process``
in the forked child; the master then watches ``worker.tmp`` for heartbeats.
So the decision happens at the top of ``init_process`` in the child, before
anything is patched, and the object then *becomes* the chosen worker: its
class is swapped and the chosen class's ``__init__`` runs again, keeping the
heartbeat file the master watches and the pid the arbiter set.

The app is loaded once, here, to learn whether it is WSGI or ASGI; gunicorn
caches the loaded object, so the chosen worker reuses it. When a green
backend is forced (``SAFEWORKERS_BACKEND=gevent|eventlet``) the app is *not*
loaded here: it must be imported only after patching.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from gunicorn import util
from gunicorn.workers.base import Worker

from safeworkers import detect, policy
from safeworkers.settings import SettingsError
from safeworkers.settings import load as load_settings
from safeworkers.workers._base import SafeWorkerMixin, boot_failure

#: Worker classes the policy may name that are not ``safeworkers.<Name>``.
_UPSTREAM = {
    policy.GUNICORN_ASGI: "gunicorn.workers.gasgi.ASGIWorker",
}


def resolve(worker_class: str) -> type:
    """The class for a policy worker name (``safeworkers.X``, ``asgi``, ``module.Class``)."""
    dotted = _UPSTREAM.get(worker_class, worker_class)
    module_name, _, attribute = dotted.rpartition(".")
    cls: type = getattr(importlib.import_module(module_name), attribute)
    return cls


def _no_gunicorn_worker_message(choice: policy.Choice) -> str:
    from gunicorn import __version__ as gunicorn_version

    return (
        f"this ASGI app needs an asyncio ASGI worker and gunicorn {gunicorn_version} has no "
        "asyncio ASGI worker: pip install uvicorn-worker, or upgrade to gunicorn >= 24 (-k asgi), "
        "or serve it with hypercorn (SAFEWORKERS_BACKEND=asgi hypercorn --config "
        f"python:safeworkers.hypercorn_config MODULE:APP). Policy: {choice}"
    )


class AutoWorker(SafeWorkerMixin, Worker):  # type: ignore[misc]
    """Picks SyncWorker, ThreadWorker, an ASGI worker or a forced backend; logs why."""

    safeworkers_name = "AutoWorker"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._sw_init_args = (args, kwargs)
        super().__init__(*args, **kwargs)

    def init_process(self) -> None:
        try:
            current = load_settings()
        except SettingsError as exc:
            boot_failure(self.log, str(exc))
            return
        kind: detect.AppKind = "wsgi"
        needs_trio = False
        if current.backend not in ("gevent", "eventlet"):
            app = self._load_app_like_gunicorn()
            kind = detect.app_kind(app)
            needs_trio = detect.app_needs_trio(app, self._app_module())
        try:
            choice = policy.recommend(
                app_kind=kind,
                threads=int(self.cfg.threads),
                backend=current.backend,
                needs_trio=needs_trio,
                server="gunicorn",
            )
        except policy.PolicyError as exc:
            boot_failure(self.log, str(exc))
            return
        if choice.server != "gunicorn":
            boot_failure(self.log, _no_gunicorn_worker_message(choice))
            return
        self.log.info(
            "safeworkers AutoWorker chose %s: %s", choice.worker_class, "; ".join(choice.reasons)
        )
        self._become(resolve(choice.worker_class))
        self.init_process()

    def _load_app_like_gunicorn(self) -> Any:
        """Load the app under the conditions gunicorn's own load happens in.

        gunicorn applies ``--env`` and drops privileges (``--user/--group``)
        before it imports the app; so do we. ``--initgroups`` is left to the
        chosen worker, because gunicorn's call for it cannot be repeated
        once privileges are dropped.
        """
        if self.cfg.env:
            os.environ.update(self.cfg.env)
        if not self.cfg.initgroups:
            util.set_owner_process(self.cfg.uid, self.cfg.gid, initgroups=False)
        return self.app.wsgi()  # cached by gunicorn: the chosen worker reuses it

    def _app_module(self) -> str | None:
        uri = getattr(self.app, "app_uri", None) or getattr(self.cfg, "wsgi_app", None)
        if not isinstance(uri, str) or ":" not in uri:
            return None
        return uri.partition(":")[0] or None

    def _become(self, cls: type) -> None:
        """Turn this object into an instance of ``cls``, keeping what the master watches."""
        args, kwargs = self._sw_init_args
        me: Any = self  # gunicorn is untyped; the swap is deliberate
        heartbeat, pid = me.tmp, me.pid
        me.__class__ = cls
        cls.__init__(me, *args, **kwargs)  # type: ignore[misc]
        me.tmp.close()
        me.tmp, me.pid = heartbeat, pid

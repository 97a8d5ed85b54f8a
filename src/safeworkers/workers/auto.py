"""``AutoWorker``: decides in the worker process which worker to be.

gunicorn builds the worker object in the master and calls ``init_process``
in the forked child; the master then watches ``worker.tmp`` for heartbeats.
So the decision happens at the top of ``init_process`` in the child, before
anything is patched, and the object then *becomes* the chosen worker: its
class is swapped and the chosen class's ``__init__`` adds that class's state,
while the heartbeat file, sockets, pid and whatever hooks set are kept.

The facts are gathered and the choice made by :func:`safeworkers.decision.decide.decide`,
the step ``safeworkers recommend``, ``check`` and the hypercorn config share: the
process (``facts.process``: is it monkey-patched already, can Trio run), the
app's code, read without running it (``facts.appscan``: Trio or asyncio use,
self-patching), and the loaded app (``facts.app``: WSGI or ASGI). The app is
loaded once, here; gunicorn caches the loaded object, so the chosen worker
reuses it. When a green backend is forced
(``SAFEWORKERS_BACKEND=gevent|eventlet``) or the app monkey-patches itself,
the app is *not* loaded here: it must be imported only after patching, by
the green worker, which checks then that it is a WSGI app. In a process
that is (or is about to be) monkey-patched, the Trio import guard is
installed before anything else; in one patched already, the after-patch hook
runs before the app is imported here.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

from gunicorn import util
from gunicorn.workers import base as gunicorn_base
from gunicorn.workers.base import Worker

from safeworkers import guard
from safeworkers.decision import decide as _decide
from safeworkers.decision import policy, registry
from safeworkers.facts import appscan, freethreading, process

# Imported now, not when chosen: the WSGI choices must not need imports after
# privileges are dropped (the interpreter may not be readable by that user).
# The sync worker here; the thread worker, whose gunicorn module imports more,
# in init_process before the app is loaded, where the policy may choose it.
from safeworkers.workers import sync as _sync  # noqa: F401
from safeworkers.workers._base import SafeWorkerMixin, boot_failure

if TYPE_CHECKING:
    from safeworkers.settings import Settings


def _no_gunicorn_worker_message(choice: policy.Choice) -> str:
    from gunicorn import __version__ as gunicorn_version

    return (
        f"this ASGI app needs an asyncio ASGI worker and gunicorn {gunicorn_version} has no "
        "asyncio ASGI worker: pip install uvicorn-worker, or upgrade to gunicorn >= 24 (-k asgi), "
        "or serve it with hypercorn (SAFEWORKERS_BACKEND=asgi hypercorn --config "
        f"python:safeworkers.hypercorn_config MODULE:APP). Policy: {choice}"
    )


class AutoWorker(SafeWorkerMixin, Worker):  # type: ignore[misc]
    """Picks the worker that fits the app and the process; logs the choice and why."""

    safeworkers_name = "AutoWorker"
    #: Whether the after-patch hook runs before this worker imports the app.
    _sw_hook_before_load = False

    def init_process(self) -> None:
        current = self.safeworkers_settings_or_stop()  # kept for the chosen worker
        self._hold_stop_signals()
        if policy.may_choose_threads(
            int(self.cfg.threads), current.backend, freethreading.free_threaded_build()
        ):
            from safeworkers.workers import gthread  # noqa: F401  (see the imports above)
        # The facts first, while privileges are unchanged: reading package
        # metadata imports modules an unprivileged user may not be able to read.
        try:
            decision = _decide.decide(
                self.safeworkers_app_module(),
                self._load_app,
                backend=current.backend,
                threads=int(self.cfg.threads),
                server="gunicorn",
                before_load=functools.partial(self._before_load, current),
                patched_by_app=functools.partial(self._patched_by_app, current),
                green_drivers=current.green_drivers,
            )
        except policy.PolicyError as exc:
            boot_failure(self.log, str(exc))
            return
        choice = decision.choice
        if choice.server != "gunicorn":
            boot_failure(self.log, _no_gunicorn_worker_message(choice))
            return
        self.log.info(
            "safeworkers AutoWorker chose %s: %s", choice.worker_class, "; ".join(choice.reasons)
        )
        self.safeworkers_decision = decision  # the chosen worker's messages read it
        self._become(registry.resolve(choice.worker_class))
        self.init_process()

    def _before_load(
        self, current: Settings, env: process.Environment, code: appscan.AppScan
    ) -> None:
        self.log.info("safeworkers AutoWorker: app code: %s", code.summary())
        patched = bool(env.green_patchers)
        if patched or policy.app_patchers(env, code):
            # Guard first: the app (or the chosen worker) imports what imports trio
            # in a process that is, or is about to be, monkey-patched.
            guard.install(current.guard_modules, mode=current.guard)
        # Patched already (gunicorn.conf.py, --preload): if the app is imported here (read
        # only then, in _load_app_like_gunicorn), the after-patch hook runs before it.
        self._sw_hook_before_load = patched
        if patched:  # the green path: its hook's module, while privileges are unchanged
            from safeworkers.workers import _afterpatch  # noqa: F401

    def _patched_by_app(self, current: Settings, libraries: set[str]) -> None:
        self.log.warning(
            "safeworkers AutoWorker: importing the app monkey-patched this process "
            "(%s), which its code did not show; the guard was installed late",
            ", ".join(sorted(libraries)),
        )
        guard.install(current.guard_modules, mode=current.guard)

    def _load_app(self) -> Any:
        try:
            return self._load_app_like_gunicorn()
        except guard.BackendUnavailable as exc:  # a Trio import the code did not show
            boot_failure(self.log, f"importing the app failed: {exc}")
            raise  # unreachable: boot_failure exits

    def _hold_stop_signals(self) -> None:
        """Keep a stop that arrives while the app is imported.

        Until the chosen worker installs gunicorn's handlers, the child still
        has the arbiter's, which would queue the signal into the master's
        (dead) copy of its queue: the stop would be lost and the worker
        killed after the graceful timeout. The chosen worker sees
        ``alive == False`` and exits at once; SIGQUIT/SIGINT exit now.
        """

        def stop(sig: int, frame: Any) -> None:
            self.alive = False

        def quit_now(sig: int, frame: Any) -> None:
            sys.exit(0)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGQUIT, quit_now)
        signal.signal(signal.SIGINT, quit_now)

    def _load_app_like_gunicorn(self) -> Any:
        """Load the app under the conditions gunicorn's own load happens in.

        gunicorn applies ``--env`` and drops privileges (``--user/--group``,
        ``--initgroups``) before it imports the app; so do we. The chosen
        worker repeats the drop, which is a no-op then, except
        ``initgroups``, which an unprivileged process may not call: it is
        done here, and switched off in this worker's copy of the settings.
        """
        if self.cfg.env:
            os.environ.update(self.cfg.env)
        uid, gid = self.cfg.uid, self.cfg.gid
        if self.cfg.initgroups and uid and gid and os.getuid() == 0:
            # Supplementary groups first, while still root; gunicorn's own
            # call skips setgid in this case, and its repeat would then fail.
            os.initgroups(util.get_username(uid), gid)
            self.cfg.set("initgroups", False)
        util.set_owner_process(uid, gid, initgroups=False)  # setgid, then setuid
        if self._sw_hook_before_load:
            from safeworkers.workers import _afterpatch  # imported in _before_load

            _afterpatch.call(self)  # after --env and the privilege drop, as a green worker does
        return self.app.wsgi()  # cached by gunicorn: the chosen worker reuses it

    def _become(self, cls: type) -> None:
        """Turn this object into an instance of ``cls``, keeping its current state.

        ``cls.__init__`` runs for the state its class adds (thread pools,
        connection limits, ...), with this worker's *current* sockets (with
        ``--reuse-port`` the arbiter made them in the child). Everything the
        base class, the arbiter and ``post_fork`` hooks had set is then put
        back, and gunicorn's ``WorkerTmp`` hands back the existing heartbeat
        file instead of creating another: the master watches this one, and a
        new one might not be creatable once privileges are dropped.
        """
        me: Any = self  # gunicorn is untyped; the swap is deliberate
        before = dict(me.__dict__)
        real_worker_tmp = gunicorn_base.WorkerTmp
        gunicorn_base.WorkerTmp = lambda cfg: before["tmp"]
        try:
            me.__class__ = cls
            cls.__init__(me, me.age, me.ppid, me.sockets, me.app, me.timeout, me.cfg, me.log)  # type: ignore[misc]
        finally:
            gunicorn_base.WorkerTmp = real_worker_tmp
        me.__dict__.update(before)

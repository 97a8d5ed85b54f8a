"""The gunicorn worker class: boot checks, signals, heartbeat, the Trio run and its stop.

gunicorn's contract for a worker (heartbeat through ``notify``, watching the
parent, reacting to signals) is kept by Trio tasks running next to the
serving loop (:mod:`safeworkers.workers.trio.serving`); see docs/trio.md for
each signal.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from typing import TYPE_CHECKING, Any

from gunicorn.workers.base import Worker

from safeworkers.facts import process as detect
from safeworkers.workers._base import SafeWorkerMixin, boot_failure
from safeworkers.workers.trio.lifespan import find

if TYPE_CHECKING:
    import trio
    from hypercorn.config import Config
    from hypercorn.typing import AppWrapper

    from safeworkers.settings import Settings
    from safeworkers.workers.trio.protocol import Rules

__all__ = ["TrioWorker"]

#: Signals a Trio task handles; SIGABRT keeps gunicorn's own handler, which
#: must run even when the event loop is stuck (that is why the arbiter sends it).
_TRIO_SIGNALS = ("SIGTERM", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGWINCH")


def _summary(message: str) -> str:
    """One line for a lifespan failure message, which may be a whole traceback."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no message)"


class TrioWorker(SafeWorkerMixin, Worker):  # type: ignore[misc]
    """gunicorn worker serving an ASGI (or WSGI) app with hypercorn on Trio."""

    safeworkers_name = "TrioWorker"
    safeworkers_adds = "ASGI on Trio via hypercorn's trio serving"

    _startup_failure: str | None = None
    _serving = False
    _shutdown: trio.Event | None = None
    _closing = False
    _access_wanted = True
    _trio_token: trio.lowlevel.TrioToken | None = None
    _everything: trio.CancelScope | None = None
    _exit_code = 0
    _rules: Rules

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        if int(cfg.threads or 1) > 1:
            log.warning("TrioWorker does not use --threads: one Trio loop serves all connections")

    # ----------------------------------------------------------------- boot

    def safeworkers_details(self, current: Settings) -> str:
        return ", ".join(
            f"{name} {detect.package_version(name) or '?'}" for name in ("hypercorn", "trio")
        )

    def init_process(self) -> None:
        self._refuse_if_patched()  # before anything imports trio
        self.safeworkers_start()
        protocol = str(getattr(self.cfg, "proxy_protocol", "off") or "off").lower()
        if protocol not in ("off", "false", "none", "0"):
            boot_failure(
                self.log,
                f"{self.safeworkers_name} does not speak the PROXY protocol "
                f"(--proxy-protocol {protocol}); hypercorn would answer 400 to every "
                "request: drop the option, or use a gunicorn worker for this listener",
            )
        super().init_process()

    def _refuse_if_patched(self) -> None:
        """Stop at boot, with the reason and the fix, in a monkey-patched process."""
        patched = detect.patch_state()
        reason = detect.trio_unusable_reason(patched=patched)
        if not patched and reason is None:
            return
        patchers = ", ".join(sorted(set(patched.values()))) or "an unknown patcher"
        modules = ", ".join(sorted(patched)) or "none"
        boot_failure(
            self.log,
            f"{self.safeworkers_name} cannot run in a process monkey-patched by {patchers}: "
            f"{reason or f'patched modules: {modules}'}; remove the patching (do not combine "
            "-k safeworkers.TrioWorker with gevent/eventlet monkey-patching in gunicorn.conf.py, "
            "a --preload app or the app module), or serve this app with a green worker "
            "(safeworkers.GeventWorker / EventletWorker) if it is WSGI",
        )

    def handle_abort(self, sig: int, frame: Any) -> None:
        """SIGABRT (the arbiter's "WORKER TIMEOUT"): run worker_abort, exit with status 1.

        gunicorn raises ``SystemExit`` from the handler, wherever the process
        is. That is right when app code is stuck (it unwinds it), but inside
        Trio's own machinery (an idle loop) it breaks the run loop. So, as
        Trio does for SIGINT: protected code defers the exit to the loop.
        """
        token = self._trio_token
        if token is None:
            super().handle_abort(sig, frame)
            return
        import trio

        self.alive = False
        self._exit_code = 1
        self.cfg.worker_abort(self)
        if trio.lowlevel.currently_ki_protected():
            token.run_sync_soon(self._abort_now)
        else:
            sys.exit(1)

    def _abort_now(self) -> None:
        self._exit_code = 1
        if self._everything is not None:
            self._everything.cancel()

    def init_signals(self) -> None:
        # gunicorn's handlers cover the boot (app import); once Trio runs, a
        # Trio task takes over. Trio installs its own wakeup fd and warns when
        # one is set already, so undo gunicorn's.
        super().init_signals()
        if hasattr(signal, "set_wakeup_fd"):
            signal.set_wakeup_fd(-1)

    # ----------------------------------------------------------------- serving

    def run(self) -> None:
        # The app module may have patched on import: look again before Trio starts.
        self._refuse_if_patched()
        import trio
        from hypercorn.utils import LifespanFailureError, LifespanTimeoutError, wrap_app

        from safeworkers.workers.trio.config import hypercorn_config, rules
        from safeworkers.workers.trio.gate import Gate, Policy

        policy = Policy(self.cfg)
        config = hypercorn_config(self, policy)
        self._rules = rules(self, policy, config)
        self._access_wanted = self._access_log_wanted()
        app = Gate(
            wrap_app(self.wsgi, config.wsgi_max_body_size, None),
            self,
            policy,
            count_bytes=self._access_wanted,
        )
        # TLS, when set, applies to every listener (gunicorn's rule).
        sockets = [listener.sock for listener in self.sockets]
        if not self.alive:  # SIGTERM while the app was loading
            return
        try:
            trio.run(self._serve, app, config, sockets)
        except BaseException as exc:
            failure = find(exc, (LifespanFailureError, LifespanTimeoutError))
            # hypercorn may report "started" before the lifespan failure cancels
            # it, so a failure the gate recorded counts even then.
            if failure is not None and (self._startup_failure is not None or not self._serving):
                self._lifespan_failed(failure, config.startup_timeout)
            exit_request = find(exc, (SystemExit,))
            if exit_request is not None and exit_request is not exc:
                raise exit_request from None
            if failure is None:
                raise
            # lifespan shutdown failed: we were stopping anyway
            self.log.error("ASGI lifespan shutdown failed: %s", failure)
        finally:
            self._trio_token = None
        if self._exit_code:
            sys.exit(self._exit_code)

    async def _serve(self, app: AppWrapper, config: Config, sockets: list[socket.socket]) -> None:
        import trio

        self._shutdown = trio.Event()
        self._trio_token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            self._everything = nursery.cancel_scope
            await nursery.start(self._watch_signals, nursery.cancel_scope)
            nursery.start_soon(self._heartbeat)
            await nursery.start(self._serve_http, app, config, sockets, nursery.cancel_scope)
            self._serving = True

    async def _serve_http(
        self,
        app: AppWrapper,
        config: Config,
        sockets: list[socket.socket],
        done: trio.CancelScope,
        *,
        task_status: trio.TaskStatus[None],
    ) -> None:
        """Lifespan startup, serve, drain, lifespan shutdown."""
        from safeworkers.workers.trio import serving

        assert self._shutdown is not None
        await serving.serve(
            app,
            config,
            sockets,
            self._shutdown,
            self._rules,
            fast=self.safeworkers_settings.trio_fast,
            freeze=self.safeworkers_settings.trio_gc_freeze,
            access=self._access if self._access_wanted else None,
            task_status=task_status,
        )
        done.cancel()  # served and drained: stop the heartbeat and signal tasks

    def _request_shutdown(self, why: str) -> None:
        """Begin a graceful stop: stop accepting, drain in-flight requests, lifespan shutdown."""
        self.alive = False
        if self._shutdown is not None and not self._shutdown.is_set():
            self.log.info(
                "%s (pid %s): %s; draining in-flight requests (graceful timeout %ss)",
                self.safeworkers_name,
                self.pid,
                why,
                self.cfg.graceful_timeout,
            )
            self._shutdown.set()

    def _count_request(self) -> bool:
        """Count one request; True when responses should close their connection."""
        self.nr += 1
        if self.nr >= self.max_requests and not self._closing:
            self._closing = True
            self.log.info("Autorestarting worker after current request.")
            self._request_shutdown("max requests reached")
        return self._closing

    async def _heartbeat(self) -> None:
        """Tell the arbiter we are alive; stop when the parent changed or alive was cleared."""
        import trio

        interval = max(0.05, min(1.0, float(self.timeout) / 2))
        while True:
            self.notify()
            if self.ppid != os.getppid():
                self.log.info("Parent changed, shutting down: %s", self)
                self._request_shutdown("parent changed")
            elif not self.alive and not self._exit_code:  # early SIGTERM, the reloader, ...
                self._request_shutdown("stop requested")
            await trio.sleep(interval)

    async def _watch_signals(
        self, everything: trio.CancelScope, *, task_status: trio.TaskStatus[None]
    ) -> None:
        import trio

        wanted = [getattr(signal, name) for name in _TRIO_SIGNALS if hasattr(signal, name)]
        with trio.open_signal_receiver(*wanted) as received:
            task_status.started()
            async for signum in received:
                if signum == signal.SIGTERM:
                    self._request_shutdown("SIGTERM")
                elif signum in (signal.SIGINT, signal.SIGQUIT):
                    # gunicorn's fast exit: no draining, no lifespan shutdown.
                    self.alive = False
                    self.cfg.worker_int(self)
                    everything.cancel()
                    return
                elif signum == signal.SIGUSR1:
                    self.log.reopen_files()
                else:
                    self.log.debug("worker: SIGWINCH ignored.")

    # ----------------------------------------------------------------- helpers

    def _lifespan_failed(self, failure: BaseException, startup_timeout: float) -> None:
        message = self._startup_failure
        if message is None:
            if type(failure).__name__ == "LifespanTimeoutError":
                message = f"startup did not complete within {startup_timeout:g}s"
            else:
                message = str(failure)
        if "\n" in message.strip():
            self.log.error("ASGI lifespan startup failed:\n%s", message.rstrip())
        boot_failure(
            self.log,
            f"{self.safeworkers_name}: ASGI lifespan startup failed: {_summary(message)}; "
            "the app cannot serve without it, so gunicorn stops",
        )

    def _access_log_wanted(self) -> bool:
        """Whether access records are used: an access log, or a logger class (statsd) that
        overrides ``access``."""
        from gunicorn.glogging import Logger as GunicornLogger

        enabled = bool(getattr(self.log, "access_log_enabled", True))
        return enabled or type(self.log).access is not GunicornLogger.access

    def _access(self, request: Any, response: Any, request_time: float) -> None:
        """Hand one hypercorn access record to gunicorn's access logger."""
        if not self._access_wanted:
            return
        from safeworkers.workers.trio.config import access_record

        record = access_record(request, response, request_time)
        if record is not None:
            self.log.access(*record)

"""The ``EventletWorker`` class: start-up order, the serving loop, TLS, signals.

The order of ``init_process`` is the point of this worker: settings are
validated, the import guard is installed, eventlet is set up and patches the
process (:mod:`safeworkers.workers.eventlet.patching`), the listeners become
green sockets with a cooperative ``sendfile``
(:mod:`safeworkers.workers.eventlet.sendfile`), and only then is the app
loaded. Connection bookkeeping and the graceful stop live in
:mod:`safeworkers.workers.eventlet.stopping`.

Importing this module imports gunicorn's ``AsyncWorker`` but never eventlet;
the package imports it only when eventlet is installed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import ssl
import sys
from typing import TYPE_CHECKING, Any

from gunicorn.workers.base_async import AsyncWorker

from safeworkers import guard
from safeworkers.workers._afterpatch import AfterPatchMixin
from safeworkers.workers._base import SafeWorkerMixin, guard_details
from safeworkers.workers.eventlet import patching
from safeworkers.workers.eventlet.patching import MAINTENANCE_NOTICE, eventlet_version
from safeworkers.workers.eventlet.sendfile import green_socket_class
from safeworkers.workers.eventlet.stopping import GracefulStopMixin

if TYPE_CHECKING:
    from safeworkers.settings import Settings

__all__ = ["EventletWorker"]


class EventletWorker(AfterPatchMixin, SafeWorkerMixin, GracefulStopMixin, AsyncWorker):  # type: ignore[misc]
    """Green threads on eventlet's hub, for gunicorn 23 through 27 and later."""

    safeworkers_name = "EventletWorker"
    safeworkers_adds = (
        "eventlet worker for any gunicorn (>= 26 dropped its own), with idle keep-alive "
        "closing on shutdown and zero-copy sendfile"
    )
    safeworkers_serves = ("wsgi",)
    safeworkers_library = "eventlet"

    if TYPE_CHECKING:  # gunicorn's Worker attributes used here
        sockets: list[Any]
        alive: bool
        age: int
        ppid: int
        timeout: float
        worker_connections: int
        PIPE: list[int]

    # Set in init_process, once eventlet is imported.
    _eventlet: Any = None
    _hubs: Any = None
    _green_os: Any = None
    _socket_class: Any = None
    _tls: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connections = {}
        self._wakeup: Any = None
        self._quit_requested = False

    # ----------------------------------------------------------- start-up

    def safeworkers_details(self, current: Settings) -> str:
        version = eventlet_version()
        shown = ".".join(map(str, version)) if version else "unknown"
        return (
            f"eventlet {shown}; {guard_details(current)}; "
            f"{self.worker_connections} connections per worker"
        )

    def init_process(self) -> None:
        self._remember_early_signals()
        current = self.safeworkers_start()  # first: a bad setting stops us unpatched
        self.refuse_other_patcher("eventlet")
        # Before eventlet is even imported: from here on, a library that
        # imports trio gets an ImportError it can handle instead of a crash.
        guard.install(current.guard_modules, mode=current.guard)
        self._set_up_eventlet()
        if self.age == 1:  # the first worker this master started: say it once
            self.log.warning("safeworkers EventletWorker: %s", MAINTENANCE_NOTICE)
        else:
            self.log.debug("safeworkers EventletWorker: %s", MAINTENANCE_NOTICE)
        self.sockets = [self._green_listener(s) for s in self.sockets]
        super().init_process()

    def _remember_early_signals(self) -> None:
        """Keep a stop signal that arrives while the worker boots.

        Until gunicorn installs the worker's handlers (after eventlet and
        the app are loaded), a forked worker still runs the master's, which
        queue the signal for a master loop that does not run here: a
        SIGTERM sent by a quick SIGHUP would be lost, and the old worker
        would serve on until the master repeats it.
        """

        def stop(sig: int, frame: Any) -> None:
            self.alive = False

        def quit_now(sig: int, frame: Any) -> None:
            self.alive = False
            self._quit_requested = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGQUIT, quit_now)
        signal.signal(signal.SIGINT, quit_now)

    def _set_up_eventlet(self) -> None:
        green = patching.set_up(self.log, app_imported=self._app_imported())
        self._eventlet = green.eventlet
        self._hubs = green.eventlet.hubs
        self._green_os = green.green_os
        self._socket_class = green_socket_class(
            green.greenio, green.eventlet.hubs.trampoline, green.eventlet.sleep
        )

    def _app_imported(self) -> bool:
        """Whether the app was imported before patching (``--preload``, the config)."""
        if self.cfg.preload_app:
            return True
        module = self.safeworkers_app_module()
        return bool(module) and module in sys.modules

    def _green_listener(self, listener: Any) -> Any:
        # gunicorn's listener objects wrap the real socket in ``.sock``.
        raw = getattr(listener, "sock", listener)
        green = self._socket_class(raw)
        green.setblocking(True)  # green "blocking": waits on the hub, not the kernel
        return green

    # ----------------------------------------------------------- serving

    def run(self) -> None:
        try:
            self._serve()
        finally:
            # We are stopping already. A repeated SIGTERM (gunicorn < 27 sends
            # a second one after SIGHUP) would otherwise hit the default
            # action once Python's exit has reset the handlers, and the
            # master would log a clean exit as "was sent SIGTERM!".
            signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def _serve(self) -> None:
        eventlet = self._eventlet
        if self.cfg.is_ssl:
            from gunicorn.sock import ssl_context

            # Once per worker; gunicorn 25 built one per connection.
            self._tls = ssl_context(self.cfg)
        pool = eventlet.GreenPool(self.worker_connections)
        acceptors = [eventlet.spawn(self._accept_forever, s, pool) for s in self.sockets]
        eventlet.spawn_n(self._watch_wakeups)
        tick = self._heartbeat_interval()
        while self.alive:
            self.notify()
            self._exit_if_quitting()
            if os.getppid() != self.ppid:
                self.log.info("Parent changed, shutting down: %s", self)
                self.alive = False
                break
            self._sleep(tick)
        self._stop_accepting(acceptors)
        self._drain(pool, tick)
        self._close_listeners()

    def _heartbeat_interval(self) -> float:
        # The arbiter hands workers half of --timeout as self.timeout and
        # kills those silent for longer than --timeout: beat every half.
        timeout = float(self.timeout or 0)
        return min(1.0, timeout) if timeout > 0 else 1.0

    def _accept_forever(self, listener: Any, pool: Any) -> None:
        while self.alive:
            try:
                client, addr = listener.accept()
            except OSError as exc:
                if self._stopping():
                    return
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EINTR):
                    continue
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self.log.error("safeworkers: cannot accept connections: %s", exc)
                    self._eventlet.sleep(0.5)
                    continue
                self.log.exception("safeworkers: accept failed on %s; stopping", listener)
                self.alive = False
                self._wake()
                return
            try:
                # Waits here while worker_connections are busy: back-pressure.
                pool.spawn_n(self.handle, listener, client, addr)
            except BaseException:
                client.close()
                raise

    def _stopping(self) -> bool:
        return not self.alive

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        with self._tracking_connection():
            self.tune_client(client, listener.fileno())
            if self._tls is not None:
                client = self._start_tls(client, addr)
                if client is None:
                    return
            super().handle(listener, client, addr)

    def _start_tls(self, client: Any, addr: Any) -> Any:
        """The TLS side of ``client``, handshake done; ``None`` if it failed.

        The handshake happens here, in the connection's green thread,
        whatever ``do_handshake_on_connect`` says (gunicorn 27 would do it
        first thing in ``handle()`` anyway), and gets at most ``--timeout``
        seconds: a client that connects and goes quiet cannot hold a slot
        of the pool for ever.
        """
        from eventlet.green import ssl as green_ssl

        context = self._tls
        options = {
            "server_side": True,
            "suppress_ragged_eofs": self.cfg.suppress_ragged_eofs,
            "do_handshake_on_connect": False,
        }
        wrapped = None
        done = False
        try:
            if isinstance(context, green_ssl.GreenSSLContext):
                wrapped = context.wrap_socket(client, **options)
            else:
                # A context made before eventlet patched ssl (a custom
                # ssl_context hook): drive it through a green socket.
                wrapped = green_ssl.GreenSSLSocket(client, _context=context, **options)
            with self._eventlet.Timeout(self.cfg.timeout or None, False):
                wrapped.do_handshake()
                done = True
            if not done:
                self.log.debug("safeworkers: TLS handshake with %s timed out", addr)
        except (ssl.SSLError, OSError) as exc:
            self.log.debug("safeworkers: TLS handshake with %s failed: %s", addr, exc)
        if done:
            return wrapped
        with contextlib.suppress(OSError):
            (wrapped or client).close()
        return None

    def is_already_handled(self, respiter: Any) -> bool:
        # eventlet.websocket writes the whole exchange to the socket itself
        # and flags it on eventlet.wsgi's green-local; the connection is
        # then done (StopIteration closes it without a response).
        wsgi = sys.modules.get("eventlet.wsgi")
        local = getattr(wsgi, "WSGI_LOCAL", None)
        if local is not None and getattr(local, "already_handled", False):
            local.already_handled = False
            raise StopIteration()
        return bool(super().is_already_handled(respiter))

    # ----------------------------------------------------------- signals

    def _sleep(self, seconds: float) -> None:
        self._wakeup = self._eventlet.Event()
        self._wakeup.wait(seconds)

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.ready():
            wakeup.send(None)

    def _watch_wakeups(self) -> None:
        """Wake the main loop whenever a signal arrives.

        gunicorn points the signal wake-up fd at ``self.PIPE``; reading it
        through the hub means SIGTERM, SIGQUIT and friends are acted on at
        once rather than at the next heartbeat.
        """
        while True:
            try:
                data = self._green_os.read(self.PIPE[0], 512)
            except OSError:
                return
            if not data:
                return
            self._wake()

    def _exit_if_quitting(self) -> None:
        if self._quit_requested:
            sys.exit(0)

    def handle_quit(self, sig: int, frame: Any) -> None:
        # Runs inside a signal handler, possibly in the middle of the hub:
        # only set flags and schedule; the worker_int hook (which may do
        # I/O) and the exit happen in a green thread and the main loop.
        self.alive = False
        self._eventlet.spawn_n(self._quit)

    def _quit(self) -> None:
        try:
            self.cfg.worker_int(self)
        finally:
            self._quit_requested = True
            self._wake()

    def handle_usr1(self, sig: int, frame: Any) -> None:
        # Reopening log files takes locks and does I/O: not in the handler.
        self._eventlet.spawn_n(super().handle_usr1, sig, frame)

"""``safeworkers.EventletWorker``: an eventlet worker for every gunicorn from 23 on.

gunicorn 26 removed its eventlet worker (``-k eventlet`` is "class uri
'eventlet' invalid or not found" from then on). This one is built on
gunicorn's ``AsyncWorker``, which every version from 23 to 27 still ships, and
on eventlet's public API only, so it runs the same whether or not the
installed gunicorn has a worker of its own.

Importing this module never imports eventlet: gunicorn loads the worker class
in the master, which must stay unpatched. Everything eventlet happens in
``init_process``, in the worker, in this order: settings are validated, the
import guard is installed, eventlet's hub is set up, the process is
monkey-patched, the listeners become green sockets, and only then is the app
loaded.

What it does beyond gunicorn 25's worker:

* the Trio import guard, so apps whose libraries import trio (httpx/httpcore,
  anyio, SDKs) boot instead of dying with ``AttributeError`` (GreenSocket has
  no ``sendmsg``) on Linux or ``NotImplementedError`` on macOS/BSD;
* the master never imports or patches anything (gunicorn 25 monkey-patched at
  import time, so in the master too);
* signals wake the worker at once (gunicorn's wake-up pipe is watched by the
  hub) instead of at the next one-second tick, and the heartbeat interval
  follows ``--timeout``;
* on SIGTERM, keep-alive connections that sit idle between requests are
  closed straight away instead of holding the drain open until
  ``--keep-alive`` expires, and in-flight requests get ``--graceful-timeout``;
* ``sendfile`` is zero-copy (``os.sendfile`` waiting on the hub) without
  patching eventlet's ``GreenSocket`` class; the TLS context is built once
  per worker instead of once per connection, and a TLS handshake gets at most
  ``--timeout`` seconds;
* a stop signal that arrives while the worker boots is kept, not lost;
* each connection is tuned for its transport (TCP_NODELAY and keepalive on
  TCP only), and the worker exits when its master disappears.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import signal
import ssl
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from safeworkers import _target, detect, guard
from safeworkers.workers._afterpatch import AfterPatchMixin
from safeworkers.workers._base import (
    SafeWorkerMixin,
    boot_failure,
    find_missing,
    guard_details,
    missing_extra_worker,
)

if TYPE_CHECKING:
    from safeworkers.settings import Settings

#: The oldest eventlet this worker is tested with (``safeworkers[eventlet]`` pins it).
MIN_EVENTLET = (0, 36)

INSTALL_HINT = "pip install 'safeworkers[eventlet]'"

MAINTENANCE_NOTICE = (
    "eventlet is in maintenance mode upstream (bug fixes only; its authors advise against it "
    "for new code). safeworkers.EventletWorker keeps existing deployments running on any "
    "gunicorn; to move off eventlet: safeworkers.GeventWorker for green WSGI apps, "
    "safeworkers.ThreadWorker for blocking WSGI apps, an ASGI server (or "
    "safeworkers.TrioWorker) for async code. "
    "See https://eventlet.readthedocs.io/en/latest/asyncio/migration.html"
)

#: Bytes per ``os.sendfile`` call: large enough to be cheap, small enough that
#: one big download cannot keep the hub away from other connections for long.
_SENDFILE_CHUNK = 1 << 20
#: Bytes per read when a file has to be copied through user space.
_COPY_CHUNK = 64 * 1024


def _eventlet_version() -> tuple[int, ...] | None:
    version = detect.package_version("eventlet")
    return None if version is None else detect.release(version)


# --------------------------------------------------------------------------- sendfile


def _copy_file(sock: Any, file: Any, offset: int, count: int | None) -> int:
    """Send ``file`` through user space: for files without a descriptor."""
    if offset:
        file.seek(offset)
    total = 0
    while count is None or total < count:
        want = _COPY_CHUNK if count is None else min(_COPY_CHUNK, count - total)
        data = file.read(want)
        if not data:
            break
        sock.sendall(data)
        total += len(data)
    return total


def _cooperative_sendfile(
    sock: Any,
    file: Any,
    offset: int,
    count: int | None,
    wait_writable: Callable[..., Any],
    pause: Callable[[], Any],
) -> int:
    """``socket.sendfile`` for a green socket: zero-copy, yielding to the hub.

    The stdlib version refuses non-blocking sockets, and the socket under a
    GreenSocket is always non-blocking; eventlet does not provide one. This
    one waits on the hub (``wait_writable``) when the socket is full and
    lets other green threads run (``pause``) between chunks. Same contract as
    the stdlib: returns the bytes sent and leaves the file position after the
    last byte sent.
    """
    if count is not None and count <= 0:
        raise ValueError(f"count must be a positive integer (got {count!r})")
    if offset < 0:
        raise ValueError(f"offset must be a non-negative integer (got {offset!r})")
    native = getattr(os, "sendfile", None)
    try:
        in_fd = file.fileno()
        size = os.fstat(in_fd).st_size
    except (AttributeError, io.UnsupportedOperation, OSError):
        native = None
    if native is None:
        return _copy_file(sock, file, offset, count)
    remaining = count if count is not None else size - offset
    out_fd = sock.fileno()
    position = offset
    total = 0
    try:
        while remaining > 0:
            try:
                sent = native(out_fd, in_fd, position, min(remaining, _SENDFILE_CHUNK))
            except BlockingIOError:
                wait_writable(
                    out_fd,
                    write=True,
                    timeout=sock.gettimeout(),
                    timeout_exc=TimeoutError("timed out"),
                )
                continue
            except OSError:
                if total:
                    raise
                # Not a file sendfile can read (or a socket it can write): copy instead.
                return _copy_file(sock, file, offset, count)
            if not sent:  # end of file
                break
            position += sent
            remaining -= sent
            total += sent
            if remaining > 0:
                pause()
        return total
    finally:
        if total and hasattr(file, "seek"):
            file.seek(position)


def _green_socket_class(
    greenio: Any, trampoline: Callable[..., Any], sleep: Callable[[float], Any]
) -> type:
    """eventlet's GreenSocket plus a cooperative ``sendfile``.

    A subclass rather than a patch of eventlet's class: only our listeners use
    it, and ``GreenSocket.accept`` builds each connection as ``type(self)``,
    so every connection gunicorn serves has it too.
    """

    def sendfile(self: Any, file: Any, offset: int = 0, count: int | None = None) -> int:
        return _cooperative_sendfile(self, file, offset, count, trampoline, lambda: sleep(0))

    return type(
        "SafeGreenSocket",
        (greenio.GreenSocket,),
        {"sendfile": sendfile, "__module__": __name__, "__doc__": _green_socket_class.__doc__},
    )


# --------------------------------------------------------------------------- late patching


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _unrouted_log_records() -> Iterator[list[logging.LogRecord]]:
    """Collect records that have no handler and would go to stderr raw.

    When it patches a process whose modules are already imported (--preload),
    eventlet walks every module looking for thread locks to make green, and
    logs a full traceback, through a stray logger with no handler, for each
    object that refuses inspection (Flask's context proxies all do). Those
    records are summed up in one line instead.
    """
    collector = _Collector()
    previous = logging.lastResort
    logging.lastResort = collector
    try:
        yield collector.records
    finally:
        logging.lastResort = previous


def _summarise(records: list[logging.LogRecord]) -> str:
    reasons: Counter[str] = Counter()
    for record in records:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            first = (str(error).strip().splitlines() or [""])[0]
            reasons[f"{type(error).__name__}: {first}"] += 1
        else:
            reasons[record.getMessage()] += 1
    return "; ".join(f"{reason} (x{count})" for reason, count in reasons.most_common())


# --------------------------------------------------------------------------- the worker


class _Connection:
    """What the worker tracks about one connection it is serving."""

    __slots__ = ("idle", "served")

    def __init__(self) -> None:
        #: Requests answered on this connection so far.
        self.served = 0
        #: The keep-alive timer while the connection waits for its next request.
        self.idle: Any = None


_missing = find_missing("eventlet", "greenlet")
if _missing is not None:
    EventletWorker: type = missing_extra_worker("EventletWorker", "eventlet", _missing)
else:
    from gunicorn.workers.base_async import AsyncWorker

    class EventletWorker(AfterPatchMixin, SafeWorkerMixin, AsyncWorker):  # type: ignore[misc,no-redef]
        """Green threads on eventlet's hub, for gunicorn 23 through 27 and later."""

        safeworkers_name = "EventletWorker"
        safeworkers_adds = (
            "eventlet worker for any gunicorn (>= 26 dropped its own), with idle keep-alive "
            "closing on shutdown and zero-copy sendfile"
        )
        safeworkers_serves = ("wsgi",)

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
            self._connections: dict[Any, _Connection] = {}
            self._wakeup: Any = None
            self._quit_requested = False

        # ----------------------------------------------------------- start-up

        def safeworkers_details(self, current: Settings) -> str:
            version = _eventlet_version()
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
            app_imported = self._app_imported()
            version = _eventlet_version()
            if version is not None and version < MIN_EVENTLET:
                wanted = ".".join(map(str, MIN_EVENTLET))
                found = ".".join(map(str, version))
                boot_failure(
                    self.log,
                    f"safeworkers.EventletWorker needs eventlet >= {wanted}, found {found}: "
                    f"pip install -U 'safeworkers[eventlet]'",
                )
            try:
                with warnings.catch_warnings():
                    # eventlet warns on import that it is deprecated; we log
                    # that once, with the ways out, instead.
                    warnings.simplefilter("ignore")
                    import eventlet
                    import eventlet.hubs
                    from eventlet import greenio
                    from eventlet.green import os as green_os
            except ImportError as exc:
                boot_failure(
                    self.log,
                    f"safeworkers.EventletWorker needs eventlet, which cannot be imported "
                    f"({type(exc).__name__}: {exc}): {INSTALL_HINT}",
                )
                raise  # unreachable: boot_failure exits
            # A fresh hub for this process: one inherited through fork (the
            # app may have used eventlet under --preload) holds the master's
            # poller and timers.
            eventlet.hubs.use_hub()
            with _unrouted_log_records() as records:
                eventlet.monkey_patch()
            if records and app_imported:
                self.log.warning(
                    "safeworkers EventletWorker: the app was imported before eventlet patched "
                    "this worker (--preload, or imports in the gunicorn config); eventlet "
                    "reports: %s. Objects that refuse inspection are usually Flask/werkzeug "
                    "context proxies (harmless); locks left native do not keep green threads "
                    "apart. To avoid both, do not preload the app.",
                    _summarise(records),
                )
            elif records:
                # Not the app: modules eventlet's own import pulled in (dnspython's
                # DNS-over-HTTPS chain, for one) hold objects its lock scan trips on.
                self.log.debug(
                    "safeworkers EventletWorker: eventlet's monkey_patch() reports, about "
                    "modules imported before it patched (not the app): %s",
                    _summarise(records),
                )
            self._eventlet = eventlet
            self._hubs = eventlet.hubs
            self._green_os = green_os
            self._socket_class = _green_socket_class(
                greenio, eventlet.hubs.trampoline, eventlet.sleep
            )

        def _app_imported(self) -> bool:
            """Whether the app was imported before patching (``--preload``, the config)."""
            if self.cfg.preload_app:
                return True
            uri = getattr(self.app, "app_uri", None) or getattr(self.cfg, "wsgi_app", None)
            module = _target.module_of(str(uri or ""))
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
            me = self._eventlet.getcurrent()
            self._connections[me] = _Connection()
            try:
                self.tune_client(client, listener.fileno())
                if self._tls is not None:
                    client = self._start_tls(client, addr)
                    if client is None:
                        return
                super().handle(listener, client, addr)
            finally:
                self._connections.pop(me, None)

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

        def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> Any:
            try:
                return super().handle_request(listener_name, req, sock, addr)
            finally:
                state = self._connections.get(self._eventlet.getcurrent())
                if state is not None:
                    state.served += 1

        def timeout_ctx(self) -> contextlib.AbstractContextManager[None]:
            return self._waiting_for_request()

        @contextlib.contextmanager
        def _waiting_for_request(self) -> Iterator[None]:
            """The keep-alive wait: ``--keep-alive`` seconds for the next request.

            Between requests the wait is registered, so a graceful stop can end
            it at once; once stopping, a connection that has been answered
            gets no further wait at all (requests already sent are still read).
            """
            state = self._connections.get(self._eventlet.getcurrent())
            between = state is not None and state.served > 0
            seconds = self.cfg.keepalive or None
            if between and not self.alive:
                seconds = 0
            timer = self._eventlet.Timeout(seconds, False)
            if between and state is not None:
                state.idle = timer
            try:
                with timer:
                    yield
            finally:
                if state is not None:
                    state.idle = None

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

        # ----------------------------------------------------------- stopping

        def _stop_accepting(self, acceptors: list[Any]) -> None:
            # The listeners stay open until the connections are served:
            # a connection accepted just before the stop is handled by a
            # green thread that has not run yet, and gunicorn's handle()
            # starts with listener.getsockname(), which a closed listener
            # answers with EBADF (the client then sees a reset).
            for acceptor in acceptors:
                acceptor.kill()

        def _close_listeners(self) -> None:
            for listener in self.sockets:
                # Our descriptor only: the master still holds the socket (and
                # a unix socket's path stays).
                with contextlib.suppress(OSError):
                    listener.close()

        def _drain(self, pool: Any, tick: float) -> None:
            self._end_idle_waits()
            if not pool.running():
                return
            self.log.info(
                "safeworkers: finishing %d connection(s) (up to %ss)",
                pool.running(),
                self.cfg.graceful_timeout,
            )
            self._eventlet.spawn_n(self._wake_when_idle, pool)
            deadline = time.monotonic() + float(self.cfg.graceful_timeout)
            while pool.running():
                self.notify()
                self._exit_if_quitting()
                left = deadline - time.monotonic()
                if left <= 0:
                    self.log.warning(
                        "Worker graceful timeout (pid:%s): closing %d connection(s)",
                        self.pid,
                        pool.running(),
                    )
                    return
                self._sleep(min(tick, left))

        def _end_idle_waits(self) -> None:
            hub = self._hubs.get_hub()
            for glet, state in list(self._connections.items()):
                if state.idle is not None:
                    hub.schedule_call_global(0, self._interrupt_wait, glet, state, state.idle)

        @staticmethod
        def _interrupt_wait(glet: Any, state: _Connection, timer: Any) -> None:
            # Checked when it runs: the connection may have received a request
            # in the meantime, and then it is not ours to interrupt.
            if state.idle is timer and not glet.dead:
                glet.throw(timer)  # the wait's own timeout: it ends quietly

        def _wake_when_idle(self, pool: Any) -> None:
            pool.waitall()
            self._wake()

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

"""``safeworkers.TrioWorker``: ASGI on Trio, served by hypercorn, managed by gunicorn.

gunicorn's arbiter (max-requests, HUP reload, TTIN/TTOU, statsd, server
hooks) manages the processes; inside each worker, hypercorn's own Trio serving
(:func:`hypercorn.trio.run.worker_serve`) handles HTTP/1.1, HTTP/2, WebSockets
and the ASGI lifespan on the listening sockets gunicorn already bound. This
module adds what joins the two:

- gunicorn settings mapped onto a hypercorn ``Config`` (see ``_hypercorn_config``
  and docs/trio.md for the table);
- a thin ASGI gate (``_Gate``) applying gunicorn's per-request policy that
  hypercorn lacks: request line/header limits, trusted ``secure_scheme_headers``,
  max-requests counting with ``Connection: close``, lifespan modes;
- a hypercorn logger that forwards to gunicorn's logger (error log, access log
  in gunicorn's ``access_log_format``, statsd);
- gunicorn's worker contract: heartbeat (``notify``), parent watch and signals,
  handled by Trio tasks.

Importing this module imports neither trio nor hypercorn: gunicorn imports the
worker class in the master. When they are missing, the class is a stand-in
whose worker stops at boot with "pip install 'safeworkers[trio]'".
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from gunicorn.workers.base import Worker

from safeworkers import detect
from safeworkers.workers._base import (
    SafeWorkerMixin,
    boot_failure,
    find_missing,
    missing_extra_worker,
)

if TYPE_CHECKING:
    import trio
    from hypercorn.config import Config, Sockets
    from hypercorn.typing import AppWrapper

    from safeworkers.settings import Settings

__all__ = ["TrioWorker"]

#: Signals a Trio task handles; SIGABRT keeps gunicorn's own handler, which
#: must run even when the event loop is stuck (that is why the arbiter sends it).
_TRIO_SIGNALS = ("SIGTERM", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGWINCH")
#: gunicorn's defaults for a limit set to 0 ("unlimited"): http/message.py.
_MAX_HEADERS = 32768
_DEFAULT_FIELD_SIZE = 8190
_DEFAULT_LINE = 8190
#: The private scope key where the gate counts response body bytes for the
#: access log's ``%(b)s``/``%(B)s`` (hypercorn's response summary has none).
_SENT_KEY = "safeworkers.response_bytes"
_STARTUP_FAILED = "lifespan.startup.failed"


def _walk(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and, recursively, the members of any exception group."""
    yield exc
    for member in getattr(exc, "exceptions", None) or ():
        if isinstance(member, BaseException):
            yield from _walk(member)


def _find(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> BaseException | None:
    return next((e for e in _walk(exc) if isinstance(e, kinds)), None)


def _summary(message: str) -> str:
    """One line for a lifespan failure message, which may be a whole traceback."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no message)"


def _limit(value: Any, default: int) -> int:
    number = int(value or 0)
    return number if number > 0 else default


class _Policy:
    """gunicorn's per-request settings, resolved once per worker."""

    def __init__(self, cfg: Any) -> None:
        line = int(cfg.limit_request_line or 0)
        #: 0 means unlimited in gunicorn: no request-line check.
        self.line = line if line > 0 else 0
        self.fields = _limit(cfg.limit_request_fields, _MAX_HEADERS)
        self.field_size = _limit(cfg.limit_request_field_size, _DEFAULT_FIELD_SIZE)
        secure = dict(getattr(cfg, "secure_scheme_headers", None) or {})
        #: lower-case header name -> the value meaning "https"
        self.secure: dict[bytes, bytes] = {
            str(k).lower().encode("latin-1"): str(v).encode("latin-1") for k, v in secure.items()
        }
        allow = list(getattr(cfg, "forwarded_allow_ips", None) or [])
        self.trust_all = "*" in allow
        self.networks = [ipaddress.ip_network(a, strict=False) for a in allow if a != "*"]
        self._trusted: dict[str, bool] = {}

    def incomplete_size(self) -> int:
        """hypercorn's bound on a buffered HTTP/1.1 request head: the largest legal one."""
        line = self.line or _DEFAULT_LINE
        return line + 2 + self.fields * (self.field_size + 2) + 2

    def trusted(self, client: Any) -> bool:
        """Whether this peer may set ``secure_scheme_headers`` (gunicorn's rule)."""
        if not client:  # a Unix socket peer has no address: trusted, as in gunicorn
            return True
        if self.trust_all:
            return True
        host = str(client[0])
        known = self._trusted.get(host)
        if known is None:
            try:
                ip = ipaddress.ip_address(host)
            except ValueError:
                known = False
            else:
                known = any(ip in net for net in self.networks)
            if len(self._trusted) > 4096:
                self._trusted.clear()
            self._trusted[host] = known
        return known


class _Gate:
    """The app hypercorn serves: gunicorn's request policy around the user's app.

    It takes and gives hypercorn's ``AppWrapper`` interface (ASGI plus
    ``sync_spawn``/``call_soon``), so it sits around ASGI and WSGI apps alike.
    """

    def __init__(
        self, app: AppWrapper, worker: TrioWorker, policy: _Policy, *, count_bytes: bool
    ) -> None:
        self.app = app
        self.worker = worker
        self.policy = policy
        self.count_bytes = count_bytes
        self.lifespan_mode = str(getattr(worker.cfg, "asgi_lifespan", "auto") or "auto").lower()

    async def __call__(
        self,
        scope: Any,
        receive: Any,
        send: Any,
        sync_spawn: Callable[..., Any],
        call_soon: Callable[..., Any],
    ) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send, sync_spawn, call_soon)
            return
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send, sync_spawn, call_soon)
            return
        refusal = self._apply_policy(scope)
        if refusal is not None:
            await self._refuse(scope, send, *refusal)
            return
        closing = self.worker._count_request()
        if kind == "http" and (closing or self.count_bytes):
            send = self._wrap_send(scope, send, closing=closing)
        await self.app(scope, receive, send, sync_spawn, call_soon)

    # ----------------------------------------------------------------- requests

    def _apply_policy(self, scope: Any) -> tuple[int, str, str] | None:
        """Check limits and apply trusted scheme headers; a refusal if any limit is exceeded."""
        policy = self.policy
        headers = scope["headers"]
        if len(headers) > policy.fields:
            return 431, "Request Header Fields Too Large", "limit request headers fields"
        if policy.line:
            qs = scope.get("query_string") or b""
            raw_path = scope.get("raw_path") or scope["path"].encode()
            length = (
                len(scope.get("method", "GET"))
                + len(raw_path)
                + (len(qs) + 1 if qs else 0)
                + len(scope.get("http_version", "1.1"))
                + 7  # two spaces and "HTTP/"
            )
            if length > policy.line:
                return 414, "URI Too Long", f"limit request line {length} > {policy.line}"
        field_size = policy.field_size
        secure = policy.secure
        https: bool | None = None
        for name, value in headers:
            if len(name) + len(value) + 2 > field_size:
                return 431, "Request Header Fields Too Large", "limit request headers fields size"
            if name in secure:
                this = value == secure[name]
                if https is not None and this != https:
                    return 400, "Bad Request", "contradictory scheme headers"
                https = this
        if https is not None and policy.trusted(scope.get("client")):
            if scope["type"] == "websocket":
                scope["scheme"] = "wss" if https else "ws"
            else:
                scope["scheme"] = "https" if https else "http"
        return None

    async def _refuse(self, scope: Any, send: Any, status: int, reason: str, detail: str) -> None:
        client = scope.get("client") or ("",)
        self.worker.log.warning("Invalid request from ip=%s: %s", client[0], detail)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = f"{reason}: {detail}\n".encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _wrap_send(
        self, scope: Any, send: Any, *, closing: bool
    ) -> Callable[[Any], Awaitable[None]]:
        # [body bytes sent, final body handed to hypercorn]: for the access log.
        record = [0, 0]
        if self.count_bytes:
            scope[_SENT_KEY] = record

        async def gated_send(message: Any) -> None:
            kind = message["type"]
            if kind == "http.response.body":
                record[0] += len(message.get("body", b""))
                if not message.get("more_body", False):
                    record[1] = 1
            elif closing and kind == "http.response.start":
                message = dict(message)
                message["headers"] = [*message.get("headers", ()), (b"connection", b"close")]
            await send(message)

        return gated_send

    # ----------------------------------------------------------------- lifespan

    async def _lifespan(
        self,
        scope: Any,
        receive: Any,
        send: Any,
        sync_spawn: Callable[..., Any],
        call_soon: Callable[..., Any],
    ) -> None:
        """Run the app's lifespan under gunicorn's ``asgi_lifespan`` mode.

        ``off``: answer the lifespan messages here, never calling the app.
        ``on``: any exception before startup completes fails the boot.
        ``auto``: an exception raised *after* the app received
        ``lifespan.startup`` fails the boot (the app speaks lifespan and its
        startup broke); one raised before that means "lifespan unsupported"
        and serving goes on, as the ASGI spec asks.

        An app that *returns* without finishing the protocol (a WSGI app,
        ``if scope["type"] != "http": return``) is answered for here: hypercorn's
        Trio lifespan would otherwise send into a closed channel and crash.
        """
        state = {"received": False, "answered": False, "finished": False}
        if self.lifespan_mode == "off":
            await self._answer_lifespan(receive, send, state)
            return
        worker = self.worker

        async def lifespan_receive() -> Any:
            message = await receive()
            if message["type"] == "lifespan.startup":
                state["received"] = True
            return message

        async def lifespan_send(message: Any) -> None:
            kind = message["type"]
            if kind in ("lifespan.startup.complete", _STARTUP_FAILED):
                state["answered"] = True
                if kind == _STARTUP_FAILED:
                    worker._startup_failure = str(message.get("message", "") or "")
            elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                state["finished"] = True
            await send(message)

        try:
            await self.app(scope, lifespan_receive, lifespan_send, sync_spawn, call_soon)
        except Exception as exc:
            from hypercorn.utils import LifespanFailureError

            if _find(exc, (LifespanFailureError,)) is not None or state["answered"]:
                raise
            if self.lifespan_mode == "on" or state["received"]:
                worker.log.error("ASGI lifespan startup raised", exc_info=exc)
                message = f"{type(exc).__name__}: {exc}"
                worker._startup_failure = message
                await send({"type": _STARTUP_FAILED, "message": message})
            raise
        if not state["finished"]:
            await self._answer_lifespan(receive, send, state)

    @staticmethod
    async def _answer_lifespan(receive: Any, send: Any, state: dict[str, bool]) -> None:
        """Complete the lifespan protocol on the app's behalf."""
        if state["received"] and not state["answered"]:
            await send({"type": "lifespan.startup.complete"})
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


def _hypercorn_config(worker: TrioWorker, policy: _Policy) -> Config:
    """A hypercorn ``Config`` carrying the gunicorn settings that map onto it."""
    from hypercorn.config import Config
    from hypercorn.logging import Logger

    cfg = worker.cfg
    glog = worker.log

    class GunicornLogger(Logger):
        """hypercorn's logger interface, forwarding to gunicorn's logger."""

        def __init__(self, config: Config) -> None:  # no hypercorn handlers
            self.access_log_format = cfg.access_log_format
            self.access_logger = None
            self.error_logger = None

        async def access(self, request: Any, response: Any, request_time: float) -> None:
            worker._access(request, response, request_time)

        async def critical(self, message: str, *args: Any, **kwargs: Any) -> None:
            glog.critical(message, *args, **kwargs)

        async def error(self, message: str, *args: Any, **kwargs: Any) -> None:
            glog.error(message, *args, **kwargs)

        async def warning(self, message: str, *args: Any, **kwargs: Any) -> None:
            glog.warning(message, *args, **kwargs)

        async def info(self, message: str, *args: Any, **kwargs: Any) -> None:
            # hypercorn's "Running on ... (CTRL + C to quit)": gunicorn's arbiter said it already.
            glog.debug(message, *args, **kwargs)

        async def debug(self, message: str, *args: Any, **kwargs: Any) -> None:
            glog.debug(message, *args, **kwargs)

        async def exception(self, message: str, *args: Any, **kwargs: Any) -> None:
            glog.exception(message, *args, **kwargs)

        async def log(self, level: int, message: str, *args: Any, **kwargs: Any) -> None:
            glog.log(level, message, *args, **kwargs)

    class GunicornConfig(Config):
        logger_class = GunicornLogger

        def create_ssl_context(self) -> Any:
            # gunicorn's own context: certfile/keyfile/ca_certs/cert_reqs/ciphers,
            # ALPN from http_protocols, and the user's ssl_context hook.
            if not cfg.is_ssl:
                return None
            from gunicorn import sock

            return sock.ssl_context(cfg)

    config = GunicornConfig()
    keepalive = float(cfg.keepalive or 0)
    config.keep_alive_timeout = max(keepalive, 0.0)
    if keepalive <= 0:
        config.keep_alive_max_requests = 1
    config.graceful_timeout = float(cfg.graceful_timeout)
    config.shutdown_timeout = float(cfg.graceful_timeout)
    # max_requests is counted by the gate (so the last response says
    # Connection: close); hypercorn's own counter stays off.
    config.max_requests = None
    config.h11_max_incomplete_size = policy.incomplete_size()
    config.h2_max_header_list_size = int(
        getattr(cfg, "http2_max_header_list_size", 0) or policy.fields * policy.field_size
    )
    streams = getattr(cfg, "http2_max_concurrent_streams", None)
    if streams:
        config.h2_max_concurrent_streams = int(streams)
    frame = getattr(cfg, "http2_max_frame_size", None)
    if frame:
        config.h2_max_inbound_frame_size = int(frame)
    ws_max = getattr(cfg, "websocket_max_message_size", None)
    if ws_max:
        config.websocket_max_message_size = int(ws_max)
    config.root_path = str(getattr(cfg, "root_path", "") or os.environ.get("SCRIPT_NAME", ""))
    config.certfile = cfg.certfile or None
    config.keyfile = cfg.keyfile or None
    config.ca_certs = cfg.ca_certs or None
    config.workers = 1
    return config


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
        from hypercorn.config import Sockets
        from hypercorn.utils import LifespanFailureError, LifespanTimeoutError, wrap_app

        policy = _Policy(self.cfg)
        config = _hypercorn_config(self, policy)
        self._access_wanted = self._access_log_wanted()
        app = _Gate(
            wrap_app(self.wsgi, config.wsgi_max_body_size, None),
            self,
            policy,
            count_bytes=self._access_wanted,
        )
        socks = [listener.sock for listener in self.sockets]
        secure = bool(self.cfg.is_ssl)
        sockets = Sockets(
            secure_sockets=socks if secure else [],
            insecure_sockets=[] if secure else socks,
            quic_sockets=[],
        )
        if not self.alive:  # SIGTERM while the app was loading
            return
        try:
            trio.run(self._serve, app, config, sockets)
        except BaseException as exc:
            failure = _find(exc, (LifespanFailureError, LifespanTimeoutError))
            # hypercorn may report "started" before the lifespan failure cancels
            # it, so a failure the gate recorded counts even then.
            if failure is not None and (self._startup_failure is not None or not self._serving):
                self._lifespan_failed(failure, config.startup_timeout)
            exit_request = _find(exc, (SystemExit,))
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

    async def _serve(self, app: AppWrapper, config: Config, sockets: Sockets) -> None:
        import trio

        self._shutdown = trio.Event()
        self._trio_token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            self._everything = nursery.cancel_scope
            await nursery.start(self._watch_signals, nursery.cancel_scope)
            nursery.start_soon(self._heartbeat)
            await nursery.start(self._hypercorn, app, config, sockets, nursery.cancel_scope)
            self._serving = True

    async def _hypercorn(
        self,
        app: AppWrapper,
        config: Config,
        sockets: Sockets,
        done: trio.CancelScope,
        *,
        task_status: trio.TaskStatus[list[str]],
    ) -> None:
        """hypercorn's worker: lifespan startup, serve, drain, lifespan shutdown."""
        from hypercorn.trio.run import worker_serve

        assert self._shutdown is not None
        await worker_serve(
            app,
            config,
            sockets=sockets,
            shutdown_trigger=self._shutdown.wait,
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
        if response is None and (request.get(_SENT_KEY) or (0, 0))[1]:
            # hypercorn logs a response-less duplicate when the client closes
            # while the final body is being written; the real record follows.
            return
        self.log.access(
            _Response(request, response),
            _Request(request),
            _environ(request),
            datetime.timedelta(seconds=request_time),
        )


class _Request:
    """What gunicorn's access logger reads from a request: its headers."""

    def __init__(self, scope: Any) -> None:
        self.headers = [
            (name.decode("latin-1").upper(), value.decode("latin-1"))
            for name, value in scope.get("headers", ())
        ]


class _Response:
    """What gunicorn's access logger reads from a response."""

    def __init__(self, scope: Any, response: Any) -> None:
        if response is None:
            self.status = "-"
            self.headers: list[tuple[str, str]] = []
        else:
            self.status = str(response["status"])
            self.headers = [
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in response.get("headers", ())
            ]
        sent = scope.get(_SENT_KEY)
        if sent is not None:
            self.sent: int | None = sent[0]
        else:
            length = next((v for k, v in self.headers if k.lower() == "content-length"), None)
            self.sent = int(length) if length and length.isdigit() else None


def _environ(scope: Any) -> dict[str, str]:
    """A WSGI-style environ with the keys gunicorn's access log atoms use."""
    query = scope.get("query_string", b"").decode("latin-1")
    raw_path = (scope.get("raw_path") or scope.get("path", "").encode()).decode("latin-1")
    version = scope.get("http_version", "1.1")
    environ = {
        "REQUEST_METHOD": scope.get("method", "GET"),
        "RAW_URI": f"{raw_path}?{query}" if query else raw_path,
        "PATH_INFO": scope.get("path", ""),
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": f"HTTP/{version}",
        "SCRIPT_NAME": scope.get("root_path", ""),
        "wsgi.url_scheme": scope.get("scheme", "http"),
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = str(client[0])
        environ["REMOTE_PORT"] = str(client[1])
    for name, value in scope.get("headers", ()):
        key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
        text = value.decode("latin-1")
        environ[key] = f"{environ[key]},{text}" if key in environ else text
    return environ


_missing = find_missing("trio", "hypercorn")
if _missing is not None:
    TrioWorker = missing_extra_worker("TrioWorker", "trio", _missing)  # type: ignore[misc,assignment]

"""Serving gunicorn's listeners with hypercorn's Trio connection handling.

hypercorn's ``worker_serve`` stops a worker by cancelling its accept loops
and, at the same moment, marking the worker terminated; every connection
hypercorn considers idle then closes. A connection counts as idle until its
first request has been *parsed*, so one accepted just before the stop, whose
request is in flight or already in the socket buffer, is closed unanswered:
under a reload (SIGHUP), a scale-down (TTOU) or max-requests, clients see
resets and empty responses, where gunicorn's own workers answer them. And
even a connection whose request was just parsed can be closed while the app
runs, because the idle timer's wake-up and the request's arrival race.

This module runs the same pieces (hypercorn's ``Lifespan``, ``WorkerContext``
and per-connection ``TCPServer``) in gunicorn's order instead:

1. stop accepting (the listeners stay with the master and the other workers);
2. connections that have been answered and are idle close at once (as in
   hypercorn and gunicorn); a connection still waiting for its first request
   keeps waiting, up to its keep-alive timeout, and is answered;
3. in-flight requests finish within ``graceful_timeout``;
4. lifespan shutdown.
"""

from __future__ import annotations

import inspect
import socket
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import trio
from hypercorn.events import Closed, RawData
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.task_group import TaskGroup
from hypercorn.trio.tcp_server import MAX_RECV, TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.utils import parse_socket_addr

from safeworkers.workers.trio.fast import FastServer
from safeworkers.workers.trio.protocol import Rules, SafeProtocolWrapper

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

if TYPE_CHECKING:
    from hypercorn.config import Config
    from hypercorn.typing import AppWrapper


class _IdleTimer:
    """hypercorn's idle timer for one connection, without a task per idle period.

    hypercorn starts a task (a cancel scope with a deadline, under a lock) each
    time a connection goes idle and cancels it when a request is parsed: about
    a tenth of a request's time on this path. Here both are attribute writes,
    and one :class:`IdleSweeper` per worker looks at the idle connections once
    a second, so a keep-alive timeout ends within a second after it is due (as
    on the fast path). ``requests`` counts the stops: the requests parsed.
    """

    __slots__ = ("_action", "_task_group", "firing", "requests", "since", "sweeper")

    def __init__(self, sweeper: IdleSweeper) -> None:
        self.sweeper = sweeper
        self.requests = 0
        #: When the connection went idle (Trio's clock), or None while it is busy.
        self.since: float | None = None
        #: The sweeper started the action, and no request came since.
        self.firing = False
        self._action: Callable[[], Awaitable[None]] | None = None
        self._task_group: Any = None

    async def restart(self, task_group: Any, action: Callable[[], Awaitable[None]]) -> None:
        self._task_group = task_group
        self._action = action
        self.since = trio.current_time()
        self.firing = False
        self.sweeper.idle.add(self)
        if self.requests and self.sweeper.terminated:
            self.fire()  # stopping: an answered connection closes as soon as it is idle

    async def stop(self) -> None:
        self.requests += 1
        self.firing = False
        self.close()

    def close(self) -> None:
        """Not idle any more (busy, closing or ended): the sweeper forgets it."""
        self.since = None
        self.sweeper.idle.discard(self)

    def fire(self) -> None:
        """Run the action (the close) in the connection's task group."""
        self.close()
        self.firing = True
        try:
            self._task_group._nursery.start_soon(self._action)
        except (AttributeError, RuntimeError):
            # The connection's task group has ended (hypercorn drops its nursery, Trio
            # refuses new tasks): nothing to close. Its timer leaves the sweeper in the
            # same step, so this is only a guard that the sweeper never dies of it.
            self.firing = False


class IdleSweeper:
    """The idle connections of the hypercorn path, closed when their time is up.

    Due: idle for the keep-alive timeout, or, once the worker stops, idle
    after an answer (a connection still waiting for its first request is
    answered whenever it comes within its keep-alive timeout, as gunicorn's
    workers do).
    """

    def __init__(self, keep_alive: float) -> None:
        self.keep_alive = keep_alive
        self.idle: set[_IdleTimer] = set()
        self.terminated = False

    async def sweep(self, terminated: Any) -> None:
        """Once a second, and at once when ``terminated`` (hypercorn's event) is set."""
        while True:
            if not self.terminated:
                with trio.move_on_after(1):
                    await terminated.wait()
                    self.terminated = True
            else:
                await trio.sleep(1)
            limit = trio.current_time() - self.keep_alive
            for timer in list(self.idle):
                since = timer.since
                if since is not None and (since <= limit or (self.terminated and timer.requests)):
                    timer.fire()


class Connection(TCPServer):
    """hypercorn's connection server, with our HTTP/1.1 protocol and a fence around it.

    Idle means *answered and* waiting (see :meth:`_idle_timeout`). ``run`` is
    hypercorn's, but it builds :class:`~.protocol.SafeProtocolWrapper` and
    keeps any error of the protocol stack (h11, h2, wsproto, hypercorn) on
    this connection: it is logged once and the connection closes, where
    hypercorn let it end the worker process.
    """

    def __init__(self, *args: Any, rules: Rules, sweeper: IdleSweeper, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timer = _IdleTimer(sweeper)
        self.idle_task = self.timer  # type: ignore[assignment]  # the same two methods
        self.rules = rules
        self._peer: Any = None
        #: False once the peer can send no more (end of file, a read error).
        self._reading = True

    async def run(self) -> None:
        try:
            await self._run()
        except BaseException as exc:  # the Exception part is ours; the rest is re-raised
            errors, rest = _split(exc)
            if errors is not None:
                self._failed(errors)
            if rest is not None:
                raise rest from None

    async def _run(self) -> None:
        # hypercorn's TCPServer.run, with SafeProtocolWrapper.
        stream: Any = self.stream
        try:
            try:
                with trio.fail_after(self.config.ssl_handshake_timeout):
                    await stream.do_handshake()
            except (trio.BrokenResourceError, trio.TooSlowError):
                return  # handshake failed
            alpn_protocol = stream.selected_alpn_protocol()
            sock = stream.transport_stream.socket
            ssl = True
        except AttributeError:  # not TLS
            alpn_protocol = "http/1.1"
            sock = stream.socket
            ssl = False
        try:
            client = parse_socket_addr(sock.family, sock.getpeername())
            server = parse_socket_addr(sock.family, sock.getsockname())
            self._peer = client
            async with TaskGroup() as task_group:
                self._task_group = task_group
                self.protocol = SafeProtocolWrapper(
                    self.app,
                    self.config,
                    self.context,
                    task_group,
                    dict(self.state),  # type: ignore[arg-type]
                    ssl,
                    client,
                    server,
                    self.protocol_send,
                    alpn_protocol,
                    rules=self.rules,
                )
                await self.protocol.initiate()
                await self.idle_task.restart(self._task_group, self._idle_timeout)
                await self._read_data()
        except OSError:
            pass
        finally:
            self.timer.close()
            await self._close()

    async def _read_data(self) -> None:
        if self.config.read_timeout:
            await super()._read_data()
        else:
            # hypercorn's loop without its per-read ``fail_after(inf)``: with no read
            # timeout (gunicorn has none), that cancel scope is a few per cent of a request.
            stream: Any = self.stream
            while True:
                try:
                    data = await stream.receive_some(MAX_RECV)
                except (trio.ClosedResourceError, trio.BrokenResourceError):
                    break
                await self.protocol.handle(RawData(bytes(data)))
                if not data:
                    break
            await self.protocol.handle(Closed())
        # The peer sends no more requests: close as soon as the last answer is
        # out, instead of waiting for the keep-alive timeout (hypercorn waits
        # when the peer's end of file came while a request was answered).
        self._reading = False
        await self.idle_task.stop()

    def _failed(self, error: BaseException) -> None:
        """Log, once, the error that ended this connection (the worker goes on)."""
        leaf = _first_leaf(error)
        peer = self._peer[0] if self._peer else "a Unix socket peer"
        self.rules.log.warning(
            "Connection from %s closed after an error in the protocol stack: %s: %s",
            peer,
            type(leaf).__name__,
            leaf,
        )
        self.rules.log.debug("The error that closed the connection", exc_info=error)

    async def _idle_timeout(self) -> None:
        # Started by the sweeper (see IdleSweeper) when the connection's idle time
        # is up. A request parsed since then (the timer's stop) keeps it open.
        if not self._reading or not self.timer.firing:
            return  # the peer sends no more requests (see _read_data), or one came
        self.timer.firing = False
        with trio.CancelScope(shield=True):
            await self._initiate_server_close()


def _split(exc: BaseException) -> tuple[BaseException | None, BaseException | None]:
    """(the ``Exception`` part, the rest: cancellation, exit requests) of ``exc``."""
    if isinstance(exc, BaseExceptionGroup):
        errors: BaseException | None
        rest: BaseException | None
        errors, rest = exc.split(Exception)
        return errors, rest
    if isinstance(exc, Exception):
        return exc, None
    return None, exc


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _freeze_heap(log: Any) -> None:
    """Move what exists once the app has started into the collector's permanent generation.

    A full collection walks every object the collector tracks: the app's
    modules, its libraries', the server's, whatever lifespan startup made, all
    of which live as long as the worker. An app that allocates a lot per
    request (quart-trio, Django, pydantic) makes the collector run often, and
    each full run walks all of them again: frozen, they are skipped (quart-trio
    served 8 % more requests a second). Only the young generations are
    collected first: a full collection here would write to every object a
    ``--preload`` master shared with this worker, copying all of its pages at
    once, where freezing touches none of them. Frozen objects are still freed
    by reference counting; only a reference cycle among them that is or
    becomes garbage is never collected.
    """
    import gc

    gc.collect(1)
    gc.freeze()
    log.debug(
        "%d objects moved to the garbage collector's permanent generation", gc.get_freeze_count()
    )


def _with_state(cls: Any, upstream: type, *args: Any, state: dict[str, Any]) -> Any:
    """``cls`` bound to ``args``, plus ``state`` where hypercorn's ``upstream`` takes it (0.15+)."""
    if "state" in inspect.signature(upstream).parameters:
        return partial(cls, *args, state)
    return partial(cls, *args)


def _listener(sock: socket.socket, ssl_context: Any) -> trio.abc.Listener[Any]:
    listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
    if ssl_context is None:
        return listener
    return trio.SSLListener(listener, ssl_context, https_compatible=True)


async def serve(
    app: AppWrapper,
    config: Config,
    sockets: list[socket.socket],
    stop: trio.Event,
    rules: Rules,
    *,
    fast: bool = True,
    freeze: bool = True,
    access: Callable[[Any, Any, float], None] | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Lifespan startup, serve ``sockets`` until ``stop`` is set, drain, lifespan shutdown.

    With ``fast`` (``SAFEWORKERS_TRIO_FAST``, on by default) and no TLS, the
    listeners are served by the fast path (:mod:`.fast`), which hands
    upgrades to hypercorn; otherwise hypercorn serves every connection.
    With ``freeze`` (``SAFEWORKERS_TRIO_GC_FREEZE``, on by default) the heap
    is frozen once the app has started (:func:`_freeze_heap`).
    """
    state: dict[str, Any] = {}
    lifespan = _with_state(Lifespan, Lifespan, app, config, state=state)()
    context = WorkerContext(None)
    async with trio.open_nursery() as lifespan_nursery:
        await lifespan_nursery.start(lifespan.handle_lifespan)
        await lifespan.wait_for_startup()
        if freeze:
            _freeze_heap(rules.log)
        ssl_context = config.create_ssl_context()
        sweeper = IdleSweeper(float(config.keep_alive_timeout))
        lifespan_nursery.start_soon(sweeper.sweep, context.terminated)
        handler = partial(
            _with_state(Connection, TCPServer, app, config, context, state=dict(state)),
            rules=rules,
            sweeper=sweeper,
        )
        quick: FastServer | None = None
        if fast and ssl_context is None and not rules.prior_knowledge:

            async def handover(sock: socket.socket, prefix: bytes) -> None:
                await handler(PrefixedStream(sock, prefix))

            quick = FastServer(app, config, rules, dict(state), handover=handover, access=access)
            lifespan_nursery.start_soon(quick.sweep)
            lifespan_nursery.start_soon(quick.flush)
        async with trio.open_nursery() as connections:
            async with trio.open_nursery() as accepting:
                if quick is not None:
                    for sock in sockets:
                        await accepting.start(quick.serve, sock, connections)
                else:
                    listeners = [_listener(sock, ssl_context) for sock in sockets]
                    accepting.start_soon(
                        partial(
                            trio.serve_listeners, handler, listeners, handler_nursery=connections
                        )
                    )
                task_status.started()
                await stop.wait()
                accepting.cancel_scope.cancel()  # trio.serve_listeners closes our copies
            if quick is not None:
                for sock in sockets:
                    sock.close()
                quick.stop()
            await context.terminated.set()
            connections.cancel_scope.deadline = trio.current_time() + config.graceful_timeout
        await lifespan.wait_for_shutdown()
        lifespan_nursery.cancel_scope.cancel()


class PrefixedStream(trio.abc.HalfCloseableStream):
    """A connection the fast path hands to hypercorn: the bytes it read come first.

    It has no ``do_handshake``, so hypercorn's ``TCPServer`` takes it for a
    plain (not TLS) stream, as it is.
    """

    def __init__(self, sock: socket.socket, prefix: bytes) -> None:
        self._stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
        self._prefix = prefix
        self.socket = self._stream.socket

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._prefix:
            data, self._prefix = self._prefix, b""
            await trio.lowlevel.checkpoint()
            return data
        return bytes(await self._stream.receive_some(max_bytes))

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self._stream.send_eof()

    async def aclose(self) -> None:
        await self._stream.aclose()

"""TrioWorker's fast path: plain HTTP/1.1 served by one Trio task per connection.

hypercorn spends most of a request in its own machinery: a task group and an
idle-timer task per connection, a cancel scope per read, events passed
between protocol objects, and h11. None of it is Trio's cost; a Trio server
that reads the socket itself serves several times more requests per second.
This module is that server, for the requests it can serve exactly as
hypercorn would; everything else is handed to hypercorn with the bytes
already read (:mod:`.serving`):

- one task per connection reads the raw non-blocking socket, waiting with
  ``trio.lowlevel.wait_readable`` only when a read would block; requests are
  framed by the same strict framer as hypercorn's path (:mod:`.http1`), so
  both paths refuse the same inputs;
- the app gets the ASGI ``http`` scope hypercorn gives (``asgi`` 3.0 with
  spec 2.1, ``scheme``, ``path`` unquoted, ``raw_path``, ``query_string``,
  ``root_path``, ``headers`` as received, ``client``, ``server``, the
  lifespan ``state``, no extensions on HTTP/1.1); request bodies are read
  when the app asks for them (back-pressure), ``Expect: 100-continue`` is
  answered on the first read, and a body cut short reaches the app as
  ``http.disconnect``, as does the end of the answer (its last byte written)
  for an app still waiting in ``receive()`` (a peer that goes away meanwhile
  is seen within a second);
- while other connections are busy, a connection hands its writes to one
  task that makes them back to back after the scheduler's batch
  (:meth:`FastServer.flush`): the client is woken once per batch, not once
  per answer;
- a response whose body comes in one message goes out in one write, with a
  ``content-length``; a streamed one is chunked (close-delimited on
  HTTP/1.0); HEAD and bodiless statuses send no body; responses carry
  hypercorn's ``date`` and ``server`` headers: turning the fast path off
  changes which requests are served, refused or answered how in nothing,
  only the framing headers and the reason phrase's spelling (h11 sends none);
- keep-alive is timed by one sweeper task per worker, once a second (a
  deadline per request costs more than the rest of the request), and a
  connection whose reads and writes never have to wait is made to checkpoint
  every few of them, for fairness and so that it can be cancelled;
- WebSocket and h2c upgrades, TLS, and connections that may open with the
  HTTP/2 preface go to hypercorn, as does everything when
  ``SAFEWORKERS_TRIO_FAST=off``.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import trio
from hypercorn.protocol.http_stream import ASGIHTTPState
from hypercorn.utils import UnexpectedMessageError, parse_socket_addr

from safeworkers.workers.trio.http1 import (
    CLOSED,
    END,
    NEED_DATA,
    Data,
    Head,
    Refusal,
    RequestFramer,
    Truncated,
)

if TYPE_CHECKING:
    from hypercorn.config import Config

    from safeworkers.workers.trio.protocol import Rules

#: The app as hypercorn calls it: ``app(scope, receive, send, sync_spawn, call_soon)``.
App = Callable[..., Awaitable[None]]

#: How much one read takes from the socket.
READ_SIZE = 64 * 1024
#: Requests a connection may serve without waiting before it yields to others.
FAIRNESS = 16
#: Bytes read ahead (a pipelined request) while the app waits for a disconnect, and read
#: and dropped after a refusal.
READ_AHEAD = 64 * 1024
#: Seconds a refused connection is read (and dropped) after its refusal, at most.
LINGER = 0.5
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_NO_BODY_STATUSES = frozenset({204, 304})
_DISCONNECT = {"type": "http.disconnect"}
_REASONS: dict[int, bytes] = {}


def _status_line(status: int) -> bytes:
    line = _REASONS.get(status)
    if line is None:
        from http import HTTPStatus

        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        line = f"HTTP/1.1 {status} {phrase}\r\n".encode("latin-1")
        if len(_REASONS) < 1024:
            _REASONS[status] = line
    return line


_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+").fullmatch
#: RFC 9110 section 5.5: a field value holds no control character but HTAB (as h11 checks).
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]").search
#: Header lines as the fast path writes them, each one valid: checked in one go.
_VALID_LINES = re.compile(
    rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+: [^\x00-\x08\x0a-\x1f\x7f]*\r\n)*"
).fullmatch


def _invalid_header(name: bytes, value: bytes) -> bool:
    """A response header h11 would refuse: a CR or LF would even split the response."""
    return _TOKEN(name) is None or _CONTROL(value) is not None


class Handover(Exception):
    """The connection leaves the fast path: hypercorn serves it from ``prefix`` on."""

    def __init__(self, prefix: bytes) -> None:
        super().__init__("handed over to hypercorn")
        self.prefix = prefix


class FastServer:
    """The fast path of one worker: its connections, the sweeper, the graceful stop."""

    def __init__(
        self,
        app: App,
        config: Config,
        rules: Rules,
        state: dict[str, Any],
        *,
        handover: Callable[[socket.socket, bytes], Awaitable[None]],
        access: Callable[[Any, Any, float], None] | None,
    ) -> None:
        self.app = app
        self.config = config
        self.rules = rules
        self.state = state
        self.handover = handover
        #: The worker's access logger, when access records are wanted.
        self.access = access
        self.keep_alive = float(config.keep_alive_timeout)
        self.max_requests = int(config.keep_alive_max_requests)
        self.root_path = config.root_path
        self.connections: set[FastConnection] = set()
        self.stopping = False
        #: A coarse clock (seconds) and the response headers, both updated by the sweeper.
        self.now = time.monotonic()
        self.headers = b""
        self._update_headers()
        #: What hypercorn hands an app for running code in threads (the WSGI adapter).
        self.sync_spawn = trio.to_thread.run_sync
        self.call_soon = trio.from_thread.run
        #: Connection tasks waiting for their peer (a request, in ``wait_readable``).
        self.reading = 0
        #: Connections whose writes wait for :meth:`flush`, which makes them together.
        self._outbox: list[FastConnection] = []
        self._flusher: trio.lowlevel.Task | None = None
        self._flushing = False
        #: Writes the flusher made (a statistic; the tests read it).
        self.gathered = 0

    def _update_headers(self) -> None:
        headers = self.config.response_headers("h11")
        self.headers = b"".join(name + b": " + value + b"\r\n" for name, value in headers)

    async def serve(
        self,
        sock: socket.socket,
        nursery: trio.Nursery,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept connections on ``sock`` (gunicorn's listener) until cancelled."""
        sock.setblocking(False)
        task_status.started()
        accepted = 0
        while True:
            try:
                conn, _ = sock.accept()
            except BlockingIOError:
                accepted = 0
                await trio.lowlevel.wait_readable(sock)
                continue
            except OSError as exc:
                if not await _accept_failed(exc, self.rules.log):
                    raise
                continue
            try:
                conn.setblocking(False)
                if conn.family in (socket.AF_INET, socket.AF_INET6):
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # the peer is gone already (macOS: EINVAL on a reset socket)
                conn.close()
                continue
            nursery.start_soon(FastConnection(self, conn).run)
            accepted += 1
            if accepted >= FAIRNESS:
                accepted = 0
                await trio.lowlevel.checkpoint()

    async def sweep(self) -> None:
        """Once a second: the clock, the date header, idle connections past keep-alive."""
        while True:
            await trio.sleep(1)
            self.now = time.monotonic()
            self._update_headers()
            limit = self.now - self.keep_alive
            for connection in list(self.connections):
                if connection._wake is not None:
                    connection._wake.set()  # the app still waits: watch the socket now
                # Idle past the keep-alive timeout, and its next request is not already
                # in the socket (woken, not yet run): that one is answered.
                if (
                    connection.waiting
                    and connection.idle_since <= limit
                    and not connection.readable()
                ):
                    connection.cancel()

    async def flush(self) -> None:
        """Write the answers of busy connections back to back, once per scheduler batch.

        A write to a peer that sleeps waiting for it wakes the peer's thread,
        and waking a thread on another CPU costs more than the write itself
        (an interrupt between CPUs, a VM exit under a hypervisor). A client or
        proxy that handles an answer faster than the worker makes the next one
        sleeps again between two answers, so answers written one request apart
        wake it once each; written together, once a batch. asyncio servers get
        this from their shape (reads in one loop pass, the apps and their
        writes in the next); here a connection that writes (part of) an
        answer while other connections are busy hands the write to this task,
        which the scheduler runs after the tasks ready before it, and waits
        for it. At 32 connections the hello app serves about 45 % more
        requests per second, quart-trio 15-25 %. With one busy connection
        there is nothing to gather, and the write goes out at once (waiting
        would only add a pass of the scheduler to each round trip).
        """
        self._flushing = True
        try:
            while True:
                if not self._outbox:
                    self._flusher = trio.lowlevel.current_task()
                    await trio.lowlevel.wait_task_rescheduled(self._abort_flush)
                self._flush_batch()
        finally:
            self._flushing = False
            self._flush_batch()  # none when cancelled between batches; a guard

    # Protected from KeyboardInterrupt and gunicorn's abort (SystemExit, raised in
    # whatever code runs): a batch cut in the middle would leave tasks that nobody wakes.
    @trio.lowlevel.enable_ki_protection
    def _flush_batch(self) -> None:
        ready, self._outbox = self._outbox, []
        self.gathered += len(ready)
        for connection in ready:
            connection._flushed()

    def _abort_flush(self, _: Any) -> trio.lowlevel.Abort:
        self._flusher = None
        return trio.lowlevel.Abort.SUCCEEDED

    def worth_gathering(self) -> bool:
        """Whether a write should wait for :meth:`flush`: when another connection is
        busy (its task is not waiting for its peer), its answer may join it there."""
        return self._flushing and len(self.connections) - self.reading >= 2

    def defer(self, connection: FastConnection) -> None:
        """Queue ``connection``'s pending write for :meth:`flush`."""
        self._outbox.append(connection)
        if self._flusher is not None:
            trio.lowlevel.reschedule(self._flusher)
            self._flusher = None

    def undefer(self, connection: FastConnection) -> None:
        """``connection``'s wait ended before its turn: its write is dropped."""
        if connection in self._outbox:
            self._outbox.remove(connection)

    def stop(self) -> None:
        """gunicorn's stop: idle connections that were answered close now; the rest finish."""
        self.stopping = True
        for connection in list(self.connections):
            if (
                connection.waiting
                and connection.served
                and connection.framer.between_requests
                and not connection.readable()
            ):
                connection.cancel()


async def _accept_failed(exc: OSError, log: Any) -> bool:
    """Whether ``accept`` may be tried again (as trio.serve_listeners decides)."""
    import errno

    if exc.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM):
        return True
    if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS):
        log.error("accept failed (%s): too many open connections; retrying in 0.1 s", exc)
        await trio.sleep(0.1)
        return True
    return False


class FastConnection:
    """One connection on the fast path (see the module docstring)."""

    __slots__ = (
        "_answered",
        "_body_left",
        "_calm",
        "_chunked",
        "_closing",
        "_continue",
        "_delivered",
        "_done",
        "_drained",
        "_gone",
        "_head",
        "_length",
        "_log_scope",
        "_over",
        "_pending",
        "_refusal",
        "_response",
        "_scope",
        "_sent",
        "_start_time",
        "_started",
        "_status",
        "_suppress",
        "_task",
        "_turns",
        "_wake",
        "_watch",
        "_writing",
        "client",
        "fd",
        "framer",
        "idle_since",
        "served",
        "server",
        "sock",
        "waiting",
    )

    _refusal: Refusal | None

    def __init__(self, server: FastServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        #: The descriptor Trio waits on (an int: no fileno() call per wait).
        self.fd = sock.fileno()
        self.framer = RequestFramer(server.rules.limits)
        self.served = 0
        #: Waiting for a request (not in the middle of one): keep-alive applies.
        self.waiting = True
        self.idle_since = time.monotonic()
        self._scope: trio.CancelScope | None = None
        #: Reads in a row that did not have to wait; whether the last one emptied the socket.
        self._calm = 0
        self._drained = False
        self._gone = False
        #: The waits for the disconnect of the request being served (see _until_disconnect).
        self._wake: trio.Event | None = None
        self._watch: trio.CancelScope | None = None
        self._over: trio.Event | None = None
        #: A write handed to the flusher (see FastServer.flush): what is left of it, and
        #: the task waiting for it.
        self._pending = b""
        self._task: trio.lowlevel.Task | None = None
        #: A write of the answer is under way; the app's other tasks that write wait here.
        self._writing = False
        self._turns: trio.lowlevel.ParkingLot | None = None
        self.client: Any = None

    def cancel(self) -> None:
        if self._scope is not None:
            self._scope.cancel()

    def readable(self) -> bool:
        """Whether the peer sent something (or closed) that nobody read yet."""
        try:
            self.sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return False
        except OSError:
            pass
        return True

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        server = self.server
        sock = self.sock
        server.connections.add(self)
        handed: Handover | None = None
        try:
            with trio.CancelScope() as self._scope:
                family = sock.family
                try:
                    self.client = parse_socket_addr(family, sock.getpeername())
                    local = parse_socket_addr(family, sock.getsockname())
                except OSError:
                    return
                try:
                    await self._serve(local)
                except Handover as exc:
                    handed = exc
                except Refusal as refusal:
                    await self._refuse(refusal)
        except Exception as exc:  # the connection ends, the worker goes on
            self._failed(exc)
        finally:
            server.connections.discard(self)
            if handed is None:
                sock.close()
        if handed is not None:
            await server.handover(sock, handed.prefix)

    async def _serve(self, local: Any) -> None:
        server = self.server
        framer = self.framer
        while True:
            event = framer.next_event()
            while event is NEED_DATA:
                data = await self._read()
                framer.feed(data)
                event = framer.next_event()
            if event is CLOSED:
                return
            assert isinstance(event, Head)
            if event.upgrade in (b"websocket", b"h2c"):
                raise Handover(event.raw + framer.take_rest())
            if not event.has_body:
                framer.next_event()  # END: the whole request is its head
            if self._scope is not None and self._scope.cancel_called:
                return  # closed as idle just as this request came: do not start the app
            self.waiting = False
            keep = await self._request(event, local)
            self.served += 1
            if not keep or server.stopping or self.served >= server.max_requests:
                return
            self.waiting = True
            self.idle_since = time.monotonic()

    async def _read(self) -> bytes:
        """The next bytes from the peer; ``b""`` once it closed.

        After a read that emptied the socket (it returned less than asked), the
        next one lets the other connections run first: a client rarely sends its
        next request before it has the answer to the last one, but by the time
        this task runs again it usually has, and the read finds it without a
        wait. A wait costs more than a read that fails: Trio re-arms a one-shot
        epoll registration for each (an ``epoll_ctl``) and wakes the task
        through its scheduler; reading first made the hello app 7 % faster at
        one connection and 20-28 % at 4 and 32. When nothing came, the read
        fails once and the task waits.
        """
        sock = self.sock
        if self._drained or self._calm >= FAIRNESS:  # read first, or yield for fairness
            self._calm = 0
            await trio.lowlevel.checkpoint()
        while True:
            try:
                data = sock.recv(READ_SIZE)
            except BlockingIOError:
                self._calm = 0
                server = self.server
                server.reading += 1
                try:
                    await trio.lowlevel.wait_readable(self.fd)
                finally:
                    server.reading -= 1
                continue
            except OSError:
                data = b""
            self._calm += 1
            self._drained = 0 < len(data) < READ_SIZE
            return data

    async def _write(self, data: bytes) -> None:
        """Write all of ``data``; a peer that went away is noted, not raised.

        A write that does not have to wait does not yield to Trio either: an app
        streaming a long response in small parts is made to checkpoint every
        few writes, so that the other connections and the heartbeat run.
        """
        self._calm += 1
        if self._calm >= FAIRNESS:
            self._calm = 0
            await trio.lowlevel.checkpoint()
        if self._gone:
            return
        sock = self.sock
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._gone = True
            return
        if sent == len(data):
            return
        view = memoryview(data)[sent:]
        while view:
            try:
                sent = sock.send(view)
            except BlockingIOError:
                self._calm = 0
                await trio.lowlevel.wait_writable(self.fd)
                continue
            except OSError:
                self._gone = True
                return
            view = view[sent:]

    async def _write_answer(self, data: bytes) -> None:
        """A write of the app's answer: through the flusher when others are busy.

        An app that sends from two tasks at once has its writes made one after
        the other, whole (as hypercorn's send lock does): bytes of the second
        never pass those of the first waiting for the flusher or the client.
        """
        while self._writing:
            if self._turns is None:
                self._turns = trio.lowlevel.ParkingLot()
            await self._turns.park()
        self._writing = True
        try:
            if self._gone or not self.server.worth_gathering():
                await self._write(data)
                return
            self._pending = data
            self._task = trio.lowlevel.current_task()
            try:
                self.server.defer(self)
                await trio.lowlevel.wait_task_rescheduled(self._abort_pending)
            finally:
                if self._task is not None:
                    # Neither flushed nor aborted: an exception (gunicorn's abort) came
                    # between the two lines above. The flusher must not wake this task.
                    self.server.undefer(self)
                    self._task = None
            # The task has just yielded: its next read goes first (see _read).
            self._calm = 0
            self._drained = False
            if self._pending:  # the socket's buffer was full: the rest the usual way
                rest, self._pending = self._pending, b""
                await self._write(rest)
        finally:
            self._writing = False
            if self._turns:
                self._turns.unpark()

    def _abort_pending(self, _: Any) -> trio.lowlevel.Abort:
        self.server.undefer(self)
        self._pending = b""
        self._task = None
        return trio.lowlevel.Abort.SUCCEEDED

    def _flushed(self) -> None:
        """The flusher's turn: write what it can of the pending write, wake the writer."""
        data = self._pending
        try:
            sent = self.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._gone = True
            sent = len(data)
        self._pending = data[sent:] if sent < len(data) else b""
        task, self._task = self._task, None
        if task is not None:
            trio.lowlevel.reschedule(task)

    async def _refuse(self, refusal: Refusal) -> None:
        client = self.client[0] if self.client else ""
        self.server.rules.log.warning("Invalid request from ip=%s: %s", client, refusal.detail)
        await self._write(refusal.response())
        await self._linger()

    async def _linger(self) -> None:
        """Close without resetting: what the client still sends would make the kernel
        reset the connection, and the reset can destroy the refusal on its way. So
        the worker stops writing, then reads and drops for a moment (as gunicorn's
        workers and hypercorn do by closing more gently than a bare close)."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            return
        with trio.move_on_after(LINGER):
            dropped = 0
            while dropped < READ_AHEAD:
                try:
                    data = self.sock.recv(READ_SIZE)
                except BlockingIOError:
                    await trio.lowlevel.wait_readable(self.fd)
                    continue
                except OSError:
                    return
                if not data:
                    return
                dropped += len(data)

    def _failed(self, exc: BaseException) -> None:
        peer = self.client[0] if self.client else "a Unix socket peer"
        log = self.server.rules.log
        log.warning(
            "Connection from %s closed after an error in the protocol stack: %s: %s",
            peer,
            type(exc).__name__,
            exc,
        )
        log.debug("The error that closed the connection", exc_info=exc)

    # ------------------------------------------------------------------ one request

    async def _request(self, head: Head, local: Any) -> bool:
        """Run the app for ``head``; whether the connection may serve another request."""
        server = self.server
        target = head.target
        path, _, query = target.partition(b"?")
        method = head.method.decode("ascii")
        scope = {
            "type": "http",
            "http_version": head.version,
            "asgi": {"spec_version": "2.1", "version": "3.0"},
            "method": method,
            "scheme": "http",
            "path": unquote(text) if "%" in (text := path.decode("ascii")) else text,
            "raw_path": path,
            "query_string": query,
            "root_path": server.root_path,
            "headers": head.headers,
            "client": self.client,
            "server": local,
            "state": server.state.copy(),
            "extensions": {},
        }
        self._head = head
        self._log_scope = scope
        self._refusal = None
        self._response: Any = None
        self._started = self._done = False
        #: The last byte of the answer has been written (``_done``: the app sent its last part).
        self._answered = False
        self._wake = self._over = None
        self._watch = None
        self._closing = not head.keep_alive
        self._continue = head.expect_continue
        self._body_left = head.has_body
        self._delivered = False
        self._start_time = time.time() if server.access is not None else 0.0
        try:
            await server.app(scope, self._receive, self._send, server.sync_spawn, server.call_soon)
        except Exception:
            server.rules.log.exception("Error in ASGI Framework")
        except trio.Cancelled:
            raise
        except BaseException:
            # gunicorn's timeout abort (SystemExit) or Ctrl-C unwinding the app:
            # the client still gets hypercorn's 500, then the exit goes on.
            if not self._started:
                with trio.CancelScope(shield=True):
                    await self._write(self._error_response())
            raise
        if not self._started:
            # No response (or the app raised before its start): hypercorn answers 500.
            self._closing = True
            refusal = self._refused()  # _receive may have set it while the app ran
            if refusal is not None:
                await self._write(refusal.response())
                await self._linger()
            else:
                await self._write(self._error_response())
                self._log(scope, {"status": 500, "headers": []})
            return False
        if not self._answered or self._gone or self._refused() is not None:
            return False  # a response cut short (or its writing cancelled), a peer gone: close
        if self._body_left:
            if self._continue or self._closing:
                return False  # the client waits for "100 Continue": it sends no body
            # A body the app did not read: read past it to the next request, as
            # hypercorn's path does (closing with unread bytes would reset the
            # connection under the answer just written).
            return await self._skip_body()
        return not self._closing

    async def _skip_body(self) -> bool:
        try:
            while True:
                event = self.framer.next_event()
                if event is NEED_DATA:
                    self.framer.feed(await self._read())
                elif event is END:
                    self._body_left = False
                    return True
        except (Refusal, Truncated):
            return False

    def _error_response(self) -> bytes:
        """hypercorn's answer for an app that failed before its response started."""
        return (
            _status_line(500)
            + self.server.headers
            + b"content-length: 0\r\nconnection: close\r\n\r\n"
        )

    def _refused(self) -> Refusal | None:
        return self._refusal

    def _log(self, scope: Any, response: Any) -> None:
        access = self.server.access
        if access is not None:
            access(scope, response, time.time() - self._start_time)

    async def _receive(self) -> dict[str, Any]:
        if not self._delivered and not self._body_left:
            self._delivered = True
            return {"type": "http.request", "body": b"", "more_body": False}
        if self._body_left and self._refusal is None:
            if self._continue:
                self._continue = False
                if not self._started:
                    await self._write(_CONTINUE)
            try:
                return await self._next_body()
            except Refusal as refusal:
                self._refusal = refusal
                self._body_left = False
                client = self.client[0] if self.client else ""
                self.server.rules.log.warning(
                    "Invalid request from ip=%s: %s", client, refusal.detail
                )
                return _DISCONNECT
            except Truncated:
                self._body_left = False
                self._gone = True
                return _DISCONNECT
        if self._answered or self._gone or self._refusal is not None:
            return _DISCONNECT
        await self._until_disconnect()
        return _DISCONNECT

    async def _next_body(self) -> dict[str, Any]:
        framer = self.framer
        while True:
            event = framer.next_event()
            if event is NEED_DATA:
                framer.feed(await self._read())
                continue
            if event is END:
                self._body_left = False
                self._delivered = True
                return {"type": "http.request", "body": b"", "more_body": False}
            assert isinstance(event, Data)
            body = event.data
            # The rest of a small body is often in the same read: say it is the last.
            following = framer.next_event()
            if following is END:
                self._body_left = False
                self._delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            if isinstance(following, Data):
                body += following.data
            return {"type": "http.request", "body": body, "more_body": True}

    async def _until_disconnect(self) -> None:
        """Wait for the end of the answer or the peer's close, keeping what the peer
        sends meanwhile (a next request).

        Many apps wait for ``http.disconnect`` in a task of their own that they
        cancel as soon as their answer is out (quart-trio does, for every
        request). Watching the socket for that moment would cost two epoll
        registrations and a wake-up per request, so the wait first parks at no
        cost: the answer's last byte written ends it (the request is over, as
        hypercorn says), and the sweeper's next tick turns a wait still going on
        into a watch of the socket, which the answer's end also stops. A peer
        that goes away is seen within a second.
        """
        if self._wake is None:
            self._wake = trio.Event()
        await self._wake.wait()
        if self._answered or self._gone:
            return
        if self._watch is not None:
            # Another receive() watches the socket already: wait for what it sees.
            if self._over is None:
                self._over = trio.Event()
            await self._over.wait()
            return
        buffered = 0
        try:
            with trio.CancelScope() as self._watch:
                while True:
                    data = await self._read()
                    if not data:
                        self._gone = True
                        break
                    self.framer.feed(data)
                    buffered += len(data)
                    if buffered > READ_AHEAD:
                        await trio.sleep_forever()  # as hypercorn: a client that pipelines waits
        finally:
            self._watch = None
        self._end_waits()

    def _end_waits(self) -> None:
        """The request is over for the app (answered, or the peer went): end its waits."""
        if self._wake is not None:
            self._wake.set()
        if self._watch is not None:
            self._watch.cancel()
        if self._over is not None:
            self._over.set()

    async def _send(self, message: dict[str, Any]) -> None:
        if self._refusal is not None and not self._started:
            return  # the request was refused: the refusal is the answer (see _request)
        kind = message["type"]
        if kind == "http.response.start" and not self._started and self._response is None:
            self._response = message
            return
        if kind == "http.response.body" and self._response is not None and not self._done:
            await self._send_body(message)
            return
        state = ASGIHTTPState.RESPONSE if self._response is not None else ASGIHTTPState.REQUEST
        raise UnexpectedMessageError(state, kind)

    async def _send_body(self, message: dict[str, Any]) -> None:
        body = message.get("body", b"")
        more = message.get("more_body", False)
        if not self._started:
            data = self._response_head(body, more)
            self._started = True
        else:
            data = b""
        if body and not self._suppress:
            if self._length is not None:
                self._sent += len(body)
                if self._sent > self._length:
                    self._closing = True
                    raise RuntimeError("the app sent more than its Content-Length")
                data += body
            elif self._chunked:
                data += b"%x\r\n%b\r\n" % (len(body), body)
            else:
                data += body
        if not more:
            if self._chunked and not self._suppress:
                data += b"0\r\n\r\n"
            elif self._length is not None and self._sent < self._length and not self._suppress:
                self._closing = True  # fewer bytes than announced: only a close ends it
            self._done = True
        if data:
            try:
                await self._write_answer(data)
            except BaseException:
                # A write cancelled (or cut short) drops its part of the answer: what
                # follows must not go out behind it, and the connection must close.
                self._gone = True
                raise
        if self._done:
            # Only now, with the last byte written: a wait for the disconnect that ended
            # earlier could make the app cancel this very write (quart-trio does).
            self._answered = True
            self._end_waits()
            self._log(self._log_scope, self._response)

    def _response_head(self, body: bytes, more: bool) -> bytes:
        """Status line and headers; decides the framing (see the module docstring)."""
        response = self._response
        status = int(response["status"])
        if not 200 <= status <= 999:  # h11 refuses the rest (1xx are not final answers)
            raise ValueError(f"invalid status for a response: {status}")
        self._status = status
        head = self._head
        self._suppress = head.method == b"HEAD" or status < 200 or status in _NO_BODY_STATUSES
        self._length = None
        self._chunked = False
        self._sent = 0
        lines = [_status_line(status)]
        length: bytes | None = None
        close = self._closing
        said_close = False
        for name, value in response.get("headers", ()):
            name = bytes(name).strip()
            value = bytes(value).strip()
            lower = name.lower()
            if lower == b"content-length":
                length = value
                continue
            if lower == b"transfer-encoding":
                continue  # the framing is ours to decide
            if lower == b"connection" and b"close" in value.lower():
                close = said_close = True
            lines.append(name + b": " + value + b"\r\n")
        if length is not None:
            if not length.isdigit():
                raise ValueError(f"invalid Content-Length {length!r}")
            self._length = int(length)
            lines.append(b"content-length: " + length + b"\r\n")
        elif self._suppress and head.method != b"HEAD":
            pass  # 1xx, 204, 304: no body, no framing header
        elif not more and head.method != b"HEAD":
            self._length = len(body)
            lines.append(b"content-length: %d\r\n" % self._length)
        elif head.version == "1.1":
            self._chunked = True
            lines.append(b"transfer-encoding: chunked\r\n")
        else:
            close = True  # HTTP/1.0 and no length: the close ends the body
        if self.served + 1 >= self.server.max_requests:
            close = True
        if close:
            self._closing = True
            if not said_close:
                lines.append(b"connection: close\r\n")
        fields = b"".join(lines[1:])
        if _VALID_LINES(fields) is None:  # one check for all: the usual case costs little
            for name, value in response.get("headers", ()):
                if _invalid_header(bytes(name).strip(), bytes(value).strip()):
                    raise ValueError(f"invalid response header {name!r}: {value!r}")
            raise ValueError("invalid response header")
        return lines[0] + fields + self.server.headers + b"\r\n"

"""hypercorn's HTTP/1.1 protocol, fed only requests that passed the strict framer.

hypercorn's ``H11Protocol`` hands whatever the client sent to h11, whose
leniency lets a smuggled request through (see :mod:`.http1`), and answers
h11's parse errors from the reading task while the app may be answering the
same request from its own task: the two raced, and the loser crashed the
worker or left the client without a status line. Here the bytes go through
:class:`~safeworkers.workers.trio.http1.RequestFramer` first:

- what reaches h11 is each checked request head as received, and its body
  re-framed unambiguously (Content-Length bodies as they are, chunked bodies
  re-chunked without extensions or trailers), so h11 never meets an error
  and h11 and the framer cannot disagree on where a request ends;
- every refusal takes one path: the connection stops reading, waits until
  the request before it (if any) is answered, writes the refusal's status
  line, and closes; when the refused part is the body of a request the app
  is already serving, the app's further output is dropped, it receives
  ``http.disconnect``, and the status line is written only when its response
  had not started;
- a body cut short by the client's close reaches the app as
  ``http.disconnect``, an error, instead of a short body;
- cleartext HTTP/2 (``Upgrade: h2c`` and the prior-knowledge preface) is
  served only as gunicorn's ``http2_cleartext`` and ``http_protocols``
  settings allow, for peers in ``forwarded_allow_ips``; otherwise an h2c
  upgrade is served as the HTTP/1.1 request it is, and the preface is
  refused;
- WebSocket handshakes are checked first (:mod:`.websocket`), frames that
  arrive before the app accepted wait for it, and frame errors close with
  the code RFC 6455 gives (1002, 1007, 1009) rather than a bare close.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import h11
import trio
from hypercorn.events import Closed, RawData
from hypercorn.protocol import ProtocolWrapper
from hypercorn.protocol.events import Data, Request, StreamClosed
from hypercorn.protocol.h2 import H2Protocol
from hypercorn.protocol.h11 import STREAM_ID, H11Protocol, H11WSConnection
from hypercorn.protocol.ws_stream import ASGIWebsocketState, FrameTooLargeError, WSStream
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection, Message, Ping

from safeworkers.workers.trio import websocket
from safeworkers.workers.trio.http1 import (
    CLOSED,
    END,
    NEED_DATA,
    Head,
    Limits,
    Refusal,
    RequestFramer,
    Truncated,
)

if TYPE_CHECKING:
    from hypercorn.config import Config
    from hypercorn.events import Event
    from hypercorn.protocol.events import Event as StreamEvent
    from hypercorn.typing import AppWrapper, TaskGroup, WorkerContext
    from hypercorn.typing import ConnectionState as LifespanState

#: WebSocket bytes held until the app accepts the handshake, at most (also when
#: websocket_max_message_size is 0, no limit).
EARLY_LIMIT = 1024 * 1024
#: The connection preface of HTTP/2 with prior knowledge (RFC 9113 section 3.4).
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class Rules:
    """What every connection of a worker is held to, resolved once from gunicorn's settings."""

    def __init__(
        self,
        *,
        limits: Limits,
        log: Any,
        trusted: Callable[[Any], bool],
        h2c: str = "off",
        http2: bool = False,
        websocket_max: int = 16 * 1024 * 1024,
    ) -> None:
        self.limits = limits
        #: gunicorn's logger (warnings for refusals, as gunicorn logs them).
        self.log = log
        self.trusted = trusted
        # gunicorn's rule: cleartext HTTP/2 needs "h2" in http_protocols too.
        self.prior_knowledge = http2 and h2c in ("prior-knowledge", "both")
        self.upgrade = http2 and h2c in ("upgrade", "both")
        #: With prior knowledge alone, a trusted peer must speak HTTP/2.
        self.preface_required = http2 and h2c == "prior-knowledge"
        self.websocket_max = websocket_max


class SafeProtocolWrapper(ProtocolWrapper):
    """hypercorn's protocol switch, with :class:`StrictH11Protocol` for HTTP/1.1."""

    def __init__(
        self,
        app: AppWrapper,
        config: Config,
        context: WorkerContext,
        task_group: TaskGroup,
        state: LifespanState,
        ssl: bool,
        client: tuple[str, int] | None,
        server: tuple[str, int] | None,
        send: Callable[[Event], Awaitable[None]],
        alpn_protocol: str | None,
        *,
        rules: Rules,
    ) -> None:
        # ProtocolWrapper.__init__ would build an H11Protocol of its own.
        self.app = app
        self.config = config
        self.context = context
        self.task_group = task_group
        self.ssl = ssl
        self.client = client
        self.server = server
        self.send = send
        self.state = state
        args = (app, config, context, task_group, state, ssl, client, server, send)
        self.protocol: H11Protocol | H2Protocol
        if alpn_protocol == "h2":
            self.protocol = H2Protocol(*args)
        else:
            self.protocol = StrictH11Protocol(*args, rules=rules)


class StrictH11Protocol(H11Protocol):
    """hypercorn's ``H11Protocol`` behind the strict framer (see the module docstring)."""

    def __init__(self, *args: Any, rules: Rules) -> None:
        super().__init__(*args)
        self.rules = rules
        self.framer = RequestFramer(rules.limits)
        trusted = not (rules.prior_knowledge or rules.upgrade) or rules.trusted(self.client)
        self._h2c_upgrade = rules.upgrade and trusted
        #: Bytes of a connection that may be opening with the HTTP/2 preface.
        self._preface: bytes | None = b"" if rules.prior_knowledge and trusted else None
        #: Let hypercorn switch to HTTP/2 on the next request (h2c or the preface).
        self._switching = False
        #: The current request is a WebSocket handshake that passed our checks.
        self._websocket = False
        #: After a WebSocket handshake: bytes go to hypercorn as they come.
        self._frames: websocket.FrameSizeGuard | None = None
        self._chunked = False
        #: Refused: read no more, drop what the app still sends.
        self._refused = False
        self._stream_done: trio.Event | None = None
        #: The peer closed its side after a WebSocket handshake.
        self._peer_done = False

    # ------------------------------------------------------------------ reading

    async def handle(self, event: Event) -> None:
        if not isinstance(event, RawData):
            if self._peer_done and isinstance(self.stream, SafeWSStream):
                # A client that half-closed right after its handshake still gets
                # the app's answer to it (101 or a refusal), as from gunicorn.
                await self.stream.handshake_answered()
            await super().handle(event)
            return
        if self._refused:
            return
        if self._frames is not None:
            self._peer_done = not event.data
            await self._websocket_data(event.data)
        elif self._preface is not None:
            await self._sniff(event.data)
        else:
            self.framer.feed(event.data)
            await self._pump(eof=not event.data)

    async def _forward(self, data: bytes) -> None:
        """Hand checked bytes to h11 (and on to the request's stream)."""
        await super().handle(RawData(data))

    async def _pump(self, *, eof: bool) -> None:
        framer = self.framer
        while True:
            try:
                event = framer.next_event()
            except Refusal as refusal:
                await self._refuse(refusal)
                return
            except Truncated:
                await self._truncated()
                return
            if event is NEED_DATA:
                return
            if event is CLOSED:
                if eof:
                    await self._forward(b"")
                return
            if isinstance(event, Head):
                if await self._head(event):
                    return
            elif event is END:
                if self._chunked:
                    await self._forward(b"0\r\n\r\n")
            elif self._chunked:
                data = event.data  # type: ignore[union-attr]
                await self._forward(b"%x\r\n%b\r\n" % (len(data), data))
            else:
                await self._forward(event.data)  # type: ignore[union-attr]

    async def _head(self, head: Head) -> bool:
        """Pass a checked head on; True when the connection leaves HTTP/1.1 here."""
        self._chunked = head.chunked
        if head.upgrade == b"websocket" and head.method == b"GET":
            try:
                websocket.check_handshake(head)
            except Refusal as refusal:
                await self._refuse(refusal)
                return True
            rest = self.framer.take_rest()
            self._websocket = True
            self._frames = websocket.FrameSizeGuard(self.rules.websocket_max)
            await self._forward(head.raw)
            if rest:
                await self._websocket_data(rest)
            return True
        if head.upgrade == b"h2c" and self._h2c_upgrade and _upgradable(head):
            self._switching = True
            # hypercorn answers 101 and hands h11's unread bytes to HTTP/2.
            await self._forward(head.raw + self.framer.take_rest())
            return True
        await self._forward(head.raw)
        return False

    async def _sniff(self, data: bytes) -> None:
        """Wait for the bytes that tell HTTP/2 prior knowledge from HTTP/1.1."""
        assert self._preface is not None
        start = self._preface + data
        if start and len(start) < len(PREFACE) and PREFACE.startswith(start):
            self._preface = start
            return
        self._preface = None
        if start.startswith(PREFACE):
            self._switching = True
            await self._forward(start)  # h11 reads "PRI * HTTP/2.0"; hypercorn switches
        elif self.rules.preface_required and start:
            await self._refuse(Refusal(400, "invalid HTTP/2 connection preface"))
        else:
            self.framer.feed(start)
            if not data:
                self.framer.feed(b"")
            await self._pump(eof=not data)

    async def _check_protocol(self, event: h11.Request) -> None:
        # hypercorn switches to HTTP/2 on "Upgrade: h2c" or "PRI *": only when allowed.
        if self._switching:
            await super()._check_protocol(event)

    async def _create_stream(self, request: h11.Request) -> None:
        if not self._websocket:
            await super()._create_stream(request)
            return
        # hypercorn's WebSocket branch, with our stream class.
        self.stream = SafeWSStream(
            self.app,
            self.config,
            self.context,
            self.task_group,
            self.ssl,
            self.client,
            self.server,
            self.stream_send,
            STREAM_ID,
        )
        assert isinstance(self.connection, h11.Connection)
        self.connection = H11WSConnection(self.connection)
        if self.config.h11_pass_raw_headers:
            headers = request.headers.raw_items()
        else:
            headers = list(request.headers)
        await self.stream.handle(
            Request(
                stream_id=STREAM_ID,
                headers=headers,
                http_version=request.http_version.decode(),
                method=request.method.decode("ascii").upper(),
                raw_path=request.target,
                state=self.connection_state,
            )
        )
        self.keep_alive_requests += 1
        await self.context.mark_request()

    async def _websocket_data(self, data: bytes) -> None:
        assert self._frames is not None
        code = self._frames.feed(data) if data else None
        if code is not None and isinstance(self.stream, SafeWSStream):
            await self.stream.fail(code, "frame larger than websocket_max_message_size")
            self._refused = True
            return
        await self._forward(data)

    # ------------------------------------------------------------------ refusing

    async def _refuse(self, refusal: Refusal) -> None:
        """The one refusal path: status line (when a reply is still possible), then close."""
        self._refused = True
        client = self.client[0] if self.client else ""
        self.rules.log.warning("Invalid request from ip=%s: %s", client, refusal.detail)
        write = True
        if self.framer.in_body and self.stream is not None:
            # The app is serving the request whose body is bad: stop it, and
            # answer only when it has not started its response.
            write = (
                isinstance(self.connection, h11.Connection)
                and self.connection.our_state is h11.SEND_RESPONSE
            )
            self._mute()
            await self._close_stream()
        else:
            await self._until_answered()
        if write:
            await self.send(RawData(refusal.response()))
        await self.send(Closed())

    async def _truncated(self) -> None:
        """The client closed in the middle of a body: the app gets ``http.disconnect``."""
        self._refused = True
        self._mute()
        await self._close_stream()
        await self.send(Closed())

    async def _until_answered(self) -> None:
        """Wait until the request before a refused one has been answered."""
        while self.stream is not None:
            self._stream_done = trio.Event()
            await self._stream_done.wait()

    async def _close_stream(self) -> None:
        await super()._close_stream()
        if self._stream_done is not None:
            self._stream_done.set()

    def _mute(self) -> None:
        """What the app still sends for the current request goes nowhere.

        The stream was given its ``send`` when it was made; swapping it there,
        once, costs the requests that are never refused nothing.
        """
        if self.stream is not None:
            self.stream.send = _discard


async def _discard(event: StreamEvent) -> None:
    """A stream's ``send`` after its request was refused or its client went away."""


def _upgradable(head: Head) -> bool:
    """Whether hypercorn may switch this request to HTTP/2 (h2c upgrade).

    RFC 7540 section 3.2.1: exactly one HTTP2-Settings field. A bad value makes
    h2 raise inside hypercorn's switch, so it is tried on a throwaway h2
    connection first (h2c upgrades are rare: the cost does not matter). A
    request with a body is served over HTTP/1.1, as hypercorn does.
    """
    import h2.config
    import h2.connection

    settings = [value for name, value in head.headers if name == b"http2-settings"]
    if head.has_body or len(settings) != 1:
        return False
    trial = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    try:
        trial.initiate_upgrade_connection(settings[0])
    except Exception:  # binascii.Error, h2's protocol and settings errors
        return False
    return True


class SafeWSStream(WSStream):
    """hypercorn's WebSocket stream: early frames wait for the accept, errors get close codes."""

    _early: bytearray | None = None
    _answered: trio.Event | None = None

    async def handshake_answered(self) -> None:
        """Wait until the app accepted or refused the handshake (or the stream ended)."""
        if self.state is ASGIWebsocketState.HANDSHAKE and not self.closed:
            self._answered = self._answered or trio.Event()
            await self._answered.wait()

    async def handle(self, event: StreamEvent) -> None:
        if (
            isinstance(event, Data)
            and not self.closed
            and self.state is ASGIWebsocketState.HANDSHAKE
            and hasattr(self, "handshake")
        ):
            # Frames sent right behind the handshake: hypercorn would answer
            # 400 while the app may be accepting. Keep them for the accept.
            if self._early is None:
                self._early = bytearray()
            self._early += event.data
            if len(self._early) > min(self.config.websocket_max_message_size, EARLY_LIMIT):
                await self.fail(websocket.MESSAGE_TOO_BIG, "too much data before the handshake")
            return
        await super().handle(event)
        if isinstance(event, StreamClosed) and self._answered is not None:
            self._answered.set()

    async def _accept(self, message: Any) -> None:
        await super()._accept(message)
        early, self._early = self._early, None
        if early:
            self.connection.receive_data(bytes(early))
            await self._handle_events()

    async def app_send(self, message: Any) -> None:
        await super().app_send(message)
        if self.state is not ASGIWebsocketState.HANDSHAKE or message is None:
            self._early = None  # refused or answered over HTTP: the frames go unread
            if self._answered is not None:
                self._answered.set()

    async def _handle_events(self) -> None:
        for event in self.connection.events():
            if isinstance(event, Message):
                try:
                    self.buffer.extend(event)
                except FrameTooLargeError:
                    await self.fail(websocket.MESSAGE_TOO_BIG, "message too big")
                    return
                if event.message_finished:
                    assert self.app_put is not None
                    await self.app_put(self.buffer.to_message())
                    self.buffer.clear()
            elif isinstance(event, Ping):
                await self._send_wsproto_event(event.response())
            elif isinstance(event, CloseConnection):
                if self.connection.state == ConnectionState.REMOTE_CLOSING:
                    await self._send_wsproto_event(event.response())
                elif self.connection.state == ConnectionState.OPEN:
                    # wsproto found an invalid frame (it yields the close code it
                    # calls for without closing): send that close frame.
                    await self._send_wsproto_event(
                        CloseConnection(code=event.code, reason=event.reason)
                    )
                await self.send(StreamClosed(stream_id=self.stream_id))
                return

    async def fail(self, code: int, reason: str) -> None:
        """Close with ``code`` (after the handshake) or 400 (before it), then end the stream."""
        if self.state is ASGIWebsocketState.CONNECTED:
            await self._send_wsproto_event(CloseConnection(code=code, reason=reason))
        elif self.state is ASGIWebsocketState.HANDSHAKE:
            await self._send_error_response(400)
        await self.send(StreamClosed(stream_id=self.stream_id))

"""Strict HTTP/1.1 request framing: where each request starts and ends, or a refusal.

Request smuggling lives in the places where two parsers read the same bytes
differently: one sees a body where the other sees a second request. hypercorn
reads HTTP/1.1 with h11, which accepts obs-folded lines, bare LF line ends
and loose chunk syntax that gunicorn refuses, so a front-end reading the
bytes gunicorn's way can be walked around. This module decides the framing
once, as strictly as gunicorn's own parser, and what it passes on is
unambiguous:

- the request head is parsed by llhttp (through ``httptools``) with none of
  its lenient modes, plus the rules gunicorn has that llhttp lacks: exactly
  one space between the parts of the request line, HTTP/1.0 and 1.1 only,
  ``*`` only with OPTIONS, no CONNECT, one Host (required on HTTP/1.1, as
  RFC 9112 section 3.2 says a server MUST), one Content-Type, a
  Transfer-Encoding that ends with ``chunked`` exactly once and never on
  HTTP/1.0 or next to Content-Length, and gunicorn's ``limit_request_*``;
- bodies are framed here, not by llhttp, so that the byte where each request
  ends is known: Content-Length bodies are counted, chunked bodies are read
  with RFC 9112's grammar and nothing more (no whitespace after a chunk size,
  extensions that are tokens or quoted strings, CRLF after each chunk, no
  framing or routing fields in trailers);
- one empty line (CRLF) before a request line is ignored (RFC 9112 section
  2.2), as gunicorn does; anything else there is refused.

It is sans-I/O, like h11: :meth:`RequestFramer.feed` takes bytes (``b""`` for
end of file), :meth:`RequestFramer.next_event` hands out a :class:`Head`, then
:class:`Data` pieces of the body, then :data:`END`; a request that cannot be
served raises :class:`Refusal` with the status to answer, and a body cut
short by the client's close raises :class:`Truncated`.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Final

import httptools

__all__ = [
    "CLOSED",
    "END",
    "NEED_DATA",
    "Data",
    "Head",
    "Limits",
    "Refusal",
    "RequestFramer",
    "Truncated",
]


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: No complete event yet: feed more bytes.
NEED_DATA: Final = _Sentinel("NEED_DATA")
#: The current request's body is complete.
END: Final = _Sentinel("END")
#: The connection is over: the peer closed between requests, or the last
#: request asked for the connection to close (anything after it is dropped).
CLOSED: Final = _Sentinel("CLOSED")

#: gunicorn's bounds when a limit is 0 ("unlimited"): gunicorn/asgi/parser.py.
UNLIMITED_LINE = 1024 * 1024
DEFAULT_FIELD_SIZE = 8190
DEFAULT_FIELDS = 32768
#: A chunk size longer than this many hex digits is refused (2**64 bytes).
MAX_CHUNK_DIGITS = 16

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = rb'"(?:[\t !\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
#: RFC 9112 section 7.1.1: *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ).
_CHUNK_EXTENSIONS = re.compile(
    rb"(?:[ \t]*;[ \t]*" + _TOKEN + rb"(?:[ \t]*=[ \t]*(?:" + _TOKEN + rb"|" + _QUOTED + rb"))?)*"
).fullmatch
_TOKEN_NAME = re.compile(_TOKEN).fullmatch
_HEX = re.compile(rb"[0-9A-Fa-f]+").fullmatch
#: RFC 9110 section 5.5: a field value holds no control character but HTAB.
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]").search
#: RFC 9110 section 6.5.1: fields a sender must not put in a trailer section.
FORBIDDEN_TRAILERS = frozenset(
    {b"host", b"content-length", b"transfer-encoding", b"trailer", b"authorization", b"te"}
)
#: Transfer codings gunicorn knows; we decode none of them but chunked (501).
_KNOWN_CODINGS = frozenset({b"gzip", b"x-gzip", b"deflate", b"compress", b"identity"})


class Refusal(Exception):
    """The request cannot be served: answer ``status`` and close the connection."""

    def __init__(
        self, status: int, detail: str, headers: tuple[tuple[bytes, bytes], ...] = ()
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers

    @property
    def reason(self) -> str:
        return HTTPStatus(self.status).phrase

    def response(self) -> bytes:
        """The whole reply: status line, headers, a one-line body; the connection closes."""
        body = f"{self.reason}: {self.detail}\n".encode("latin-1", "replace")
        lines = [
            f"HTTP/1.1 {self.status} {self.reason}".encode(),
            b"content-type: text/plain; charset=utf-8",
            b"content-length: " + str(len(body)).encode(),
            b"connection: close",
            *(name + b": " + value for name, value in self.headers),
        ]
        return b"\r\n".join(lines) + b"\r\n\r\n" + body


class Truncated(Exception):
    """The client closed the connection in the middle of a request body."""


class Limits:
    """gunicorn's ``limit_request_line``, ``limit_request_fields``, ``limit_request_field_size``."""

    __slots__ = ("field_size", "fields", "line")

    def __init__(self, line: int = 4094, fields: int = 100, field_size: int = 8190) -> None:
        #: 0: no request-line limit (gunicorn's meaning), bounded by UNLIMITED_LINE.
        self.line = line if line > 0 else 0
        self.fields = fields if fields > 0 else DEFAULT_FIELDS
        self.field_size = field_size if field_size > 0 else DEFAULT_FIELD_SIZE

    @property
    def head_size(self) -> int:
        """The largest request head these limits allow, terminator included."""
        return (self.line or UNLIMITED_LINE) + 2 + self.fields * (self.field_size + 2) + 2


class Head:
    """A request head that passed every check."""

    __slots__ = (
        "chunked",
        "expect_continue",
        "headers",
        "keep_alive",
        "length",
        "method",
        "raw",
        "target",
        "upgrade",
        "version",
    )

    def __init__(
        self,
        *,
        raw: bytes,
        method: bytes,
        target: bytes,
        version: str,
        headers: list[tuple[bytes, bytes]],
        keep_alive: bool,
        chunked: bool,
        length: int,
        upgrade: bytes,
        expect_continue: bool,
    ) -> None:
        #: The head as received, request line to the empty line: already checked.
        self.raw = raw
        self.method = method
        self.target = target
        #: "1.0" or "1.1".
        self.version = version
        #: (lower-case name, value without surrounding whitespace), in order.
        self.headers = headers
        self.keep_alive = keep_alive
        self.chunked = chunked
        #: The Content-Length (0 without one, or when chunked).
        self.length = length
        #: The lower-case Upgrade value when Connection lists "upgrade", else b"".
        self.upgrade = upgrade
        self.expect_continue = expect_continue

    @property
    def has_body(self) -> bool:
        return self.chunked or self.length > 0

    def header(self, name: bytes) -> bytes | None:
        """The first value of a (lower-case) header, or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


class Data:
    """A piece of the current request's body (chunk framing removed)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


Event = Head | Data | _Sentinel

# Framer states. _END: the body is complete, END not handed out yet.
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _END, _DONE, _SWITCHED = range(9)


class _HeadParser:
    """llhttp's callbacks for request heads.

    llhttp is fed heads only (the framer frames bodies), so a parser serves the
    next request only after a request without a body; see ``_finish_head``.
    """

    __slots__ = ("complete", "headers", "upgrade", "url")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.complete = False
        self.upgrade = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value.strip(b" \t")))

    def on_headers_complete(self) -> None:
        self.complete = True


def _check_absolute_form(target: bytes) -> None:
    """RFC 9112 section 3.2.2: ``http(s)://authority/path``; llhttp does not check the authority."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(target.decode("ascii"))
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise Refusal(400, "invalid request target: bad absolute URI") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refusal(400, "invalid request target: bad absolute URI")


class RequestFramer:
    """Splits one connection's bytes into checked requests (see the module docstring)."""

    def __init__(self, limits: Limits | None = None, *, require_host: bool = True) -> None:
        self.limits = limits or Limits()
        self.require_host = require_host
        self._buffer = bytearray()
        self._eof = False
        self._state = _HEAD
        #: Bytes of the current head already fed to llhttp (checked early).
        self._fed = 0
        #: Of the head so far: the CRLFs seen, and where its last (unfinished) line starts.
        self._crlfs = 0
        self._line_start = 0
        #: Where to look for the end of the head next time.
        self._scan = 0
        self._skipped_empty_line = False
        self._parser: httptools.HttpRequestParser | None = None
        self._head: _HeadParser | None = None
        self._remaining = 0
        self._trailers = 0
        self._keep_alive = True

    # ------------------------------------------------------------------ input

    def feed(self, data: bytes) -> None:
        """Add bytes received from the peer; ``b""`` means the peer closed (end of file)."""
        if not data:
            self._eof = True
        elif self._state not in (_DONE, _SWITCHED):
            self._buffer += data

    @property
    def in_body(self) -> bool:
        """Whether a request head was handed out and its body is not complete."""
        return self._state in (_LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _END)

    @property
    def between_requests(self) -> bool:
        """Whether no byte of a next request has arrived yet."""
        return self._state == _HEAD and not self._buffer

    def take_rest(self) -> bytes:
        """The bytes after the current head, for a protocol switch; the framer stops here."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        self._state = _SWITCHED
        return rest

    # ------------------------------------------------------------------ events

    def next_event(self) -> Event:
        """The next event, :data:`NEED_DATA` when more bytes are needed.

        Raises :class:`Refusal` when the request must be refused, and
        :class:`Truncated` when the peer closed in the middle of a body.
        """
        state = self._state
        if state == _HEAD:
            return self._next_head()
        if state == _LENGTH:
            return self._next_length()
        if state == _END:
            self._end_message()
            return END
        if state in (_CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS):
            return self._next_chunked()
        return CLOSED

    def _next_head(self) -> Event:
        buffer = self._buffer
        if not buffer:
            return self._need_data()
        if not self._fed and buffer.startswith((b"\r", b"\n")) and not self._skip_empty_line():
            return self._need_data()
        end = buffer.find(b"\r\n\r\n", self._scan)
        if end < 0:
            self._check_partial_head()
            return self._need_data()
        head_end = end + 4
        raw = bytes(buffer[:head_end])
        del buffer[:head_end]
        self._scan = self._crlfs = self._line_start = 0
        fed, self._fed = self._fed, 0
        return self._finish_head(raw, fed)

    def _skip_empty_line(self) -> bool:
        """Drop the one CRLF allowed before a request line; False when undecided yet."""
        buffer = self._buffer
        if buffer[:2] == b"\r\n" and not self._skipped_empty_line:
            del buffer[:2]
            self._skipped_empty_line = True
            return not buffer.startswith((b"\r", b"\n")) or self._skip_empty_line()
        if buffer == b"\r" and not self._skipped_empty_line and not self._eof:
            return False
        raise Refusal(400, "invalid request line: an empty line, or a bare CR or LF, before it")

    def _check_partial_head(self) -> None:
        """Limits and syntax of a head whose end has not arrived yet.

        Every limit is checked as the bytes come, each byte looked at once: the
        request line against ``limit_request_line``, the line being received
        against ``limit_request_field_size``, the lines so far against
        ``limit_request_fields``. A client cannot make the worker hold more of
        an unfinished head than gunicorn would.
        """
        buffer = self._buffer
        limits = self.limits
        self._scan = max(0, len(buffer) - 3)
        seen = self._fed  # bytes looked at (and fed to llhttp) before
        start = max(0, seen - 1)  # a CRLF may straddle the old and the new bytes
        crlfs = buffer.count(b"\r\n", start)
        # The request line just ended: check it as _finish_head will.
        if crlfs and not self._crlfs and limits.line and buffer.find(b"\r\n") > limits.line:
            raise Refusal(414, "request line is too large")
        self._crlfs += crlfs
        last = buffer.rfind(b"\r\n", start)
        if last >= 0:
            self._line_start = last + 2
        line = len(buffer) - self._line_start
        if not self._crlfs:
            if line > (limits.line or UNLIMITED_LINE) + 1:  # + 1: a CR may end it
                raise Refusal(414, "request line is too large")
        else:
            if line + 1 > limits.field_size:  # gunicorn counts the CRLF: line + 2 > size
                raise Refusal(431, "a request header field is too large")
            if self._crlfs - 1 > limits.fields:
                raise Refusal(431, "too many request header fields")
        if len(buffer) > limits.head_size:
            raise Refusal(431, "request header fields are too large")
        if len(buffer) > seen:
            # llhttp refuses a bad request line or header as soon as it sees it,
            # instead of waiting for a terminator that may never come.
            self._feed_head(memoryview(buffer)[seen:])
            self._fed = len(buffer)

    def _need_data(self) -> Event:
        if not self._eof:
            return NEED_DATA
        # The peer closed between requests or in the middle of a head: nothing to answer.
        self._state = _DONE
        return CLOSED

    def _feed_head(self, data: memoryview | bytes) -> None:
        if self._parser is None:
            self._head = _HeadParser()
            self._parser = httptools.HttpRequestParser(self._head)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # The head is complete; what follows is ours to frame, and llhttp
            # would read it as the upgraded protocol's: a new parser next time.
            assert self._head is not None
            self._head.upgrade = True
        except httptools.HttpParserError as exc:
            raise Refusal(400, f"invalid request: {exc}") from None

    def _finish_head(self, raw: bytes, fed: int) -> Head:
        limits = self.limits
        line_end = raw.find(b"\r\n")
        if limits.line and line_end > limits.line:
            raise Refusal(414, "request line is too large")
        if raw.count(b"\r\n") - 2 > limits.fields:
            raise Refusal(431, "too many request header fields")
        # Only a head longer than a field line may hold one that is too long.
        if len(raw) - line_end > limits.field_size and (
            max(map(len, raw[line_end + 2 : -4].split(b"\r\n"))) + 2 > limits.field_size
        ):
            raise Refusal(431, "a request header field is too large")
        self._feed_head(raw[fed:] if fed else raw)
        parser, head = self._parser, self._head
        assert parser is not None
        assert head is not None
        if not head.complete:  # cannot happen: llhttp saw the same terminator
            raise Refusal(400, "invalid request head")
        if raw.count(b" ", 0, line_end) != 2:
            raise Refusal(400, "invalid request line: parts not separated by one space")
        version = parser.get_http_version()
        if version not in ("1.1", "1.0"):
            raise Refusal(400, f"invalid HTTP version {version}")
        method = parser.get_method()
        target = head.url
        if method == b"CONNECT":
            raise Refusal(501, "CONNECT is not supported")
        if target == b"*" and method != b"OPTIONS":
            raise Refusal(400, "invalid request target: * is for OPTIONS only")
        if not target.startswith(b"/") and target != b"*":
            _check_absolute_form(target)
        result = self._framing(head.headers, version)
        result.raw = raw
        result.method = method
        result.target = target
        if result.has_body or head.upgrade:
            self._parser = self._head = None
        else:  # llhttp has completed this request: it can read the next head
            head.reset()
        self._skipped_empty_line = False
        if result.chunked:
            self._state = _CHUNK_SIZE
            self._trailers = 0
        elif result.length:
            self._state = _LENGTH
            self._remaining = result.length
        else:
            self._state = _END
        self._keep_alive = result.keep_alive
        return result

    def _framing(self, headers: list[tuple[bytes, bytes]], version: str) -> Head:
        """Framing, Host and Expect rules over the header fields."""
        hosts = content_types = 0
        length: int | None = None
        codings: list[bytes] = []
        connection: list[bytes] = []
        upgrade = b""
        expect = False
        for name, value in headers:
            if name == b"host":
                hosts += 1
            elif name == b"content-length":
                length = int(value)  # llhttp checked: digits only, no repeat
            elif name == b"transfer-encoding":
                codings += (part.strip(b" \t").lower() for part in value.split(b","))
            elif name == b"connection":
                connection += (part.strip(b" \t").lower() for part in value.split(b","))
            elif name == b"upgrade":
                upgrade = value.lower()
            elif name == b"content-type":
                content_types += 1
            elif name == b"expect":
                if value.lower() != b"100-continue":
                    raise Refusal(417, f"unsupported Expect: {value.decode('latin-1')!r}")
                expect = version == "1.1"
        if hosts > 1:
            raise Refusal(400, "more than one Host header")
        if not hosts and version == "1.1" and self.require_host:
            raise Refusal(400, "missing Host header (RFC 9112 section 3.2)")
        if content_types > 1:
            raise Refusal(400, "more than one Content-Type header")
        chunked = False
        if codings:
            if version == "1.0":
                raise Refusal(400, "invalid framing: Transfer-Encoding on HTTP/1.0")
            if length is not None:
                raise Refusal(400, "invalid framing: Content-Length with Transfer-Encoding")
            if codings[-1] != b"chunked" or codings.count(b"chunked") > 1:
                raise Refusal(400, "invalid framing: Transfer-Encoding must end with chunked, once")
            for coding in codings[:-1]:
                if coding in _KNOWN_CODINGS:
                    raise Refusal(501, f"unsupported transfer coding {coding.decode('latin-1')!r}")
                raise Refusal(400, f"invalid transfer coding {coding.decode('latin-1')!r}")
            chunked = True
        # HTTP/1.0 connections close after one request, keep-alive or not, as
        # h11 (and so hypercorn) has it: one rule for both of TrioWorker's paths.
        keep_alive = version == "1.1" and b"close" not in connection
        return Head(
            raw=b"",
            method=b"",
            target=b"",
            version=version,
            headers=headers,
            keep_alive=keep_alive,
            chunked=chunked,
            length=length or 0,
            upgrade=upgrade if b"upgrade" in connection else b"",
            expect_continue=expect,
        )

    # ------------------------------------------------------------------ bodies

    def _next_length(self) -> Event:
        buffer = self._buffer
        if not buffer:
            if self._eof:
                raise Truncated("the client closed the connection before the whole body came")
            return NEED_DATA
        size = min(len(buffer), self._remaining)
        data = bytes(buffer[:size])
        del buffer[:size]
        self._remaining -= size
        if not self._remaining:
            self._state = _END
        return Data(data)

    def _next_chunked(self) -> Event:
        buffer = self._buffer
        while True:
            state = self._state
            if state == _CHUNK_DATA:
                if not buffer:
                    break
                size = min(len(buffer), self._remaining)
                data = bytes(buffer[:size])
                del buffer[:size]
                self._remaining -= size
                if not self._remaining:
                    self._state = _CHUNK_END
                return Data(data)
            if state == _CHUNK_END:
                if len(buffer) < 2:
                    break
                if buffer[:2] != b"\r\n":
                    raise Refusal(400, "invalid chunked body: chunk data not followed by CRLF")
                del buffer[:2]
                self._state = _CHUNK_SIZE
                continue
            line = self._line()
            if line is None:
                break
            if state == _CHUNK_SIZE:
                self._chunk_size(line)
            elif not line:  # the empty line after the trailers
                self._end_message()
                return END
            else:
                self._trailer(line)
        if self._eof:
            raise Truncated("the client closed the connection before the whole body came")
        return NEED_DATA

    def _line(self) -> bytes | None:
        """The next CRLF-terminated line of a chunked body, or None until it is complete."""
        buffer = self._buffer
        end = buffer.find(b"\r\n")
        bare = buffer.find(b"\n", 0, end if end >= 0 else len(buffer))
        if bare >= 0:
            raise Refusal(400, "invalid chunked body: bare LF as a line end")
        if end < 0:
            if len(buffer) > self.limits.field_size:
                raise Refusal(400, "invalid chunked body: line too long")
            return None
        line = bytes(buffer[:end])
        del buffer[: end + 2]
        return line

    def _chunk_size(self, line: bytes) -> None:
        size, semicolon, extensions = line.partition(b";")
        if semicolon:
            # BWS before the ";" of an extension is the only whitespace allowed.
            size = size.rstrip(b" \t")
            if b"\r" in extensions or not _CHUNK_EXTENSIONS(b";" + extensions):
                raise Refusal(400, "invalid chunked body: bad chunk extension")
        if not _HEX(size) or len(size) > MAX_CHUNK_DIGITS:
            raise Refusal(400, f"invalid chunked body: bad chunk size {size[:20]!r}")
        self._remaining = int(size, 16)
        self._state = _CHUNK_DATA if self._remaining else _TRAILERS

    def _trailer(self, line: bytes) -> None:
        self._trailers += 1
        if self._trailers > self.limits.fields:
            raise Refusal(431, "too many trailer fields")
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN_NAME(name):
            raise Refusal(400, "invalid chunked body: bad trailer field")
        if name.lower() in FORBIDDEN_TRAILERS:
            raise Refusal(400, f"invalid trailer field {name.decode('latin-1')!r}")
        if _CONTROL(value.strip(b" \t")):
            raise Refusal(400, "invalid chunked body: bad trailer value")

    def _end_message(self) -> None:
        self._state = _HEAD if self._keep_alive else _DONE
        if not self._keep_alive:
            self._buffer.clear()

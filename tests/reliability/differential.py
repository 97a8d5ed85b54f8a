"""The differential probes: raw bytes sent to TrioWorker and to gunicorn's own ``-k asgi``.

Both servers run tests/apps/recording_app.py, which appends a line to a log
for every request it *runs* (with the client's port, so each line belongs to
the connection that carried it) and answers ``x-ran: <method> <path>``. A
probe is one write of raw bytes on a fresh connection, then a read until the
server closes: after a half-close for TrioWorker (as tests/reliability/
hostile.py does), after the server falls quiet for gunicorn (see
:func:`read_until_quiet`). What a server did with it is an :class:`Outcome`:
the responses it sent (HTTP/1.x status lines, and HTTP/2 responses after an
h2c upgrade or a preface), the requests the app ran, and whether the worker
died.

:func:`violations` is the contract between the two servers, from issue 15:

- **never run more**: every request TrioWorker's app ran, gunicorn's app ran
  too (multisets of (method, path)); ours may run fewer (refuse more). A
  request ours ran and gunicorn refused is one smuggled past a front-end
  that reads the bytes gunicorn's way;
- **never die**: the worker that served the probe still serves after it;
- **never lose a reply**: when gunicorn answered with a status line, so do
  we (a refusal is fine, a bare close is not);
- **never answer more**: no more final responses than gunicorn sent (a
  reply to no request desynchronises a keep-alive client);
- **answer what ran**: each request the app ran and finished reading got
  its own response (the app's 200 carrying its ``x-ran``), not a 400 in
  its place;
- well-formed input (a :class:`Probe` marked ``valid``) is served as
  gunicorn serves it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import struct
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

import pytest
from hpack import Decoder

from tests import servers
from tests.apps.asgi_parts import label
from tests.reliability.load import connect
from tests.servers import Server

needs_hypercorn = pytest.mark.skipif(
    find_spec("hypercorn") is None, reason="TrioWorker needs hypercorn"
)
needs_asgi_worker = pytest.mark.skipif(
    servers.gunicorn_version() < (24,), reason="gunicorn's asgi worker is new in gunicorn 24"
)

HOST = b"Host: localhost\r\n"
CHUNKED = b"Transfer-Encoding: chunked\r\n"
#: A request whose own response the client must get back.
NEXT = b"GET /next HTTP/1.1\r\n" + HOST + b"\r\n"
#: The request hidden in a first request's body by the smuggling probes.
SMUGGLED = b"GET /SMUGGLED HTTP/1.1\r\n" + HOST + b"\r\n"
#: How long a read may wait for the next bytes once the client has half-closed.
READ_TIMEOUT = 2.0
#: Without a half-close: the wait for a first byte, then for the server to fall quiet.
FIRST_BYTE = 1.0
QUIET = 0.5


def post(head: bytes, body: bytes = b"", *, path: bytes = b"/p", version: bytes = b"1.1") -> bytes:
    """A POST with ``head`` (raw header lines) after the Host line, then ``body``."""
    return b"POST " + path + b" HTTP/" + version + b"\r\n" + HOST + head + b"\r\n" + body


def get(head: bytes = b"", *, path: bytes = b"/g", line: bytes | None = None) -> bytes:
    """A GET (or the request ``line``) with ``head`` after the Host line."""
    first = line if line is not None else b"GET " + path + b" HTTP/1.1"
    return first + b"\r\n" + HOST + head + b"\r\n"


# --------------------------------------------------------------------------- WebSocket

WS_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def ws_upgrade(
    *, key: bytes | None = WS_KEY, version: bytes = b"13", path: bytes = b"/ws"
) -> bytes:
    """A WebSocket handshake request (RFC 6455 4.1)."""
    head = b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: " + version
    head += b"\r\n" + (b"Sec-WebSocket-Key: " + key + b"\r\n" if key is not None else b"")
    return b"GET " + path + b" HTTP/1.1\r\n" + HOST + head + b"\r\n"


def ws_frame(
    opcode: int,
    payload: bytes,
    *,
    masked: bool = True,
    rsv: int = 0,
    fin: bool = True,
    declared: int | None = None,
) -> bytes:
    """One client frame (RFC 6455 5.2); ``declared`` overrides the length field."""
    length = len(payload) if declared is None else declared
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mask_bit = 0x80 if masked else 0
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if not masked:
        return head + payload
    mask = b"\x11\x22\x33\x44"
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


# --------------------------------------------------------------------------- HTTP/2

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def h2_frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    head = struct.pack("!I", len(payload))[1:] + bytes([kind, flags]) + struct.pack("!I", stream)
    return head + payload


def h2_settings(*pairs: tuple[int, int]) -> bytes:
    """A SETTINGS frame's payload."""
    return b"".join(struct.pack("!HI", ident, value) for ident, value in pairs)


def h2_get(stream: int, path: bytes) -> bytes:
    """A HEADERS frame (END_STREAM | END_HEADERS) for ``GET path``, HPACK without indexing."""
    block = b""
    for name, value in (
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":path", path),
        (b":authority", b"localhost"),
    ):
        # Literal header field without indexing, new name (RFC 7541 6.2.2).
        block += b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value
    return h2_frame(0x1, 0x5, stream, block)


def h2_client_start(stream: int, path: bytes) -> bytes:
    """The preface, an empty SETTINGS, and one GET on ``stream``."""
    return H2_PREFACE + h2_frame(0x4, 0, 0, b"") + h2_get(stream, path)


GOOD_SETTINGS = base64.urlsafe_b64encode(h2_settings((0x3, 100), (0x4, 65535))).rstrip(b"=")


def h2c_upgrade(settings: bytes, *, path: bytes = b"/h2c") -> bytes:
    """``GET path`` asking to switch to h2c (RFC 7540 3.2) with this HTTP2-Settings value."""
    head = b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: "
    return get(head + settings + b"\r\n", path=path)


# --------------------------------------------------------------------------- probes


@dataclass(frozen=True)
class Probe:
    """Raw bytes for one connection; ``repeats`` > 1 for inputs whose outcome races.

    ``valid``: well-formed HTTP/1.1 that TrioWorker must serve as gunicorn
    does (refusing it is a failure too, not only running more).
    """

    name: str
    family: str
    raw: bytes
    repeats: int = 1
    valid: bool = False


#: Repeats for the probes issue 15 saw racing (2/8, 7/30, 13-17/30 of tries failed).
RACY = 30


def _family(name: str, probes: Iterable[tuple[str, bytes] | tuple[str, bytes, int]]) -> list[Probe]:
    return [Probe(p[0], name, p[1], *p[2:]) for p in probes]


FRAMING = _family(
    "TE/CL",
    [
        ("CL+TE", post(b"Content-Length: 5\r\n" + CHUNKED, b"0\r\n\r\n")),
        ("TE+CL", post(CHUNKED + b"Content-Length: 5\r\n", b"0\r\n\r\n")),
        (
            "CL+TE, pipelined GET after",
            post(b"Content-Length: 5\r\n" + CHUNKED, b"0\r\n\r\n" + NEXT),
            RACY,
        ),
        (
            "TE+CL, pipelined GET after",
            post(CHUNKED + b"Content-Length: 5\r\n", b"0\r\n\r\n" + NEXT),
            RACY,
        ),
        ("TE twice", post(CHUNKED + CHUNKED, b"5\r\nhello\r\n0\r\n\r\n")),
        (
            "TE chunked, chunked",
            post(b"Transfer-Encoding: chunked, chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n"),
        ),
        ("TE obs-folded", post(b"Transfer-Encoding:\r\n chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n")),
        (
            "TE chunked, gzip",
            post(b"Transfer-Encoding: chunked, gzip\r\n", b"5\r\nhello\r\n0\r\n\r\n"),
        ),
        ("TE identity", post(b"Transfer-Encoding: identity\r\n", b"hello")),
        ("TE on HTTP/1.0", post(CHUNKED, b"5\r\nhello\r\n0\r\n\r\n", version=b"1.0")),
        ("CL +5", post(b"Content-Length: +5\r\n", b"hello")),
        ("CL 0x5", post(b"Content-Length: 0x5\r\n", b"hello")),
        ("CL list 5, 5", post(b"Content-Length: 5, 5\r\n", b"hello")),
        ("CL twice, same", post(b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello")),
        ("CL twice, differing", post(b"Content-Length: 5\r\nContent-Length: 3\r\n", b"hello")),
        ("CL negative", post(b"Content-Length: -5\r\n", b"hello")),
    ],
)

CHUNKS = _family(
    "chunk framing",
    [
        ("size with trailing space", post(CHUNKED, b"5 \r\nhello\r\n0\r\n\r\n")),
        ("size with trailing tab", post(CHUNKED, b"5\t\r\nhello\r\n0\r\n\r\n")),
        ("size hex overflow", post(CHUNKED, b"10000000000000005\r\nhello\r\n0\r\n\r\n")),
        ("extension with bare CR", post(CHUNKED, b"5;a\rb\r\nhello\r\n0\r\n\r\n")),
        ("extension with NUL", post(CHUNKED, b"5;a=\x00\r\nhello\r\n0\r\n\r\n")),
        ("no CRLF after data", post(CHUNKED, b"5\r\nhello0\r\n\r\n")),
        ("trailer Content-Length", post(CHUNKED, b"5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n")),
        (
            "trailer Transfer-Encoding",
            post(CHUNKED, b"5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        ),
        ("trailer Host", post(CHUNKED, b"5\r\nhello\r\n0\r\nHost: other\r\n\r\n")),
    ],
)

HEADERS = _family(
    "header abuse",
    [
        ("obs-fold before CL", post(b"X-A: a\r\n b\r\nContent-Length: 5\r\n", b"hello")),
        ("obs-fold in CL value", post(b"Content-Length:\r\n 5\r\n", b"hello")),
        ("bare LF line end", get(b"X-A: 1\nX-B: 2\r\n")),
        ("bare LF after TE", post(b"Transfer-Encoding: chunked\n", b"5\r\nhello\r\n0\r\n\r\n")),
        (
            "bare LF after TE, CL, pipelined GET after",
            post(b"Transfer-Encoding: chunked\nContent-Length: 5\r\n", b"0\r\n\r\n" + NEXT),
            RACY,
        ),
        ("bare CR in value", get(b"X-A: a\rb\r\n")),
        ("control char in value", get(b"X-A: a\x01b\r\n")),
        ("control char in value, pipelined GET after", get(b"X-A: a\x01b\r\n") + NEXT, RACY),
        ("DEL in value", get(b"X-A: a\x7fb\r\n")),
        ("space before colon", get(b"X-A : 1\r\n")),
        ("huge header", get(b"X-Big: " + b"b" * 9000 + b"\r\n")),
        ("too many headers", get(b"".join(b"X-H%d: v\r\n" % i for i in range(120)))),
    ],
)

REQUEST_LINE = _family(
    "request line",
    [
        ("200-character method", get(line=b"A" * 200 + b" /m HTTP/1.1")),
        ("lowercase method", get(line=b"get /m HTTP/1.1")),
        ("target without slash", get(line=b"GET m HTTP/1.1")),
        ("* with GET", get(line=b"GET * HTTP/1.1")),
        ("HTTP/0.9 line", b"GET /m\r\n\r\n"),
        ("HTTP/2.0 version", get(line=b"GET /m HTTP/2.0")),
        ("HTTP/1.2 version", get(line=b"GET /m HTTP/1.2")),
        ("HTTP/0.9 version", get(line=b"GET /m HTTP/0.9")),
        ("high bytes in target", get(line=b"GET /m\xff\xfe HTTP/1.1")),
    ],
)

SWITCHING = _family(
    "protocol switching",
    [
        ("h2c bad HTTP2-Settings", h2c_upgrade(b"!!!notbase64")),
        ("h2c HTTP2-Settings bad padding", h2c_upgrade(b"AAMAAABkAA=")),
        (
            "h2c upgrade + stream 3 same write",
            h2c_upgrade(GOOD_SETTINGS) + h2_client_start(3, b"/stream3"),
        ),
        ("HTTP/2 preface on plain listener", h2_client_start(1, b"/prior")),
        ("WebSocket upgrade + first frame", ws_upgrade() + ws_frame(0x1, b"hello"), RACY),
        ("WebSocket upgrade + junk bytes", ws_upgrade() + b"\x00junk\xff\r\n", RACY),
    ],
)

PIPELINING = [
    # RFC 9112 2.2: a server SHOULD ignore at least one empty line before a request line.
    Probe("request + extra CRLF", "pipelining", get(path=b"/one") + b"\r\n", 3, valid=True),
    Probe("leading CRLF", "pipelining", b"\r\n" + get(path=b"/one"), valid=True),
    Probe("two pipelined", "pipelining", get(path=b"/one") + get(path=b"/two"), valid=True),
    Probe(
        "three pipelined",
        "pipelining",
        get(path=b"/one") + get(path=b"/two") + get(path=b"/three"),
        valid=True,
    ),
    Probe(
        "refused HTTP/1.0 chunked POST + CRLF",
        "pipelining",
        post(CHUNKED, b"0\r\n\r\n\r\n", version=b"1.0"),
        RACY,
    ),
]

#: Issue 15 item 6: lenient framing that let the app run a GET /SMUGGLED
#: hidden in a first request's body, where gunicorn refuses the first request.
SMUGGLING = _family(
    "smuggling",
    [
        (
            # A front-end that takes the folded line for a header of its own reads
            # the body as chunked (one chunk: the hidden request); h11 unfolds it
            # into X-A's value and reads Content-Length: 4.
            "obs-folded TE line before CL",
            post(
                b"X-A: a\r\n Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
                b"%x\r\n" % len(SMUGGLED) + SMUGGLED + b"\r\n0\r\n\r\n",
            ),
        ),
        (
            "obs-folded TE value with CL",
            post(
                b"Transfer-Encoding:\r\n chunked\r\nContent-Length: %d\r\n" % (5 + len(SMUGGLED)),
                b"0\r\n\r\n" + SMUGGLED,
            ),
            RACY,
        ),
        ("obs-folded CL value", post(b"Content-Length:\r\n 0\r\n", SMUGGLED)),
        ("bare-LF line end before CL", post(b"X-A: a\nContent-Length: 0\r\n", SMUGGLED)),
        ("bare-LF line end before TE", post(b"X-A: a\n" + CHUNKED, b"0\r\n\r\n" + SMUGGLED)),
        ("chunk size trailing space", post(CHUNKED, b"0 \r\n\r\n" + SMUGGLED)),
        (
            "chunk size hex overflow",
            post(CHUNKED, b"10000000000000000\r\n\r\n0\r\n\r\n" + SMUGGLED),
        ),
    ],
)

PROBES: list[Probe] = [
    *FRAMING,
    *CHUNKS,
    *HEADERS,
    *REQUEST_LINE,
    *SWITCHING,
    *PIPELINING,
    *SMUGGLING,
]


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class Reply:
    """One response the client received: its status, ``x-ran``, and the protocol."""

    status: int
    ran: str | None = None
    h2: bool = False

    def __str__(self) -> str:
        text = str(self.status) + (" h2" if self.h2 else "")
        return f"{text} [{_short(self.ran)}]" if self.ran else text


def _short(text: str, size: int = 60) -> str:
    return text if len(text) <= size else text[: size - 3] + "..."


def _head(data: bytes) -> tuple[int, dict[bytes, bytes], bytes] | None:
    """The status, headers (lower-case names) and the rest, of a response head."""
    end = data.find(b"\r\n\r\n")
    if not data.startswith(b"HTTP/") or end < 0:
        return None
    line, *lines = data[:end].split(b"\r\n")
    try:
        status = int(line.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None
    headers: dict[bytes, bytes] = {}
    for raw in lines:
        name, _, value = raw.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, data[end + 4 :]


def _skip_chunked(data: bytes) -> bytes:
    while True:
        size_end = data.find(b"\r\n")
        if size_end < 0:
            return b""
        try:
            size = int(data[:size_end].split(b";")[0], 16)
        except ValueError:
            return b""
        data = data[size_end + 2 + size + 2 :]
        if size == 0:
            return data


def parse_replies(data: bytes) -> list[Reply]:
    """The responses in what a server sent: HTTP/1.x, then HTTP/2 after an h2c switch."""
    if not data.startswith(b"HTTP/") and len(data) >= 9 and data[3] == 0x4:
        return h2_replies(data)  # a SETTINGS frame first: HTTP/2 with prior knowledge
    replies: list[Reply] = []
    while data:
        head = _head(data)
        if head is None:
            break
        status, headers, data = head
        ran = headers.get(b"x-ran")
        replies.append(Reply(status, ran.decode("latin-1") if ran else None))
        if status == 101:
            if headers.get(b"upgrade", b"").lower() == b"h2c":
                replies += h2_replies(data)
            break
        if 100 <= status < 200:
            continue
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            data = _skip_chunked(data)
        elif b"content-length" in headers and headers[b"content-length"].isdigit():
            data = data[int(headers[b"content-length"]) :]
        else:
            break  # the body runs to the close
    return replies


def h2_replies(data: bytes) -> list[Reply]:
    """The responses (HEADERS with ``:status``) in a stream of server HTTP/2 frames."""
    decoder = Decoder()
    replies: list[Reply] = []
    block = b""
    while len(data) >= 9:
        length = int.from_bytes(data[:3], "big")
        kind, flags = data[3], data[4]
        payload, data = data[9 : 9 + length], data[9 + length :]
        if kind == 0x1:  # HEADERS
            if flags & 0x8:  # PADDED
                payload = payload[1 : len(payload) - payload[0]]
            if flags & 0x20:  # PRIORITY
                payload = payload[5:]
            block = payload
        elif kind == 0x9:  # CONTINUATION
            block += payload
        else:
            continue
        if not flags & 0x4:  # END_HEADERS not yet
            continue
        try:
            headers = dict(decoder.decode(block, raw=True))
        except Exception:  # undecodable: what came before still counts
            break
        if b":status" in headers:
            ran = headers.get(b"x-ran")
            status = int(headers[b":status"])
            replies.append(Reply(status, ran.decode("latin-1") if ran else None, h2=True))
    return replies


# --------------------------------------------------------------------------- one probe


@dataclass(frozen=True)
class Ran:
    """A request the app ran, read back from its log."""

    method: str
    path: str
    ended: str

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    def __str__(self) -> str:
        text = _short(label(self.method, self.path))
        return text if self.ended != "disconnect" else f"{text} (http.disconnect)"


@dataclass
class Outcome:
    """What one server did with one probe."""

    replies: list[Reply] = field(default_factory=list)
    ran: list[Ran] = field(default_factory=list)
    #: "reset" or "timeout" when the read did not end with a clean close
    error: str | None = None
    #: the worker pid before, when the probe killed it
    died: int | None = None

    def ran_keys(self) -> Counter[tuple[str, str]]:
        """The requests the app ran, without those whose body ended in ``http.disconnect``.

        Such a request was started before its body turned out broken (both
        servers start the app once the head is parsed): the app saw an
        error, not a request.
        """
        return Counter(r.key for r in self.ran if r.ended != "disconnect")

    def __str__(self) -> str:
        replies = ", ".join(map(str, self.replies)) or "no status line"
        if self.error:
            replies += f" ({self.error})"
        ran = ", ".join(str(r) for r in self.ran) or "nothing"
        text = f"replies: {replies}; ran: {ran}"
        return text + (f"; WORKER {self.died} DIED" if self.died else "")


class Target:
    """A server under test: the app's log, the current worker pid, one probe at a time.

    ``half_close``: the client shuts its side down after writing the probe (as
    tests/reliability/hostile.py does, so a server waiting for more bytes sees
    end-of-file at once); otherwise it reads until the server falls quiet first.
    """

    def __init__(self, name: str, server: Server, log: Path, *, half_close: bool) -> None:
        self.name = name
        self.half_close = half_close
        self.server = server
        self.log = log
        self.offset = 0
        self.pid = self.ask_pid()

    def ask_pid(self, timeout: float = 30.0) -> int:
        """The pid of the worker that answers a fresh connection (waits for a respawn)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with contextlib.closing(connect(self.server, 10)) as sock:
                    sock.sendall(b"GET /pid HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n")
                    data, _ = read_until_close(sock)
                head = _head(data)
                if head is not None and b"x-pid" in head[1]:
                    return int(head[1][b"x-pid"])
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name} does not answer /pid; log:\n{self.server.log[-4000:]}"
                )
            time.sleep(0.05)

    def ran_by(self, port: int) -> list[Ran]:
        """The app's log lines since the last call that came from this client port."""
        with self.log.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        lines = [json.loads(line) for line in complete.splitlines() if line.strip()]
        return [Ran(r["method"], r["path"], r["ended"]) for r in lines if r["port"] == port]

    def send(self, raw: bytes) -> Outcome:
        """One probe on a fresh connection: write, then read until the server closes."""
        outcome = Outcome()
        with contextlib.closing(connect(self.server, READ_TIMEOUT)) as sock:
            port = sock.getsockname()[1]
            try:
                sock.sendall(raw)
            except OSError:
                outcome.error = "reset"
            if self.half_close:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
                data, error = read_until_close(sock)
            else:
                data, error = read_until_quiet(sock)
        outcome.error = outcome.error or error
        outcome.replies = parse_replies(data)
        pid = self.ask_pid()  # also lets the app finish logging this probe's requests
        if pid != self.pid or self.pid not in self.server.worker_pids():
            outcome.died = self.pid
            self.pid = pid
        outcome.ran = self.ran_by(port)
        return outcome


def read_until_close(sock: socket.socket, limit: int = 1 << 20) -> tuple[bytes, str | None]:
    """What the server sent before closing, and "reset"/"timeout" when it did not close cleanly."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return b"".join(chunks), "timeout"
        except OSError:
            return b"".join(chunks), "reset"
        if not data:
            break
        chunks.append(data)
        size += len(data)
    return b"".join(chunks), None


def read_until_quiet(sock: socket.socket) -> tuple[bytes, str | None]:
    """What the server sends until it closes or falls quiet; then half-close and read the rest.

    For gunicorn's asgi worker, which treats a client's half-close as the end
    of the connection: responses not yet written when the end-of-file
    arrives are never sent, and pipelined requests behind it never run. The
    reference must be what gunicorn does for a client that waits.
    """
    chunks: list[bytes] = []
    sock.settimeout(FIRST_BYTE)
    while True:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        except OSError:
            return b"".join(chunks), "reset"
        if not data:
            return b"".join(chunks), None
        chunks.append(data)
        sock.settimeout(QUIET)
    sock.settimeout(READ_TIMEOUT)
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
    rest, error = read_until_close(sock)
    return b"".join(chunks) + rest, error


# --------------------------------------------------------------------------- the contract


def violations(probe: Probe, ours: Outcome, theirs: Outcome) -> list[str]:
    """What TrioWorker (``ours``) did wrong on a probe, compared with gunicorn (``theirs``)."""
    wrong = []
    extra = ours.ran_keys() - theirs.ran_keys()
    if extra:
        runs = ", ".join(_short(label(*k)) for k in extra.elements())
        wrong.append(f"ran what gunicorn refused ({runs})")
    missing = theirs.ran_keys() - ours.ran_keys()
    if probe.valid and missing:
        wrong.append(f"refused what gunicorn served ({', '.join(label(*k) for k in missing)})")
    if ours.died:
        wrong.append("worker died")
    if theirs.replies and not ours.replies:
        wrong.append("lost reply")
    if theirs.replies and final(ours) > final(theirs):
        # A reply to no request (or in place of a 101): a keep-alive client
        # takes it for the next request's.
        wrong.append(f"{final(ours)} replies where gunicorn sent {final(theirs)}")
    answered = Counter(r.ran for r in ours.replies if r.status == 200 and r.ran)
    finished = Counter(label(*r.key) for r in ours.ran if r.ended == "end" and r.method != "WS")
    unanswered = finished - answered
    if unanswered:
        wrong.append(f"app ran, client got no 200 for: {', '.join(unanswered.elements())}")
    return wrong


def final(outcome: Outcome) -> int:
    """How many final (non-1xx) responses the client got."""
    return sum(1 for reply in outcome.replies if reply.status >= 200)


def row(name: str, ours: Outcome, theirs: Outcome, wrong: list[str]) -> str:
    """One readable table row for a failure message."""
    return f"| {name} | TrioWorker: {ours} | gunicorn asgi: {theirs} | {'; '.join(wrong)} |"


TABLE_HEAD = "| probe | TrioWorker | gunicorn asgi | wrong |\n|---|---|---|---|"

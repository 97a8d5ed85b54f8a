"""Hostile HTTP/1.1 inputs, and a client that sends one and reads what comes back.

Each case is raw bytes a client writes on a fresh connection; after writing,
the client half-closes its side (so a server waiting for a body that never
comes sees end-of-file instead of waiting for its timeout) and reads until the
server closes. The answer is the status code, or ``None`` when the server
closed without answering: both are acceptable to a hostile client, a 5xx, a
hang or a dead worker are not.
"""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass

from tests.reliability.load import connect, read_all, status_of
from tests.servers import Server

HOST = b"Host: localhost\r\n"


def _get(target: bytes = b"/", *headers: bytes, version: bytes = b"HTTP/1.1") -> bytes:
    return b"GET " + target + b" " + version + b"\r\n" + HOST + b"".join(headers) + b"\r\n"


def _post(body: bytes, *headers: bytes) -> bytes:
    return b"POST /echo HTTP/1.1\r\n" + HOST + b"".join(headers) + b"\r\n" + body


CHUNKED = b"Transfer-Encoding: chunked\r\n"

#: name -> raw request. Grouped by what they attack.
REQUEST_LINE: dict[str, bytes] = {
    "garbage line": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    "no version": b"GET /\r\n" + HOST + b"\r\n",
    "bad version": _get(version=b"HTTP/1.x"),
    "version 9.9": _get(version=b"HTTP/9.9"),
    "lowercase version": _get(version=b"http/1.1"),
    "extra spaces": b"GET  /  HTTP/1.1\r\n" + HOST + b"\r\n",
    "tab separated": b"GET\t/\tHTTP/1.1\r\n" + HOST + b"\r\n",
    "bad method chars": b"G(E)T / HTTP/1.1\r\n" + HOST + b"\r\n",
    "empty method": b" / HTTP/1.1\r\n" + HOST + b"\r\n",
    "nul in target": _get(b"/a\x00b"),
    "ctl in target": _get(b"/a\x01b"),
    "space in target": b"GET /a b HTTP/1.1\r\n" + HOST + b"\r\n",
    "uri too long": _get(b"/" + b"a" * 9000),
    "bare lf line": b"GET / HTTP/1.1\n" + HOST + b"\r\n",
    "bare cr line": b"GET / HTTP/1.1\r" + HOST + b"\r\n",
    "only crlf": b"\r\n\r\n\r\n",
    "absolute bad uri": _get(b"http://[::1/"),
    "high bytes": b"GET /\xff\xfe HTTP/1.1\r\n" + HOST + b"\r\n",
}

HEADERS: dict[str, bytes] = {
    "no colon": _get(b"/", b"NoColonHere\r\n"),
    "space before colon": _get(b"/", b"X-Bad : 1\r\n"),
    "bad name chars": _get(b"/", b"X(Bad): 1\r\n"),
    "empty name": _get(b"/", b": value\r\n"),
    "nul in value": _get(b"/", b"X-Bad: a\x00b\r\n"),
    "cr in value": _get(b"/", b"X-Bad: a\rb\r\n"),
    "obs fold": _get(b"/", b"X-Fold: a\r\n b\r\n"),
    "header too large": _get(b"/", b"X-Big: " + b"b" * 9000 + b"\r\n"),
    "too many headers": _get(b"/", *(b"X-H%d: v\r\n" % i for i in range(120))),
    "huge head": _get(b"/", *(b"X-H%d: %s\r\n" % (i, b"v" * 4000) for i in range(40))),
    "bare lf header": b"GET / HTTP/1.1\r\nHost: localhost\nX-A: 1\r\n\r\n",
    "cl not a number": _post(b"abc", b"Content-Length: abc\r\n"),
    "cl negative": _post(b"abc", b"Content-Length: -3\r\n"),
    "cl plus sign": _post(b"abc", b"Content-Length: +3\r\n"),
    "cl hex": _post(b"abc", b"Content-Length: 0x3\r\n"),
    "cl two values": _post(b"abc", b"Content-Length: 3, 4\r\n"),
    "cl twice differing": _post(b"abc", b"Content-Length: 3\r\n", b"Content-Length: 4\r\n"),
    "cl huge": _post(b"abc", b"Content-Length: 99999999999999999999999\r\n"),
    "cl longer than body": _post(b"abc", b"Content-Length: 100\r\n"),
    "two hosts": _get(b"/", b"Host: other\r\n"),
    "expect garbage": _post(b"abc", b"Content-Length: 3\r\n", b"Expect: 42-fail\r\n"),
    "invalid upgrade": _get(b"/", b"Connection: upgrade\r\n", b"Upgrade: \x01\r\n"),
}

CHUNKED_BODIES: dict[str, bytes] = {
    "chunk size not hex": _post(b"zz\r\nabc\r\n0\r\n\r\n", CHUNKED),
    "chunk size signed": _post(b"+3\r\nabc\r\n0\r\n\r\n", CHUNKED),
    "chunk size 0x": _post(b"0x3\r\nabc\r\n0\r\n\r\n", CHUNKED),
    "chunk size huge": _post(b"ffffffffffffffffffff\r\nabc\r\n0\r\n\r\n", CHUNKED),
    "chunk size space": _post(b"3 \r\nabc\r\n0\r\n\r\n", CHUNKED),
    "chunk no crlf after data": _post(b"3\r\nabcXX0\r\n\r\n", CHUNKED),
    "chunk data too long": _post(b"3\r\nabcdef\r\n0\r\n\r\n", CHUNKED),
    "chunk bare lf": _post(b"3\nabc\n0\n\n", CHUNKED),
    "chunk truncated data": _post(b"a\r\nabc", CHUNKED),
    "chunk truncated size": _post(b"3\r\nabc\r\n", CHUNKED),
    "chunk no last chunk": _post(b"3\r\nabc\r\n\r\n", CHUNKED),
    "chunk bad extension": _post(b"3;\x01\r\nabc\r\n0\r\n\r\n", CHUNKED),
    "chunk bad trailer": _post(b"3\r\nabc\r\n0\r\nBad Trailer\r\n\r\n", CHUNKED),
    "te chunked twice": _post(b"3\r\nabc\r\n0\r\n\r\n", b"Transfer-Encoding: chunked, chunked\r\n"),
    "te chunked not last": _post(b"3\r\nabc\r\n0\r\n\r\n", b"Transfer-Encoding: chunked, gzip\r\n"),
    "te unknown": _post(b"abc", b"Transfer-Encoding: snappy\r\n"),
    "te identity": _post(b"abc", b"Transfer-Encoding: identity\r\n"),
    "te in http/1.0": (b"POST /echo HTTP/1.0\r\n" + HOST + CHUNKED + b"\r\n3\r\nabc\r\n0\r\n\r\n"),
    "te with space before colon": _post(
        b"3\r\nabc\r\n0\r\n\r\n", b"Transfer-Encoding : chunked\r\n"
    ),
}

SMUGGLING: dict[str, bytes] = {
    "cl+te": _post(b"3\r\nabc\r\n0\r\n\r\n", b"Content-Length: 4\r\n", CHUNKED),
    "te+cl": _post(b"3\r\nabc\r\n0\r\n\r\n", CHUNKED, b"Content-Length: 4\r\n"),
    "cl+te smuggled request": _post(
        b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"Content-Length: 49\r\n",
        CHUNKED,
    ),
    "cl 0 + te": _post(b"3\r\nabc\r\n0\r\n\r\n", b"Content-Length: 0\r\n", CHUNKED),
}

#: Every case, by group.
GROUPS: dict[str, dict[str, bytes]] = {
    "request line": REQUEST_LINE,
    "headers": HEADERS,
    "chunked": CHUNKED_BODIES,
    "smuggling": SMUGGLING,
}
CASES: dict[str, bytes] = {name: raw for group in GROUPS.values() for name, raw in group.items()}


def send_raw(server: Server, raw: bytes, timeout: float = 10.0) -> int | None:
    """Send ``raw`` on a fresh connection, half-close, read; the status or None (closed)."""
    with contextlib.closing(connect(server, timeout)) as sock:
        try:
            sock.sendall(raw)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
            response = read_all(sock)
        except ConnectionError:  # reset: the server refused the rest
            return None
    return status_of(response)


@dataclass
class SlowLoris:
    """``count`` connections that each send a partial request head and then stall."""

    server: Server
    count: int

    def __post_init__(self) -> None:
        self.socks: list[socket.socket] = []

    def __enter__(self) -> SlowLoris:
        for i in range(self.count):
            try:
                sock = connect(self.server, timeout=5)
            except OSError:
                break  # the backlog is full: that is the server's right
            with contextlib.suppress(OSError):
                sock.sendall(b"GET /loris%d HTTP/1.1\r\nHost: localhost\r\nX-Slow: " % i)
            self.socks.append(sock)
        return self

    def trickle(self) -> None:
        """One more byte on each connection that is still open."""
        for sock in self.socks:
            with contextlib.suppress(OSError):
                sock.sendall(b"a")

    def __exit__(self, *exc: object) -> None:
        for sock in self.socks:
            sock.close()


def hold_slow_loris(server: Server, count: int, seconds: float) -> int:
    """Keep ``count`` stalled connections open for ``seconds``; how many were opened."""
    with SlowLoris(server, count) as loris:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            loris.trickle()
            time.sleep(0.2)
        return len(loris.socks)

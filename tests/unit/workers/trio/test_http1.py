"""TrioWorker's strict HTTP/1.1 framer: what it refuses, and where each request ends.

Every case is fed whole, in 1-byte pieces and in 7-byte pieces: the events
must not depend on how the bytes arrive. The integration side (the same
bytes to TrioWorker and to gunicorn's own worker) is tests/reliability.
"""

from __future__ import annotations

import pytest

from safeworkers.workers.trio.http1 import (
    CLOSED,
    END,
    NEED_DATA,
    Data,
    Head,
    Limits,
    Refusal,
    RequestFramer,
    Truncated,
)

HOST = b"Host: x\r\n"
CHUNKED = b"Transfer-Encoding: chunked\r\n"


def get(target: bytes = b"/", *headers: bytes, version: bytes = b"HTTP/1.1") -> bytes:
    return b"GET " + target + b" " + version + b"\r\n" + HOST + b"".join(headers) + b"\r\n"


def post(body: bytes, *headers: bytes) -> bytes:
    return b"POST /p HTTP/1.1\r\n" + HOST + b"".join(headers) + b"\r\n" + body


def events(data: bytes, *, step: int | None = None, limits: Limits | None = None) -> list[str]:
    """The framer's events for ``data`` followed by end of file, as short strings."""
    framer = RequestFramer(limits)
    pieces = [data] if step is None else [data[i : i + step] for i in range(0, len(data), step)]
    out: list[str] = []
    body = b""
    try:
        for piece in [*pieces, b""]:
            framer.feed(piece)
            while True:
                event = framer.next_event()
                if event is NEED_DATA:
                    break
                if event is CLOSED:
                    return [*out, "CLOSED"]
                if isinstance(event, Head):
                    out.append(f"{event.method.decode()} {event.target.decode()}")
                elif isinstance(event, Data):
                    body += event.data
                else:
                    assert event is END
                    out.append(f"END {body.decode()}".rstrip())
                    body = b""
    except Refusal as refusal:
        out.append(f"REFUSED {refusal.status}")
    except Truncated:
        out.append("TRUNCATED")
    return out


def check(data: bytes, expected: list[str], limits: Limits | None = None) -> None:
    for step in (None, 1, 7):
        assert events(data, step=step, limits=limits) == expected, f"fed in pieces of {step}"


SMUGGLED = b"GET /SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n"
FOLDED_TE = b"Transfer-Encoding:\r\n chunked\r\n"

REFUSED = {
    # framing (request smuggling)
    "cl+te": (post(b"0\r\n\r\n", b"Content-Length: 5\r\n", CHUNKED), 400),
    "te+cl": (post(b"0\r\n\r\n", CHUNKED, b"Content-Length: 5\r\n"), 400),
    "te obs-fold before cl": (  # the smuggled request hides in the body
        post(b"0\r\n\r\n" + SMUGGLED, FOLDED_TE, b"Content-Length: 40\r\n"),
        400,
    ),
    "cl obs-fold": (post(b"abc", b"Content-Length:\r\n 3\r\n"), 400),
    "te on http/1.0": (b"POST /p HTTP/1.0\r\n" + CHUNKED + b"\r\n0\r\n\r\n", 400),
    "chunked, gzip": (post(b"0\r\n\r\n", b"Transfer-Encoding: chunked, gzip\r\n"), 400),
    "chunked twice": (post(b"0\r\n\r\n", CHUNKED, CHUNKED), 400),
    "identity": (post(b"", b"Transfer-Encoding: identity\r\n"), 400),
    "gzip, chunked": (post(b"0\r\n\r\n", b"Transfer-Encoding: gzip, chunked\r\n"), 501),
    "cl twice": (post(b"abc", b"Content-Length: 3\r\n", b"Content-Length: 3\r\n"), 400),
    "cl sign": (post(b"abc", b"Content-Length: +3\r\n"), 400),
    "cl list": (post(b"abc", b"Content-Length: 3, 3\r\n"), 400),
    # line ends and header syntax
    "bare lf line end": (b"GET / HTTP/1.1\nHost: x\r\n\r\n", 400),
    "bare lf header end": (b"GET / HTTP/1.1\r\nHost: x\nX: 1\r\n\r\n", 400),
    "bare cr": (b"GET / HTTP/1.1\rHost: x\r\n\r\n", 400),
    "control char in value": (get(b"/", b"X: a\x01b\r\n"), 400),
    "del in value": (get(b"/", b"X: a\x7fb\r\n"), 400),
    "space before colon": (get(b"/", b"X : 1\r\n"), 400),
    "no host": (b"GET / HTTP/1.1\r\n\r\n", 400),
    "two hosts": (get(b"/", b"Host: y\r\n"), 400),
    "two content-types": (get(b"/", b"Content-Type: a\r\n", b"Content-Type: b\r\n"), 400),
    "expect other": (get(b"/", b"Expect: 42-fail\r\n"), 417),
    # request line
    "200-character method": (b"A" * 200 + b" / HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    "lowercase method": (b"get / HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    "target without slash": (get(b"foo"), 400),
    "asterisk with GET": (get(b"*"), 400),
    "http/0.9": (b"GET /\r\n\r\n", 400),
    "http/2.0": (get(version=b"HTTP/2.0"), 400),
    "http/1.2": (get(version=b"HTTP/1.2"), 400),
    "two spaces": (b"GET  / HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    "high byte in target": (get(b"/\xff"), 400),
    "absolute target, bad authority": (get(b"http://[::1/"), 400),
    "absolute target, bad port": (get(b"http://x:99999/"), 400),
    "absolute target, other scheme": (get(b"ftp://x/"), 400),
    "connect": (b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", 501),
    "h2 preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
    # empty lines before a request line: one CRLF only
    "two leading crlf": (b"\r\n\r\n" + get(), 400),
    "leading bare lf": (b"\n" + get(), 400),
    # chunked bodies
    "chunk size with space": (post(b"3 \r\nabc\r\n0\r\n\r\n", CHUNKED), 400),
    "chunk size hex prefix": (post(b"0x3\r\nabc\r\n0\r\n\r\n", CHUNKED), 400),
    "chunk size overflow": (post(b"1" + b"0" * 16 + b"\r\nabc\r\n0\r\n\r\n", CHUNKED), 400),
    "chunk extension bare cr": (post(b"3;a\rb\r\nabc\r\n0\r\n\r\n", CHUNKED), 400),
    "chunk extension nul": (post(b"3;a\x00\r\nabc\r\n0\r\n\r\n", CHUNKED), 400),
    "chunk without crlf": (post(b"3\r\nabcX\r\n0\r\n\r\n", CHUNKED), 400),
    "chunk bare lf": (post(b"3\nabc\r\n0\r\n\r\n", CHUNKED), 400),
    "trailer content-length": (post(b"0\r\nContent-Length: 5\r\n\r\n", CHUNKED), 400),
    "trailer transfer-encoding": (post(b"0\r\nTransfer-Encoding: x\r\n\r\n", CHUNKED), 400),
    "trailer host": (post(b"0\r\nHost: y\r\n\r\n", CHUNKED), 400),
    "trailer obs-fold": (post(b"0\r\nX: a\r\n b\r\n\r\n", CHUNKED), 400),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_refused(name: str) -> None:
    data, status = REFUSED[name]
    result = events(data)
    assert result[-1] == f"REFUSED {status}", result
    assert "GET /SMUGGLED" not in result
    for step in (1, 7):
        assert events(data, step=step)[-1] == f"REFUSED {status}", step


def test_limits() -> None:
    limits = Limits(line=20, fields=2, field_size=30)
    check(get(b"/" + b"a" * 30), ["REFUSED 414"], limits)
    check(get(b"/", b"A: 1\r\n", b"B: 2\r\n"), ["REFUSED 431"], limits)
    check(get(b"/", b"A: " + b"a" * 30 + b"\r\n"), ["REFUSED 431"], limits)
    # A head that never ends is refused once it passes the largest allowed head.
    endless = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 40
    assert events(endless, limits=limits)[-1] == "REFUSED 431"
    assert events(b"GET /" + b"a" * 100, limits=limits)[-1] == "REFUSED 414"


def test_limits_hold_before_the_head_ends() -> None:
    """An unfinished head is refused as soon as it breaks a limit, not once it reaches the
    largest head allowed (a client could make every connection hold that much)."""
    limits = Limits(line=50, fields=3, field_size=40)
    start = b"GET / HTTP/1.1\r\nHost: x\r\n"
    growing = start + b"X: " + b"a" * 60  # one field line longer than field_size, unfinished
    for step in (None, 1, 7):
        assert events(growing, step=step, limits=limits)[-1] == "REFUSED 431", step
    many = start + b"A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n"  # a fourth field, head unfinished
    assert events(many, limits=limits)[-1] == "REFUSED 431"
    long_line = b"GET /" + b"a" * 60 + b" HTTP/1.1\r\nHost: x\r\n"  # line ended, head not
    assert events(long_line, limits=limits)[-1] == "REFUSED 414"


def test_requests_and_their_ends() -> None:
    check(get(), ["GET /", "END", "CLOSED"])
    check(b"\r\n" + get(), ["GET /", "END", "CLOSED"])  # one CRLF before is ignored
    check(get(b"/1") + b"\r\n" + get(b"/2"), ["GET /1", "END", "GET /2", "END", "CLOSED"])
    check(
        post(b"abc", b"Content-Length: 3\r\n") + get(b"/2"),
        ["POST /p", "END abc", "GET /2", "END", "CLOSED"],
    )
    check(
        post(b'3;a=b;c="d e"\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n', CHUNKED) + get(b"/2"),
        ["POST /p", "END abcde", "GET /2", "END", "CLOSED"],
    )
    check(get(b"*").replace(b"GET", b"OPTIONS"), ["OPTIONS *", "END", "CLOSED"])
    check(get(b"http://x/a?b"), ["GET http://x/a?b", "END", "CLOSED"])


def test_connection_close_ends_the_connection() -> None:
    # What follows a request that closes the connection is never a request.
    check(get(b"/1", b"Connection: close\r\n") + get(b"/2"), ["GET /1", "END", "CLOSED"])
    check(b"GET /1 HTTP/1.0\r\n\r\n" + get(b"/2"), ["GET /1", "END", "CLOSED"])
    # HTTP/1.0 closes after one request even with keep-alive, as in h11 (hypercorn).
    keep = b"GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + get(b"/2")
    check(keep, ["GET /1", "END", "CLOSED"])


def test_truncated_body() -> None:
    check(post(b"abc", b"Content-Length: 100\r\n"), ["POST /p", "TRUNCATED"])
    check(post(b"5\r\nab", CHUNKED), ["POST /p", "TRUNCATED"])
    # A head cut short is no request: nothing to answer.
    check(b"GET / HTTP/1.1\r\nHo", ["CLOSED"])


def test_head_facts() -> None:
    framer = RequestFramer()
    framer.feed(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\n"
        b"Upgrade: WebSocket\r\nExpect: 100-continue\r\nX-Pad:  v \t\r\n\r\n\x81\x80"
    )
    head = framer.next_event()
    assert isinstance(head, Head)
    assert head.upgrade == b"websocket"
    assert head.expect_continue
    assert head.header(b"x-pad") == b"v"
    assert not head.has_body
    assert framer.take_rest() == b"\x81\x80"
    assert framer.next_event() is CLOSED


def test_refusal_response_has_a_status_line() -> None:
    response = Refusal(426, "version", ((b"sec-websocket-version", b"13"),)).response()
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
    assert b"connection: close" in head
    assert b"sec-websocket-version: 13" in head
    assert head.count(b"content-length: " + str(len(body)).encode()) == 1

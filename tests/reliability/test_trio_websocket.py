"""WebSocket handshake and frame errors answered as RFC 6455 says (issue 15, item 4).

A bad handshake gets a status and a closed connection (400 without
``Sec-WebSocket-Key``; 426 with ``Sec-WebSocket-Version: 13`` for another
version); after a handshake, a frame that breaks the protocol gets a close
frame with the right code (1007 for invalid UTF-8 in a text frame; 1002 for
an unmasked client frame, an oversized control frame, a reserved opcode, RSV
bits without an extension; 1009 for a frame larger than the worker takes,
at once, from its header), never a bare TCP close nor a connection left
waiting. Every test runs against TrioWorker and gunicorn's ``-k asgi``,
both serving tests/apps/recording_app.py's WebSocket echo.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Iterator

import pytest

from tests import servers
from tests.reliability.differential import (
    needs_asgi_worker,
    needs_hypercorn,
    ws_frame,
    ws_upgrade,
)
from tests.reliability.load import connect

pytestmark = [
    needs_hypercorn,
    needs_asgi_worker,
    pytest.mark.timeout(180),
]

WORKERS = {"TrioWorker": "safeworkers.TrioWorker", "gunicorn asgi": "asgi"}
#: How long a server may take to answer a bad frame or handshake.
PROMPT = 3.0


@pytest.fixture(scope="module", params=list(WORKERS))
def server(request: pytest.FixtureRequest) -> Iterator[servers.Server]:
    with servers.gunicorn("recording_app:app", "-k", WORKERS[request.param], "-w", "1") as running:
        yield running


def _read_frame(sock: socket.socket, buf: bytearray) -> tuple[int, bytes] | None:
    """One server frame (opcode, payload) from ``buf`` and the socket; None at end-of-file."""

    def need(n: int) -> bool:
        while len(buf) < n:
            data = sock.recv(65536)
            if not data:
                return False
            buf.extend(data)
        return True

    if not need(2):
        return None
    opcode, length = buf[0] & 0x0F, buf[1] & 0x7F
    start = 2
    if length == 126:
        if not need(4):
            return None
        (length,) = struct.unpack("!H", buf[2:4])
        start = 4
    elif length == 127:
        if not need(10):
            return None
        (length,) = struct.unpack("!Q", buf[2:10])
        start = 10
    if not need(start + length):
        return None
    payload = bytes(buf[start : start + length])
    del buf[: start + length]
    return opcode, payload


def close_code(sock: socket.socket, buf: bytearray) -> int | str:
    """The code of the server's close frame, or what came instead of one."""
    sock.settimeout(PROMPT)
    try:
        while True:
            frame = _read_frame(sock, buf)
            if frame is None:
                return "a TCP close without a close frame"
            opcode, payload = frame
            if opcode == 0x8:
                return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
    except TimeoutError:
        return f"nothing within {PROMPT:g} s (the connection is left waiting)"
    except OSError as exc:
        return f"a reset ({exc!r})"


@contextlib.contextmanager
def websocket(server: servers.Server) -> Iterator[tuple[socket.socket, bytearray]]:
    """A connection after a successful handshake, and the bytes read past the 101."""
    with contextlib.closing(connect(server, PROMPT)) as sock:
        sock.sendall(ws_upgrade())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"closed during the handshake: {data!r}"
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        yield sock, bytearray(rest)


def closed_after(sock: socket.socket) -> bool:
    """Whether the server closes the connection (within PROMPT) after what it sent."""
    sock.settimeout(PROMPT)
    deadline = time.monotonic() + PROMPT
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except TimeoutError:
        return False
    except OSError:
        return True
    return False


def _handshake(server: servers.Server, raw: bytes) -> tuple[bytes, bool]:
    """Send a handshake; the response head and whether the connection was then closed."""
    with contextlib.closing(connect(server, PROMPT)) as sock:
        sock.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return data, True
            data += chunk
        return data.partition(b"\r\n\r\n")[0], closed_after(sock)


def test_the_echo_works(server: servers.Server) -> None:
    with websocket(server) as (sock, buf):
        sock.sendall(ws_frame(0x1, b"hello"))
        assert _read_frame(sock, buf) == (0x1, b"hello")


def test_a_handshake_without_a_key_is_refused_with_400_and_closed(server: servers.Server) -> None:
    head, closed = _handshake(server, ws_upgrade(key=None))
    assert head.split(b" ", 2)[1:2] == [b"400"], head
    assert closed, "the connection was left open after the 400"


def test_a_wrong_version_is_refused_with_426_naming_13_and_closed(server: servers.Server) -> None:
    head, closed = _handshake(server, ws_upgrade(version=b"8"))
    assert head.split(b" ", 2)[1:2] == [b"426"], head
    assert b"\r\nsec-websocket-version: 13" in head.lower(), head
    assert closed, "the connection was left open after the 426"


BAD_FRAMES = {
    "invalid UTF-8 in a text frame": (ws_frame(0x1, b"ok \xff\xfe"), 1007),
    "an unmasked client frame": (ws_frame(0x1, b"hello", masked=False), 1002),
    "a ping of 126 bytes": (ws_frame(0x9, b"p" * 126), 1002),
    "reserved opcode 0x3": (ws_frame(0x3, b"hello"), 1002),
    "RSV1 without an extension": (ws_frame(0x1, b"hello", rsv=0b100), 1002),
    "a header declaring 2**62 bytes": (ws_frame(0x2, b"", declared=1 << 62), 1009),
}


@pytest.mark.parametrize("frame", list(BAD_FRAMES))
def test_a_bad_frame_gets_its_close_code(server: servers.Server, frame: str) -> None:
    raw, expected = BAD_FRAMES[frame]
    with websocket(server) as (sock, buf):
        sock.sendall(raw)
        assert close_code(sock, buf) == expected

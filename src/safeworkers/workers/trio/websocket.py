"""WebSocket rules hypercorn leaves out: the handshake's refusals and oversized frames.

RFC 6455 section 4.2.1 lists what an opening handshake must carry; a server
that cannot accept one answers with an HTTP error and does not go on reading
the connection as HTTP. hypercorn answers 400 and leaves the connection
open, and answers a wrong version with 400 where section 4.4 asks for 426
with the versions the server speaks. :func:`check_handshake` refuses such
handshakes before hypercorn sees them, through the one refusal path
(:class:`~safeworkers.workers.trio.http1.Refusal`: a status line, then close).

A frame carries its length in its header, so a frame longer than the largest
message the server accepts can be refused as soon as its header arrives
(close code 1009, section 7.4.1), as gunicorn does; hypercorn counts what it
has received instead, and a header announcing 2**62 bytes leaves it waiting
for them. :class:`FrameSizeGuard` reads the frame headers of the client's
byte stream for that.
"""

from __future__ import annotations

import base64
import binascii

from safeworkers.workers.trio.http1 import Head, Refusal

#: The only WebSocket version (RFC 6455 section 4.1).
VERSION = b"13"
#: Close codes (RFC 6455 section 7.4.1).
PROTOCOL_ERROR = 1002
MESSAGE_TOO_BIG = 1009


def check_handshake(head: Head) -> None:
    """Raise :class:`Refusal` unless ``head`` is an opening handshake a server may accept."""
    if head.version != "1.1":
        raise Refusal(400, "WebSocket handshake needs HTTP/1.1")
    if head.has_body:
        raise Refusal(400, "WebSocket handshake with a body")
    keys = [value for name, value in head.headers if name == b"sec-websocket-key"]
    if len(keys) != 1 or not _valid_key(keys[0]):
        raise Refusal(400, "WebSocket handshake without a valid Sec-WebSocket-Key")
    versions = [value for name, value in head.headers if name == b"sec-websocket-version"]
    if versions != [VERSION]:
        raise Refusal(
            426,
            "WebSocket version not supported: this server speaks version 13",
            ((b"sec-websocket-version", VERSION), (b"upgrade", b"websocket")),
        )


def _valid_key(key: bytes) -> bool:
    """Section 4.1: the key is 16 random bytes in base64."""
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        return False


class FrameSizeGuard:
    """Reads the frame headers of a client's WebSocket byte stream, skipping payloads.

    :meth:`feed` returns :data:`MESSAGE_TOO_BIG` as soon as a frame announces
    more payload than ``limit`` bytes, and None otherwise. Everything else
    about frames (masking, opcodes, control frame sizes, UTF-8) is wsproto's
    to check.
    """

    __slots__ = ("_header", "_limit", "_skip")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        #: Payload bytes of the current frame still to skip.
        self._skip = 0
        #: The part of a frame header received so far.
        self._header = b""

    def feed(self, data: bytes) -> int | None:
        view = memoryview(data)
        while view:
            if self._skip:
                taken = min(self._skip, len(view))
                self._skip -= taken
                view = view[taken:]
                continue
            header = self._header + bytes(view[:14])
            needed = _header_size(header)
            if needed is None or len(header) < needed:
                self._header = header
                return None
            view = view[needed - len(self._header) :]
            self._header = b""
            length = _payload_length(header)
            if length > self._limit:
                return MESSAGE_TOO_BIG
            self._skip = length
        return None


def _header_size(header: bytes) -> int | None:
    """The size of the frame header that starts ``header``, or None before it is known."""
    if len(header) < 2:
        return None
    short = header[1] & 0x7F
    extended = 2 if short == 126 else 8 if short == 127 else 0
    mask = 4 if header[1] & 0x80 else 0
    return 2 + extended + mask


def _payload_length(header: bytes) -> int:
    short = header[1] & 0x7F
    if short == 126:
        return int.from_bytes(header[2:4], "big")
    if short == 127:
        return int.from_bytes(header[2:10], "big")
    return short

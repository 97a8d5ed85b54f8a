"""An ASGI app that records every request it runs, for the differential tests.

The differential suite (tests/reliability/test_differential.py) sends the same
raw bytes to two servers running this app and compares what each server made
the app *run*, not only what the client saw: a request smuggled past one
server's parser shows up here even when its response is lost.

For every HTTP request and WebSocket session the app appends one JSON line to
the file named by ``SWTEST_RAN_LOG``: the worker's pid, the client's port (the
test knows which connection it sent the bytes on), the method (``WS`` for a
WebSocket), the path, the body bytes read, and how the body ended (``end``, or
``disconnect`` when the server delivered ``http.disconnect`` first). Then it
answers ``200`` with ``x-ran: <method> <path>`` (quoted) and ``x-pid: <pid>``, so the
client can match each response to the request that produced it.

Routes: every path answers HTTP as above, after reading the whole body; a
WebSocket (on any path; the tests use ``/ws``) is accepted and echoes text
and bytes. The app runs on asyncio (gunicorn's ``-k asgi``) and on Trio
alike: it awaits only ``receive`` and ``send``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from asgi_parts import label, lifespan, websocket_echo

_LOG = "SWTEST_RAN_LOG"


def _record(scope: dict[str, Any], method: str, size: int, ended: str) -> None:
    """One line, written with a single ``write`` on an ``O_APPEND`` file (atomic)."""
    path = os.environ.get(_LOG)
    if not path:
        return
    client = scope.get("client") or ("", 0)
    line = {
        "pid": os.getpid(),
        "port": client[1],
        "method": method,
        "path": scope.get("path", ""),
        "bytes": size,
        "ended": ended,
    }
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())
    finally:
        os.close(fd)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    kind = scope["type"]
    if kind == "lifespan":
        await lifespan(receive, send)
        return
    if kind == "websocket":
        _record(scope, "WS", 0, "connect")
        await websocket_echo(receive, send)
        return
    size = 0
    ended = "end"
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            ended = "disconnect"
            break
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    method = scope["method"]
    _record(scope, method, size, ended)
    if ended == "disconnect":
        return  # nobody to answer
    body = b"ran %s: %d bytes\n" % (label(method, scope["path"]).encode(), size)
    headers = [
        (b"content-type", b"text/plain"),
        (b"content-length", b"%d" % len(body)),
        (b"x-ran", label(method, scope["path"]).encode()),
        (b"x-pid", b"%d" % os.getpid()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})

"""A raw ASGI app that calls Trio directly: it only works on a Trio event loop.

Routes: ``/__ready__``; ``/`` (JSON: pid, the current Trio task, the client
address, scheme, root_path); ``/hello`` (a small plain-text answer, for
benchmarks); ``/slow?s=1`` (``trio.sleep``); ``/stream`` (chunked, five
chunks); ``/block?s=5`` (``time.sleep``: blocks the whole loop, to trigger
gunicorn's worker timeout); ``POST`` anywhere (answers the body size); ``/ws``
(WebSocket echo). The lifespan prints to stdout, so tests can see startup and shutdown ran.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any
from urllib.parse import parse_qs

import trio
from asgi_parts import websocket_echo

STATE: dict[str, Any] = {"started": False}


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await trio.sleep(0)
            STATE["started"] = True
            print(f"trio_raw: lifespan startup complete (pid {os.getpid()})", flush=True)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            print(f"trio_raw: lifespan shutdown complete (pid {os.getpid()})", flush=True)
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _respond(send: Any, body: bytes, content_type: bytes = b"text/plain") -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", content_type), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    kind = scope["type"]
    if kind == "lifespan":
        await _lifespan(receive, send)
        return
    if kind == "websocket":
        await websocket_echo(receive, send)
        return
    path = scope["path"]
    if scope["method"] == "POST":
        size = 0
        more = True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        await _respond(send, json.dumps({"size": size}).encode(), b"application/json")
    elif path == "/__ready__":
        await _respond(send, b"ready")
    elif path == "/hello":
        await _respond(send, b"hello from trio")
    elif path == "/slow":
        query = parse_qs(scope["query_string"].decode())
        seconds = float(query.get("s", ["1"])[0])
        await trio.sleep(seconds)
        await _respond(send, f"slept {seconds}".encode())
    elif path == "/block":
        query = parse_qs(scope["query_string"].decode())
        time.sleep(float(query.get("s", ["5"])[0]))  # deliberately blocks the event loop
        await _respond(send, b"unblocked")
    elif path == "/stream":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        for i in range(5):
            await trio.sleep(0.01)
            await send({"type": "http.response.body", "body": b"chunk %d\n" % i, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    else:
        task = trio.lowlevel.current_task()
        info = {
            "pid": os.getpid(),
            "trio_task": task.name,
            "trio": trio.__version__,
            "lifespan_started": STATE["started"],
            "client": scope.get("client"),
            "scheme": scope["scheme"],
            "root_path": scope.get("root_path", ""),
            "path": path,
            "http_version": scope["http_version"],
        }
        await _respond(send, json.dumps(info).encode(), b"application/json")


async def no_lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The same app for a server that must cope with ``return`` on the lifespan scope."""
    if scope["type"] == "lifespan":
        return
    await app(scope, receive, send)

"""A plain ASGI demo app (no framework): says which server and event loop serve it.

    hypercorn --config python:safeworkers.hypercorn_config demo_asgi:app
    gunicorn -k safeworkers.TrioWorker demo_asgi:app

``GET /`` answers JSON; ``HEAD`` the same headers and no body. The event loop
is found with sniffio (installed with anyio, trio and httpx), else "unknown".
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


def _event_loop() -> str:
    try:
        import sniffio

        return sniffio.current_async_library()
    except Exception:  # sniffio missing, or it cannot tell
        return "unknown"


async def app(
    scope: Scope,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    body = json.dumps(
        {
            "hello": "from safeworkers",
            "event_loop": _event_loop(),
            "asgi": scope.get("asgi", {}).get("version", ""),
            "scheme": scope.get("scheme", ""),
            "path": scope.get("path", "/"),
            "pid": os.getpid(),
            "python": sys.version.split()[0],
        },
        indent=2,
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})

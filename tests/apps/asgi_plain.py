"""A minimal raw ASGI app (no framework, no trio): for AutoWorker's ASGI path."""

from __future__ import annotations

from typing import Any


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = f"asgi {scope['path']}".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def no_lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The same app, returning on the lifespan scope: "no lifespan here", as the spec allows."""
    if scope["type"] == "lifespan":
        return
    await app(scope, receive, send)

"""An ASGI app that only works under Trio: it calls trio directly."""

from __future__ import annotations

from typing import Any

import trio


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[-1]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    await trio.sleep(0)  # fails outside a Trio loop
    body = f"trio task {trio.lowlevel.current_task().name}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})

"""A raw ASGI app that uses Trio only through from-imports: `trio` is never a name here."""

from __future__ import annotations

from typing import Any

from trio import sleep
from trio.lowlevel import current_task


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            kind = (await receive())["type"].rsplit(".", 1)[-1]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    await sleep(0)  # fails outside a Trio loop
    body = f"trio task {current_task().name}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})

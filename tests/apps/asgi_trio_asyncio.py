"""An ASGI app on Trio that calls asyncio code through trio-asyncio (asyncio hosted on Trio)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import trio
import trio_asyncio
from asgi_parts import lifespan

Message = MutableMapping[str, Any]


async def _asyncio_part() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__name__


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    await trio.sleep(0)
    async with trio_asyncio.open_loop():
        loop = await trio_asyncio.aio_as_trio(_asyncio_part)()
    body = f"asyncio on trio: {loop}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})

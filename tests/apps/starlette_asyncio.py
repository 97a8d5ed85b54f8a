"""A Starlette app that touches asyncio directly, as apps using asyncpg or redis.asyncio do.

On a Trio loop `asyncio.get_running_loop()` raises "no running event loop": 500.
"""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def ready(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ready")


async def index(request: Request) -> PlainTextResponse:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(0)
    return PlainTextResponse(f"asyncio loop {type(loop).__module__}")


app = Starlette(routes=[Route("/__ready__", ready), Route("/", index)])

"""The one module that runs Trio code: its route answers 500 outside a Trio loop."""

from __future__ import annotations

import trio
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def live(request: Request) -> PlainTextResponse:
    await trio.sleep(0)
    return PlainTextResponse(f"trio task {trio.lowlevel.current_task().name}")


routes = [Route("/", live)]

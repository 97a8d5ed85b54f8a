"""Apps whose lifespan startup fails with RuntimeError("database unreachable").

``app`` is raw ASGI: it receives ``lifespan.startup`` and raises. ``starlette_app``
raises in a Starlette lifespan, which Starlette reports as
``lifespan.startup.failed``. Either way the server must not serve.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def connect_database() -> None:
    raise RuntimeError("database unreachable")


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        message = await receive()
        if message["type"] == "lifespan.startup":
            await connect_database()
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ready"})


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    await connect_database()
    yield


starlette_app = Starlette(
    routes=[Route("/__ready__", lambda request: PlainTextResponse("ready"))], lifespan=lifespan
)

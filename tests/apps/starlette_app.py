"""A Starlette app (anyio on whatever loop serves it): JSON, streaming, body, WebSocket."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import anyio
import sniffio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


async def ready(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ready")


async def index(request: Request) -> JSONResponse:
    return JSONResponse({"pid": os.getpid(), "library": sniffio.current_async_library()})


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"size": len(body)})


async def stream(request: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(5):
            await anyio.sleep(0.01)
            yield b"chunk %d\n" % i

    return StreamingResponse(chunks(), media_type="text/plain")


async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass


app = Starlette(
    routes=[
        Route("/__ready__", ready),
        Route("/", index),
        Route("/echo", echo, methods=["POST"]),
        Route("/stream", stream),
        WebSocketRoute("/ws", ws),
    ]
)

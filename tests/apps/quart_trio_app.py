"""A QuartTrio app: Quart's API on Trio (it needs a Trio server)."""

from __future__ import annotations

import os

import trio
from quart import request, websocket
from quart_trio import QuartTrio

app = QuartTrio(__name__)


@app.route("/__ready__")
async def ready() -> str:
    return "ready"


@app.route("/")
async def index() -> dict[str, object]:
    await trio.sleep(0)
    return {"pid": os.getpid(), "trio_task": trio.lowlevel.current_task().name}


@app.route("/echo", methods=["POST"])
async def echo() -> dict[str, int]:
    return {"size": len(await request.get_data())}


@app.websocket("/ws")
async def ws() -> None:
    while True:
        await websocket.send(await websocket.receive())

"""ASGI pieces the test apps share; they await only ``receive`` and ``send``, so they run
on asyncio and on Trio alike.

The apps import this module as ``asgi_parts`` (tests/apps is on their
``PYTHONPATH``); the tests as ``tests.apps.asgi_parts``: it imports nothing
from tests/apps.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote


def label(method: str, path: str) -> str:
    """How tests/apps/recording_app.py names a request it ran (its ``x-ran`` header):
    printable ASCII whatever bytes the path held."""
    return quote(f"{method} {path}", safe=" /*")


async def lifespan(receive: Any, send: Any) -> None:
    """Complete every lifespan event at once."""
    while True:
        message = await receive()
        kind = message["type"].removeprefix("lifespan.")
        await send({"type": f"lifespan.{kind}.complete"})
        if kind == "shutdown":
            return


async def websocket_echo(receive: Any, send: Any) -> None:
    """Accept a WebSocket and send back every text and bytes message until it closes."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})

"""A WSGI app whose handler runs asyncio and Trio code, each with its own loop.

WSGI handlers run in threads of their own: ``asyncio.run()`` and
``trio.run()`` there need no loop from the server, so any WSGI worker serves it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

import trio


async def _on_asyncio() -> str:
    await asyncio.sleep(0)
    return "asyncio"


async def _on_trio() -> str:
    await trio.sleep(0)
    return "trio"


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = f"{asyncio.run(_on_asyncio())} and {trio.run(_on_trio)}".encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]

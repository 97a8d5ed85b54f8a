"""The benchmark apps: the smallest WSGI and ASGI answers (so the server is what is measured)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

BODY = b"hello, world\n"
_WSGI_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]
_ASGI_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(BODY))],
}
_ASGI_BODY = {"type": "http.response.body", "body": BODY}


def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", _WSGI_HEADERS)
    return [BODY]


async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    await send(_ASGI_START)
    await send(_ASGI_BODY)

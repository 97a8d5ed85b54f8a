"""Apps that read the whole request body before answering (for hostile-input tests).

``wsgi``: reads ``wsgi.input`` to the end (gunicorn de-chunks it); ``asgi``:
reads every ``http.request`` message. Both answer ``200 <n> bytes``, so a
server's own parsing decides what malformed framing gets: the app never
rejects anything itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = environ["wsgi.input"].read()
    out = b"%d bytes" % len(body)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(out)))])
    return [out]


async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].replace("lifespan.", "")
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    out = b"%d bytes" % size
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(out))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": out})

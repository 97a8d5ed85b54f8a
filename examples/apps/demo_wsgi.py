"""The demo app `make run` serves: a plain WSGI app that says what serves it.

``GET /`` answers JSON: which gunicorn worker class handles the request
(found on the call stack: a demo trick, not something to copy), what that
worker patched, the server, the scheme the proxy forwarded, and this process.
``HEAD`` answers the same headers and no body, as HTTP requires.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

StartResponse = Callable[..., Any]


def serving_worker() -> str:
    """The class of the gunicorn worker up the call stack, e.g. ``safeworkers.GeventWorker``."""
    frame = sys._getframe(1)
    while frame is not None:
        owner = frame.f_locals.get("self")
        cls = type(owner)
        if any(
            f"{c.__module__}.{c.__qualname__}" == "gunicorn.workers.base.Worker"
            for c in cls.__mro__
        ):
            name = getattr(cls, "safeworkers_name", None)
            return f"safeworkers.{name}" if name else f"{cls.__module__}.{cls.__qualname__}"
        frame = frame.f_back  # type: ignore[assignment]
    return "none found (not a gunicorn worker)"


def patched_by() -> str:
    """Which green library patched this process, if any."""
    import socket

    module = getattr(socket.socket, "__module__", "")
    for patcher in ("gevent", "eventlet"):
        if module.startswith(patcher):
            return patcher
    return "nothing"


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    body = json.dumps(
        {
            "hello": "from safeworkers",
            "worker": serving_worker(),
            "patched_by": patched_by(),
            "server": environ.get("SERVER_SOFTWARE", ""),
            "scheme": environ.get("wsgi.url_scheme", ""),
            "path": environ.get("PATH_INFO", "/"),
            "pid": os.getpid(),
            "python": sys.version.split()[0],
        },
        indent=2,
    ).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

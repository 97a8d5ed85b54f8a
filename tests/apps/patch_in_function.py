"""A WSGI app whose module can also serve itself green, in a function a server never calls."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    import socket

    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"socket from {socket.socket.__module__}".encode()]


def serve_standalone(port: int = 8000) -> None:
    """``python -c 'import patch_in_function as m; m.serve_standalone()'``: gevent's own server."""
    from gevent import monkey

    monkey.patch_all()
    from gevent.pywsgi import WSGIServer

    WSGIServer(("127.0.0.1", port), app).serve_forever()

"""A WSGI app that patches with gevent where gevent is installed, and runs fine without it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

try:
    from gevent import monkey

    monkey.patch_all()
except ImportError:
    pass


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    import socket

    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"socket from {socket.socket.__module__}".encode()]

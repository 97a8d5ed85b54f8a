"""WSGI app that reports the options set on its own accepted connection.

gunicorn puts the connection in ``environ["gunicorn.socket"]``; the test
reads back what safeworkers applied, with getsockopt.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterable
from typing import Any

_OPTIONS = {
    "TCP_NODELAY": ("IPPROTO_TCP", "TCP_NODELAY"),
    "SO_KEEPALIVE": ("SOL_SOCKET", "SO_KEEPALIVE"),
    "TCP_KEEPIDLE": ("IPPROTO_TCP", "TCP_KEEPIDLE"),
    "TCP_KEEPINTVL": ("IPPROTO_TCP", "TCP_KEEPINTVL"),
    "TCP_KEEPCNT": ("IPPROTO_TCP", "TCP_KEEPCNT"),
    "SO_PROTOCOL": ("SOL_SOCKET", "SO_PROTOCOL"),
}


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    sock = environ["gunicorn.socket"]
    info: dict[str, Any] = {"family": socket.AddressFamily(sock.family).name}
    for name, (level, option) in _OPTIONS.items():
        try:
            info[name] = sock.getsockopt(getattr(socket, level), getattr(socket, option))
        except OSError as exc:
            info[name] = f"error {exc.errno}"
    body = json.dumps(info).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    start_response("200 OK", headers)
    return [body]

"""A WSGI app that shows whether requests are served concurrently.

``/barrier?n=6`` waits (at most 2 s) until six requests are inside it at
once, then answers ``met``; a worker that serves one request at a time
answers ``timeout`` instead. It uses threading primitives, which gevent and
eventlet make green when they patch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

_arrived = threading.Condition()
_count = [0]


def wait_for(n: int, timeout: float = 2.0) -> str:
    with _arrived:
        _count[0] += 1
        _arrived.notify_all()
        met = _arrived.wait_for(lambda: _count[0] >= n, timeout)
    return "met" if met else "timeout"


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ.get("PATH_INFO") == "/barrier":
        n = int(parse_qs(environ.get("QUERY_STRING", "")).get("n", ["2"])[0])
        body = wait_for(n).encode()
    else:
        body = b"ready"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

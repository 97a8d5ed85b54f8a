"""A WSGI app whose ``/spin`` busy-loops: it holds a green worker's hub for ``?s=`` seconds."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs


def spin(seconds: float) -> int:
    end = time.perf_counter() + seconds
    turns = 0
    while time.perf_counter() < end:  # computes, never yields: nothing else runs meanwhile
        turns += 1
    return turns


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    query = parse_qs(environ.get("QUERY_STRING", ""))
    turns = spin(float(query.get("s", ["0"])[0])) if environ["PATH_INFO"] == "/spin" else 0
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{environ['PATH_INFO']} {turns}".encode()]

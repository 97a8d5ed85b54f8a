"""Answers with the state the after-patch recipes of docs/green-processes.md set up."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from typing import Any

import psycopg2.extensions


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    callback = psycopg2.extensions.get_wait_callback()
    grpc_gevent = None
    if "grpc" in sys.modules:
        from grpc._cython import cygrpc

        grpc_gevent = bool(cygrpc.g_gevent_activated)
    body = json.dumps(
        {
            "psycopg_wait": getattr(callback, "__module__", None),
            "grpc_gevent": grpc_gevent,
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]

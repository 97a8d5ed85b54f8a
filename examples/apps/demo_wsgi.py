"""The demo app `make run` serves: a plain WSGI app that shows what it runs on."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

StartResponse = Callable[..., Any]


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    body = json.dumps(
        {
            "hello": "from safeworkers",
            "pid": os.getpid(),
            "python": sys.version.split()[0],
            "path": environ.get("PATH_INFO", "/"),
            "server": environ.get("SERVER_SOFTWARE", ""),
        },
        indent=2,
    ).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]

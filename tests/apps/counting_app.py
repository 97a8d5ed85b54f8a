"""Counts how often this module is executed, to prove an app is imported once."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

_COUNTER = f"_SAFEWORKERS_TEST_IMPORTS_{os.getpid()}"
os.environ[_COUNTER] = str(int(os.environ.get(_COUNTER, "0")) + 1)


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = f"imports={os.environ[_COUNTER]}".encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]

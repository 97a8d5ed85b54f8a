"""An app whose import takes 2 seconds (a big framework, a slow config load)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

time.sleep(2)


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"slow but here"]

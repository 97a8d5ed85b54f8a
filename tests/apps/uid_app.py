"""Reports the uid the app module was imported as, and the uid serving now."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

IMPORT_UID = os.getuid()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = f"import={IMPORT_UID} now={os.getuid()} groups={sorted(os.getgroups())}".encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]

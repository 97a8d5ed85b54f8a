"""Answers with what the after-patch hook saw (tests/apps/after_patch_hooks.py)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterable
from typing import Any

import after_patch_hooks

#: The socket class's module when the app was imported.
AT_IMPORT = socket.socket.__module__


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = json.dumps({**after_patch_hooks.SEEN, "socket_at_import": AT_IMPORT}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]

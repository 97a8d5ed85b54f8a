"""The demo apps answer HEAD with the headers of GET and no body (called directly)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

APPS = Path(__file__).resolve().parents[2] / "examples" / "apps"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"demo_under_test_{name}", APPS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wsgi(method: str) -> tuple[dict[str, str], bytes]:
    app = _load("demo_wsgi").app
    headers: dict[str, str] = {}

    def start_response(status: str, pairs: list[tuple[str, str]]) -> None:
        assert status == "200 OK"
        headers.update(pairs)

    environ = {"REQUEST_METHOD": method, "PATH_INFO": "/x", "wsgi.url_scheme": "http"}
    return headers, b"".join(app(environ, start_response))


def test_wsgi_demo_head_has_no_body_and_get_says_what_serves_it() -> None:
    get_headers, body = _wsgi("GET")
    head_headers, head_body = _wsgi("HEAD")
    assert head_body == b""
    assert head_headers["Content-Length"] == get_headers["Content-Length"] == str(len(body))
    facts = json.loads(body)
    assert facts["worker"] == "none found (not a gunicorn worker)"
    assert facts["patched_by"] == "nothing"
    assert facts["path"] == "/x"


def _asgi(method: str) -> list[dict[str, Any]]:
    app = _load("demo_asgi").app
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": "/", "scheme": "http", "asgi": {}}
    asyncio.run(app(scope, receive, send))
    return sent


def test_asgi_demo_head_has_no_body() -> None:
    get_start, get_body = _asgi("GET")
    head_start, head_body = _asgi("HEAD")
    assert head_body["body"] == b""
    assert head_start["headers"] == get_start["headers"]
    assert json.loads(get_body["body"])["event_loop"] == "asyncio"

"""WSGI apps that look the proxy settings up on every request, as HTTP clients do.

On macOS that lookup goes through ``_scproxy`` (CoreFoundation) unless a
``*_proxy`` variable is set: in a worker gunicorn forked, it is the commonest
way to die with SIGABRT (docs/troubleshooting.md, "terminated due to signal 6").
Under the darwin simulation the stand-in ``_scproxy`` does the same.

- ``urllib_app``: ``urllib.request.getproxies()`` and ``proxy_bypass()``;
- ``requests_app``: a real ``requests`` call, to a loopback port nothing listens
  on: requests reads the proxy settings first (``trust_env``), then is refused;
- ``scproxy_app``: asks ``_scproxy`` itself, as a native library could: no
  handed-over setting avoids it (only the Objective-C switch does).
"""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

Start = Callable[..., Any]


def _answer(start_response: Start, data: dict[str, Any]) -> Iterable[bytes]:
    data["pid"] = os.getpid()
    data["handed_over"] = os.environ.get("_SAFEWORKERS_PROXY_HANDOVER")
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(data).encode()]


def urllib_app(environ: dict[str, Any], start_response: Start) -> Iterable[bytes]:
    proxies = urllib.request.getproxies()
    bypass = bool(urllib.request.proxy_bypass("service.internal"))
    return _answer(start_response, {"proxies": proxies, "bypass": bypass})


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the block ends


def requests_app(environ: dict[str, Any], start_response: Start) -> Iterable[bytes]:
    import requests

    try:
        requests.get(f"http://127.0.0.1:{_closed_port()}/", timeout=2)
        outcome = "answered"
    except requests.ConnectionError:
        outcome = "refused"  # after the proxy lookup, as expected
    return _answer(start_response, {"requests": outcome})


def scproxy_app(environ: dict[str, Any], start_response: Start) -> Iterable[bytes]:
    import _scproxy  # type: ignore[import-not-found]

    return _answer(start_response, {"proxies": _scproxy._get_proxies()})

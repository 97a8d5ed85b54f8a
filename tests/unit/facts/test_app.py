"""detect.app_kind and detect.app_needs_trio on real framework objects."""

from __future__ import annotations

import functools
import sys
import types
from typing import Any

from safeworkers import detect


def wsgi(environ: Any, start_response: Any) -> list[bytes]:
    return []


async def asgi(scope: Any, receive: Any, send: Any) -> None:
    return None


class AsgiClass:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        return None


class WsgiClass:
    def __call__(self, environ: Any, start_response: Any) -> list[bytes]:
        return []


def test_kinds() -> None:
    assert detect.app_kind(wsgi) == "wsgi"
    assert detect.app_kind(asgi) == "asgi"
    assert detect.app_kind(AsgiClass()) == "asgi"
    assert detect.app_kind(WsgiClass()) == "wsgi"
    assert detect.app_kind(functools.partial(asgi)) == "asgi"


def test_framework_apps() -> None:
    from flask import Flask
    from quart_trio import QuartTrio
    from starlette.applications import Starlette

    assert detect.app_kind(Flask(__name__)) == "wsgi"
    assert detect.app_kind(Starlette()) == "asgi"
    quart_trio_app = QuartTrio(__name__)
    assert detect.app_kind(quart_trio_app) == "asgi"
    assert detect.app_needs_trio(quart_trio_app)
    assert not detect.app_needs_trio(Starlette())


def test_needs_trio_from_the_app_module() -> None:
    import trio

    module = types.ModuleType("sw_fake_trio_app")
    module.trio = trio  # type: ignore[attr-defined]
    exec("async def app(scope, receive, send):\n    pass\n", module.__dict__)
    sys.modules[module.__name__] = module
    try:
        assert detect.app_needs_trio(module.app)
        # An instance app defined elsewhere, loaded from that module.
        assert detect.app_needs_trio(AsgiClass(), "sw_fake_trio_app")
        assert not detect.app_needs_trio(AsgiClass())
    finally:
        del sys.modules[module.__name__]

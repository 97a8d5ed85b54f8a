"""Apps built by factories, as in gunicorn's ``factory_app:create_app()`` and
``factory_app:create_named_app('y')``; a bare ``factory_app`` is ``factory_app:application``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask


def create_app() -> Flask:
    return Flask(__name__)


def create_named_app(name: str) -> Callable[..., Iterable[bytes]]:
    """A WSGI app that answers ``name``."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [name.encode()]

    return app


application = create_named_app("bare")

"""An app built by a factory, as in gunicorn's ``factory_app:create_app()``."""

from __future__ import annotations

from flask import Flask


def create_app() -> Flask:
    return Flask(__name__)

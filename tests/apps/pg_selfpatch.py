"""pg_app, monkey-patched with gevent by its own module (as many such apps are)."""

from gevent import monkey

monkey.patch_all()

from pg_app import app  # noqa: E402

__all__ = ["app"]

"""A gunicorn configuration: ``gunicorn -c python:safeworkers.gunicorn_config app:app``.

Settings (each can be overridden on the command line, or in your own
``gunicorn.conf.py`` that starts with
``from safeworkers.gunicorn_config import *``):

- ``worker_class``: ``safeworkers.AutoWorker`` (picks and logs the worker);
- ``bind``: ``BIND``, else ``0.0.0.0:$PORT``, else ``127.0.0.1:8000``; with
  ``SAFEWORKERS_MPTCP=1`` the listeners are created here (MPTCP where the
  kernel allows) and handed to gunicorn as ``fd://N``;
- ``workers``: ``WEB_CONCURRENCY``, else 2 x CPUs + 1 (gunicorn's advice);
- ``keepalive`` 5 s, ``timeout`` 30 s, ``graceful_timeout`` 30 s;
- ``forwarded_allow_ips``: loopback only, never ``*``: trust the proxy you run;
- ``post_fork``: installs the Trio import guard in workers of gunicorn's own
  green classes (``-k gevent``), before they patch. Ours install it themselves.
"""

from __future__ import annotations

from typing import Any

from safeworkers import _config

__all__ = [
    "bind",
    "forwarded_allow_ips",
    "graceful_timeout",
    "keepalive",
    "post_fork",
    "timeout",
    "worker_class",
    "workers",
]

_settings = _config.load_settings()

worker_class = "safeworkers.AutoWorker"
bind = _config.binds()
if _settings.mptcp:
    bind = _config.mptcp_binds(bind)
workers = _config.workers(default=2 * _config.cpu_count() + 1)
keepalive = 5
timeout = 30
graceful_timeout = 30
forwarded_allow_ips = "127.0.0.1,::1"

#: gunicorn's own worker classes that monkey-patch when they start.
_GREEN_UPSTREAM = ("gunicorn.workers.ggevent.", "gunicorn.workers.geventlet.")


def post_fork(server: Any, worker: Any) -> None:
    """Guard gunicorn's own green workers, which patch right after this hook."""
    cls = type(worker)
    if f"{cls.__module__}.{cls.__qualname__}".startswith(_GREEN_UPSTREAM):
        from safeworkers import guard

        guard.install(_settings.guard_modules, mode=_settings.guard)
        worker.log.info("safeworkers: import guard installed for %s", cls.__qualname__)


_config.say(f"gunicorn config: worker_class={worker_class} bind={','.join(bind)} workers={workers}")

"""A hypercorn configuration: ``hypercorn --config python:safeworkers.hypercorn_config app:app``.

- ``worker_class``: from :func:`safeworkers.policy.recommend` for an ASGI app
  under hypercorn: ``trio`` when Trio is usable here, else ``uvloop`` when
  installed, else ``asyncio``; the choice and its reasons are printed.
  ``SAFEWORKERS_BACKEND=asgi`` asks for asyncio, ``trio`` insists on Trio.
- ``bind``: ``BIND``, else ``0.0.0.0:$PORT``, else ``127.0.0.1:8000``; with
  ``SAFEWORKERS_MPTCP=1`` the listeners are created here and handed to
  hypercorn as ``fd://N``.
- ``workers``: ``WEB_CONCURRENCY``, else 1 (hypercorn's default).
- ``graceful_timeout``: 30 s, like gunicorn's.

The app is not imported here (hypercorn imports it in each worker), so the
config cannot tell whether the app needs Trio; it prefers Trio when Trio can
run, because Trio-only apps run nowhere else and plain-ASGI or anyio apps run
on it too. Apps that call asyncio directly must set SAFEWORKERS_BACKEND=asgi.
"""

from __future__ import annotations

import sys

from safeworkers import _config, policy

__all__ = ["bind", "graceful_timeout", "worker_class", "workers"]

_settings = _config.load_settings()
_backend = _settings.backend
if _backend not in ("auto", "trio", "asgi"):
    raise _config.fail(
        f"SAFEWORKERS_BACKEND={_backend} names a gunicorn worker; "
        "under hypercorn use auto, trio or asgi"
    )
try:
    _choice = policy.recommend(
        app_kind="asgi", prefer_trio=True, backend=_backend, server="hypercorn"
    )
except policy.PolicyError as exc:
    raise _config.fail(str(exc)) from None

worker_class = _choice.worker_class
bind = _config.binds()
if _settings.mptcp:
    # hypercorn has no start-up hook, so the listeners are made now, from BIND/PORT;
    # a --bind given later would leave them open and unused.
    if any(arg in ("-b", "--bind") or arg.startswith("--bind=") for arg in sys.argv[1:]):
        raise _config.fail(
            "SAFEWORKERS_MPTCP=1 under hypercorn takes the address from BIND or PORT; "
            "drop --bind and set BIND instead"
        )
    bind = _config.mptcp_binds(bind)
workers = _config.workers(default=1)
graceful_timeout = 30.0

_config.say(f"hypercorn worker_class={worker_class}: {'; '.join(_choice.reasons)}")

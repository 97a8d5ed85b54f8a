"""``safeworkers.policy``: which server and worker, kept at the path users import.

The code lives in :mod:`safeworkers.decision.policy`; this module only names it again.
"""

from safeworkers.decision.policy import (
    EVENTLET,
    GEVENT,
    GUNICORN_ASGI,
    SYNC,
    THREAD,
    TRIO,
    UVICORN,
    Choice,
    PolicyError,
    Server,
    app_patchers,
    fastest_asyncio_worker,
    recommend,
)
from safeworkers.facts.app import AppKind

__all__ = [
    "EVENTLET",
    "GEVENT",
    "GUNICORN_ASGI",
    "SYNC",
    "THREAD",
    "TRIO",
    "UVICORN",
    "AppKind",
    "Choice",
    "PolicyError",
    "Server",
    "app_patchers",
    "fastest_asyncio_worker",
    "recommend",
]

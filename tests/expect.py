"""What the tests expect AutoWorker and the hypercorn config to choose, given what is installed.

The rule is restated here from docs/choosing.md (rows 12 and 18-21), not
computed by safeworkers, so a change of rule shows up as failing tests.
"""

from __future__ import annotations

import importlib.metadata


def installed(name: str) -> bool:
    try:
        importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


#: gunicorn's fastest installed asyncio worker: uvicorn-worker only next to httptools.
FASTEST = (
    "uvicorn_worker.UvicornWorker"
    if installed("uvicorn-worker") and installed("httptools")
    else "asgi"
)
#: hypercorn's worker for everything but Trio apps.
HYPERCORN_ASYNCIO = "uvloop" if installed("uvloop") else "asyncio"

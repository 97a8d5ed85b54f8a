"""``safeworkers.TrioWorker``: ASGI on Trio, served by hypercorn, managed by gunicorn.

gunicorn's arbiter (max-requests, HUP reload, TTIN/TTOU, statsd, server
hooks) manages the processes; inside each worker, hypercorn's Trio protocol
code handles HTTP/1.1, HTTP/2, WebSockets and the ASGI lifespan on the
listening sockets gunicorn already bound. The package is split by concern:

- ``worker``: the gunicorn worker class: boot checks, signals, heartbeat,
  the Trio run and its graceful stop;
- ``serving``: the accept loop and connection handling around hypercorn's
  per-connection server, with gunicorn's shutdown order (stop accepting,
  let accepted connections be answered, close idle ones, drain);
- ``gate``: the ASGI app hypercorn serves, applying gunicorn's per-request
  policy that hypercorn lacks (limits, framing checks, trusted scheme
  headers, max-requests counting);
- ``lifespan``: gunicorn's ``asgi_lifespan`` modes around the app's lifespan;
- ``config``: gunicorn settings mapped onto a hypercorn ``Config``, and a
  hypercorn logger that forwards to gunicorn's (access records included).

Importing this package imports neither trio nor hypercorn: gunicorn imports
the worker class in the master. When they are missing, the class is a
stand-in whose worker stops at boot with "pip install 'safeworkers[trio]'".
"""

from __future__ import annotations

from safeworkers.workers._base import find_missing, missing_extra_worker
from safeworkers.workers.trio.worker import TrioWorker

__all__ = ["TrioWorker"]

_missing = find_missing("trio", "hypercorn", "httptools")
if _missing is not None:
    TrioWorker = missing_extra_worker("TrioWorker", "trio", _missing)  # type: ignore[misc,assignment]

"""``safeworkers.TrioWorker``: ASGI on Trio, managed by gunicorn.

gunicorn's arbiter (max-requests, HUP reload, TTIN/TTOU, statsd, server
hooks) manages the processes; inside each worker, plain HTTP/1.1 is served by
the fast path, and hypercorn's Trio protocol code handles TLS, HTTP/2,
WebSockets and the ASGI lifespan, on the listening sockets gunicorn already
bound. The package is split by concern:

- ``worker``: the gunicorn worker class: boot checks, signals, heartbeat,
  the Trio run and its graceful stop;
- ``serving``: the accept loops, the hand-over of upgrades to hypercorn's
  per-connection server, gunicorn's shutdown order (stop accepting, let
  accepted connections be answered, close idle ones, drain), and the fence
  that keeps a connection's errors on that connection;
- ``http1``: the strict HTTP/1.1 framer both paths read requests with;
- ``fast``: the fast path, one Trio task per plain HTTP/1.1 connection;
- ``protocol`` and ``websocket``: hypercorn's HTTP/1.1 protocol behind the
  framer, the one refusal path, cleartext HTTP/2 rules, WebSocket checks;
- ``gate``: the ASGI app hypercorn serves, applying gunicorn's per-request
  policy that hypercorn lacks (limits, framing checks, trusted scheme
  headers, max-requests counting);
- ``lifespan``: gunicorn's ``asgi_lifespan`` modes around the app's lifespan;
- ``config``: gunicorn settings mapped onto a hypercorn ``Config``, and a
  hypercorn logger that forwards to gunicorn's (access records included).

Importing this package imports neither trio nor hypercorn: gunicorn imports
the worker class in the master. When trio, hypercorn or httptools is missing,
the class is a stand-in whose worker stops at boot with "pip install
'safeworkers[trio]'".
"""

from __future__ import annotations

from safeworkers.workers._base import find_missing, missing_extra_worker
from safeworkers.workers.trio.worker import TrioWorker

__all__ = ["TrioWorker"]

_missing = find_missing("trio", "hypercorn", "httptools")
if _missing is not None:
    TrioWorker = missing_extra_worker("TrioWorker", "trio", _missing)  # type: ignore[misc,assignment]

"""``safeworkers.EventletWorker``: an eventlet worker for every gunicorn from 23 on.

gunicorn 26 removed its eventlet worker (``-k eventlet`` is "class uri
'eventlet' invalid or not found" from then on). This one is built on
gunicorn's ``AsyncWorker``, which every version from 23 to 27 still ships, and
on eventlet's public API only, so it runs the same whether or not the
installed gunicorn has a worker of its own.

Importing this package never imports eventlet: gunicorn loads the worker class
in the master, which must stay unpatched. Everything eventlet happens in
``init_process``, in the worker, in this order: settings are validated, the
import guard is installed, eventlet's hub is set up, the process is
monkey-patched, the listeners become green sockets, and only then is the app
loaded.

What it does beyond gunicorn 25's worker:

* the Trio import guard, so apps whose libraries import trio (httpx/httpcore,
  anyio, SDKs) boot instead of dying with ``AttributeError`` (GreenSocket has
  no ``sendmsg``) on Linux or ``NotImplementedError`` on macOS/BSD;
* the master never imports or patches anything (gunicorn 25 monkey-patched at
  import time, so in the master too);
* signals wake the worker at once (gunicorn's wake-up pipe is watched by the
  hub) instead of at the next one-second tick, and the heartbeat interval
  follows ``--timeout``;
* on SIGTERM, keep-alive connections that sit idle between requests are
  closed straight away instead of holding the drain open until
  ``--keep-alive`` expires, and in-flight requests get ``--graceful-timeout``;
* ``sendfile`` is zero-copy (``os.sendfile`` waiting on the hub) without
  patching eventlet's ``GreenSocket`` class; the TLS context is built once
  per worker instead of once per connection, and a TLS handshake gets at most
  ``--timeout`` seconds;
* a stop signal that arrives while the worker boots is kept, not lost;
* each connection is tuned for its transport (TCP_NODELAY and keepalive on
  TCP only), and the worker exits when its master disappears.

The package is split by concern:

- ``worker``: the gunicorn worker class: start-up order, the serving loop and
  accept loop, TLS, signals;
- ``patching``: eventlet brought into the worker (version check, a fresh hub,
  ``monkey_patch()``), with what eventlet logs about an app imported before
  patching summed up in one line;
- ``sendfile``: the cooperative zero-copy ``sendfile`` and the green socket
  class that carries it;
- ``stopping``: what the worker tracks about each connection, and the
  graceful stop that ends idle keep-alive waits at once.

Without eventlet installed, the class is a stand-in whose worker stops at
boot with "pip install 'safeworkers[eventlet]'".
"""

from __future__ import annotations

from safeworkers.workers._base import find_missing, missing_extra_worker
from safeworkers.workers.eventlet.patching import (
    INSTALL_HINT,
    MAINTENANCE_NOTICE,
    MIN_EVENTLET,
)

# Importable from here as before the split (tests use it).
from safeworkers.workers.eventlet.sendfile import (
    cooperative_sendfile as _cooperative_sendfile,  # noqa: F401
)

__all__ = ["INSTALL_HINT", "MAINTENANCE_NOTICE", "MIN_EVENTLET", "EventletWorker"]

_missing = find_missing("eventlet", "greenlet")
if _missing is not None:
    EventletWorker: type = missing_extra_worker("EventletWorker", "eventlet", _missing)
else:
    from safeworkers.workers.eventlet.worker import EventletWorker

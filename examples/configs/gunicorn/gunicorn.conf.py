"""gunicorn configuration for webapp, rendered by `safeworkers template gunicorn`.

    gunicorn -c gunicorn.conf.py demo_wsgi:app

It starts from safeworkers.gunicorn_config (WEB_CONCURRENCY, keepalive and
timeouts, forwarded_allow_ips for loopback only, the Trio import guard for
gunicorn's own green workers) and sets what this deployment decides.
"""

import os

from safeworkers.gunicorn_config import *  # noqa: F403

# Worker: safeworkers.AutoWorker, because
# it picks the worker in each worker process (sync; gthread with --threads;
# Trio for Trio apps; asyncio for other ASGI apps), logs the choice and why,
# and never monkey-patches unless SAFEWORKERS_BACKEND asks for gevent or
# eventlet.
worker_class = "safeworkers.AutoWorker"

# Where to listen: BIND (comma-separated) in the environment wins.
bind = os.environ.get("BIND", "unix:/run/webapp/gunicorn.sock").split(",")
# Unix sockets are created with mode 0660: the owner and its group (add
# nginx's user to it) may connect, nobody else. gunicorn trusts the
# X-Forwarded-* headers of every Unix-socket peer, so this mode is what keeps
# other local users from spoofing them.
umask = 0o117

# In-flight requests get this long to finish on SIGTERM or a HUP reload; keep
# your process manager's stop timeout above it.
graceful_timeout = 30
# The heartbeat file on a RAM disk: no disk I/O, works on read-only root filesystems.
worker_tmp_dir = "/dev/shm"
accesslog = "-"

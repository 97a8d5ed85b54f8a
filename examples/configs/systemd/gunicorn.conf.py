"""gunicorn configuration for webapp, rendered by `safeworkers template gunicorn`.

    gunicorn -c gunicorn.conf.py demo_wsgi:app

It starts from safeworkers.gunicorn_config (WEB_CONCURRENCY, keepalive and
timeouts, forwarded_allow_ips for loopback only, the Trio import guard for
gunicorn's own green workers) and sets what this deployment decides.
"""

import os

from safeworkers.gunicorn_config import *  # noqa: F403
from safeworkers.gunicorn_config import bind_from_environment, restart_with_objc_fork_safety_off

# macOS: gunicorn forks its workers without exec, and a worker that initialises
# an Objective-C class the master had not (CoreFoundation: the system proxy
# lookup of urllib, requests and httpx) dies with SIGABRT unless
# OBJC_DISABLE_INITIALIZE_FORK_SAFETY=YES was in the environment when the
# interpreter started. This runs gunicorn's command once more with it set; it
# does nothing on other systems, or when the variable is set (yours wins).
restart_with_objc_fork_safety_off()

# Worker: safeworkers.AutoWorker, because
# it reads the app's code and the process and picks the worker in each worker
# process (sync; gthread with --threads; Trio for Trio apps; asyncio for other
# ASGI apps; the guarded gevent or eventlet worker when the process is
# monkey-patched already or the app patches itself, or when SAFEWORKERS_BACKEND
# asks), logs the choice and why, and stops at boot with the reason where a
# worker would answer 500.
worker_class = "safeworkers.AutoWorker"

# Where to listen: BIND (comma- or space-separated) in the environment wins,
# then PORT (0.0.0.0:$PORT), as in safeworkers.gunicorn_config.
bind = bind_from_environment("unix:/run/webapp/gunicorn.sock")
# Unix sockets are created with mode 0660: the owner and its group (add
# nginx's user to it) may connect, nobody else. gunicorn trusts the
# X-Forwarded-* headers of every Unix-socket peer, so this mode is what keeps
# other local users from spoofing them.
umask = 0o117

# In-flight requests get this long to finish on SIGTERM or a HUP reload; keep
# your process manager's stop timeout above it.
graceful_timeout = 30
# The heartbeat file on a RAM disk: no disk I/O, works on read-only root filesystems.
# (macOS has no /dev/shm: gunicorn's default, the temporary directory, there.)
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
accesslog = "-"

# gunicorn >= 25.1's control socket (gunicornc) comes from safeworkers.gunicorn_config:
# $RUNTIME_DIRECTORY/gunicorn.ctl, in the service's own runtime directory (systemd's
# RuntimeDirectory= sets the variable), else off. gunicorn's default path,
# ~/.gunicorn/gunicorn.ctl, is shared by every app of one user and fails on a read-only
# root filesystem or a home the service cannot write. To place it yourself:
#     control_socket = "/run/webapp/gunicorn.ctl"
#     control_socket_disable = False

"""hypercorn configuration for webapp, rendered by `safeworkers template hypercorn`.

    hypercorn --config file:hypercorn_config.py demo_asgi:app

The config-module way: everything comes from safeworkers.hypercorn_config
and the environment, so one file serves every deployment:

- worker_class: chosen when hypercorn starts, from the app's code (read, not
  imported), and printed with the reasons: trio for an app that uses Trio,
  else uvloop (when installed) or asyncio; SAFEWORKERS_BACKEND=asgi or trio
  insists;
- bind: BIND, else 0.0.0.0:$PORT, else 127.0.0.1:8000;
- workers: WEB_CONCURRENCY, else 1; graceful_timeout: 30 s.
"""

from safeworkers.hypercorn_config import *  # noqa: F403

# Unix sockets get mode 0660: the owner and its group (nginx's) only.
umask = 0o117
accesslog = "-"
errorlog = "-"

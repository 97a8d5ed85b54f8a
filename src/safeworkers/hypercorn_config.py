"""A hypercorn configuration: ``hypercorn --config python:safeworkers.hypercorn_config app:app``.

- ``worker_class``: from :func:`safeworkers.decision.decide.decide` (the step
  AutoWorker takes, and :func:`safeworkers.decision.policy.recommend` in it), for the
  app named on hypercorn's command line. The config never imports the app
  (hypercorn does, in each worker): it reads the app's code
  (:mod:`safeworkers.facts.appscan`). ``trio`` for an app that uses Trio (trio,
  quart-trio, trio-websocket, in any module of its package); ``uvloop``
  when installed, else ``asyncio``, for everything else, unknown apps
  included, since most ASGI apps are asyncio apps, and WSGI apps run on
  either. An app that monkey-patches itself (gevent, eventlet) is refused:
  hypercorn cannot serve green code. The choice, the facts and the reasons
  are printed. ``SAFEWORKERS_BACKEND=asgi`` or ``trio`` insists; a mismatch
  with what the code shows is an error. ``-k`` on the command line wins.
- ``bind``: ``BIND``, else ``0.0.0.0:$PORT``, else ``127.0.0.1:8000``; with
  ``SAFEWORKERS_MPTCP=1`` the listeners are created here and handed to
  hypercorn as ``fd://N``.
- ``workers``: ``WEB_CONCURRENCY``, else 1 (hypercorn's default).
- ``graceful_timeout``: 30 s, like gunicorn's.

Under Trio, an app that returns on the lifespan scope (the ASGI spec's way
of saying "no lifespan"; WSGI apps through hypercorn's adapter do) is served,
as hypercorn's asyncio worker does, instead of stopping hypercorn's Trio
worker (see ``safeworkers.deploy.hypercorn``). ``trio_worker_setup`` carries that
fix into hypercorn's worker processes; it is in ``__all__``, so a config file
that starts with ``from safeworkers.hypercorn_config import *`` keeps it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from safeworkers.decision import decide, policy
from safeworkers.deploy import environ as _environ
from safeworkers.deploy import hypercorn as _hypercorn

if TYPE_CHECKING:
    from safeworkers.facts.app import AppKind

__all__ = ["bind", "graceful_timeout", "trio_worker_setup", "worker_class", "workers"]

_settings = _environ.load_settings()
_backend = _settings.backend
if _backend not in ("auto", "trio", "asgi"):
    raise _environ.fail(
        f"SAFEWORKERS_BACKEND={_backend} names a gunicorn worker; "
        "under hypercorn use auto, trio or asgi"
    )
_command = _hypercorn.command_line()
# Without an application argument there is no code to read.
_module = ""
_first: list[str] = []
_kind: AppKind = "unknown"
if _command.application:
    _module, _directory, _mode = _hypercorn.application_source(_command.application)
    _first, _kind = [_directory], _mode or "unknown"
try:
    # hypercorn imports the app in each worker, never here: no load().
    _decision = decide.decide(
        _module, backend=_backend, server="hypercorn", app_kind=_kind, path_first=_first
    )
except policy.PolicyError as exc:
    raise _environ.fail(str(exc)) from None
_choice, _code = _decision.choice, _decision.code

worker_class = _choice.worker_class
bind = _environ.binds()
if _settings.mptcp:
    # hypercorn has no start-up hook, so the listeners are made now, from BIND/PORT;
    # a --bind given later would leave them open and unused.
    if any(arg in ("-b", "--bind") or arg.startswith("--bind=") for arg in sys.argv[1:]):
        raise _environ.fail(
            "SAFEWORKERS_MPTCP=1 under hypercorn takes the address from BIND or PORT; "
            "drop --bind and set BIND instead"
        )
    bind = _environ.mptcp_binds(bind)
workers = _environ.workers(default=1)
graceful_timeout = 30.0

_running = _command.worker_class or worker_class
#: Every attribute here is copied into hypercorn's Config and pickled for each
#: worker process; unpickling this one fixes the Trio lifespan there too. Public
#: (in ``__all__``) so that ``from safeworkers.hypercorn_config import *`` in a
#: config file of your own keeps it.
trio_worker_setup = _hypercorn.TRIO_WORKER_SETUP if _running == "trio" else None
if _running == "trio":
    _hypercorn.fix_trio_lifespan()  # this process serves when workers = 0

_read = f"[{_code.scope()}]" if _command.application else "[no application argument found]"
if _command.worker_class:
    _environ.say(
        f"hypercorn worker_class={_command.worker_class}, from the command line; safeworkers "
        f"would choose {worker_class}: {'; '.join(_choice.reasons)} {_read}"
    )
else:
    _environ.say(f"hypercorn worker_class={worker_class}: {'; '.join(_choice.reasons)} {_read}")

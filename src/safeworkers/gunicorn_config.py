"""A gunicorn configuration: ``gunicorn -c python:safeworkers.gunicorn_config app:app``.

Settings (each can be overridden on the command line, or in your own
``gunicorn.conf.py`` that starts with
``from safeworkers.gunicorn_config import *``):

- ``worker_class``: ``safeworkers.AutoWorker`` (picks and logs the worker);
- ``bind``: ``BIND``, else ``0.0.0.0:$PORT``, else ``127.0.0.1:8000``;
- ``on_starting``: prints the worker class, ``bind`` and ``workers`` in force
  (after ``-b``/``-w``/``-k`` and your own config), and with
  ``SAFEWORKERS_MPTCP=1`` creates the listeners for the final ``bind`` (MPTCP
  where the kernel allows) and hands them to gunicorn as ``fd://N``; on macOS
  it also does what the master must do before forking, for any worker class
  (:mod:`safeworkers.deploy.forksafety`: the warning when
  ``OBJC_DISABLE_INITIALIZE_FORK_SAFETY=YES`` is missing, the proxy settings
  handed to the workers, the cause of a worker's death by SIGABRT or SIGSEGV
  in the log); if you define your own ``on_starting``, call this one from it;
- ``workers``: ``WEB_CONCURRENCY``, else 2 x CPUs + 1 (gunicorn's advice);
- ``keepalive`` 5 s, ``timeout`` 30 s, ``graceful_timeout`` 30 s;
- ``forwarded_allow_ips``: loopback only, never ``*``: trust the proxy you run;
- ``control_socket`` (gunicorn >= 25.1, for ``gunicornc``): in the service's own
  runtime directory, ``$RUNTIME_DIRECTORY/gunicorn.ctl`` (systemd sets the
  variable for ``RuntimeDirectory=``; the container templates point it at a
  writable volume), and off (``control_socket_disable``) where there is none:
  gunicorn's default path is one per user, shared by all of that user's apps,
  and logs an error at every start where the home is not writable. To place
  it yourself, set both names in your config; older gunicorns ignore them;
- ``post_fork``: installs the Trio import guard in workers of gunicorn's own
  gevent class (``-k gevent``), before it patches. Ours install it
  themselves. (gunicorn <= 25's ``-k eventlet`` patches when its module is
  imported, in the master, before any hook: use safeworkers.EventletWorker.)
"""

from __future__ import annotations

from typing import Any

from safeworkers.decision import registry as _registry
from safeworkers.deploy import environ as _environ
from safeworkers.facts import macos as _macos

__all__ = [
    "bind",
    "control_socket",
    "control_socket_disable",
    "forwarded_allow_ips",
    "graceful_timeout",
    "keepalive",
    "on_starting",
    "post_fork",
    "timeout",
    "worker_class",
    "workers",
]

_settings = _environ.load_settings()

worker_class = _registry.AUTO.name
bind = _environ.binds()
workers = _environ.workers(default=2 * _environ.cpu_count() + 1)
keepalive = 5
timeout = 30
graceful_timeout = 30
forwarded_allow_ips = "127.0.0.1,::1"
control_socket = _environ.control_socket()
control_socket_disable = not control_socket


def bind_from_environment(default: str = _environ.DEFAULT_BIND) -> list[str]:
    """``BIND`` (comma- or space-separated), else ``0.0.0.0:$PORT``, else ``default``.

    What ``bind`` above is, with another default: for a config file of your
    own (``bind = bind_from_environment("unix:/run/app/gunicorn.sock")``).
    Not in ``__all__``: import it by name.
    """
    return _environ.binds(default=default)


def restart_with_objc_fork_safety_off() -> None:
    """On macOS, run gunicorn's command again with ``OBJC_DISABLE_INITIALIZE_FORK_SAFETY=YES``.

    Call it at the top of a config file of your own (the ``gunicorn``
    template does): the Objective-C runtime reads the variable only when the
    process starts, so this starts it once more, with the same arguments,
    before gunicorn has done anything. Nothing happens elsewhere, or when the
    variable is set already. Not in ``__all__``: import it by name.
    """
    if _macos.darwin():
        from safeworkers.deploy import forksafety

        forksafety.restart_with_objc_fork_safety_off()


#: The modules of gunicorn's own worker classes that monkey-patch when they start.
_GREEN_UPSTREAM = tuple(f"{w.module}." for w in _registry.WORKERS if w.patches and not w.ours)


def on_starting(server: Any) -> None:
    """Say what is in force; with SAFEWORKERS_MPTCP=1, create the listeners for ``bind``.

    A hook, not module code: it runs once in the master, after the command
    line and your own config have had their say on ``bind``, ``workers`` and
    the worker class, and just before gunicorn creates the listeners itself.
    """
    cfg = server.cfg
    if _macos.darwin():  # elsewhere nothing of it is imported
        from safeworkers.deploy import forksafety

        forksafety.prepare_master(server.log)
    control = ""
    if "control_socket" in cfg.settings:  # gunicorn >= 25.1
        if cfg.control_socket_disable and cfg.control_socket not in ("", control_socket):
            # --control-socket PATH on the command line: the user placed it, so it is on
            # (this module turned it off only for want of a runtime directory).
            cfg.set("control_socket_disable", False)
        control = " control_socket=" + ("off" if cfg.control_socket_disable else cfg.control_socket)
    _environ.say(
        f"gunicorn config: worker_class={cfg.worker_class_str} bind={','.join(cfg.bind)} "
        f"workers={cfg.workers}{control}"
    )
    if not _settings.mptcp or server.LISTENERS:
        return
    handed = _environ.mptcp_binds(list(cfg.bind), umask=cfg.umask, owner=(cfg.uid, cfg.gid))
    cfg.set("bind", handed)


def post_fork(server: Any, worker: Any) -> None:
    """Guard gunicorn's own green workers, which patch right after this hook."""
    cls = type(worker)
    if f"{cls.__module__}.{cls.__qualname__}".startswith(_GREEN_UPSTREAM):
        from safeworkers import guard

        guard.install(_settings.guard_modules, mode=_settings.guard)
        worker.log.info("safeworkers: import guard installed for %s", cls.__qualname__)

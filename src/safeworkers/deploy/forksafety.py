"""What gunicorn's master does on macOS before it forks (see :mod:`safeworkers.facts.forksafety`).

:func:`prepare_master` runs in the master, right before a worker of ours is
forked (the worker's ``__init__`` runs there) and in
``safeworkers.gunicorn_config``'s ``on_starting``. On macOS, real or
simulated, and nowhere else, it:

- warns once when ``OBJC_DISABLE_INITIALIZE_FORK_SAFETY=YES`` was not in the
  environment (it has to be there when the interpreter starts);
- hands the system proxy settings to the workers: it reads them in a fresh
  interpreter (never in the master, which must stay free of CoreFoundation,
  whose state a forked child cannot use) and sets the ``*_proxy`` variables
  urllib, requests and httpx read, so that no worker asks ``_scproxy`` after
  the fork. When any ``*_proxy`` variable is set already, the environment is
  the user's choice and nothing is read or set;
- adds a handler to gunicorn's error log that follows gunicorn's "Worker
  (pid:N) was sent SIGABRT!" with the likely cause and the fix. gunicorn's
  ``child_exit`` hook does not get the exit status, and a user's own hooks
  stay untouched this way.

:func:`restart_with_objc_fork_safety_off` is for a gunicorn config file
(the ``gunicorn`` template calls it): on macOS it starts the interpreter once
more, with the variable set, before anything else happens.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from safeworkers.facts import forksafety

#: Asks a fresh interpreter for macOS's proxy settings (what urllib would read).
_ASK = (
    "import json, _scproxy; "
    "print(json.dumps({'proxies': _scproxy._get_proxies(), "
    "'settings': _scproxy._get_proxy_settings()}, default=list))"
)

_prepared = False


class ProxyLookupError(RuntimeError):
    """macOS's proxy settings could not be read; the message says why."""


def prepare_master(log: Any) -> None:
    """On macOS: the boot warning and the proxy handover, once per master; the crash
    explanations on gunicorn's error log (again if the log was set up anew)."""
    global _prepared
    if not forksafety.darwin():
        return
    watch_worker_deaths(log)
    if _prepared:
        return
    _prepared = True
    facts = forksafety.state()
    if not facts.objc_check_disabled:
        log.warning(
            "safeworkers: %s=YES was not in the environment when gunicorn started: on macOS "
            "a forked worker that initialises an Objective-C class the master had not "
            "(CoreFoundation, the system proxy lookup, some native libraries) dies with "
            "SIGABRT. Start gunicorn with it: %s=YES gunicorn ... (or safeworkers run -- "
            "gunicorn ...); setting it later, from Python, has no effect",
            forksafety.OBJC_VARIABLE,
            forksafety.OBJC_VARIABLE,
        )
    hand_over_proxies(log)


def hand_over_proxies(
    log: Any,
    environ: MutableMapping[str, str] | None = None,
    lookup: Callable[[], tuple[Mapping[str, str], Mapping[str, Any]]] | None = None,
) -> dict[str, str]:
    """Set the system proxy settings as ``*_proxy`` variables for the workers; what was set.

    Never overwrites a variable, and does nothing when one is set already.
    """
    environ = os.environ if environ is None else environ
    if environ.get(forksafety.HANDOVER_VARIABLE):
        return {}
    own = forksafety.proxy_variables(environ)
    if own:
        log.info(
            "safeworkers: proxy settings come from the environment (%s): workers never ask "
            "macOS for them",
            ", ".join(own),
        )
        return {}
    try:
        proxies, settings = (lookup or system_proxies)()
    except ProxyLookupError as exc:
        log.warning(
            "safeworkers: could not read macOS's proxy settings before forking (%s): a worker "
            "that looks them up (urllib, requests, httpx) can die with SIGABRT; set them in "
            "the environment (NO_PROXY=* if you use no proxy)",
            exc,
        )
        return {}
    wanted, notes = proxy_environment(proxies, settings)
    handed = {name: value for name, value in wanted.items() if name not in environ}
    environ.update(handed)
    environ[forksafety.HANDOVER_VARIABLE] = ",".join(sorted(handed))
    shown = ", ".join(f"{name}={value}" for name, value in sorted(handed.items()))
    log.info(
        "safeworkers: macOS proxy settings read before forking and handed to the workers "
        "(%s)%s: no worker asks macOS for them, which after fork() can kill it",
        shown,
        "".join(f"; {note}" for note in notes),
    )
    return handed


def system_proxies(timeout: float = 10.0) -> tuple[dict[str, str], dict[str, Any]]:
    """macOS's proxy settings, read by ``_scproxy`` in a fresh interpreter.

    In a child started with exec, not forked: calling CoreFoundation here, in
    the master, is what makes later forks unsafe.
    """
    try:
        done = subprocess.run(
            [sys.executable, "-c", _ASK],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=dict(os.environ),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProxyLookupError(f"{sys.executable} -c ...: {exc}") from None
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        said = done.stderr.strip().splitlines()
        raise ProxyLookupError(said[-1] if said else f"exit status {done.returncode}")
    found = json.loads(lines[-1])
    return dict(found.get("proxies") or {}), dict(found.get("settings") or {})


def proxy_environment(
    proxies: Mapping[str, str], settings: Mapping[str, Any]
) -> tuple[dict[str, str], list[str]]:
    """The variables that make urllib see ``proxies`` and ``settings``
    (``_scproxy``'s answers), and what they cannot say.

    ``{"http": URL}`` becomes ``http_proxy=URL``; the exceptions list becomes
    ``no_proxy`` (``*.local`` as ``.local``; ``169.254/16`` as
    ``169.254.0.0/16``, which requests reads and urllib does not). Without a
    proxy, ``no_proxy=*``: urllib then reads the environment (and bypasses
    nothing there is to bypass).
    """
    env = {f"{scheme.lower()}_proxy": url for scheme, url in sorted(proxies.items()) if url}
    notes: list[str] = []
    if not env:
        return {"no_proxy": "*"}, notes
    exceptions = [_no_proxy_entry(str(e)) for e in settings.get("exceptions") or () if e]
    if exceptions:
        env["no_proxy"] = ",".join(dict.fromkeys(exceptions))
    if settings.get("exclude_simple"):
        notes.append(
            'macOS\'s "exclude simple hostnames" has no no_proxy form: list those hosts in '
            "no_proxy yourself"
        )
    return env, notes


def _no_proxy_entry(exception: str) -> str:
    if exception.startswith("*."):
        return exception[1:]
    network, slash, bits = exception.partition("/")
    parts = network.split(".")
    if slash and all(p.isdigit() for p in parts) and len(parts) < 4:
        return ".".join(parts + ["0"] * (4 - len(parts))) + "/" + bits
    return exception


class _WorkerDeathHandler(logging.Handler):
    """Follows gunicorn's report of a worker killed by a crash signal with its cause."""

    def __init__(self, log: Any) -> None:
        super().__init__()
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        try:
            found = forksafety.worker_signal(record.getMessage())
        except Exception:  # a record whose arguments do not fit its message
            return
        if found is None:
            return
        pid, name = found
        cause = forksafety.crash_cause(name, forksafety.state())
        if cause is not None:
            self._log.error("safeworkers: worker %s was killed by %s: %s", pid, name, cause)


def watch_worker_deaths(log: Any) -> None:
    """Add the crash explanations to gunicorn's error log (once per logger)."""
    error_log = getattr(log, "error_log", None)
    if not isinstance(error_log, logging.Logger):
        return
    if not any(isinstance(h, _WorkerDeathHandler) for h in error_log.handlers):
        error_log.addHandler(_WorkerDeathHandler(log))


def restart_with_objc_fork_safety_off(
    environ: MutableMapping[str, str] | None = None,
    execv: Callable[[str, list[str]], object] = os.execv,
) -> None:
    """On macOS, start this interpreter again with ``OBJC_DISABLE_INITIALIZE_FORK_SAFETY=YES``.

    The Objective-C runtime reads the variable only when the process starts,
    so a config file cannot set it for the process reading it; it can run the
    same command again (same process id, arguments and environment) with the
    variable set, before gunicorn has done anything. Nothing happens elsewhere,
    or when the variable is set (to anything: the user's setting wins).
    """
    environ = os.environ if environ is None else environ
    if not forksafety.darwin(environ=environ) or forksafety.OBJC_VARIABLE in environ:
        return
    environ[forksafety.OBJC_VARIABLE] = "YES"
    argv = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    sys.stderr.write(
        f"[safeworkers] restarting with {forksafety.OBJC_VARIABLE}=YES (macOS: gunicorn's "
        "forked workers need it from the start)\n"
    )
    sys.stdout.flush()
    sys.stderr.flush()
    execv(sys.executable, argv)

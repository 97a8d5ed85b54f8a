"""Gather the facts and decide: the one step for every entry point that chooses a worker.

AutoWorker, the hypercorn config, ``safeworkers recommend``, ``check`` (in a
child process) and ``template hypercorn`` all call :func:`decide` (the
commands through :func:`decide_target`). The facts come from the process
(:mod:`safeworkers.facts.process`), the app's code
(:mod:`safeworkers.facts.appscan`, read without running it) and, when the
caller can load the app and it is safe to import here, the loaded app
(:mod:`safeworkers.facts.app`); :func:`safeworkers.decision.policy.recommend`
turns them into a choice. Doing it in one function keeps the entry points in
agreement: the same code scan, the same load conditions, and the process
looked at again after the app is imported (importing it may have
monkey-patched the process).

The app is *not* imported when a green backend is forced, when its code
monkey-patches or selects a green library itself (Flask-SocketIO's
``async_mode="gevent"``: it must be imported after the green worker
patched), or when
it runs Trio code where Trio cannot run (the import would fail; the policy
says why instead). Callers that never import the app (the hypercorn config,
``template``) pass no ``load``: the app's kind is then what they know of it.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from safeworkers import settings
from safeworkers.decision import policy
from safeworkers.deploy import target
from safeworkers.facts import app, appscan, process

if TYPE_CHECKING:
    from safeworkers.settings import Backend


class Decision(NamedTuple):
    """The choice and the facts it was made from."""

    choice: policy.Choice
    code: appscan.AppScan
    app_kind: app.AppKind


#: What deciding for a ``MODULE:APP`` target raises for the user's input; each message is
#: one line, ready to print (:func:`decide_target`).
ERRORS = (settings.SettingsError, target.TargetError, policy.PolicyError)


def loads_app(backend: Backend, env: process.Environment, code: appscan.AppScan) -> bool:
    """Whether the app is imported before the choice (see the module's docstring)."""
    return not (
        backend in process.PATCHERS
        or policy.app_patchers(env, code)
        or code.asked_for
        or (code.needs_trio and not env.trio_usable)
    )


def decide(
    module: str,
    load: Callable[[], object] | None = None,
    *,
    backend: Backend = "auto",
    threads: int = 1,
    server: policy.Server = "gunicorn",
    app_kind: app.AppKind = "unknown",
    path_first: Sequence[str] = (),
    before_load: Callable[[process.Environment, appscan.AppScan], None] | None = None,
    patched_by_app: Callable[[set[str]], None] | None = None,
    green_drivers: bool = True,
) -> Decision:
    """Decide for the app of ``module``; ``load()`` imports it (only if :func:`loads_app`).

    The code is looked up in ``path_first`` (the directory a server imports
    the app from), then on ``sys.path`` (an empty entry is the current
    directory). Without ``load``, the app is never imported and its kind is
    ``app_kind``. ``before_load(env, code)`` runs once the process and code
    facts are known, before anything is imported (AutoWorker installs the
    guard there); ``patched_by_app(libraries)`` when importing the app
    monkey-patched the process although its code did not show it.
    ``green_drivers``: ``SAFEWORKERS_GREEN_DRIVERS``, for the reasons. Raises
    :class:`~safeworkers.decision.policy.PolicyError`, and whatever ``load`` raises.
    """
    env = process.environment(findings=False)
    path = [*path_first, *appscan.import_path()]
    code = appscan.scan(module, path) if module else appscan.AppScan(module="")
    if before_load is not None:
        before_load(env, code)
    kind = app_kind
    needs_trio = False
    if load is not None and loads_app(backend, env, code):
        before = set(env.green_patchers)
        loaded = load()
        kind = app.app_kind(loaded)
        needs_trio = app.app_needs_trio(loaded, module or None)
        env = process.environment(findings=False)
        late = set(env.green_patchers) - before
        if late and patched_by_app is not None:
            patched_by_app(late)
    choice = policy.recommend(
        env,
        app_kind=kind,
        threads=threads,
        backend=backend,
        needs_trio=needs_trio,
        server=server,
        code=code,
        green_drivers=green_drivers,
    )
    return Decision(choice, code, kind)


def decide_target(
    app_target: str, *, server: policy.Server = "gunicorn", threads: int = 1
) -> Decision:
    """Decide for ``MODULE:APP`` in this process, as AutoWorker does in its worker.

    ``SAFEWORKERS_BACKEND`` comes from the environment; the app is imported
    the way gunicorn imports it (:func:`safeworkers.deploy.target.load_app`,
    the current directory first on ``sys.path``), unless AutoWorker would not
    import it either. Run it from the app's directory. Raises one of
    :data:`ERRORS` for bad input, with a one-line message.
    """
    current = settings.load()
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return decide(
        target.module_of(app_target),
        functools.partial(target.load_app, app_target),
        backend=current.backend,
        threads=threads,
        server=server,
        green_drivers=current.green_drivers,
    )

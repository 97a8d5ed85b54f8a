"""Gather the facts and decide: one step for AutoWorker, `safeworkers recommend` and `check`.

The facts come from the process (:mod:`safeworkers.facts.process`), the app's code
(:mod:`safeworkers.appscan`, read without running it) and, when it is safe to
import here, the loaded app; :func:`safeworkers.policy.recommend` turns them
into a choice. Doing it in one function keeps the entry points in agreement:
the same load conditions, and the process looked at again after the app is
imported (importing it may have monkey-patched the process).

The app is *not* imported when a green backend is forced, when its code
monkey-patches (it must be imported after the green worker patched), or when
it runs Trio code where Trio cannot run (the import would fail; the policy
says why instead).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from safeworkers.decision import policy
from safeworkers.facts import appscan, process

if TYPE_CHECKING:
    from safeworkers.settings import Backend


@dataclass(frozen=True)
class Decision:
    """The choice and the facts it was made from."""

    choice: policy.Choice
    code: appscan.AppScan
    app_kind: policy.AppKind


def loads_app(backend: Backend, env: process.Environment, code: appscan.AppScan) -> bool:
    """Whether the app is imported before the choice (see the module's docstring)."""
    return not (
        backend in process.PATCHERS
        or policy.app_patchers(env, code)
        or (code.needs_trio and not env.trio_usable)
    )


def decide(
    module: str,
    load: Callable[[], object],
    *,
    backend: Backend,
    threads: int = 1,
    server: policy.Server = "gunicorn",
    before_load: Callable[[process.Environment, appscan.AppScan], None] | None = None,
    patched_by_app: Callable[[set[str]], None] | None = None,
) -> Decision:
    """Decide for the app of ``module``; ``load()`` imports it (only if :func:`loads_app`).

    The code is looked up on ``sys.path`` (an empty entry is the current
    directory). ``before_load(env, code)`` runs once the process and code
    facts are known, before anything is imported (AutoWorker installs the
    guard there); ``patched_by_app(libraries)`` when importing the app
    monkey-patched the process although its code did not show it. Raises
    :class:`~safeworkers.policy.PolicyError`, and whatever ``load`` raises.
    """
    env = process.environment(findings=False)
    path = appscan.import_path()
    code = appscan.scan(module, path) if module else appscan.AppScan(module="")
    if before_load is not None:
        before_load(env, code)
    kind: policy.AppKind = "unknown"
    needs_trio = False
    if loads_app(backend, env, code):
        before = set(env.green_patchers)
        app = load()
        kind = process.app_kind(app)
        needs_trio = process.app_needs_trio(app, module or None)
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
    )
    return Decision(choice, code, kind)

"""Which server and worker to use: a pure function of facts and preferences.

``recommend`` reads nothing and starts nothing; give it an
:class:`~safeworkers.detect.Environment` (or let it take one) plus what is
known about the app, and it returns a :class:`Choice` with the reasons. The
table in docs/choosing.md is this function in prose; tests/unit/test_policy.py
checks every row.

Principle: never choose a green (monkey-patching) worker unless asked to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from safeworkers import detect

if TYPE_CHECKING:
    from safeworkers.detect import Environment
    from safeworkers.settings import Backend

AppKind = Literal["wsgi", "asgi"]
Server = Literal["gunicorn", "hypercorn"]

#: Worker class names, as users pass them to ``gunicorn -k`` / ``hypercorn -k``.
SYNC = "safeworkers.SyncWorker"
THREAD = "safeworkers.ThreadWorker"
GEVENT = "safeworkers.GeventWorker"
EVENTLET = "safeworkers.EventletWorker"
TRIO = "safeworkers.TrioWorker"
GUNICORN_ASGI = "asgi"  # gunicorn >= 24's own asyncio ASGI worker
UVICORN = "uvicorn_worker.UvicornWorker"

#: The extra that provides each backend, for "install safeworkers[...]".
_EXTRAS = {"gevent": "gevent", "eventlet": "eventlet", "trio": "trio"}


class PolicyError(ValueError):
    """The requested combination cannot work; the message says what to do."""


@dataclass(frozen=True)
class Choice:
    server: Server
    worker_class: str
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.server} -k {self.worker_class}: " + "; ".join(self.reasons)


def _gunicorn_has_asgi(env: Environment) -> bool:
    version = env.packages.get("gunicorn")
    return version is not None and detect.release(version) >= (24,)


def _require(env: Environment, package: str, extra: str, what: str) -> None:
    if not env.installed(package):
        raise PolicyError(
            f"{what} needs {package}, which is not installed: pip install 'safeworkers[{extra}]'"
        )


def _trio_problem(env: Environment) -> str | None:
    """Why the Trio path cannot be used here, or ``None``."""
    if not env.installed("trio") or not env.installed("hypercorn"):
        return "trio and hypercorn are not both installed (pip install 'safeworkers[trio]')"
    if not env.trio_usable:
        return env.trio_unusable_reason or "trio cannot run in this process"
    return None


def _asyncio_choice(env: Environment, server: Server, reasons: list[str]) -> Choice:
    if server == "hypercorn":
        worker = "uvloop" if env.installed("uvloop") else "asyncio"
        reasons.append(f"hypercorn's {worker} worker serves asyncio ASGI apps")
        return Choice("hypercorn", worker, tuple(reasons))
    if _gunicorn_has_asgi(env):
        reasons.append(
            f"gunicorn {env.packages['gunicorn']} has its own asyncio ASGI worker (-k asgi)"
        )
        return Choice("gunicorn", GUNICORN_ASGI, tuple(reasons))
    if env.installed("uvicorn-worker"):
        reasons.append(
            f"gunicorn {env.packages['gunicorn']} has no ASGI worker; uvicorn-worker is installed"
        )
        return Choice("gunicorn", UVICORN, tuple(reasons))
    if env.installed("hypercorn"):
        reasons.append("no ASGI worker for gunicorn is installed; hypercorn serves it (asyncio)")
        return Choice("hypercorn", "asyncio", tuple(reasons))
    raise PolicyError(
        "this is an ASGI app and no ASGI server is available: upgrade to gunicorn >= 24 "
        "(-k asgi), or pip install uvicorn-worker, or pip install 'safeworkers[trio]'"
    )


def recommend(
    env: Environment | None = None,
    *,
    app_kind: AppKind = "wsgi",
    threads: int = 1,
    backend: Backend = "auto",
    needs_trio: bool = False,
    prefer_trio: bool = False,
    server: Server = "gunicorn",
) -> Choice:
    """Choose a server and worker class, and say why.

    ``needs_trio``: the app runs Trio code itself (quart-trio, an app module
    that imports trio), so only a Trio worker can serve it. ``prefer_trio``:
    nothing is known about the app, but Trio should be used where it can run
    (the hypercorn config module, which cannot import the app). ``server`` is the
    server the caller runs under; on Windows it is always hypercorn, because
    gunicorn does not run there.
    """
    env = detect.environment() if env is None else env
    reasons: list[str] = []
    if env.platform == "win32" and server == "gunicorn":
        server = "hypercorn"
        reasons.append("gunicorn does not run on Windows; hypercorn does")
    if backend != "auto":
        return _forced(env, backend, app_kind, threads, server, reasons)
    if app_kind == "wsgi":
        if server == "hypercorn":
            reasons.append("WSGI app: hypercorn serves it through its WSGI adapter (asyncio)")
            return Choice("hypercorn", "asyncio", tuple(reasons))
        if threads > 1:
            reasons.append(f"WSGI app with --threads {threads}: a thread pool per process")
            return Choice("gunicorn", THREAD, tuple(reasons))
        reasons.append("WSGI app, one thread: gunicorn's sync worker is the fastest fit")
        return Choice("gunicorn", SYNC, tuple(reasons))
    trio_problem = _trio_problem(env)
    if needs_trio or prefer_trio:
        if trio_problem is None:
            reasons.append(
                "ASGI app that runs Trio code, and trio is usable here"
                if needs_trio
                else "Trio is usable here and preferred: its worker serves any ASGI app"
            )
            if server == "hypercorn":
                return Choice("hypercorn", "trio", tuple(reasons))
            return Choice("gunicorn", TRIO, tuple(reasons))
        needs = "the app needs Trio but " if needs_trio else ""
        reasons.append(f"{needs}Trio cannot be used: {trio_problem}")
        return _asyncio_choice(env, server, reasons)
    reasons.append("ASGI app that does not need Trio: the fastest installed asyncio worker")
    return _asyncio_choice(env, server, reasons)


def _forced(
    env: Environment,
    backend: Backend,
    app_kind: AppKind,
    threads: int,
    server: Server,
    reasons: list[str],
) -> Choice:
    reasons.append(f"SAFEWORKERS_BACKEND={backend} asked for it")
    if backend in ("sync", "gthread", "gevent", "eventlet") and app_kind == "asgi":
        raise PolicyError(
            f"SAFEWORKERS_BACKEND={backend} serves WSGI apps, but this app is ASGI: "
            "use trio, asgi or auto"
        )
    if backend in ("trio", "asgi") and app_kind == "wsgi":
        raise PolicyError(
            f"SAFEWORKERS_BACKEND={backend} serves ASGI apps, but this app is WSGI: "
            "use sync, gthread, gevent, eventlet or auto"
        )
    if server == "hypercorn" and backend not in ("trio", "asgi"):
        raise PolicyError(f"hypercorn has no {backend} worker: use trio, asgi or auto")
    if backend == "sync":
        if threads > 1:
            reasons.append(f"--threads {threads} is ignored by the sync worker")
        return Choice("gunicorn", SYNC, tuple(reasons))
    if backend == "gthread":
        return Choice("gunicorn", THREAD, tuple(reasons))
    if backend in ("gevent", "eventlet"):
        _require(env, backend, _EXTRAS[backend], f"SAFEWORKERS_BACKEND={backend}")
        reasons.append("the worker installs the Trio import guard before it patches")
        return Choice("gunicorn", GEVENT if backend == "gevent" else EVENTLET, tuple(reasons))
    if backend == "trio":
        _require(env, "trio", "trio", "SAFEWORKERS_BACKEND=trio")
        _require(env, "hypercorn", "trio", "SAFEWORKERS_BACKEND=trio")
        if not env.trio_usable:
            raise PolicyError(
                f"SAFEWORKERS_BACKEND=trio, but Trio cannot run here: {env.trio_unusable_reason}"
            )
        if server == "hypercorn":
            return Choice("hypercorn", "trio", tuple(reasons))
        return Choice("gunicorn", TRIO, tuple(reasons))
    return _asyncio_choice(env, server, reasons)  # backend == "asgi"

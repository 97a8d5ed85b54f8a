"""Which server and worker to use: a pure function of facts and preferences.

``recommend`` reads nothing and starts nothing; give it an
:class:`~safeworkers.facts.process.Environment` (or let it take one), what is known
about the app at run time (its kind, from the loaded object) and what its
code shows (an :class:`~safeworkers.facts.appscan.AppScan`), and it returns a
:class:`Choice` with the reasons, or raises :class:`PolicyError` when nothing
would serve the app correctly. The table in docs/choosing.md is this function
in prose; tests/unit/decision/test_policy.py checks every row.

Principles: never choose a green (monkey-patching) worker unless asked to,
or unless the process is (or the app makes it) monkey-patched already; a
choice that would boot and then answer 500 is an error instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

from safeworkers.decision import refusals, registry

# The named refusals, here too: `safeworkers check` and the tests ask the policy for them.
from safeworkers.decision.refusals import asked_refusal as asked_refusal
from safeworkers.decision.refusals import refusal as refusal
from safeworkers.facts import drivers, process
from safeworkers.facts.app import AppKind
from safeworkers.facts.appscan import AppScan

if TYPE_CHECKING:
    from safeworkers.facts.process import Environment
    from safeworkers.settings import Backend

Server = Literal["gunicorn", "hypercorn"]

#: The worker names a :class:`Choice` holds, as users pass them to ``gunicorn -k`` /
#: ``hypercorn -k`` (from :mod:`safeworkers.decision.registry`).
SYNC = registry.SYNC.name
THREAD = registry.THREAD.name
GEVENT = registry.GEVENT.name
EVENTLET = registry.EVENTLET.name
TRIO = registry.TRIO.name
GUNICORN_ASGI = registry.GUNICORN_ASGI.name
UVICORN = registry.UVICORN.name

#: The guarded worker of each green library.
_GREEN = refusals.GREEN


class PolicyError(ValueError):
    """The requested combination cannot work; the message says what to do."""


@dataclass(frozen=True)
class Choice:
    server: Server
    worker_class: str
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.server} -k {self.worker_class}: " + "; ".join(self.reasons)


class _Facts(NamedTuple):
    """Everything the decision looks at, from the environment and the app."""

    kind: AppKind
    needs_trio: bool
    uses_asyncio: bool
    #: The green library the process is patched with, or the app patches with.
    patcher: str | None
    #: Where that patching comes from, for messages.
    patched_how: str
    #: The app patches the process itself (when imported), rather than something before it.
    self_patching: bool
    trio_evidence: str
    asyncio_evidence: str
    #: Whether the app's source was read.
    code_read: bool
    #: The green library the app's code selects itself (Flask-SocketIO async_mode, ...).
    asks: str | None
    ask_evidence: str
    #: The app's code, for what a green worker would do with its drivers.
    code: AppScan


def app_patchers(env: Environment, code: AppScan) -> tuple[str, ...]:
    """The libraries the app monkey-patches with when imported in ``env``.

    A patch inside ``try: ... except ImportError`` runs only where its library
    is installed: without it the app runs unpatched, and counts as such.
    """
    return tuple(
        library
        for library in code.patchers
        if env.installed(library)
        or any(lib == library and not use.optional for lib, use in code.patches)
    )


def _facts(env: Environment, kind: AppKind, needs_trio: bool, code: AppScan | None) -> _Facts:
    code = code if code is not None else AppScan(module="")
    process = list(env.green_patchers)
    own = [p for p in app_patchers(env, code) if p not in process]
    patchers = process + own
    if len(patchers) > 1:
        raise PolicyError(
            f"this process is monkey-patched by both {' and '.join(patchers)}"
            + (f" (the app patches with {own[0]}: {code.patch_evidence()})" if own else "")
            + "; two patchers in one process break each other: keep one"
        )
    asked = code.asked_for
    if len(asked) > 1:
        raise PolicyError(
            f"the app's code asks for both gevent and eventlet ({code.ask_evidence()}); "
            "one process can run only one of them: keep one"
        )
    if asked and patchers and asked[0] != patchers[0]:
        raise PolicyError(
            f"the app asks for {asked[0]} ({code.ask_evidence()}), but this process is "
            f"monkey-patched by {patchers[0]}: two green libraries in one process break each "
            "other: keep one"
        )
    how = ""
    if process:
        how = (
            f"this process is already monkey-patched by {process[0]} "
            "(in gunicorn.conf.py, a --preload app or the app module)"
        )
    elif own:
        how = f"the app monkey-patches with {own[0]} when imported ({code.patch_evidence()})"
    runtime = "the loaded app: a Trio framework's app, or its module holds trio"
    return _Facts(
        kind=kind,
        needs_trio=needs_trio or code.needs_trio,
        # trio-asyncio runs asyncio code on Trio's loop: that asyncio use needs no asyncio loop.
        uses_asyncio=code.uses_asyncio and not code.hosts_asyncio_on_trio,
        patcher=patchers[0] if patchers else None,
        patched_how=how,
        self_patching=bool(own),
        trio_evidence=code.evidence(code.trio) if code.needs_trio else runtime,
        asyncio_evidence=code.evidence(code.asyncio),
        code_read=code.found,
        asks=asked[0] if asked else None,
        ask_evidence=code.ask_evidence(),
        code=code,
    )


def _gunicorn_has_asgi(env: Environment) -> bool:
    version = env.packages.get("gunicorn")
    from safeworkers.facts.versions import release  # the ASGI branches only

    return version is not None and release(version) >= (24,)


def _require(env: Environment, worker: registry.Worker, what: str) -> None:
    """Refuse ``worker`` when a distribution it needs is missing, naming the extra."""
    for package in worker.needs:
        if not env.installed(package):
            raise PolicyError(
                f"{what} needs {package}, which is not installed: "
                f"pip install 'safeworkers[{worker.extra}]'"
            )


def _trio_problem(env: Environment, worker: registry.Worker = registry.TRIO) -> str | None:
    """Why ``worker``'s Trio path cannot be used here, or ``None``."""
    missing = [name for name in worker.needs if not env.installed(name)]
    if missing:
        extra = worker.extra
        return f"{' and '.join(missing)} not installed (pip install 'safeworkers[{extra}]')"
    if not env.trio_usable:
        return env.trio_unusable_reason or "trio cannot run in this process"
    return None


def fastest_asyncio_worker(env: Environment) -> tuple[str, str] | None:
    """The fastest installed asyncio ASGI worker for gunicorn, and why; ``None`` if none.

    The rule, from alternating wrk runs (hello app, 1 worker, 32 connections;
    docs/choosing.md has the figures): the HTTP parser decides. uvicorn-worker
    with httptools (uvicorn's C parser) was 1.16x gunicorn's ``asgi`` worker
    with or without uvloop, and 1.5x without gunicorn_h1c; without httptools
    uvicorn parses with h11 and gunicorn's worker was 2-3x faster. Both use
    uvloop when it is installed.
    """
    uvicorn = env.installed("uvicorn-worker")
    if uvicorn and env.installed("httptools"):
        return UVICORN, "uvicorn-worker with httptools is the fastest installed asyncio worker"
    if _gunicorn_has_asgi(env):
        why = f"gunicorn {env.packages['gunicorn']}'s own asyncio ASGI worker (-k asgi)"
        if uvicorn:
            why += " is faster than uvicorn-worker without httptools"
        return GUNICORN_ASGI, why
    if uvicorn:
        return UVICORN, (
            f"gunicorn {env.packages['gunicorn']} has no ASGI worker; uvicorn-worker is installed"
        )
    return None


def _asyncio_choice(env: Environment, server: Server, reasons: list[str]) -> Choice:
    if server == "hypercorn":
        loop = registry.HYPERCORN_UVLOOP if env.installed("uvloop") else registry.HYPERCORN_ASYNCIO
        reasons.append(f"hypercorn's {loop.name} worker")
        return Choice("hypercorn", loop.name, tuple(reasons))
    fastest = fastest_asyncio_worker(env)
    if fastest is not None:
        worker, why = fastest
        reasons.append(why)
        return Choice("gunicorn", worker, tuple(reasons))
    if env.installed("hypercorn"):
        reasons.append("no ASGI worker for gunicorn is installed; hypercorn serves it (asyncio)")
        return Choice("hypercorn", registry.HYPERCORN_ASYNCIO.name, tuple(reasons))
    raise PolicyError(
        "this is an ASGI app and no ASGI server is available: upgrade to gunicorn >= 24 "
        "(-k asgi), or pip install uvicorn-worker, or pip install 'safeworkers[trio]'"
    )


def _trio_choice(server: Server, reasons: list[str]) -> Choice:
    if server == "hypercorn":
        return Choice("hypercorn", registry.HYPERCORN_TRIO.name, tuple(reasons))
    return Choice("gunicorn", TRIO, tuple(reasons))


def _no_trio_here(facts: _Facts, problem: str) -> PolicyError:
    return PolicyError(
        f"the app runs Trio code ({facts.trio_evidence}), but Trio cannot run here: {problem}. "
        "Serve it in a process that nothing monkey-patches (no patch_all() in gunicorn.conf.py "
        "or a --preload app), with safeworkers.TrioWorker or hypercorn -k trio"
    )


def _both_loops(facts: _Facts) -> PolicyError:
    return PolicyError(
        f"the app uses both Trio ({facts.trio_evidence}) and asyncio-bound code "
        f"({facts.asyncio_evidence}); no worker runs both loops, so some routes would answer "
        "500: keep one (trio-asyncio can host asyncio code on Trio)"
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
    code: AppScan | None = None,
    green_drivers: bool = True,
) -> Choice:
    """Choose a server and worker class, and say why.

    ``needs_trio``: the loaded app shows it runs Trio code (quart-trio, a
    module holding trio); ``code``'s static facts add to that (any import
    form, any module of the app), and say whether the app uses asyncio-bound
    code or monkey-patches. ``prefer_trio``: take Trio for an ASGI app that
    shows neither Trio nor asyncio use, where Trio can run. ``server`` is the
    server the caller runs under; on Windows it is always hypercorn, because
    gunicorn does not run there. ``green_drivers``: the green workers apply
    the installed cures of blocking drivers (``SAFEWORKERS_GREEN_DRIVERS``);
    it changes what the reasons say a green worker does, never the choice.
    """
    env = process.environment(findings=False) if env is None else env
    reasons: list[str] = []
    if env.platform == "win32" and server == "gunicorn":
        server = "hypercorn"
        reasons.append("gunicorn does not run on Windows; hypercorn does")
    facts = _facts(env, app_kind, needs_trio, code)
    if backend != "auto":
        return _forced(env, backend, facts, threads, server, reasons, green_drivers)
    if facts.needs_trio and facts.uses_asyncio and facts.kind != "wsgi":
        # A WSGI app's handlers run in threads: asyncio.run() and trio.run() there
        # each bring their own loop, whatever the worker.
        raise _both_loops(facts)
    if facts.patcher is not None:
        return _patched(env, facts, server, reasons, green_drivers)
    if facts.asks is not None:
        return _asked(env, facts, server, reasons, green_drivers)
    if server == "hypercorn":
        return _hypercorn(env, facts, prefer_trio, reasons)
    # Asked only where the answer matters: it reads trio's and hypercorn's metadata,
    # which a WSGI app's worker start need not pay for.
    if facts.needs_trio and facts.kind != "wsgi":
        trio_problem = _trio_problem(env)
        if trio_problem is not None:
            raise _no_trio_here(facts, trio_problem)
    if facts.kind == "unknown":
        raise PolicyError("could not tell whether the app is WSGI or ASGI: load it first")
    if facts.kind == "wsgi":
        return _wsgi_choice(env, threads, reasons)
    if facts.needs_trio:
        reasons.append(f"ASGI app that runs Trio code ({facts.trio_evidence})")
        return _trio_choice(server, reasons)
    if prefer_trio and not facts.uses_asyncio and _trio_problem(env) is None:
        reasons.append("ASGI app without Trio or asyncio-bound code; Trio preferred and usable")
        return _trio_choice(server, reasons)
    reasons.append("ASGI app that does not use Trio")
    return _asyncio_choice(env, server, reasons)


def green_service(env: Environment, library: str, code: AppScan, green_drivers: bool) -> str:
    """What the guarded worker of ``library`` does for this app, and no more than it does.

    A blocking driver the code shows (:mod:`safeworkers.facts.drivers`) makes it serve
    one request at a time while the driver waits, unless its cure is applied at boot.
    """
    green: drivers.Library = "eventlet" if library == "eventlet" else "gevent"
    cured, blocking = drivers.outlook(
        code.driver_places(), green, env.installed, cure=green_drivers
    )
    if blocking:
        return (
            f"the guarded {library} worker serves the app's other I/O concurrently, but "
            f"{'; '.join(blocking)} blocks {library}'s hub: while it waits the worker serves "
            "one request at a time; the Trio import guard goes in first"
        )
    return (
        f"the guarded {library} worker serves green I/O concurrently (a sync worker would "
        "serve it one request at a time)"
        + "".join(f"; {phrase}" for phrase in cured)
        + "; the Trio import guard goes in first"
    )


def _asked(
    env: Environment, facts: _Facts, server: Server, reasons: list[str], green_drivers: bool
) -> Choice:
    """The app's code selects a green library itself (rows 8a-8b)."""
    library = facts.asks
    assert library is not None
    worker = _GREEN[library]
    asked = f"the app asks for {library} itself ({facts.ask_evidence})"
    if server == "hypercorn":
        raise PolicyError(
            f"{asked}; hypercorn cannot serve green code: serve it with gunicorn -k {worker.name}"
        )
    if facts.kind == "asgi":
        raise PolicyError(
            f"{asked}, but it is an ASGI app and the green workers serve WSGI apps: use "
            "async_mode='asgi' (python-socketio's AsyncServer) with an ASGI worker, or serve a "
            f"WSGI app with -k {worker.name}"
        )
    if facts.needs_trio:
        raise _no_trio_here(facts, f"{asked}, and a {library}-patched process cannot run Trio")
    _require(env, worker, asked)
    reasons.append(
        f"{asked}: only {library}'s hub serves it (under a sync or threaded worker its "
        "WebSockets and long polls would wait for ever)"
    )
    reasons.append(green_service(env, library, facts.code, green_drivers))
    return Choice("gunicorn", worker.name, tuple(reasons))


def may_choose_threads(threads: int, backend: Backend, free_threaded: bool) -> bool:
    """Whether :func:`recommend` may choose the thread worker for these settings: with
    ``--threads`` above 1, when ``SAFEWORKERS_BACKEND=gthread`` asks, or on a free-threaded
    build (the GIL may be off once the app is imported). AutoWorker imports that worker's
    module before it drops privileges only then."""
    return threads > 1 or backend == "gthread" or free_threaded


def _wsgi_choice(env: Environment, threads: int, reasons: list[str]) -> Choice:
    """Rows 13 and 14: threads, or one at a time; a free-threaded Python with the GIL off
    runs threads in parallel, which only the thread worker uses."""
    parallel = env.gil.parallel_threads
    if threads > 1:
        why = f"WSGI app with --threads {threads}: a thread pool per process"
        if parallel:
            why += ", whose threads run in parallel: free-threaded Python with the GIL off"
        reasons.append(why)
        return Choice("gunicorn", THREAD, tuple(reasons))
    if parallel:
        reasons.append(
            "WSGI app on a free-threaded Python with the GIL off: gunicorn's gthread worker "
            "runs its threads in parallel, which the sync worker cannot use; with --threads 1 "
            "it serves one request at a time per process: raise --threads (and lower -w)"
        )
        return Choice("gunicorn", THREAD, tuple(reasons))
    reasons.append("WSGI app, one thread: gunicorn's sync worker is the fastest fit")
    if env.gil.free_threaded:
        reasons.append(f"threads would not run in parallel here ({env.gil.describe()})")
    return Choice("gunicorn", SYNC, tuple(reasons))


def _green_gil_note(env: Environment) -> list[str]:
    """What a green worker gives up on a free-threaded Python (nothing to say elsewhere)."""
    if not env.gil.free_threaded:
        return []
    return [
        f"on this free-threaded Python ({env.gil.describe()}) a green worker still serves on "
        "one OS thread: it gains nothing from free-threading (safeworkers.ThreadWorker would)"
    ]


def _patched(
    env: Environment, facts: _Facts, server: Server, reasons: list[str], green_drivers: bool
) -> Choice:
    """The process is (or the app makes it) monkey-patched by gevent or eventlet."""
    patcher = facts.patcher
    assert patcher is not None
    if facts.needs_trio:
        raise _no_trio_here(facts, facts.patched_how)
    if server == "hypercorn":
        raise PolicyError(
            f"{facts.patched_how}; hypercorn cannot serve green code: serve it with "
            f"gunicorn -k {_GREEN[patcher].name}"
        )
    reasons.append(facts.patched_how)
    if facts.kind == "asgi":
        reasons.append("an ASGI app: the asyncio worker serves it on the patched stdlib")
        return _asyncio_choice(env, server, reasons)
    reasons.append(green_service(env, patcher, facts.code, green_drivers))
    reasons.extend(_green_gil_note(env))
    return Choice("gunicorn", _GREEN[patcher].name, tuple(reasons))


def _hypercorn(env: Environment, facts: _Facts, prefer_trio: bool, reasons: list[str]) -> Choice:
    trio_problem = _trio_problem(env, registry.HYPERCORN_TRIO)
    if facts.needs_trio:
        if trio_problem is not None:
            raise _no_trio_here(facts, trio_problem)
        reasons.append(f"the app runs Trio code ({facts.trio_evidence})")
        return _trio_choice("hypercorn", reasons)
    if prefer_trio and trio_problem is None and not facts.uses_asyncio and facts.kind != "wsgi":
        reasons.append("no Trio or asyncio-bound code in the app; Trio preferred and usable")
        return _trio_choice("hypercorn", reasons)
    if facts.kind == "wsgi":
        reasons.append("WSGI app: hypercorn serves it through its WSGI adapter")
    elif facts.uses_asyncio:
        reasons.append(f"the app uses asyncio ({facts.asyncio_evidence})")
    elif facts.code_read:
        reasons.append("nothing in the app's code uses Trio")
    else:
        reasons.append("the app's code was not found: taken as an asyncio app, as most are")
    return _asyncio_choice(env, "hypercorn", reasons)


def _forced(
    env: Environment,
    backend: Backend,
    facts: _Facts,
    threads: int,
    server: Server,
    reasons: list[str],
    green_drivers: bool = True,
) -> Choice:
    asked = f"SAFEWORKERS_BACKEND={backend}"
    reasons.append(f"{asked} asked for it")
    if server == "hypercorn" and backend not in ("trio", "asgi"):
        raise PolicyError(f"hypercorn has no {backend} worker: use trio, asgi or auto")
    kind = facts.kind
    if backend in ("sync", "gthread", "gevent", "eventlet") and kind == "asgi":
        raise PolicyError(f"{asked} serves WSGI apps, but this app is ASGI: use trio, asgi or auto")
    if backend == "asgi" and kind == "wsgi" and server == "gunicorn":
        raise PolicyError(
            f"{asked} serves ASGI apps, but this app is WSGI: use sync, gthread, gevent, "
            "eventlet, trio or auto"
        )
    patcher = facts.patcher
    # asyncio runs on a patched stdlib; it cannot serve an app that patches itself,
    # which is WSGI more often than not and is not loaded before the choice.
    asyncio_fits = backend == "asgi" and not facts.self_patching
    if patcher is not None and backend != patcher and not asyncio_fits:
        if backend in _GREEN:
            problem = f"{backend} would patch it a second time, with another library"
        elif backend == "trio":
            problem = "Trio cannot run in a patched process"
        else:
            problem = f"the {backend} worker would serve green code one request at a time"
        raise PolicyError(
            f"{facts.patched_how}; {asked} does not fit: {problem}. Use "
            f"SAFEWORKERS_BACKEND={patcher} or auto"
        )
    if facts.asks is not None and backend != facts.asks:
        raise PolicyError(
            f"the app asks for {facts.asks} itself ({facts.ask_evidence}); {asked} does not "
            f"fit (its WebSockets and long polls need {facts.asks}'s hub): use "
            f"SAFEWORKERS_BACKEND={facts.asks} or auto"
        )
    if facts.needs_trio and backend != "trio" and (kind != "wsgi" or backend in _GREEN):
        raise PolicyError(
            f"the app runs Trio code ({facts.trio_evidence}); {asked} cannot run it (those "
            "routes would answer 500): use trio or auto"
        )
    if facts.uses_asyncio and backend == "trio" and kind != "wsgi":
        raise PolicyError(
            f"the app uses asyncio-bound code ({facts.asyncio_evidence}); on Trio's loop those "
            "routes would answer 500: use asgi or auto"
        )
    if backend == "sync":
        if threads > 1:
            reasons.append(f"--threads {threads} is ignored by the sync worker")
        return Choice("gunicorn", SYNC, tuple(reasons))
    if backend == "gthread":
        return Choice("gunicorn", THREAD, tuple(reasons))
    if backend in _GREEN:
        _require(env, _GREEN[backend], asked)
        reasons.append(green_service(env, backend, facts.code, green_drivers))
        reasons.extend(_green_gil_note(env))
        return Choice("gunicorn", _GREEN[backend].name, tuple(reasons))
    if backend == "trio":
        _require(env, registry.TRIO if server == "gunicorn" else registry.HYPERCORN_TRIO, asked)
        if not env.trio_usable:
            raise PolicyError(f"{asked}, but Trio cannot run here: {env.trio_unusable_reason}")
        if kind == "wsgi":
            reasons.append("Trio serves the WSGI app through hypercorn's WSGI adapter")
        return _trio_choice(server, reasons)
    if patcher is not None:
        reasons.append(f"{facts.patched_how}; the asyncio worker runs on the patched stdlib")
    return _asyncio_choice(env, server, reasons)  # backend == "asgi"

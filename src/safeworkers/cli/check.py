"""``safeworkers check APP``: boot the app for real under each candidate worker.

Each candidate (our workers and their upstream twins, gevent and eventlet
included, plus hypercorn for ASGI apps) is started in its own process tree
with :mod:`safeworkers.testing`, optionally with macOS or FreeBSD simulated
(``--simulate darwin``: Trio's backend selection, and macOS's fork-safety
crash), and sent one request. The matrix says, per worker,
"serves" with the status, or the one-line cause of the failure (the
exception type and message from the server's log). Boots run in parallel
(``--jobs``), each bounded by ``--timeout``.

The exit status is 1 when a worker the user intends fails: the ``--worker``
names, else the worker ``safeworkers recommend`` (what AutoWorker would
pick) chooses.

What the app's code shows comes along: the blocking drivers a green worker
would wait on (and whether it is worth one), and, for an app that
monkey-patches itself or asks for a green library itself (Flask-SocketIO
``async_mode="gevent"``), the named refusal of each worker that cannot serve
it (threads, the other green library, a worker without the hub asked for);
gunicorn's own threaded workers are not booted for a self-patching app,
since they would hang until the timeout, and gunicorn's workers that answer
the request anyway are shown refused, not serving.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from safeworkers import simulation
from safeworkers.cli import _options
from safeworkers.decision import registry

if TYPE_CHECKING:
    from safeworkers import testing

# Imported where they are used, so that `safeworkers doctor` (whose parser
# includes this command's) does not import them: safeworkers.testing (which
# imports http.client and ssl; it also reads a failure's cause from a log),
# subprocess, concurrent.futures.

Status = Literal["serves", "fails", "skipped"]


@dataclass(frozen=True)
class Candidate:
    """A worker to boot: its name in the matrix (and for ``--worker``), server and ``-k``."""

    name: str
    server: testing.ServerName
    worker: str
    args: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()  # distributions it needs
    extra: str | None = None  # the safeworkers extra that brings them


def _candidate(worker: registry.Worker) -> Candidate:
    name = f"hypercorn:{worker.name}" if worker.server == "hypercorn" else worker.name
    args = ("--threads", "2") if worker.threads else ()
    return Candidate(name, worker.server, worker.name, args, worker.needs, worker.extra)


def _hypercorn(worker: str) -> Candidate:
    """hypercorn's ``-k worker``, for a name the table does not know."""
    return Candidate(f"hypercorn:{worker}", "hypercorn", worker, (), ("hypercorn",), "trio")


#: Each of ours beside its upstream twin.
WSGI: tuple[Candidate, ...] = tuple(
    map(
        _candidate,
        (
            registry.AUTO,
            registry.SYNC,
            registry.GUNICORN_SYNC,
            registry.THREAD,
            registry.GUNICORN_GTHREAD,
            registry.GEVENT,
            registry.GUNICORN_GEVENT,
            registry.EVENTLET,
            registry.GUNICORN_EVENTLET,
        ),
    )
)
ASGI: tuple[Candidate, ...] = tuple(
    map(
        _candidate,
        (
            registry.AUTO,
            registry.TRIO,
            registry.HYPERCORN_TRIO,
            registry.GUNICORN_ASGI,
            registry.HYPERCORN_ASYNCIO,
        ),
    )
)
UVICORN = _candidate(registry.UVICORN)


def candidate(name: str) -> Candidate:
    """The candidate ``--worker NAME`` means: ours by short or full name, upstream, hypercorn:X."""
    known = {c.name: c for c in (*WSGI, *ASGI, UVICORN)}
    ours = registry.ours(name)
    for key in (name, ours.name if ours is not None else None):
        if key in known:
            return known[key]
    if name.startswith("hypercorn:"):
        return _hypercorn(name.partition(":")[2])
    return Candidate(name, "gunicorn", name)


def candidates(app_kind: str) -> list[Candidate]:
    if app_kind == "asgi":
        from safeworkers.facts import process

        installed = process.package_version("uvicorn-worker") is not None
        return [*ASGI, *([UVICORN] if installed else [])]
    return list(WSGI)


@dataclass
class Result:
    name: str
    server: str
    status: Status
    intended: bool = False
    http_status: int | None = None
    cause: str | None = None
    seconds: float = 0.0
    command: list[str] = field(default_factory=list)
    #: What the worker warned about at boot (a blocking driver).
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ what AutoWorker would pick

_DECIDE = "import sys; from safeworkers.cli import check; check.print_choice(sys.argv[1])"


def print_choice(target: str) -> None:
    """In a child: print, as JSON, what ``safeworkers recommend TARGET`` decides."""
    # The same facts as AutoWorker: the code, the process, the app.
    from safeworkers.decision import decide

    try:
        decision = decide.decide_target(target)
        facts: dict[str, Any] = {"app_kind": decision.app_kind, **asdict(decision.choice)}
        facts.update(_code_facts(decision))
    except decide.ERRORS as exc:  # one-line "cannot import ..." and policy messages
        facts = {"error": str(exc)}
    except SystemExit as exc:  # the app's own sys.exit()
        facts = {"error": str(exc.code).removeprefix("safeworkers: ")}
    print(json.dumps(facts))


def _code_facts(decision: Any) -> dict[str, Any]:
    """What the app's code shows that the matrix needs: its patcher, and the green verdict."""
    from safeworkers.cli import recommend

    code = decision.code
    facts: dict[str, Any] = {
        "code": code.summary(),
        "green": recommend.green_verdict(decision.choice, code),
    }
    for library, use in code.patches:
        if not use.optional:
            facts["patches"] = [library, code.evidence([use])]
            break
    if code.asked_for:
        facts["asks"] = [code.asked_for[0], code.ask_evidence()]
    return facts


def refused(cand: Candidate, choice: dict[str, Any]) -> str | None:
    """Why ``cand`` cannot serve an app that monkey-patches itself (``choice["patches"]``)
    or asks for a green library itself (``choice["asks"]``)."""
    from safeworkers.decision import policy

    row = registry.find(cand.worker, cand.server)
    if row is None:
        return None
    if "patches" in choice:
        return policy.refusal(row, *choice["patches"])
    if "asks" in choice:
        return policy.asked_refusal(row, *choice["asks"])
    return None


def autoworker_choice(
    target: str, timeout: float, pythonpath: Sequence[str] = ()
) -> dict[str, Any]:
    """What AutoWorker would pick for ``target``, as ``safeworkers recommend`` decides:
    ``{app_kind, server, worker_class, reasons}``, or ``{error}``.

    The one place ``check`` asks; it runs in a child, so importing the app (and
    whatever the app patches) stays out of this process.
    """
    import subprocess

    try:
        done = subprocess.run(
            [sys.executable, "-c", _DECIDE, target],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "PYTHONPATH": _pythonpath(pythonpath)},
        )
    except subprocess.TimeoutExpired:
        return {"error": f"importing {target} took longer than {timeout:g}s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        from safeworkers.testing import one_line_cause

        cause = one_line_cause(done.stderr) or done.stderr.strip()[-300:]
        return {"error": f"cannot decide for {target}: {cause}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _pythonpath(first: Sequence[str]) -> str:
    paths = [*(first or [os.getcwd()]), os.environ.get("PYTHONPATH", "")]
    return os.pathsep.join(p for p in paths if p)


# ------------------------------------------------------------------ booting


def boot(
    cand: Candidate,
    app: str,
    *,
    simulate: str | None,
    path: str,
    timeout: float,
    pythonpath: Sequence[str] = (),
    refusal: str | None = None,
    hangs: bool = False,
) -> Result:
    """Start ``app`` under ``cand``, send ``GET path``, stop; what happened.

    ``pythonpath``: where the app is imported from (default: the current directory).
    ``refusal``: why the worker cannot serve the app (ours refuse by themselves at
    boot); gunicorn's own workers are shown failing with that reason, and with
    ``hangs`` (the app patches itself) its thread workers are not booted: they would
    hang until the timeout.
    """
    from safeworkers import testing
    from safeworkers.facts import process
    from safeworkers.testing import one_line_cause

    result = Result(cand.name, cand.server, "fails")
    missing = [n for n in cand.needs if process.package_version(n) is None]
    if missing:
        result.status = "skipped"
        extra = f" (pip install 'safeworkers[{cand.extra}]')" if cand.extra else ""
        result.cause = f"{', '.join(missing)} not installed{extra}"
        return result
    row = registry.find(cand.worker, cand.server)
    if hangs and refusal is not None and row is not None and row.threads and not row.ours:
        result.cause = f"not booted (it would hang until the timeout): {refusal}"
        return result
    started = time.monotonic()
    server = testing.start(
        cand.server,
        app,
        "-w",
        "1",
        *cand.args,
        worker=cand.worker,
        simulate=simulate,
        wait=False,
        keep_settings=True,
        pythonpath=pythonpath or [os.getcwd()],
        graceful_timeout=1,
    )
    result.command = list(server.argv)
    try:
        response = server.wait_ready(timeout, path=path)
    except testing.ServerExited:
        result.cause = one_line_cause(server.log) or f"exited with {server.proc.returncode}"
    except testing.WorkerCrashed as crashed:
        result.cause = _crash_cause(server.log, crashed.signal, simulate)
    except testing.ServerNotReady:
        found = one_line_cause(server.log)
        result.cause = f"no answer within {timeout:g}s" + (f" ({found})" if found else "")
    else:
        result.http_status = response.status
        if response.status < 500:
            result.status = "serves"
        else:
            found = one_line_cause(server.log)
            result.cause = f"answers {response.status}" + (f": {found}" if found else "")
    finally:
        server.stop(timeout=5)
        result.seconds = round(time.monotonic() - started, 2)
    result.notes = [m.group(1) for m in _DRIVER_WARNING.finditer(server.log)]
    if refusal is not None and not cand.worker.startswith(registry.PREFIX):
        # Ours refuse at boot by themselves; gunicorn's may boot, and answer GET PATH,
        # and still not serve the app (its WebSockets, or everything once it patches).
        if result.status == "serves":
            result.status = "fails"
            result.cause = f"{refusal} (the boot: answers {result.http_status} to GET {path})"
        else:
            result.cause = f"{refusal} (the boot: {result.cause})"
    return result


#: A green worker's warning about a blocking driver, in a server's log.
_DRIVER_WARNING = re.compile(
    r"\[WARNING\] safeworkers \w+: (.+? waits for .+? without yielding.*)$", re.M
)


def _crash_cause(log: str, signal_name: str, simulate: str | None) -> str:
    """A worker's death by a crash signal, and on macOS (real or simulated) its likely cause."""
    from safeworkers.facts import forksafety
    from safeworkers.testing import one_line_cause

    cause = one_line_cause(log) or f"a worker was killed by {signal_name}"
    environ = simulation.child_env(simulate) if simulate else dict(os.environ)
    hint = forksafety.crash_hint(signal_name, forksafety.state(environ))
    if hint is not None and not cause.startswith("worker "):  # ours explain it already
        cause += f": {hint}"
    return cause


# ------------------------------------------------------------------ the command


def _intended_names(args: argparse.Namespace, choice: dict[str, Any]) -> list[str]:
    if args.worker:
        return [candidate(name).name for name in args.worker]
    if "error" in choice:
        return []
    worker = choice["worker_class"]
    return [f"hypercorn:{worker}" if choice["server"] == "hypercorn" else candidate(worker).name]


def main(args: argparse.Namespace) -> int:
    """The ``check`` sub-command."""
    paths = _options.use_paths(args.chdir, args.pythonpath)
    choice = autoworker_choice(args.app, args.timeout, paths)
    if "error" in choice and not args.worker:
        raise SystemExit(f"safeworkers: {choice['error']}")
    intended = _intended_names(args, choice)
    matrix = (
        [candidate(n) for n in intended]
        if args.only
        else candidates(choice.get("app_kind", "wsgi"))
    )
    for name in intended:
        if name not in {c.name for c in matrix}:
            matrix.append(candidate(name))
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [
            pool.submit(
                boot,
                c,
                args.app,
                simulate=args.simulate,
                path=args.path,
                timeout=args.timeout,
                pythonpath=paths,
                refusal=refused(c, choice),
                hangs="patches" in choice,
            )
            for c in matrix
        ]
        results = [f.result() for f in futures]
    for result in results:
        result.intended = result.name in intended
    ok = all(r.status == "serves" for r in results if r.intended)
    if args.json:
        report = {
            "app": args.app,
            "path": args.path,
            "simulate": args.simulate,
            "autoworker": choice,
            "intended": intended,
            "ok": ok,
            "results": [asdict(r) for r in results],
        }
        print(json.dumps(report, indent=2))
    else:
        _print_matrix(args, choice, results, intended, ok)
    return 0 if ok else 1


def _print_matrix(
    args: argparse.Namespace,
    choice: dict[str, Any],
    results: Sequence[Result],
    intended: Sequence[str],
    ok: bool,
) -> None:
    where = {
        "darwin": ", macOS simulated (Trio's backend, fork safety)",
        "freebsd": ", FreeBSD simulated (Trio's backend)",
    }.get(args.simulate or "", "")
    print(f"safeworkers check {args.app}: GET {args.path}{where}")
    if "error" in choice:
        print(f"AutoWorker would pick: unknown ({choice['error']})")
    else:
        shown = _intended_names(argparse.Namespace(worker=None), choice)[0]
        print(f"AutoWorker would pick: {shown} ({'; '.join(choice['reasons'])})")
        print(f"app code: {choice['code']}")
        print(f"green workers: {choice['green']}")
    width = max(len("worker"), *(len(r.name) for r in results)) + 2
    print()
    print(f"  {'worker':<{width}}{'server':<11}result")
    for r in results:
        mark = "*" if r.intended else " "
        if r.status == "serves":
            outcome = f"serves ({r.http_status}, {r.seconds:.1f} s)"
        else:
            outcome = f"{r.status}: {r.cause}"
        print(f"{mark} {r.name:<{width}}{r.server:<11}{outcome}")
        for note in dict.fromkeys(r.notes):
            print(f"  {'':<{width}}{'':<11}warns: {note}")
    print()
    verdict = "serves" if ok else "FAILS"
    print(f"* intended ({', '.join(intended)}): {verdict}")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``safeworkers check`` on the command's sub-parsers."""
    parser = commands.add_parser(
        "check",
        help="boot the app under each worker for real and print what serves",
        description=__doc__.split("\n\n")[1].replace("\n", " ") if __doc__ else None,
    )
    parser.add_argument("app", metavar="MODULE:APP", help="as gunicorn takes it, from this folder")
    _options.add_path_options(parser)
    parser.add_argument(
        "--worker",
        action="extend",
        nargs="+",
        metavar="NAME",
        help="the workers you intend: safeworkers.GeventWorker, GeventWorker, "
        "gevent, hypercorn:trio, ... (default: what AutoWorker would pick)",
    )
    parser.add_argument(
        "--simulate",
        choices=simulation.CHOICES,
        help="make Trio's backend selection see this platform (macOS/BSD failures on Linux); "
        "darwin also reproduces macOS's fork-safety crash of forked workers",
    )
    parser.add_argument("--path", default="/", help="the path to request (default /)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--only", action="store_true", help="boot only the intended workers")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds each boot may take (default 30)"
    )
    parser.add_argument("--jobs", type=int, default=4, help="boots at the same time (default 4)")
    parser.set_defaults(func=main)

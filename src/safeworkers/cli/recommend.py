"""``safeworkers recommend MODULE:APP``: the worker AutoWorker would pick, why, and the command.

It decides exactly as AutoWorker does in its worker
(:func:`safeworkers.decision.decide.decide_target`): the app's code, this
process, and the app imported as gunicorn imports it, unless AutoWorker would
not import it either. ``--chdir`` and ``--pythonpath`` as gunicorn takes them.
It also says whether a green worker is worth it for this app: what the
blocking drivers its code shows (:mod:`safeworkers.facts.drivers`) would do
to gevent's (or eventlet's) hub, and the cure of each.
"""

from __future__ import annotations

import argparse
import shlex
from typing import TYPE_CHECKING

from safeworkers.cli import _options

if TYPE_CHECKING:
    from safeworkers.decision import policy
    from safeworkers.facts import appscan


def main(args: argparse.Namespace) -> int:
    """The ``recommend`` sub-command."""
    from safeworkers.decision import decide

    _options.use_paths(args.chdir, args.pythonpath)
    try:
        decision = decide.decide_target(args.app, server=args.server, threads=args.threads)
    except decide.ERRORS as exc:
        raise SystemExit(f"safeworkers: {exc}") from None
    choice, code = decision.choice, decision.code
    from safeworkers.facts import freethreading

    gil = freethreading.gil_state()  # after the app was imported, as AutoWorker sees it
    if gil.free_threaded:
        print(f"  python: {gil.describe()}")
    print(f"{choice.server} -k {choice.worker_class}")
    for reason in choice.reasons:
        print(f"  because {reason}")
    print(f"  app code: {code.summary()}")
    print(f"  green workers: {green_verdict(choice, code)}")
    print(f"run: {run_line(args, choice)}")
    return 0


def green_verdict(choice: policy.Choice, code: appscan.AppScan) -> str:
    """Whether a green worker is worth it for the app: what its drivers would do to the hub."""
    from safeworkers import settings
    from safeworkers.decision import registry
    from safeworkers.facts import drivers, process

    worker = registry.find(choice.worker_class)
    library: drivers.Library = "eventlet" if worker and worker.patches == "eventlet" else "gevent"
    env = process.environment(findings=False)
    cure = settings.load().green_drivers
    return drivers.verdict(code.driver_places(), library, env.installed, cure=cure)


def run_line(args: argparse.Namespace, choice: policy.Choice) -> str:
    """The command to run, quoted for a POSIX shell."""
    from safeworkers.decision import policy

    argv = [choice.server, "-k", choice.worker_class]
    # Not for SyncWorker: gunicorn swaps any "...SyncWorker" with --threads > 1
    # for its own gthread worker.
    if choice.server == "gunicorn" and args.threads > 1 and choice.worker_class != policy.SYNC:
        argv += ["--threads", str(args.threads)]
    prefix = ""
    if choice.server == "gunicorn":
        argv += ["--chdir", args.chdir] if args.chdir else []
        argv += ["--pythonpath", args.pythonpath] if args.pythonpath else []
    else:  # hypercorn has neither option
        prefix = f"cd {shlex.quote(args.chdir)} && " if args.chdir else ""
        prefix += f"PYTHONPATH={shlex.quote(args.pythonpath)} " if args.pythonpath else ""
    return prefix + shlex.join([*argv, args.app])


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``safeworkers recommend`` on the command's sub-parsers."""
    parser = commands.add_parser("recommend", help="pick a server and worker for an app")
    parser.add_argument("app", metavar="MODULE:APP", help="as gunicorn takes it")
    parser.add_argument(
        "--threads", type=_options.positive_int, default=1, help="gunicorn --threads"
    )
    parser.add_argument("--server", choices=("gunicorn", "hypercorn"), default="gunicorn")
    _options.add_path_options(parser)
    parser.set_defaults(func=main)

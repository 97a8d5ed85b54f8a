"""The ``safeworkers`` command.

``safeworkers doctor [--json] [--strict]``
    What this machine and environment can run, and the known-bad
    combinations found (``--strict``: exit 1 when there are warnings).
``safeworkers recommend MODULE:APP [--threads N] [--server gunicorn|hypercorn] ...``
    Decide as AutoWorker does (the app's code, this process, the app
    imported as gunicorn imports it, unless it patches), and print the
    server and worker, the reasons, and the command line to run.
    ``--chdir`` and ``--pythonpath`` as gunicorn takes them.
``safeworkers check MODULE:APP [--worker NAME ...] [--simulate darwin|freebsd] ...``
    Boot the app for real under each candidate worker and print what serves
    (see ``safeworkers.cli.check``).
``safeworkers template NAME [-o DIR] [--app MODULE:APP] ...``
    Render deployment files (see ``safeworkers.cli.template``).
``safeworkers run [--] COMMAND [ARGS...]``
    Run COMMAND with the import guard installed at start-up in every
    Python process it starts (see ``safeworkers.cli.run``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from safeworkers import __version__, settings
from safeworkers.cli import check as _check
from safeworkers.cli import run as _run
from safeworkers.cli import template as _template
from safeworkers.deploy import target as _target

if TYPE_CHECKING:
    from safeworkers.decision import decide as _decide
    from safeworkers.decision import policy

# Each command imports what it needs (detect, policy, _decide) when it runs:
# `safeworkers doctor` should not pay for `recommend`'s imports.


def _doctor(args: argparse.Namespace) -> int:
    from safeworkers.facts import process

    env = process.environment()
    if args.json:
        print(json.dumps(env.to_dict(), indent=2, sort_keys=True))
    else:
        print(f"safeworkers {__version__}")
        print(f"platform      {env.platform} ({env.system} {env.machine})")
        print(f"python        {env.python_implementation} {env.python_version}")
        trio = "usable" if env.trio_usable else f"unusable: {env.trio_unusable_reason}"
        print(f"trio backend  {env.trio_backend} ({trio})")
        print("patched       " + (", ".join(f"{m} by {p}" for m, p in env.patched.items()) or "no"))
        print("packages")
        for name, version in env.packages.items():
            print(f"  {name:<15} {version or '-'}")
        print("trio importers" if env.trio_importers else "trio importers none")
        for name, how in env.trio_importers.items():
            print(f"  {name:<15} {how}")
        print("findings" if env.findings else "findings      none")
        for finding in env.findings:
            print(f"  [{finding.severity}] {finding.id}: {finding.message}")
            print(f"      fix: {finding.fix}")
    if args.strict and any(f.severity != "info" for f in env.findings):
        return 1
    return 0


def decide(
    target: str,
    *,
    server: policy.Server = "gunicorn",
    threads: int = 1,
) -> _decide.Decision:
    """Decide for ``MODULE:APP`` as AutoWorker does (:func:`safeworkers.decision.decide.decide`).

    Run from the app's directory (see :func:`safeworkers.deploy.target.use_paths`): the app is
    imported here, the way gunicorn imports it, unless AutoWorker would not
    import it either. Errors are ``SystemExit`` with one ``safeworkers: ...`` line.
    """
    from safeworkers.decision import decide as _decide
    from safeworkers.decision import policy

    try:
        current = settings.load().backend
    except settings.SettingsError as exc:
        raise SystemExit(f"safeworkers: {exc}") from None
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())

    def load() -> object:
        try:
            return _target.load_app(target)
        except _target.TargetError as exc:
            raise SystemExit(f"safeworkers: {exc}") from None

    try:
        return _decide.decide(
            _target.module_of(target), load, backend=current, threads=threads, server=server
        )
    except policy.PolicyError as exc:
        raise SystemExit(f"safeworkers: {exc}") from None


def _run_line(args: argparse.Namespace, choice: policy.Choice) -> str:
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


def _recommend(args: argparse.Namespace) -> int:
    _target.use_paths(args.chdir, args.pythonpath)
    decision = decide(args.app, server=args.server, threads=args.threads)
    choice, code = decision.choice, decision.code
    print(f"{choice.server} -k {choice.worker_class}")
    for reason in choice.reasons:
        print(f"  because {reason}")
    print(f"  app code: {code.summary()}")
    print(f"run: {_run_line(args, choice)}")
    return 0


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="safeworkers", description="gunicorn and hypercorn workers that boot everywhere."
    )
    parser.add_argument("--version", action="version", version=f"safeworkers {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    doctor = commands.add_parser("doctor", help="report what this environment can run")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.add_argument("--strict", action="store_true", help="exit 1 on warnings")
    doctor.set_defaults(func=_doctor)
    recommend = commands.add_parser("recommend", help="pick a server and worker for an app")
    recommend.add_argument("app", metavar="MODULE:APP", help="as gunicorn takes it")
    recommend.add_argument("--threads", type=positive_int, default=1, help="gunicorn --threads")
    recommend.add_argument("--server", choices=("gunicorn", "hypercorn"), default="gunicorn")
    _target.add_path_options(recommend)
    recommend.set_defaults(func=_recommend)
    _template.add_parser(commands)
    _check.add_parser(commands)
    _run.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())

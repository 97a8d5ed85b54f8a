"""The ``safeworkers`` command.

``safeworkers doctor [--json] [--strict]``
    What this machine and environment can run, and the known-bad
    combinations found (``--strict``: exit 1 when there are warnings).
``safeworkers recommend MODULE:APP [--threads N] [--server gunicorn|hypercorn]``
    Import the app (in this unpatched process), and print the server and
    worker the policy picks, the reasons, and the command line to run.
``safeworkers run [--] COMMAND [ARGS...]``
    Run COMMAND with the import guard installed at start-up in every
    Python process it starts (see ``safeworkers._run``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from safeworkers import __version__, _check, _run, _template, appscan, detect, policy, settings


def _doctor(args: argparse.Namespace) -> int:
    env = detect.environment()
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


def _load_app(target: str) -> object:
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise SystemExit(f"safeworkers: {target!r} is not MODULE:APP (e.g. myproject.wsgi:app)")
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the app's own import error, reported in one line
        raise SystemExit(
            f"safeworkers: cannot import {module_name!r}: {type(exc).__name__}: {exc}"
        ) from None
    factory = attribute.endswith("()")  # gunicorn's "module:create_app()"
    name = attribute.removesuffix("()")
    try:
        app = getattr(module, name)
    except AttributeError:
        raise SystemExit(f"safeworkers: module {module_name!r} has no {name!r}") from None
    if factory:
        try:
            app = app()
        except Exception as exc:
            raise SystemExit(
                f"safeworkers: {module_name}:{attribute} raised {type(exc).__name__}: {exc}"
            ) from None
    return app


@dataclass(frozen=True)
class Decision:
    """What AutoWorker (or the hypercorn config) would decide for an app, and from what."""

    choice: policy.Choice
    code: appscan.AppScan
    app_kind: policy.AppKind


def decide(
    target: str,
    *,
    server: policy.Server = "gunicorn",
    threads: int = 1,
    backend: settings.Backend | None = None,
) -> Decision:
    """Decide for ``MODULE:APP`` from the facts AutoWorker uses, in this (unpatched) process.

    The app's code is read; the app is imported to learn its kind, unless its
    code monkey-patches (it would patch this process). Errors are
    ``SystemExit`` with one ``safeworkers: ...`` line.
    """
    try:
        current = backend or settings.load().backend
    except settings.SettingsError as exc:
        raise SystemExit(f"safeworkers: {exc}") from None
    env = detect.environment(findings=False)
    module = appscan.module_of(target)
    code = appscan.scan(module, [os.getcwd(), *filter(None, sys.path)])
    kind: policy.AppKind = "unknown"
    needs_trio = False
    if not code.patchers:
        app = _load_app(target)
        kind = detect.app_kind(app)
        needs_trio = detect.app_needs_trio(app, module)
    elif ":" not in target:
        raise SystemExit(f"safeworkers: {target!r} is not MODULE:APP (e.g. myproject.wsgi:app)")
    try:
        choice = policy.recommend(
            env,
            app_kind=kind,
            threads=threads,
            backend=current,
            needs_trio=needs_trio,
            server=server,
            code=code,
        )
    except policy.PolicyError as exc:
        raise SystemExit(f"safeworkers: {exc}") from None
    return Decision(choice, code, kind)


def _recommend(args: argparse.Namespace) -> int:
    decision = decide(args.app, server=args.server, threads=args.threads)
    choice, code = decision.choice, decision.code
    print(f"{choice.server} -k {choice.worker_class}")
    for reason in choice.reasons:
        print(f"  because {reason}")
    print(f"  app code: {code.summary()}")
    if choice.server == "gunicorn":
        # Not for SyncWorker: gunicorn swaps any "...SyncWorker" with --threads > 1
        # for its own gthread worker.
        threads = (
            f" --threads {args.threads}"
            if args.threads > 1 and choice.worker_class != policy.SYNC
            else ""
        )
        print(f"run: gunicorn -k {choice.worker_class}{threads} {args.app}")
    else:
        print(f"run: hypercorn -k {choice.worker_class} {args.app}")
    return 0


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
    recommend.add_argument("app", metavar="MODULE:APP")
    recommend.add_argument("--threads", type=int, default=1, help="gunicorn --threads")
    recommend.add_argument("--server", choices=("gunicorn", "hypercorn"), default="gunicorn")
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

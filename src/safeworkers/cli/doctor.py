"""``safeworkers doctor [--json] [--strict]``: what this environment can run, and what is wrong.

Prints the process facts (:func:`safeworkers.facts.process.environment`):
the platform, the GIL (free-threaded builds), whether Trio can run, what is
patched, on macOS the two fork-safety states (the Objective-C check, and
where the proxy settings come from: :mod:`safeworkers.facts.forksafety`),
the installed versions, the distributions that import trio, and the
known-bad combinations found, each with its fix. ``--strict`` exits 1 when a
finding is a warning.
"""

from __future__ import annotations

import argparse
import json

from safeworkers import __version__


def main(args: argparse.Namespace) -> int:
    """The ``doctor`` sub-command."""
    from safeworkers.facts import drivers, forksafety, process

    env = process.environment()
    fork = forksafety.state()
    if args.json:
        print(
            json.dumps({**env.to_dict(), "fork_safety": fork.to_dict()}, indent=2, sort_keys=True)
        )
    else:
        print(f"safeworkers {__version__}")
        simulated = "; macOS simulated (Trio's backend, fork safety)" if fork.simulated else ""
        print(f"platform      {env.platform} ({env.system} {env.machine}){simulated}")
        print(f"python        {env.python_implementation} {env.python_version}")
        print(f"gil           {env.gil.describe()}")
        if fork.darwin:
            print(f"objc fork     {fork.objc_state()}")
            print(f"proxies       {fork.proxy_state()}")
        trio = "usable" if env.trio_usable else f"unusable: {env.trio_unusable_reason}"
        print(f"trio backend  {env.trio_backend} ({trio})")
        print("patched       " + (", ".join(f"{m} by {p}" for m, p in env.patched.items()) or "no"))
        print("packages")
        for name, version in env.packages.items():
            if version or name not in drivers.DISTRIBUTIONS:  # drivers: only those installed
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


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``safeworkers doctor`` on the command's sub-parsers."""
    parser = commands.add_parser("doctor", help="report what this environment can run")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--strict", action="store_true", help="exit 1 on warnings")
    parser.set_defaults(func=main)

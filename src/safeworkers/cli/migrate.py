"""``safeworkers migrate MODULE:APP``: every eventlet call in the app, and its gevent equivalent.

The way off eventlet, for *this* app's code: the app is read with the same
scanner as ``recommend`` and AutoWorker (:mod:`safeworkers.facts.appscan`,
never imported), every use of eventlet's API is listed with its file:line and
what it becomes under gevent or the standard library
(:mod:`safeworkers.facts.eventlet_api`), and what has no equivalent is said.
``--json`` for tools. Exit status 1 when something has no equivalent, 0
otherwise (also when the app does not use eventlet).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from safeworkers.cli import _options


def rows(module: str) -> tuple[Any, list[dict[str, Any]]]:
    """The scan of ``module`` and one row per eventlet use, in file and line order."""
    from safeworkers.facts import appscan, eventlet_api

    code = appscan.scan(module, appscan.import_path())
    found = []
    for use in sorted(code.eventlet_api, key=lambda u: (u.path, u.line, u.what)):
        rule = eventlet_api.lookup(use.what)
        equivalent = rule[1] if rule else eventlet_api.Equivalent(None, "not in the table")
        found.append(
            {
                "where": use.where(code.root),
                "eventlet": use.what,
                "gevent": equivalent.name,
                "note": equivalent.note,
            }
        )
    return code, found


def main(args: argparse.Namespace) -> int:
    """The ``migrate`` sub-command."""
    from safeworkers.deploy import target

    _options.use_paths(args.chdir, args.pythonpath)
    try:
        module = target.module_of(args.app)
    except target.TargetError as exc:
        raise SystemExit(f"safeworkers: {exc}") from None
    code, found = rows(module)
    if not code.found:
        raise SystemExit(
            f"safeworkers: the source of {module} was not found: run from the app's directory, "
            "or give --chdir / --pythonpath as gunicorn takes them"
        )
    missing = [row for row in found if row["gevent"] is None]
    if args.json:
        report = {"app": args.app, "scope": code.scope(), "uses": found, "ok": not missing}
        print(json.dumps(report, indent=2))
    else:
        _print(args.app, code.scope(), found, missing)
    return 1 if missing else 0


def _print(
    app: str, scope: str, found: list[dict[str, Any]], missing: list[dict[str, Any]]
) -> None:
    print(f"safeworkers migrate {app}: eventlet in the app's code ({scope})")
    if not found:
        print("no use of eventlet: nothing to move")
        return
    where = max(len(r["where"]) for r in found) + 2
    name = max(len(r["eventlet"]) for r in found) + 2
    print()
    for row in found:
        gevent = row["gevent"] or "NO EQUIVALENT"
        note = f"  ({row['note']})" if row["note"] else ""
        print(f"  {row['where']:<{where}}{row['eventlet']:<{name}}-> {gevent}{note}")
    print()
    print(
        f"{len(found)} use{'s' if len(found) != 1 else ''} of eventlet: "
        f"{len(found) - len(missing)} with a gevent or standard library equivalent, "
        f"{len(missing)} without"
        + (": " + ", ".join(sorted({r["eventlet"] for r in missing})) if missing else "")
    )
    print(
        "then serve with gunicorn -k safeworkers.GeventWorker (it patches before the app is "
        "imported: remove eventlet.monkey_patch() from the app)"
    )


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``safeworkers migrate`` on the command's sub-parsers."""
    parser = commands.add_parser(
        "migrate", help="list the app's eventlet calls and their gevent equivalents"
    )
    parser.add_argument("app", metavar="MODULE:APP", help="as gunicorn takes it (or MODULE)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    _options.add_path_options(parser)
    parser.set_defaults(func=main)

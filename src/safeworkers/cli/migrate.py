"""``safeworkers migrate MODULE:APP``: every eventlet call in the app, and its gevent equivalent.

The way off eventlet, for *this* app's code: the app is read with the same
scanner as ``recommend`` and AutoWorker (:mod:`safeworkers.facts.appscan`,
never imported), every use of eventlet's API is listed with its file:line and
what it becomes under gevent or the standard library
(:mod:`safeworkers.facts.eventlet_api`), and what has no equivalent is said
(a name the table does not know has none it can vouch for). ``--json`` for
tools.

An offline command, so the scan's bounds are wider than at a worker's boot
(:data:`MAX_FILES`, :data:`MAX_SECONDS`, :data:`MAX_BYTES`); a file it could
not read (too large, not Python) or a bound it hit anyway is named, and the
list is then incomplete: saying "nothing to move" of code it did not read
would be a lie.

Exit status: 2 when part of the app's code could not be read, 1 when
something has no equivalent, 0 otherwise (also when the app does not use
eventlet).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from safeworkers.cli import _options

#: The scan's bounds: an offline command can read a large project whole.
MAX_FILES = 20_000
MAX_SECONDS = 120.0
MAX_BYTES = 20_000_000


def rows(module: str) -> tuple[Any, list[dict[str, Any]]]:
    """The scan of ``module`` and one row per eventlet use, in file and line order."""
    from safeworkers.facts import appscan, eventlet_api

    code = appscan.scan(
        module,
        appscan.import_path(),
        max_files=MAX_FILES,
        max_seconds=MAX_SECONDS,
        max_bytes=MAX_BYTES,
    )
    found = []
    for use in sorted(code.eventlet_api, key=lambda u: (u.path, u.line, u.what)):
        equivalent = eventlet_api.equivalent(use.what)
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
        module = target.module_name(args.app)
    except target.TargetError as exc:
        raise SystemExit(f"safeworkers: {exc}") from None
    code, found = rows(module)
    if not code.found:
        raise SystemExit(
            f"safeworkers: the source of {module} was not found: run from the app's directory, "
            "or give --chdir / --pythonpath as gunicorn takes them"
        )
    missing = [row for row in found if row["gevent"] is None]
    unreadable = [_relative(entry, code.root) for entry in code.unreadable]
    incomplete = _incomplete(len(unreadable), code.stopped)
    if args.json:
        report = {
            "app": args.app,
            "scope": code.scope(),
            "uses": found,
            "unreadable": unreadable,
            "stopped": code.stopped,
            "complete": not incomplete,
            "ok": not missing and not incomplete,
        }
        print(json.dumps(report, indent=2))
    else:
        _print(args.app, code.scope(), found, missing, unreadable, complete=not incomplete)
    if incomplete:
        print(f"safeworkers: {incomplete}", file=sys.stderr)
        return 2
    return 1 if missing else 0


def _relative(entry: str, root: str | None) -> str:
    """``/srv/app/pkg/x.py: reason`` as ``pkg/x.py: reason``, the way uses are shown."""
    prefix = os.path.join(root, "") if root else ""
    return entry.removeprefix(prefix) if prefix else entry


def _incomplete(unreadable: int, stopped: str | None) -> str:
    """Why the list may miss uses, and what to do; "" when all of the code was read."""
    parts, fixes = [], []
    if unreadable:
        files = f"{unreadable} file{'s' if unreadable != 1 else ''}"
        parts.append(f"{files} of the app could not be read (listed in the report)")
        fixes.append("make them Python source this Python parses, or move them out of the app")
    if stopped:
        parts.append(f"the scan stopped early ({stopped})")
        fixes.append("run migrate on one package of the app at a time")
    if not parts:
        return ""
    return (
        f"the list of eventlet uses is incomplete: {' and '.join(parts)}, and what was not read "
        f"may use eventlet too: {'; '.join(fixes)}"
    )


def _print(
    app: str,
    scope: str,
    found: list[dict[str, Any]],
    missing: list[dict[str, Any]],
    unreadable: list[str],
    *,
    complete: bool,
) -> None:
    print(f"safeworkers migrate {app}: eventlet in the app's code ({scope})")
    for entry in unreadable:
        print(f"  not read: {entry}")
    if not found:
        print("no use of eventlet: nothing to move" if complete else "no use of eventlet read")
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

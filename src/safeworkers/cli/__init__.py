"""The ``safeworkers`` command: one module per sub-command.

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
``safeworkers migrate MODULE:APP [--json]``
    Every eventlet call in the app's code, with its gevent equivalent
    (see ``safeworkers.cli.migrate``).
``safeworkers run [--] COMMAND [ARGS...]``
    Run COMMAND with the import guard installed at start-up in every
    Python process it starts (see ``safeworkers.cli.run``).

Every command module has the same two entry points: ``add_parser(commands)``
registers the command on the sub-parsers, and ``main(args) -> int`` runs it
and returns the exit status. A command module imports what only it needs
when it runs: ``safeworkers doctor`` does not pay for ``check``'s imports. A
new command is a module here with those two functions, added to
:data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from safeworkers import __version__
from safeworkers.cli import check, doctor, migrate, recommend, run, template

#: The sub-commands, in the order ``safeworkers --help`` lists them.
COMMANDS = (doctor, recommend, template, check, run, migrate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="safeworkers", description="gunicorn and hypercorn workers that boot everywhere."
    )
    parser.add_argument("--version", action="version", version=f"safeworkers {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


#: The exit status of a command whose reader went away: a shell's for a tool SIGPIPE killed.
BROKEN_PIPE = 128 + 13


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` names; its exit status.

    A reader that stops early (``safeworkers doctor | head``) closes the
    pipe: the command ends there, quietly, as Unix tools end on SIGPIPE,
    rather than with a traceback (Python ignores SIGPIPE, so a write raises
    ``BrokenPipeError``).
    """
    try:
        args = build_parser().parse_args(argv)
        result: int = args.func(args)
        sys.stdout.flush()  # the last buffered output fails here, not at exit
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it where a write cannot fail.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return BROKEN_PIPE
    return result

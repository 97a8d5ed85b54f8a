"""What several commands take the same way: gunicorn's ``--chdir`` and ``--pythonpath``,
and whole numbers >= 1."""

from __future__ import annotations

import argparse
import os
import sys


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return value


def use_paths(chdir: str | None, pythonpath: str | None) -> list[str]:
    """Apply ``--chdir`` and ``--pythonpath`` as gunicorn does; the directories added.

    gunicorn changes into ``--chdir`` and puts it first on ``sys.path``, then
    each ``--pythonpath`` entry (comma-separated) in front of that. Errors
    are ``SystemExit`` with one line.
    """
    if chdir:
        try:
            os.chdir(chdir)
        except OSError as exc:
            raise SystemExit(f"safeworkers: --chdir {chdir!r}: {exc.strerror}") from None
    added = [os.getcwd()]
    added += [os.path.abspath(p) for p in (pythonpath or "").split(",") if p.strip()]
    for directory in added:
        if directory not in sys.path:
            sys.path.insert(0, directory)
    return added


def add_path_options(parser: argparse.ArgumentParser) -> None:
    """``--chdir`` and ``--pythonpath`` on a command that loads a target, as gunicorn takes them."""
    parser.add_argument("--chdir", metavar="DIR", help="change to DIR before loading the app")
    parser.add_argument(
        "--pythonpath",
        metavar="DIRS",
        help="comma-separated directories to add to the Python path (like gunicorn's)",
    )

"""``safeworkers run [--] COMMAND [ARGS...]``: any command, with the import guard at start-up.

For processes that monkey-patch themselves (``celery worker -P gevent``,
locust, scripts that call ``patch_all()``), where there is no worker class to
swap. It sets ``SAFEWORKERS_GUARD_PROCESS=1`` and replaces itself with
``COMMAND`` (``exec``: same process id, signals and exit status as the command
run directly). Every Python interpreter that starts with the variable set
(the command, and any Python process it starts) runs the package's ``.pth``
hook, which installs the guard before the command's own code can patch; see
:mod:`safeworkers._startup`.

On macOS (and under its simulation) it also sets
``OBJC_DISABLE_INITIALIZE_FORK_SAFETY=YES``, unless the variable is set
already: the Objective-C runtime reads it only when a process starts, and
without it a process forked from COMMAND (a gunicorn or Celery prefork
worker) can die with SIGABRT (:mod:`safeworkers.facts.forksafety`).

Before it hands over, it checks what it can, so that the guard is never
silently missing: the settings, that COMMAND exists, that the hook is
installed in this Python, and, when COMMAND is a Python program run by
another interpreter, that the guard really gets installed there.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping

from safeworkers import _startup, settings
from safeworkers.facts import forksafety

#: Exit statuses a shell uses: not found, found but cannot be run.
NOT_FOUND = 127
CANNOT_RUN = 126

USAGE_EXAMPLE = "safeworkers run -- celery -A proj worker -P gevent"

#: Asks an interpreter whether the hook installed the guard in it.
_PROBE = "import sys, safeworkers.guard as g; sys.exit(0 if g.installed() else 3)"


class RunError(Exception):
    """COMMAND cannot be run with the guard; ``status`` is the exit status to use."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``run`` to the ``safeworkers`` command's sub-commands."""
    parser = commands.add_parser(
        "run",
        help="run COMMAND with the import guard in every Python process it starts",
        description=(
            "Run COMMAND with SAFEWORKERS_GUARD_PROCESS=1: every Python process it starts "
            "installs the Trio import guard at start-up, before its own code can monkey-patch. "
            "On macOS it also sets OBJC_DISABLE_INITIALIZE_FORK_SAFETY=YES (unless set), "
            f"so that forked workers survive. Example: {USAGE_EXAMPLE}"
        ),
    )
    parser.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        metavar="COMMAND",
        help="the command and its arguments (put -- before it if it starts with -)",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """The ``run`` sub-command: hand over to COMMAND, or say why not."""
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    try:
        program, env = prepare(command, os.environ)
    except RunError as exc:
        print(f"safeworkers run: {exc}", file=sys.stderr)
        return exc.status
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(program, command, env)
    except OSError as exc:  # e.g. no interpreter for its #! line, or not an executable format
        print(f"safeworkers run: cannot run {program}: {exc.strerror or exc}", file=sys.stderr)
        return CANNOT_RUN


def prepare(command: list[str], environ: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The program to execute and its environment, after every check; or :class:`RunError`."""
    if not command:
        raise RunError(
            f"no COMMAND given: safeworkers run -- COMMAND [ARGS...], e.g. {USAGE_EXAMPLE}"
        )
    env = dict(environ)
    env[_startup.VARIABLE] = "1"
    if forksafety.darwin(environ=env):
        env.setdefault(forksafety.OBJC_VARIABLE, "YES")  # yours, if set, wins
    try:
        current = settings.load(env)
    except settings.SettingsError as exc:
        raise RunError(str(exc)) from None
    if current.guard == "off":
        print("safeworkers run: SAFEWORKERS_GUARD=off, so no guard is installed", file=sys.stderr)
    if _startup.hook_path() is None:
        raise RunError(
            f"the start-up hook {_startup.HOOK_FILE} is not installed in this Python's "
            f"site-packages ({', '.join(_startup.site_directories()) or 'none'}), so the guard "
            "could not be installed: reinstall safeworkers (pip install --force-reinstall "
            "--no-deps safeworkers)"
        )
    program = _find(command[0], env)
    interpreter = _python_of(program, env)
    if interpreter is not None and not _same_python(interpreter):
        _check_guarded(interpreter, command[0], env)
    return program, env


def _find(name: str, env: Mapping[str, str]) -> str:
    if os.sep in name:
        if not os.path.exists(name):
            raise RunError(f"command not found: {name} (no such file)", NOT_FOUND)
        if os.path.isdir(name) or not os.access(name, os.X_OK):
            raise RunError(f"{name} is not an executable file", CANNOT_RUN)
        return name
    found = shutil.which(name, path=env.get("PATH", os.defpath))
    if found is None:
        raise RunError(
            f"command not found: {name!r} is not on PATH. Is it installed in this environment "
            f"({sys.prefix})? Give its path, or activate the environment that has it.",
            NOT_FOUND,
        )
    return found


def _python_of(program: str, env: Mapping[str, str]) -> str | None:
    """The Python interpreter ``program`` runs, if it is one or starts with a Python ``#!``."""
    if os.path.basename(program).startswith("python"):
        return program
    try:
        with open(program, "rb") as file:
            first = file.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode(errors="replace").split()
    if words and os.path.basename(words[0]) == "env":  # "#!/usr/bin/env [-S] python3"
        words = [w for w in words[1:] if not w.startswith("-")]
        found = shutil.which(words[0], path=env.get("PATH", os.defpath)) if words else None
        words = [found] if found else []
    if not words or not os.path.basename(words[0]).startswith("python"):
        return None
    return words[0]


def _same_python(interpreter: str) -> bool:
    """Whether ``interpreter`` is this Python (same environment: same bin directory)."""
    mine = os.path.realpath(os.path.dirname(os.path.abspath(sys.executable)))
    theirs = os.path.realpath(os.path.dirname(os.path.abspath(interpreter)))
    return mine == theirs


def _check_guarded(interpreter: str, name: str, env: Mapping[str, str]) -> None:
    """COMMAND runs another Python: ask it whether the hook installs the guard there."""
    try:
        probe = subprocess.run(
            [interpreter, "-c", _PROBE], env=dict(env), capture_output=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        message = f"cannot start {interpreter} (which {name} runs): {exc}"
        raise RunError(message, CANNOT_RUN) from None
    if probe.returncode != 0:
        said = probe.stderr.decode(errors="replace").strip().splitlines()
        why = said[-1] if said else "its start-up hook is not installed"
        raise RunError(
            f"{name} runs {interpreter}, not this Python ({sys.executable}), and the guard "
            f"does not get installed there ({why}): install safeworkers in that environment "
            f"({interpreter} -m pip install safeworkers), or run the command with this "
            "environment's Python"
        )

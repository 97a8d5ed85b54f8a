"""The test suite on every supported Python: 3.10, 3.11, 3.12, 3.13 and 3.14.

The interpreters are pyenv's (``~/.pyenv/versions/3.1x.y/bin``), put on PATH
here; environments are made with uv (installed by the ``dev`` extra), so a
session costs seconds, not minutes, to set up. A supported Python that is not
installed is named when nox starts and its sessions are skipped; on CI (``CI``
set) a missing interpreter fails the run, since CI installs what it asks for.
The free-threaded build (3.14t) is no default session: CI runs the subset there
with ``--force-python 3.14t``, as a job whose result is reported, not required.

    .venv/bin/nox -s tests          # the whole suite on every one installed (make pythons-all)
    .venv/bin/nox -s tests-3.12     # on one of them
    .venv/bin/nox -s subset         # CI: a fast subset on the installed Pythons that
                                    # `make test` does not run in full (make pythons)

Hosted CI (.github/workflows/ci.yml) runs the subset on one Python per runner,
3.14 and 3.14t included: ``nox -s subset --force-python 3.14``.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys

import nox

PYTHONS = ["3.10", "3.11", "3.12", "3.13", "3.14"]
#: The Python running nox (the project's .venv): `make test` covers it in full.
CURRENT = f"{sys.version_info.major}.{sys.version_info.minor}"
OTHERS = [version for version in PYTHONS if version != CURRENT]

#: Unit tests, the guard matrix's covering cells (every patch x platform x guard and
#: patch x guard x scenario once: a third of the cells), one real server per worker on
#: TCP and Unix, and `safeworkers check` on the macOS-like field failure. The docs build
#: does not depend on the Python version: the main suite has it.
SUBSET = [
    "-m",
    "not full_matrix",
    "--deselect",
    "tests/unit/test_docs.py::test_docs_site_builds_strictly",
    "tests/unit",
    "tests/integration/test_guard_matrix.py",
    "tests/integration/test_workers.py::test_serves_plain_wsgi",
    "tests/integration/test_workers.py::test_app_is_imported_after_privileges_are_dropped",
    "tests/integration/test_eventlet_worker.py::test_serves_plain_wsgi_get_and_post",
    "tests/integration/test_trio_worker.py::test_serves_raw_asgi_app_on_trio",
    "tests/integration/test_trio_worker.py::test_unix_socket_http_and_websocket",
    # The field failure end to end (upstream gevent dying on macOS, ours serving), read
    # from real logs whose wording changes with the Python version.
    "tests/integration/test_check.py::test_flask_httpx_on_simulated_macos_matrix",
]

#: Our code that the tests' servers and child interpreters import (the Makefile's COMPILED).
COMPILED = ["src", "tests/harness", "tests/apps", "examples/apps"]

for version in PYTHONS:
    for bindir in sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin"))):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
# uv must use the interpreters found on PATH, never download one.
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")

#: Supported Pythons with no interpreter here: named once, their sessions skipped.
MISSING = [version for version in PYTHONS if shutil.which(f"python{version}") is None]
if MISSING:
    print(
        f"nox: not installed here, so skipped: Python {', '.join(MISSING)} "
        "(CI runs every supported version)",
        file=sys.stderr,
    )

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["tests"]
# A missing interpreter fails the run where CI is set and is skipped elsewhere: nox's own
# default, stated here because the hosted workflow relies on it. `make test` passes
# --no-error-on-missing-interpreters: a machine without 3.14 still runs the rest.
nox.options.error_on_missing_interpreters = bool(os.environ.get("CI"))


def _install(session: nox.Session) -> None:
    # mkdocs too: the docs build is a test. Compiled: see subset().
    # pip too: uv's environments have none, and a test installs the package with pip,
    # as users do, to check where its start-up hook lands.
    session.install("--compile-bytecode", "-e", ".[dev]", "pip")
    session.run("python", "-m", "compileall", "-q", *COMPILED, silent=True)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The whole suite."""
    _install(session)
    session.run("pytest", "-n", "2", "--timeout", "180", *session.posargs)


@nox.session(python=OTHERS)
def subset(session: nox.Session) -> None:
    """CI's fast subset on the Pythons other than the project venv's."""
    # What the subset runs needs no linters or docs tools: less to fetch on a fresh machine.
    # Compiled, as in the Makefile: with PYTHONDONTWRITEBYTECODE set, every child process
    # would compile what it imports.
    session.install("--compile-bytecode", "-e", ".[all,test]")
    session.run("python", "-m", "compileall", "-q", *COMPILED, silent=True)
    session.run("pytest", "-n", "2", "--timeout", "180", *(session.posargs or SUBSET))

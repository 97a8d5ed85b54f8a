"""A throwaway PostgreSQL server for the tests and benchmarks: a real one, started here.

``initdb`` makes a cluster in a temporary directory and ``pg_ctl`` starts it
listening on a Unix socket in that directory only (no TCP), with durability
off (``fsync``: nothing here must survive). PostgreSQL refuses to run as
root, so as root (CI, containers) the cluster belongs to the ``postgres``
user the Debian package creates (else ``nobody``), and the server runs as
that user through ``runuser``. The server binaries come from Debian's
``postgresql`` package, which ``.ci/run`` installs (without starting the
system's own cluster); where they are missing, :func:`unavailable` says why.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

INSTALL = (
    "apt-get install postgresql (the server binaries initdb and pg_ctl; .ci/run installs it "
    "when it runs as root with apt-get)"
)


def bindir() -> Path | None:
    """The directory of PostgreSQL's server binaries, the newest version first."""
    override = os.environ.get("SWTEST_PG_BINDIR")
    candidates = [override] if override else []
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True
    )
    found = shutil.which("initdb")
    if found:
        candidates.append(str(Path(found).parent))
    for candidate in candidates:
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    return None


def unavailable() -> str | None:
    """Why no test server can be started here, or ``None``."""
    if bindir() is None:
        return f"PostgreSQL's server binaries (initdb, pg_ctl) are not installed: {INSTALL}"
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return "psycopg2 is not installed (a test extra: pip install -e '.[test]')"
    return None


def _owner() -> str | None:
    """The user the server runs as when we are root; ``None`` when we are not."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and neither a postgres nor a nobody user exists")


@dataclass(frozen=True)
class Cluster:
    """A running server: connect with ``dsn`` (libpq's ``host=`` names the socket's directory)."""

    directory: Path
    dsn: str


def _run(argv: list[str], owner: str | None) -> None:
    if owner is not None:
        argv = ["runuser", "-u", owner, "--", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stdout}{done.stderr}")


@contextlib.contextmanager
def cluster(max_connections: int = 100) -> Iterator[Cluster]:
    """Start a throwaway server; stop it and remove its files on exit."""
    binaries = bindir()
    if binaries is None:
        raise RuntimeError(f"PostgreSQL is not installed: {INSTALL}")
    owner = _owner()
    # Not under pytest's base temp: that is private to root (0700), and the server runs as
    # another user.
    directory = Path(tempfile.mkdtemp(prefix="sw-pg-"))
    data = directory / "data"
    if owner is not None:
        entry = pwd.getpwnam(owner)
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    options = (
        f"-c listen_addresses='' -c unix_socket_directories='{directory}' -c fsync=off "
        f"-c synchronous_commit=off -c full_page_writes=off -c max_connections={max_connections}"
    )
    try:
        _run(
            [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "--no-sync", "-E", "UTF8"],
            owner,
        )  # fmt: skip
        _run(
            [str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-t", "60",
             "-l", str(directory / "server.log"), "start"],
            owner,
        )  # fmt: skip
        try:
            yield Cluster(directory, f"host={directory} dbname=postgres user=postgres")
        finally:
            _run([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], owner)
    finally:
        shutil.rmtree(directory, ignore_errors=True)

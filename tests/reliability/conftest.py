"""What the reliability tests share: the workers under test, the scale, waits."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.util import find_spec

import pytest

from tests import servers

#: ``SWTEST_SOAK=N`` (``make soak``) multiplies request counts and durations by N.
SOAK = max(1, int(os.environ.get("SWTEST_SOAK", "1") or 1))


def scaled(n: int) -> int:
    return n * SOAK


@dataclass(frozen=True)
class Spec:
    """A worker under test: how to start it, and gunicorn's own worker to compare with."""

    name: str
    app: str  # serves /, /__ready__ and /slow?s=N
    args: tuple[str, ...]
    #: concurrent requests one worker process serves
    per_process: int
    #: gunicorn's own worker (``-k`` args) for the same inputs
    twin: tuple[str, ...]
    needs: str = "gunicorn"

    @property
    def worker_args(self) -> tuple[str, ...]:
        return ("-k", f"safeworkers.{self.name}", *self.args)

    @property
    def body_app(self) -> str:
        """An app that reads the whole request body (hostile framing reaches the parser)."""
        return "body_app:asgi" if self.name == "TrioWorker" else "body_app:wsgi"


def _eventlet_twin() -> tuple[str, ...]:
    # gunicorn >= 26 has no eventlet worker; every gunicorn worker shares one parser.
    return ("-k", "eventlet") if servers.gunicorn_version() < (26,) else ("-k", "sync")


SPECS = [
    Spec("SyncWorker", "wsgi_plain:app", (), 1, ("-k", "sync")),
    Spec(
        "ThreadWorker", "wsgi_plain:app", ("--threads", "4"), 4, ("-k", "gthread", "--threads", "4")
    ),
    Spec(
        "GeventWorker",
        "wsgi_plain:app",
        ("--worker-connections", "64"),
        64,
        ("-k", "gevent"),
        "gevent",
    ),
    Spec("EventletWorker", "wsgi_plain:app", ("--worker-connections", "64"), 64, (), "eventlet"),
    Spec("TrioWorker", "trio_raw:app", (), 64, ("-k", "sync"), "hypercorn"),
    Spec("AutoWorker", "wsgi_plain:app", (), 1, ("-k", "sync")),
]


def _param(spec: Spec, unix: bool) -> object:
    missing = find_spec(spec.needs) is None
    return pytest.param(
        spec,
        unix,
        id=f"{spec.name}-{'unix' if unix else 'tcp'}",
        marks=pytest.mark.skipif(missing, reason=f"needs {spec.needs}"),
    )


#: (spec, unix) for every worker on TCP and on a Unix socket.
WORKER_TRANSPORTS = [_param(spec, unix) for spec in SPECS for unix in (False, True)]
#: every worker, once
WORKER_SPECS = [
    pytest.param(spec, id=spec.name, marks=p.marks)
    for spec, p in zip(SPECS, WORKER_TRANSPORTS[::2], strict=True)
]


def twin_args(spec: Spec) -> tuple[str, ...]:
    return _eventlet_twin() if spec.name == "EventletWorker" else spec.twin


def transport(unix: bool) -> str:
    return "unix" if unix else "tcp"


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, log: Callable[[], str]
) -> float:
    """Poll ``check`` (bounded); the seconds it took. Fails with the server log."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"{what} within {timeout}s; log:\n{log()[-6000:]}")


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (Linux /proc)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")

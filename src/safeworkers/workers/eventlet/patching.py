"""eventlet brought into a worker: version check, import, a fresh hub, monkey-patching.

Called from the worker's ``init_process``, after the import guard is
installed; never at import time, so the master stays unpatched. When the app
was imported before patching (``--preload``, imports in the gunicorn
config), eventlet's ``monkey_patch()`` logs a full traceback for each object
it cannot inspect; those are collected here and summed up in one line.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections import Counter
from collections.abc import Iterator
from typing import Any, NamedTuple

from safeworkers.facts import process
from safeworkers.facts.versions import release
from safeworkers.workers._base import boot_failure

#: The oldest eventlet this worker is tested with (``safeworkers[eventlet]`` pins it).
MIN_EVENTLET = (0, 36)

INSTALL_HINT = "pip install 'safeworkers[eventlet]'"

MAINTENANCE_NOTICE = (
    "eventlet is in maintenance mode upstream (bug fixes only; its authors advise against it "
    "for new code). safeworkers.EventletWorker keeps existing deployments running on any "
    "gunicorn; to move off eventlet: safeworkers.GeventWorker for green WSGI apps, "
    "safeworkers.ThreadWorker for blocking WSGI apps, an ASGI server (or "
    "safeworkers.TrioWorker) for async code. "
    "See https://eventlet.readthedocs.io/en/latest/asyncio/migration.html"
)


def eventlet_version() -> tuple[int, ...] | None:
    version = process.package_version("eventlet")
    return None if version is None else release(version)


class Eventlet(NamedTuple):
    """The eventlet modules a worker uses once the process is patched."""

    eventlet: Any
    greenio: Any
    green_os: Any


def set_up(log: Any, *, app_imported: bool) -> Eventlet:
    """Import eventlet, give this process a fresh hub and monkey-patch it.

    ``app_imported``: whether the app was imported before patching; eventlet's
    complaints about already-imported modules are then a warning (they are
    the app's), else a debug line. An eventlet too old or that cannot be
    imported stops the worker as a boot failure.
    """
    version = eventlet_version()
    if version is not None and version < MIN_EVENTLET:
        wanted = ".".join(map(str, MIN_EVENTLET))
        found = ".".join(map(str, version))
        boot_failure(
            log,
            f"safeworkers.EventletWorker needs eventlet >= {wanted}, found {found}: "
            f"pip install -U 'safeworkers[eventlet]'",
        )
    try:
        with warnings.catch_warnings():
            # eventlet warns on import that it is deprecated; we log
            # that once, with the ways out, instead.
            warnings.simplefilter("ignore")
            import eventlet
            import eventlet.hubs
            from eventlet import greenio
            from eventlet.green import os as green_os
    except ImportError as exc:
        boot_failure(
            log,
            f"safeworkers.EventletWorker needs eventlet, which cannot be imported "
            f"({type(exc).__name__}: {exc}): {INSTALL_HINT}",
        )
        raise  # unreachable: boot_failure exits
    # A fresh hub for this process: one inherited through fork (the
    # app may have used eventlet under --preload) holds the master's
    # poller and timers.
    eventlet.hubs.use_hub()
    with _unrouted_log_records() as records:
        eventlet.monkey_patch()
    if records and app_imported:
        log.warning(
            "safeworkers EventletWorker: the app was imported before eventlet patched "
            "this worker (--preload, or imports in the gunicorn config); eventlet "
            "reports: %s. Objects that refuse inspection are usually Flask/werkzeug "
            "context proxies (harmless); locks left native do not keep green threads "
            "apart. To avoid both, do not preload the app.",
            _summarise(records),
        )
    elif records:
        # Not the app: modules eventlet's own import pulled in (dnspython's
        # DNS-over-HTTPS chain, for one) hold objects its lock scan trips on.
        log.debug(
            "safeworkers EventletWorker: eventlet's monkey_patch() reports, about "
            "modules imported before it patched (not the app): %s",
            _summarise(records),
        )
    return Eventlet(eventlet, greenio, green_os)


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _unrouted_log_records() -> Iterator[list[logging.LogRecord]]:
    """Collect records that have no handler and would go to stderr raw.

    When it patches a process whose modules are already imported (--preload),
    eventlet walks every module looking for thread locks to make green, and
    logs a full traceback, through a stray logger with no handler, for each
    object that refuses inspection (Flask's context proxies all do). Those
    records are summed up in one line instead.
    """
    collector = _Collector()
    previous = logging.lastResort
    logging.lastResort = collector
    try:
        yield collector.records
    finally:
        logging.lastResort = previous


def _summarise(records: list[logging.LogRecord]) -> str:
    reasons: Counter[str] = Counter()
    for record in records:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            first = (str(error).strip().splitlines() or [""])[0]
            reasons[f"{type(error).__name__}: {first}"] += 1
        else:
            reasons[record.getMessage()] += 1
    return "; ".join(f"{reason} (x{count})" for reason, count in reasons.most_common())

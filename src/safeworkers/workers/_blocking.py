"""A blocked hub made visible: ``SAFEWORKERS_BLOCKING_WARN=SECONDS`` in the green workers.

A greenlet that computes, or calls a C library that does not yield, holds
the hub: every other request of the worker waits, and nothing says why.
With the setting on, each green worker runs two small things:

- a *tick*, a green thread that wakes every few milliseconds and notes the
  time; while something holds the hub, it cannot run;
- a *watch*, a real OS thread (started with the library's original
  ``start_new_thread``: the patched one would make a greenlet), that looks
  at the tick's time. When it is older than the threshold, the watch takes
  the stack the main thread is running at that moment: the code holding
  the hub.

The watch only records; the tick reports, once the hub is free again, from
a green thread, where gunicorn's logger (whose locks are green now) can be
used safely: how long the hub was held, the app's innermost frame first
(``file:line in function``), then the stack. Reports are rate-limited per
site (that first frame): once per :data:`REPORT_EVERY` seconds, the next one
saying how many were left out. When gunicorn's statsd logger is configured
(``--statsd-host``), every block is counted (``safeworkers_hub_blocked``)
and timed (``safeworkers_hub_blocked_ms``), rate limit or not.

One implementation for gevent and eventlet: gevent's own monitor thread
prints every greenlet's stack to stderr, and eventlet's
``hub_blocking_detection`` raises inside the blocking code, which fails the
request it means to diagnose.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Seconds between two reports of the same site.
REPORT_EVERY = 60.0
#: Frames of the stack shown, innermost last.
STACK_LIMIT = 12
_OURS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Green:
    """What the watch needs from a green library: its green and its original primitives."""

    library: str
    spawn: Callable[[Callable[[], None]], Any]
    sleep: Callable[[float], None]
    start_thread: Callable[[Callable[[], None], tuple[()]], Any]
    real_sleep: Callable[[float], None]
    real_ident: Callable[[], int]


def gevent_primitives() -> Green:
    import gevent
    from gevent import monkey

    return Green(
        "gevent",
        gevent.spawn,
        gevent.sleep,
        monkey.get_original("_thread", "start_new_thread"),
        monkey.get_original("time", "sleep"),
        monkey.get_original("_thread", "get_ident"),
    )


def eventlet_primitives() -> Green:
    import eventlet
    from eventlet import patcher

    thread = patcher.original("_thread")
    return Green(
        "eventlet",
        eventlet.spawn_n,
        eventlet.sleep,
        thread.start_new_thread,
        patcher.original("time").sleep,
        thread.get_ident,
    )


#: library -> how to get its primitives (imported only in a worker patched by that library).
PRIMITIVES: dict[str, Callable[[], Green]] = {
    "gevent": gevent_primitives,
    "eventlet": eventlet_primitives,
}


def _is_library(filename: str) -> bool:
    from safeworkers.facts import appscan

    directory = os.path.dirname(os.path.abspath(filename))
    if directory.startswith(_OURS) or filename.startswith("<"):
        return True
    libraries = appscan.library_dirs()
    while directory and directory != os.path.dirname(directory):
        if appscan.is_library_dir(directory, libraries):
            return True
        directory = os.path.dirname(directory)
    return False


def site_of(stack: traceback.StackSummary) -> traceback.FrameSummary | None:
    """The innermost frame of the app's own code, else the innermost frame."""
    for frame in reversed(stack):
        if not _is_library(frame.filename):
            return frame
    return stack[-1] if stack else None


class HubWatch:
    """The tick and the watch of one worker process."""

    def __init__(self, threshold: float, log: Any, name: str, green: Green) -> None:
        self.threshold = threshold
        self.log = log
        self.name = name
        self.green = green
        #: How often the tick runs: often enough to measure, rarely enough to cost nothing.
        self.interval = min(0.05, threshold / 4)
        self.last = time.monotonic()
        #: Set by the watch during a block: (seconds stale when seen, the stack then).
        self.captured: tuple[float, traceback.StackSummary] | None = None
        #: site -> (when last reported, blocks left out since).
        self.reported: dict[str, tuple[float, int]] = {}
        self.main = 0

    def start(self) -> None:
        self.main = self.green.real_ident()  # the OS thread the hub runs in
        self.green.spawn(self._tick)
        self.green.start_thread(self._watch, ())

    def _tick(self) -> None:
        while True:
            before = time.monotonic()
            self.green.sleep(self.interval)
            now = time.monotonic()
            self.last = now
            captured, self.captured = self.captured, None
            if captured is not None:
                held = max(now - before - self.interval, captured[0])
                try:
                    self.report(held, captured[1])
                except Exception:  # never let the diagnosis kill the worker
                    self.log.debug("safeworkers: reporting a blocked hub failed", exc_info=True)

    def _watch(self) -> None:
        while True:
            self.green.real_sleep(self.interval)
            stale = time.monotonic() - self.last
            if stale <= self.threshold or self.captured is not None:
                continue
            frame = sys._current_frames().get(self.main)
            if frame is not None:
                self.captured = (stale, traceback.extract_stack(frame))

    def report(self, held: float, stack: traceback.StackSummary) -> None:
        self._count(held)
        site = site_of(stack)
        where = f"{site.filename}:{site.lineno} in {site.name}" if site else "an unknown place"
        now = time.monotonic()
        last, left_out = self.reported.get(where, (None, 0))
        if last is not None and now - last < REPORT_EVERY:
            self.reported[where] = (last, left_out + 1)
            return
        self.reported[where] = (now, 0)
        again = f" ({left_out} more times since the last report)" if left_out else ""
        lines = "".join(traceback.format_list(stack[-STACK_LIMIT:])).rstrip()
        self.log.warning(
            "safeworkers %s: a greenlet held %s's hub for at least %.2f s "
            "(SAFEWORKERS_BLOCKING_WARN=%g): nothing else ran in this worker meanwhile; "
            "at %s%s. Stack, innermost last:\n%s",
            self.name,
            self.green.library,
            held,
            self.threshold,
            where,
            again,
            lines,
        )

    def _count(self, held: float) -> None:
        """Count and time the block through gunicorn's statsd logger, when configured."""
        if not getattr(self.log, "sock", None):
            return
        increment = getattr(self.log, "increment", None)
        timer = getattr(self.log, "timer", None) or getattr(self.log, "histogram", None)
        if increment is not None:
            increment("safeworkers_hub_blocked", 1)
        if timer is not None:
            timer("safeworkers_hub_blocked_ms", round(held * 1000, 1))


def start(worker: Any, library: str) -> HubWatch | None:
    """Start watching the hub of ``worker`` if ``SAFEWORKERS_BLOCKING_WARN`` is set."""
    threshold = worker.safeworkers_settings.blocking_warn
    if threshold is None:
        return None
    watch = HubWatch(threshold, worker.log, worker.safeworkers_name, PRIMITIVES[library]())
    watch.start()
    worker.log.info(
        "safeworkers %s: watching the hub: a greenlet that holds it longer than %g s is logged",
        worker.safeworkers_name,
        threshold,
    )
    return watch

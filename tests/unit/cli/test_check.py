# ruff: noqa: E501 (real log lines)
"""`safeworkers check` reduces a server's log to the one line a user would paste."""

from __future__ import annotations

import pytest

from safeworkers.cli.check import candidate
from safeworkers.testing import one_line_cause

GEVENT_ON_MACOS = """\
[2026-11-22 13:18:00 +0000] [18374] [INFO] Booting worker with pid: 18374
Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/trio/_core/_run.py", line 3131, in <module>
    raise NotImplementedError(
NotImplementedError: unsupported platform or primitives Trio depends on are monkey-patched out by gevent
[2026-11-22 13:18:01 +0000] [18373] [ERROR] Worker (pid:18374) exited with code 3.
[2026-11-22 13:18:01 +0000] [18373] [ERROR] Reason: Worker failed to boot.
"""
EVENTLET_ON_GUNICORN_26 = """
Error: class uri 'eventlet' invalid or not found:

[Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/gunicorn/util.py", line 84, in load_entry_point
    raise ImportError("Entry point %r not found" % ((group, name),))
ImportError: Entry point ('gunicorn.workers', 'eventlet') not found
]
"""
WSGI_ON_HYPERCORN_TRIO = """\
  | ExceptionGroup: Exceptions from Trio nursery (1 sub-exception)
  +-+---------------- 1 ----------------
    | Traceback (most recent call last):
    |   File "/venv/lib/python3.11/site-packages/trio/_channel.py", line 213, in send_nowait
    |     raise trio.ClosedResourceError
    | trio.ClosedResourceError
    +------------------------------------
"""
#: Python 3.10: gevent's hub, finalized at exit, reports an error after the real one.
GEVENT_ON_MACOS_PY310 = GEVENT_ON_MACOS.replace(
    "[2026-11-22 13:18:01 +0000] [18373] [ERROR] Worker",
    """Exception ignored in: <function _removeHandlerRef at 0x7eff9fb2f010>
Traceback (most recent call last):
  File "/usr/lib/python3.10/threading.py", line 164, in acquire
  File "/venv/lib/python3.10/site-packages/gevent/thread.py", line 81, in get_ident
RuntimeError: greenlet is being finalized
[2026-11-22 13:18:01 +0000] [18373] [ERROR] Worker""",
)
#: Upstream -k sync on macOS (simulated): the Objective-C runtime aborts the forked worker.
SYNC_ON_MACOS = """\
[2026-12-04 21:15:10 +0000] [23647] [INFO] Booting worker with pid: 23647
objc[23647]: +[__NSCFConstantString initialize] may have been in progress in another thread when fork() was called.
objc[23647]: +[__NSCFConstantString initialize] may have been in progress in another thread when fork() was called. We cannot safely call it or ignore it in the fork() child process. Crashing instead. Set a breakpoint on objc_initializeAfterForkError to debug.
[2026-12-04 21:15:10 +0000] [23646] [WARNING] Worker (pid:23647) was sent SIGABRT!
[2026-12-04 21:15:10 +0000] [23648] [INFO] Booting worker with pid: 23648
"""
#: gunicorn 22 and older, without the Objective-C line (a SIGSEGV).
SEGV_ON_OLD_GUNICORN = """\
[2026-12-04 21:15:10 +0000] [23646] [ERROR] Worker with pid 23647 was terminated due to signal 11
"""
OURS = """\
[2026-11-22 13:18:00 +0000] [7] [ERROR] safeworkers: eventlet is not installed: pip install 'safeworkers[eventlet]'
[2026-11-22 13:18:01 +0000] [6] [ERROR] Reason: Worker failed to boot.
"""


@pytest.mark.parametrize(
    ("log", "cause"),
    [
        (
            GEVENT_ON_MACOS,
            "NotImplementedError: unsupported platform or primitives Trio depends on are "
            "monkey-patched out by gevent",
        ),
        (
            GEVENT_ON_MACOS_PY310,
            "NotImplementedError: unsupported platform or primitives Trio depends on are "
            "monkey-patched out by gevent",
        ),
        (
            "Exception ignored in: <function f>\nTraceback (most recent call last):\n"
            '  File "x.py", line 1, in f\nRuntimeError: at exit\n',
            None,
        ),
        (EVENTLET_ON_GUNICORN_26, "class uri 'eventlet' invalid or not found"),
        (WSGI_ON_HYPERCORN_TRIO, "trio.ClosedResourceError"),
        (OURS, "eventlet is not installed: pip install 'safeworkers[eventlet]'"),
        (
            SYNC_ON_MACOS,
            "a worker was killed by SIGABRT (objc[23647]: +[__NSCFConstantString initialize] "
            "may have been in progress in another thread when fork() was called.)",
        ),
        (SEGV_ON_OLD_GUNICORN, "a worker was killed by SIGSEGV"),
        ("[ERROR] Reason: Worker failed to boot.\n", "Worker failed to boot."),
        ("nothing useful\n", None),
    ],
)
def test_one_line_cause(log: str, cause: str | None) -> None:
    assert one_line_cause(log) == cause


@pytest.mark.parametrize(
    ("name", "server", "worker"),
    [
        ("GeventWorker", "gunicorn", "safeworkers.GeventWorker"),
        ("safeworkers.GeventWorker", "gunicorn", "safeworkers.GeventWorker"),
        ("gevent", "gunicorn", "gevent"),
        ("hypercorn:trio", "hypercorn", "trio"),
        ("hypercorn:uvloop", "hypercorn", "uvloop"),
        ("uvicorn_worker.UvicornWorker", "gunicorn", "uvicorn_worker.UvicornWorker"),
        ("myproject.workers.Custom", "gunicorn", "myproject.workers.Custom"),
    ],
)
def test_worker_names(name: str, server: str, worker: str) -> None:
    found = candidate(name)
    assert (found.server, found.worker) == (server, worker)

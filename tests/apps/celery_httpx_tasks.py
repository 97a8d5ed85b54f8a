"""A Celery app as projects write them: an httpx client built when the module is imported.

Under ``celery worker -P eventlet`` (Linux) or ``-P gevent`` (macOS/BSD) that
import is what kills the worker before it starts: httpx imports httpcore,
which imports trio, whose backend detection fails in the patched process.

The broker is kombu's filesystem transport and the results go to files, in
``SWTEST_CELERY_DIR``: no server needed. :func:`configure` is shared with the
test, which sends the tasks.
"""

from __future__ import annotations

import os
import socket
import sys

import httpx
from celery import Celery

client = httpx.Client(timeout=5)


def configure(app: Celery, directory: str) -> None:
    queue = os.path.join(directory, "queue")
    for sub in ("queue", "processed", "results", "control"):
        os.makedirs(os.path.join(directory, sub), exist_ok=True)
    app.conf.update(
        broker_url="filesystem://",
        broker_transport_options={
            "data_folder_in": queue,
            "data_folder_out": queue,
            "processed_folder": os.path.join(directory, "processed"),
            "control_folder": os.path.join(directory, "control"),
            "polling_interval": 0.1,
        },
        result_backend="file://" + os.path.join(directory, "results"),
        worker_enable_remote_control=False,
        broker_connection_retry_on_startup=True,
    )


app = Celery("celery_httpx_tasks")
if "SWTEST_CELERY_DIR" in os.environ:
    configure(app, os.environ["SWTEST_CELERY_DIR"])


@app.task
def fetch(url: str) -> dict[str, object]:
    """Call ``url`` with the module-level client; say what the process looks like."""
    response = client.get(url)
    try:
        import trio  # noqa: F401
    except ImportError as exc:
        trio_import = type(exc).__name__
    else:
        trio_import = "ok"
    return {
        "status": response.status_code,
        "body": response.text,
        "socket": socket.socket.__module__,
        "trio_import": trio_import,
        "guarded": "safeworkers.guard" in sys.modules
        and sys.modules["safeworkers.guard"].installed(),
    }

"""Apps as users have them: one that asks for gevent itself, a Django project read as Django
reaches it, a hub held by a busy loop made visible, and named refusals for self-patching apps.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests import servers

CLI = str(servers.BIN / "safeworkers")


def chosen(log: str) -> str:
    match = re.search(r"safeworkers AutoWorker chose (\S+): (.*)", log)
    assert match is not None, log
    return match.group(1)


# --- an app that asks for gevent: Flask-SocketIO with async_mode="gevent" -------------------


def test_flask_socketio_app_gets_gevent_and_talks_over_websocket() -> None:
    socketio = pytest.importorskip("socketio")
    with servers.gunicorn("socketio_app:app", "-k", "safeworkers.AutoWorker") as server:
        received: list[str] = []
        client = socketio.Client(reconnection=False)
        client.on("chat", received.append)
        client.connect(server.url, transports=["websocket"], wait_timeout=15)
        try:
            assert client.transport() == "websocket"
            client.emit("chat", "hello")
            deadline = time.monotonic() + 15
            while not received and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            client.disconnect()
        log = server.log
    assert received == ["echo: hello"], log
    assert chosen(log) == "safeworkers.GeventWorker"
    assert "the app asks for gevent itself (async_mode='gevent' at socketio_app.py:13)" in log
    code, output = servers.run_to_exit([CLI, "recommend", "socketio_app:app"])
    assert code == 0, output
    assert output.startswith("gunicorn -k safeworkers.GeventWorker"), output


def test_an_app_asking_for_gevent_under_a_sync_backend_is_refused_at_boot() -> None:
    env = {"SAFEWORKERS_BACKEND": "sync"}
    with servers.gunicorn(
        "socketio_app:app", "-k", "safeworkers.AutoWorker", env=env, wait=False
    ) as server:
        server.wait_for_log("Worker failed to boot", timeout=30)
        log = server.log
    assert (
        "the app asks for gevent itself (async_mode='gevent' at socketio_app.py:13); "
        "SAFEWORKERS_BACKEND=sync does not fit" in log
    )
    assert "Traceback" not in log


@pytest.mark.parametrize("worker", ["SyncWorker", "ThreadWorker", "EventletWorker"])
def test_a_worker_without_gevents_hub_refuses_an_app_that_asks_for_gevent(worker: str) -> None:
    """Before: the sync and thread workers booted and answered plain requests while every
    WebSocket timed out; EventletWorker was killed by WORKER TIMEOUT."""
    with servers.gunicorn("socketio_app:app", "-k", f"safeworkers.{worker}", wait=False) as server:
        server.wait_for_log("Worker failed to boot", timeout=30)
        log = server.log
    assert (
        f"safeworkers.{worker} cannot serve this app: the app asks for gevent itself "
        "(async_mode='gevent' at socketio_app.py:13), and this worker " in log
    )
    assert "its WebSockets and long polls would wait for ever" in log
    assert "Use -k safeworkers.GeventWorker (or -k safeworkers.AutoWorker, which picks it)" in log
    assert "Traceback" not in log


def test_gevents_worker_refuses_an_app_that_asks_for_eventlet(tmp_path: Path) -> None:
    (tmp_path / "socketio_eventlet.py").write_text(
        "from flask import Flask\nfrom flask_socketio import SocketIO\n\n"
        'app = Flask(__name__)\nsocketio = SocketIO(app, async_mode="eventlet")\n'
    )
    with servers.gunicorn(
        "socketio_eventlet:app",
        "-k",
        "safeworkers.GeventWorker",
        wait=False,
        pythonpath=[tmp_path, *servers.PYTHONPATH],
    ) as server:
        server.wait_for_log("Worker failed to boot", timeout=30)
        log = server.log
    assert (
        "safeworkers.GeventWorker cannot serve this app: the app asks for eventlet itself "
        "(async_mode='eventlet' at socketio_eventlet.py:5), and this worker patches with "
        "gevent: two green libraries in one process break each other" in log
    )
    assert "Use -k safeworkers.EventletWorker" in log


def test_check_shows_the_workers_without_gevents_hub_as_refused() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEWORKERS_")}
    done = subprocess.run(
        [CLI, "check", "socketio_app:app", "--json", "--only", "--worker",
         "safeworkers.SyncWorker", "sync", "gthread", "safeworkers.EventletWorker",
         "safeworkers.GeventWorker", "--timeout", "20"],
        capture_output=True, text=True, cwd=servers.TEST_APPS, env=env, check=False, timeout=120,
    )  # fmt: skip
    report = json.loads(done.stdout)
    results = {r["name"]: r for r in report["results"]}
    assert report["autoworker"]["asks"] == ["gevent", "async_mode='gevent' at socketio_app.py:13"]
    assert results["safeworkers.GeventWorker"]["status"] == "serves"
    assert done.returncode == 1  # the workers named: some cannot serve it
    for name in ("safeworkers.SyncWorker", "sync", "gthread", "safeworkers.EventletWorker"):
        assert results[name]["status"] == "fails", results[name]
        assert "the app asks for gevent itself" in results[name]["cause"]
        assert "-k safeworkers.GeventWorker" in results[name]["cause"]
    # gunicorn's own boot and answer GET /: refused all the same, with what they did
    assert results["sync"]["cause"].endswith("(the boot: answers 200 to GET /)")
    assert results["gthread"]["cause"].endswith("(the boot: answers 200 to GET /)")


# --- Django, read as Django reaches it ------------------------------------------------------

VIEWS = """\
import httpx
from django.http import HttpResponse
from gevent import monkey

monkey.patch_all()

client = httpx.Client()


def index(request):
    import socket

    return HttpResponse(f"polls: socket from {socket.socket.__module__}")
"""


def django_project(directory: Path) -> Path:
    """``django-admin startproject mysite`` plus ``startapp polls``, wired as the tutorial does;
    the app's views hold the code that matters (they monkey-patch with gevent)."""
    bin_dir = servers.BIN
    subprocess.run(
        [str(bin_dir / "django-admin"), "startproject", "mysite"], cwd=directory, check=True
    )
    project = directory / "mysite"
    subprocess.run(
        [str(bin_dir / "python"), "manage.py", "startapp", "polls"], cwd=project, check=True
    )
    (project / "polls" / "views.py").write_text(VIEWS)
    (project / "polls" / "urls.py").write_text(
        "from django.urls import path\n\nfrom . import views\n\n"
        'urlpatterns = [path("", views.index, name="index")]\n'
    )
    urls = project / "mysite" / "urls.py"
    text = urls.read_text().replace(
        "from django.urls import path", "from django.urls import include, path"
    )
    urls.write_text(
        text.replace(
            "path('admin/', admin.site.urls),",
            "path('admin/', admin.site.urls),\n    path('polls/', include('polls.urls')),",
        )
    )
    settings = project / "mysite" / "settings.py"
    settings.write_text(
        settings.read_text().replace(
            "'django.contrib.staticfiles',",
            "'django.contrib.staticfiles',\n    'polls.apps.PollsConfig',",
        )
    )
    assert "include('polls.urls')" in urls.read_text()
    assert "polls.apps.PollsConfig" in settings.read_text()
    return project


def test_django_project_is_read_through_settings_urls_and_apps(tmp_path: Path) -> None:
    project = django_project(tmp_path)
    with servers.gunicorn(
        "mysite.wsgi", "-k", "safeworkers.AutoWorker", "--chdir", str(project)
    ) as server:
        response = server.get("/polls/")
        log = server.log
    assert response.status_code == 200, log
    assert response.text == "polls: socket from gevent._socket3"
    line = next(x for x in log.splitlines() if "AutoWorker: app code:" in x)
    files = int(re.search(r"\((\d+) files read", line).group(1))  # type: ignore[union-attr]
    assert files > 2, line
    assert "Django settings mysite.settings" in line
    assert "gevent.monkey.patch_all at polls/views.py:5" in line
    assert chosen(log) == "safeworkers.GeventWorker"


# --- a blocked hub made visible ------------------------------------------------------------


@pytest.mark.parametrize("worker", ["GeventWorker", "EventletWorker"])
def test_a_busy_loop_holding_the_hub_is_logged_and_counted(worker: str) -> None:
    statsd = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    statsd.bind(("127.0.0.1", 0))
    statsd.settimeout(0.2)
    port = statsd.getsockname()[1]
    env = {"SAFEWORKERS_BLOCKING_WARN": "0.2"}
    with (
        statsd,
        servers.gunicorn(
            "busy_app:app",
            "-k",
            f"safeworkers.{worker}",
            "--statsd-host",
            f"127.0.0.1:{port}",
            env=env,
        ) as server,
    ):
        for _ in range(2):
            assert server.get("/spin?s=0.5").status_code == 200
        server.wait_for_log("held", timeout=10)
        time.sleep(0.3)  # the second block's statsd lines
        log = server.log
        metrics = []
        while True:
            try:
                metrics.append(statsd.recv(1000).decode())
            except OSError:
                break
    reports = [line for line in log.splitlines() if "held" in line and "hub for" in line]
    library = "gevent" if worker == "GeventWorker" else "eventlet"
    assert len(reports) == 1, log  # the same site again within a minute: counted, not logged
    assert f"a greenlet held {library}'s hub for at least" in reports[0]
    assert "busy_app.py:14 in spin" in reports[0]
    stack = log.split(reports[0], 1)[1]
    assert 'busy_app.py", line 14, in spin' in stack
    ours = [m for m in metrics if m.startswith("safeworkers_hub_")]
    assert ours.count("safeworkers_hub_blocked:1|c|@1.0") == 2, metrics
    assert sum(m.startswith("safeworkers_hub_blocked_ms:") and m.endswith("|ms") for m in ours) == 2


def test_an_idle_or_yielding_worker_reports_nothing() -> None:
    env = {"SAFEWORKERS_BLOCKING_WARN": "0.2"}
    with servers.gunicorn("busy_app:app", "-k", "safeworkers.GeventWorker", env=env) as server:
        for _ in range(5):
            assert server.get("/").status_code == 200
        time.sleep(0.5)
        log = server.log
    assert "watching the hub" in log
    assert "hub for" not in log


# --- named refusals for an app that patches itself (check and boot) -----------------------


def test_check_names_why_threads_and_the_other_patcher_cannot_serve_a_self_patching_app() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEWORKERS_")}
    env["UPSTREAM_URL"] = "http://127.0.0.1:9"
    done = subprocess.run(
        [CLI, "check", "flask_selfpatch:app", "--json", "--only", "--worker",
         "safeworkers.EventletWorker", "safeworkers.ThreadWorker", "gthread", "--timeout", "20"],
        capture_output=True, text=True, cwd=servers.TEST_APPS, env=env, check=False, timeout=120,
    )  # fmt: skip
    report = json.loads(done.stdout)
    results = {r["name"]: r for r in report["results"]}
    assert done.returncode == 1
    assert results["safeworkers.EventletWorker"]["cause"].startswith(
        "safeworkers.EventletWorker cannot serve this app: it monkey-patches the process with "
        "gevent when imported (gevent.monkey.patch_all at flask_selfpatch.py:12)"
    )
    assert results["safeworkers.ThreadWorker"]["cause"].startswith(
        "safeworkers.ThreadWorker cannot serve this app: it monkey-patches the process with gevent"
    )
    assert results["gthread"]["cause"].startswith("not booted (it would hang until the timeout)")
    for result in results.values():
        assert "RuntimeError" not in result["cause"]
        assert "no answer within" not in result["cause"]
        assert "-k safeworkers.GeventWorker" in result["cause"]

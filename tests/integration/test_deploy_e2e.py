"""The rendered deployment files, run for real.

- nginx with the rendered site proxies to gunicorn, started with the rendered
  gunicorn.conf.py and safeworkers.GeventWorker, over the Unix socket both
  name: 200, the worker says who it is, and the socket's mode is 0660.
- The rendered systemd units: the .socket unit's ListenStream, SocketMode and
  Backlog make the listening socket, handed over as systemd does (LISTEN_FDS,
  LISTEN_PID, fd 3) to the .service unit's ExecStart (with the rendered
  gunicorn.conf.py) in its WorkingDirectory, with a NOTIFY_SOCKET for
  Type=notify and RUNTIME_DIRECTORY for RuntimeDirectory=, and a home the
  service cannot write: READY=1 arrives, GET answers 200, the control socket
  is in the runtime directory, HUP (ExecReload) keeps it serving, SIGTERM
  stops it in time, and nothing logs an error.
"""

from __future__ import annotations

import grp
import json
import os
import shlex
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from safeworkers import testing
from tests import servers
from tests.integration import deploy
from tests.integration.deploy import APT, need
from tests.integration.test_template_tools import nginx_main_conf


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A temp dir nginx's unprivileged workers can reach (pytest's tmp_path is 0700)."""
    with tempfile.TemporaryDirectory(prefix="sw-deploy-") as tmp:
        path = Path(tmp)
        path.chmod(0o711)
        yield path


def _nginx_user(sock: Path) -> str:
    """As root, nginx's workers run as nobody: give the socket nobody's group, as a
    deployment gives it nginx's (www-data), so the 0660 mode is what lets them in."""
    if os.geteuid() != 0:
        return ""
    try:
        group = grp.getgrnam("nogroup")
    except KeyError:
        return "user root;\n"
    os.chown(sock, -1, group.gr_gid)
    return "user nobody nogroup;\n"


def test_nginx_proxies_to_gevent_worker_over_the_templates_unix_socket(shared_dir: Path) -> None:
    nginx = need("nginx", APT)
    sock = shared_dir / "gunicorn.sock"
    args = [
        "--app",
        "demo_wsgi:app",
        "--worker",
        "safeworkers.GeventWorker",
        "--bind",
        f"unix:{sock}",
    ]
    gunicorn_conf = deploy.render("gunicorn", shared_dir / "gunicorn", *args) / "gunicorn.conf.py"
    site = deploy.render("nginx", shared_dir / "nginx", *args) / "webapp.conf"
    port = testing.free_port()
    text = site.read_text()
    assert text.count("listen 80;") == 1
    site.write_text(text.replace("listen 80;", f"listen 127.0.0.1:{port};"))

    with testing.gunicorn(
        "demo_wsgi:app",
        "-c",
        str(gunicorn_conf),
        "-w",
        "1",
        unix=sock,
        bind_by_config=True,
        cwd=servers.APPS,
    ) as app_server:
        assert stat.S_IMODE(sock.stat().st_mode) == 0o660
        main = shared_dir / "nginx.conf"
        main.write_text(_nginx_user(sock) + nginx_main_conf(shared_dir, site))
        proxy = subprocess.Popen(
            [nginx, "-p", str(shared_dir), "-e", "stderr", "-c", str(main), "-g", "daemon off;"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            front = testing.Server(
                proxy, shared_dir / "error.log", f"http://127.0.0.1:{port}"
            )  # a Server view of nginx, for its waits and fetch
            front.wait_ready(timeout=20)
            response = front.fetch("/hello", headers={"X-Forwarded-Proto": "https"})
            assert response.status == 200, (front.log, app_server.log)
            facts = json.loads(response.body)
            assert facts["worker"] == "safeworkers.GeventWorker"
            assert facts["patched_by"] == "gevent"
            assert facts["path"] == "/hello"
            # nginx is the edge: it replaces the client's X-Forwarded-Proto with its
            # own scheme, and gunicorn trusts the header from the Unix socket.
            assert facts["scheme"] == "http"
            head = front.fetch("/", "HEAD")
            assert head.status == 200
            assert head.body == b""
        finally:
            proxy.terminate()
            proxy.wait(timeout=15)
    assert "Traceback" not in app_server.log


#: Makes the socket the .socket unit describes and execs the service, as systemd does.
ACTIVATE = r"""
import json, os, socket, sys
unit = json.loads(sys.argv[1])
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.bind(unit["path"])
os.chmod(unit["path"], int(unit["mode"], 8))
sock.listen(unit["backlog"])
if sock.fileno() != 3:
    os.dup2(sock.fileno(), 3)
    sock.close()
os.set_inheritable(3, True)
os.environ.update(unit["environment"], LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
os.chdir(unit["cwd"])
os.execv(unit["argv"][0], unit["argv"])
"""


def test_systemd_socket_activation_with_the_rendered_units(shared_dir: Path) -> None:
    prefix = deploy.prefix_with_this_venv(shared_dir / "srv", "demo_wsgi")
    sock = shared_dir / "run" / "webapp.sock"
    sock.parent.mkdir()
    args = ["--app", "demo_wsgi:app", "--prefix", str(prefix), "--bind", f"unix:{sock}"]
    units = deploy.render("systemd", shared_dir / "units", *args)
    (prefix / "gunicorn.conf.py").write_bytes((units / "gunicorn.conf.py").read_bytes())
    socket_unit = deploy.unit_sections((units / "webapp.socket").read_text())["Socket"]
    service = deploy.unit_sections((units / "webapp.service").read_text())["Service"]
    assert service["Type"] == "notify"
    assert socket_unit["ListenStream"] == str(sock)
    environment = dict(item.split("=", 1) for item in shlex.split(service["Environment"]))
    # What systemd makes for RuntimeDirectory= (under /run), and says in RUNTIME_DIRECTORY.
    runtime = shared_dir / "run" / service["RuntimeDirectory"]
    runtime.mkdir(parents=True)
    environment |= {"RUNTIME_DIRECTORY": str(runtime), **deploy.unwritable_home(shared_dir)}

    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(shared_dir / "notify.sock"))
    notify.settimeout(30)
    unit = {
        "path": socket_unit["ListenStream"],
        "mode": socket_unit["SocketMode"],
        "backlog": int(socket_unit["Backlog"]),
        "cwd": service["WorkingDirectory"],
        "argv": [*shlex.split(service["ExecStart"]), "--graceful-timeout", "5", "-w", "1"],
        "environment": {**environment, "NOTIFY_SOCKET": str(shared_dir / "notify.sock")},
    }
    log_path = shared_dir / "service.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", ACTIVATE, json.dumps(unit)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=deploy.service_env(),
        )
    server = testing.Server(proc, log_path, "http://localhost", uds=str(sock))
    try:
        ready = notify.recv(4096).decode()
        assert "READY=1" in ready, server.log
        assert stat.S_IMODE(sock.stat().st_mode) == 0o660
        server.wait_ready(timeout=20)
        response = server.fetch("/")
        assert response.status == 200, server.log
        assert json.loads(response.body)["worker"] == "safeworkers.SyncWorker"  # AutoWorker's pick
        deploy.assert_control_socket(server, runtime / "gunicorn.ctl")
        # ExecReload: HUP replaces the workers; the socket stays, so it keeps serving.
        before = server.worker_pids()
        server.signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and server.worker_pids() in (before, set()):
            time.sleep(0.1)
        assert server.worker_pids() - before, server.log
        assert server.fetch("/").status == 200
        # KillMode=mixed: SIGTERM to the main process, which stops within TimeoutStopSec.
        server.signal(signal.SIGTERM)
        assert server.wait(timeout=float(service["TimeoutStopSec"])) == 0, server.log
    finally:
        notify.close()
        server.stop()
    deploy.assert_no_error(server.log)

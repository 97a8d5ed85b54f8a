"""Issue #5's wiring: what every worker applies to accepted connections, on TCP,
Unix sockets, MPTCP listeners created by the config modules, and systemd
socket activation."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests import servers
from tests.markers import needs_mptcp

WSGI_WORKERS = ["SyncWorker", "ThreadWorker", "GeventWorker", "EventletWorker", "AutoWorker"]
KEEPALIVE = {"SAFEWORKERS_TCP_KEEPALIVE": "60,15,4"}


def k(name: str) -> tuple[str, str]:
    return ("-k", f"safeworkers.{name}")


@pytest.mark.parametrize("worker", WSGI_WORKERS)
def test_tcp_connections_get_nodelay_and_keepalive(worker: str) -> None:
    """Every connection, not only the first: later ones take the inherited-options path."""
    with servers.gunicorn("sockinfo_app:app", *k(worker), env=KEEPALIVE) as server:
        for _ in range(4):
            with httpx.Client(base_url=server.url, timeout=10) as client:
                info = client.get("/", headers={"Connection": "close"}).json()
            assert info["TCP_NODELAY"] != 0
            assert info["SO_KEEPALIVE"] == 1
            assert (info["TCP_KEEPIDLE"], info["TCP_KEEPINTVL"], info["TCP_KEEPCNT"]) == (60, 15, 4)
        assert "tcp options on listener" in server.log


@pytest.mark.parametrize("worker", WSGI_WORKERS)
def test_keepalive_is_off_unless_asked(worker: str) -> None:
    with servers.gunicorn("sockinfo_app:app", *k(worker)) as server:
        assert server.get("/").json()["SO_KEEPALIVE"] == 0


@pytest.mark.parametrize("worker", WSGI_WORKERS)
def test_unix_socket_with_keepalive_configured_serves_cleanly(worker: str) -> None:
    with servers.gunicorn("sockinfo_app:app", *k(worker), unix=True, env=KEEPALIVE) as server:
        client = server.client()
        for _ in range(5):
            info = client.get("/").json()
        assert info["family"] == "AF_UNIX"
        assert info["SO_KEEPALIVE"] == 0  # not applied: keepalive means nothing here
        log = server.log
    assert "[ERROR]" not in log
    assert "OSError" not in log
    assert "Operation not supported" not in log


def _http_get_over(sock: socket.socket, path: str = "/") -> bytes:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data.split(b"\r\n\r\n", 1)[1]


@needs_mptcp
@pytest.mark.parametrize("worker", ["SyncWorker", "GeventWorker"])
def test_mptcp_listener_through_gunicorn_config(worker: str) -> None:
    env = {"SAFEWORKERS_MPTCP": "1"}
    with servers.gunicorn(
        "sockinfo_app:app",
        "-c",
        "python:safeworkers.gunicorn_config",
        *k(worker),
        "-w",
        "1",
        env=env,
        bind_via_env=True,
    ) as server:
        assert "(mptcp) handed over as fd://" in server.log
        # An ordinary TCP client is served (the kernel falls back per connection) ...
        assert server.get("/").json()["SO_PROTOCOL"] == socket.IPPROTO_TCP
        # ... and an MPTCP client gets an MPTCP connection.
        host, port = server.url.removeprefix("http://").split(":")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262) as client:
            client.connect((host, int(port)))
            info = json.loads(_http_get_over(client))
        assert info["SO_PROTOCOL"] == 262
        assert info["TCP_NODELAY"] != 0


@needs_mptcp
def test_mptcp_listeners_follow_a_bind_given_on_the_command_line() -> None:
    """-b overrides BIND: only the -b address is listened on, nothing leaks."""
    unused = servers.free_port()
    env = {"SAFEWORKERS_MPTCP": "1", "BIND": f"127.0.0.1:{unused}"}
    with servers.gunicorn(
        "sockinfo_app:app", "-c", "python:safeworkers.gunicorn_config", "-w", "1", env=env
    ) as server:
        assert server.get("/").status_code == 200
        assert f"listening on {server.url.removeprefix('http://')} (mptcp)" in server.log
        with pytest.raises(ConnectionRefusedError), socket.socket() as probe:
            probe.connect(("127.0.0.1", unused))


def test_mptcp_unix_bind_gets_gunicorns_umask() -> None:
    """Unix binds are handed over too (gunicorn ignores other binds once one is fd://);
    the socket file still gets gunicorn's --umask."""
    with servers.gunicorn(
        "sockinfo_app:app",
        "-c",
        "python:safeworkers.gunicorn_config",
        "-w",
        "1",
        "--umask",
        "0o077",
        env={"SAFEWORKERS_MPTCP": "1"},
        bind_via_env=True,
        unix=True,
    ) as server:
        assert server.get("/").json()["family"] == "AF_UNIX"
        assert "(unix) handed over as fd://" in server.log
        assert server.uds is not None
        assert (Path(server.uds).stat().st_mode & 0o777) == 0o700


def test_hypercorn_config_refuses_bind_flag_with_mptcp() -> None:
    code, output = servers.run_to_exit(
        [
            str(servers.BIN / "hypercorn"),
            "--config",
            "python:safeworkers.hypercorn_config",
            "--bind",
            "127.0.0.1:1",
            "asgi_plain:app",
        ],
        env={"SAFEWORKERS_MPTCP": "1"},
    )
    assert code != 0
    assert "drop --bind and set BIND instead" in output
    assert "Traceback" not in output


SOCKET_ACTIVATION = r"""
import os, socket, sys
listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", int(sys.argv[1])))
listener.listen(16)
if listener.fileno() != 3:
    os.dup2(listener.fileno(), 3)
os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())  # exec keeps the pid, as systemd expects
os.execv(sys.argv[2], sys.argv[2:])
"""


@pytest.mark.parametrize("worker", ["SyncWorker", "ThreadWorker", "GeventWorker", "AutoWorker"])
def test_systemd_socket_activation(worker: str, tmp_path: Path) -> None:
    """gunicorn adopts fd 3 from LISTEN_FDS/LISTEN_PID; our tuning applies to its connections."""
    port = servers.free_port()
    gunicorn = servers.gunicorn_exe()
    argv = [sys.executable, "-c", SOCKET_ACTIVATION, str(port), gunicorn]
    if servers._has_control_socket(gunicorn):
        argv.append("--no-control-socket")
    argv += [*k(worker), "sockinfo_app:app"]
    env = servers._env(None, KEEPALIVE)
    log_path = tmp_path / "log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 20
        info = None
        while time.monotonic() < deadline and info is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
                    info = json.loads(_http_get_over(client))
            except (OSError, ValueError):
                time.sleep(0.1)
        assert info is not None, log_path.read_text()
        assert info["SO_KEEPALIVE"] == 1
        assert info["TCP_KEEPIDLE"] == 60
        assert f"Listening at: http://127.0.0.1:{port}" in log_path.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=15)

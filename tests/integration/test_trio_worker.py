"""safeworkers.TrioWorker under a real gunicorn: serving, settings, signals, failures.

Most HTTP checks share one ``gunicorn -k safeworkers.TrioWorker -w 2`` serving
tests/apps/trio_raw.py; scenarios that stop or break the server get their own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from tests import markers, servers
from tests.servers import BIN, Server, free_port, gunicorn, run_to_exit

pytestmark = pytest.mark.skipif(
    find_spec("trio") is None or find_spec("hypercorn") is None,
    reason="needs safeworkers[trio]",
)

WORKER = ("-k", "safeworkers.TrioWorker")


# --------------------------------------------------------------------------- helpers


def _connect(server: Server) -> socket.socket:
    if server.uds:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(server.uds)
    else:
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        sock = socket.create_connection((host, int(port)))
    sock.settimeout(10)
    return sock


def ws_echo(server: Server, texts: list[str], path: str = "/ws") -> list[str]:
    """Send ``texts`` over a WebSocket (wsproto on a raw socket); return the echoes."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, CloseConnection, Message, Request, TextMessage

    ws = WSConnection(ConnectionType.CLIENT)

    def events(sock: socket.socket) -> Iterator[Any]:
        while True:
            data = sock.recv(65536)
            if not data:
                raise AssertionError("server closed the WebSocket connection")
            ws.receive_data(data)
            yield from ws.events()

    with contextlib.closing(_connect(server)) as sock:
        sock.sendall(ws.send(Request(host="localhost", target=path)))
        stream = events(sock)
        first = next(stream)
        assert isinstance(first, AcceptConnection), first
        echoed = []
        for text in texts:
            sock.sendall(ws.send(Message(data=text)))
            parts = []
            for event in stream:
                if isinstance(event, TextMessage):
                    parts.append(event.data)
                    if event.message_finished:
                        break
            echoed.append("".join(parts))
        sock.sendall(ws.send(CloseConnection(code=1000)))
    return echoed


def wait_for_file_text(path: Path, text: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    content = ""
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            content = path.read_text()
            if text in content:
                return content
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in {path} within {timeout}s:\n{content}")


def gunicorn_argv(app: str, *args: str) -> list[str]:
    return [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{free_port()}", *WORKER, *args, app]


# --------------------------------------------------------------------------- import / config


def test_module_import_does_not_import_trio_or_hypercorn() -> None:
    code = (
        "import sys, safeworkers.workers.trio as m\n"
        "assert m.TrioWorker.__name__ == 'TrioWorker'\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('trio', 'hypercorn')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert out.stdout.strip() == "[]"


def test_missing_trio_fails_boot_with_install_hint(tmp_path: Path) -> None:
    conf = tmp_path / "hide_trio.py"
    conf.write_text("import sys\nsys.modules['trio'] = None  # find_spec('trio') -> None\n")
    code, output = run_to_exit(gunicorn_argv("trio_raw:app", "-c", str(conf)), timeout=30)
    assert code == 3, output
    assert "pip install 'safeworkers[trio]'" in output
    assert "Worker failed to boot" in output


def test_gunicorn_settings_map_onto_hypercorn_config() -> None:
    from gunicorn.config import Config as GunicornConfig

    from safeworkers.workers.trio.config import hypercorn_config as _hypercorn_config
    from safeworkers.workers.trio.gate import Policy as _Policy

    cfg = GunicornConfig()
    wanted = {
        "keepalive": 7,
        "graceful_timeout": 11,
        "limit_request_line": 1000,
        "limit_request_fields": 10,
        "limit_request_field_size": 500,
        "root_path": "/api",
        "websocket_max_message_size": 1234,
        "forwarded_allow_ips": "10.0.0.0/8",
    }
    known = {name: value for name, value in wanted.items() if name in cfg.settings}
    for name, value in known.items():
        try:
            cfg.set(name, value)
        except ValueError:  # gunicorn 23 takes addresses, not networks
            assert name == "forwarded_allow_ips"
            cfg.set(name, "10.1.2.3")
    worker = SimpleNamespace(cfg=cfg, log=SimpleNamespace())
    policy = _Policy(cfg)
    config = _hypercorn_config(worker, policy)  # type: ignore[arg-type]
    assert config.keep_alive_timeout == 7
    assert config.graceful_timeout == 11
    assert config.shutdown_timeout == 11
    assert config.max_requests is None  # counted by the worker, see _Gate
    assert config.h11_max_incomplete_size == 1000 + 2 + 10 * 502 + 2
    # Settings this gunicorn does not have (23 has neither) keep hypercorn's defaults.
    if "root_path" in known:
        assert config.root_path == "/api"
    if "websocket_max_message_size" in known:
        assert config.websocket_max_message_size == 1234
    assert config.create_ssl_context() is None
    assert policy.trusted(("10.1.2.3", 5))
    assert not policy.trusted(("192.0.2.1", 5))
    assert policy.trusted(None)  # a Unix socket peer, as in gunicorn


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux copies listener options")
def test_listener_keepalive_is_inherited_by_accepted_connections() -> None:
    """Why TrioWorker tunes the listener: hypercorn has no per-connection hook."""
    from safeworkers import sockets

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        applied = sockets.enable_keepalive(listener, idle=61, interval=16, count=5)
        assert applied["TCP_KEEPIDLE"] == 61
        with socket.create_connection(listener.getsockname()):
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 61
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 5


# --------------------------------------------------------------------------- shared server


@pytest.fixture(scope="module")
def access_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trio-access") / "access.log"


@pytest.fixture(scope="module")
def raw_server(access_log: Path) -> Iterator[Server]:
    args = (
        *WORKER,
        "-w",
        "2",
        "--access-logfile",
        str(access_log),
        "--limit-request-fields",
        "30",
        "--keep-alive",
        "5",
    )
    # gunicorn < 25 has no --root-path; SCRIPT_NAME is the older spelling.
    env: dict[str, str] = {}
    if servers.gunicorn_has_option("--root-path"):
        args = (*args, "--root-path", "/api")
    else:
        env["SCRIPT_NAME"] = "/api"
    with gunicorn("trio_raw:app", *args, env=env) as server:
        yield server


@markers.real_platform
def test_serves_raw_asgi_app_on_trio(raw_server: Server) -> None:
    info = raw_server.get("/").json()
    assert info["trio_task"].startswith("hypercorn.trio")  # a Trio task answered
    assert info["lifespan_started"] is True
    assert info["pid"] in raw_server.worker_pids()
    assert info["root_path"] == "/api"
    assert info["scheme"] == "http"
    assert "safeworkers TrioWorker" in raw_server.log


def test_streaming_response(raw_server: Server) -> None:
    with raw_server.client().stream("GET", "/stream") as response:
        assert response.headers.get("transfer-encoding") == "chunked"
        chunks = list(response.iter_text())
    assert "".join(chunks) == "".join(f"chunk {i}\n" for i in range(5))


def test_request_body(raw_server: Server) -> None:
    body = os.urandom(1024 * 1024 + 3)
    assert raw_server.client().post("/upload", content=body).json() == {"size": len(body)}

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000

    response = raw_server.client().post("/upload", content=chunks())  # chunked upload
    assert response.json() == {"size": 10_000}


def test_http11_keepalive_reuses_the_connection(raw_server: Server) -> None:
    client = raw_server.client()
    first = client.get("/").json()
    second = client.get("/").json()
    assert first["client"] == second["client"]  # same peer port: same TCP connection
    assert first["pid"] == second["pid"]
    other = raw_server.client().get("/").json()
    assert other["client"] != first["client"]


def test_websocket_echo(raw_server: Server) -> None:
    texts = ["hello", "trio", "x" * 70_000]
    assert ws_echo(raw_server, texts) == texts


def test_two_workers_share_the_listener(raw_server: Server) -> None:
    assert len(raw_server.worker_pids()) == 2
    seen: set[int] = set()
    deadline = time.monotonic() + 15
    while len(seen) < 2 and time.monotonic() < deadline:
        pids: list[int] = []

        def fetch(pids: list[int] = pids) -> None:
            # concurrent fresh connections, each busy for a moment, land on both workers
            with httpx.Client(base_url=raw_server.url, timeout=10) as client:
                assert client.get("/slow", params={"s": "0.2"}).status_code == 200
                pids.append(client.get("/").json()["pid"])

        threads = [threading.Thread(target=fetch) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seen.update(pids)
    assert seen == raw_server.worker_pids()


def test_access_log_uses_gunicorn_format(raw_server: Server, access_log: Path) -> None:
    client = raw_server.client()
    client.get("/hello", headers={"User-Agent": "trio-test"})
    client.get("/stream", params={"n": "1"})
    text = wait_for_file_text(access_log, "/stream?n=1")
    # gunicorn's default access_log_format: h l u t "r" s b "f" "a"
    assert '"GET /hello HTTP/1.1" 200 15 "-" "trio-test"' in text
    assert '"GET /stream?n=1 HTTP/1.1" 200 40 ' in text  # counted bytes, chunked response
    assert "127.0.0.1 - - [" in text


def test_request_limits_follow_gunicorn(raw_server: Server) -> None:
    client = raw_server.client()
    many = {f"x-h{i}": "v" for i in range(40)}  # --limit-request-fields 30
    assert client.get("/", headers=many).status_code == 431
    assert client.get("/", headers={"x-big": "v" * 9000}).status_code == 431
    assert client.get("/" + "a" * 5000).status_code == 414  # limit_request_line 4094
    assert client.get("/", headers={"x-ok": "v" * 1000}).status_code == 200
    assert "Invalid request from ip=127.0.0.1" in raw_server.log


def test_secure_scheme_header_from_trusted_peer(raw_server: Server) -> None:
    client = raw_server.client()
    assert client.get("/", headers={"X-Forwarded-Proto": "https"}).json()["scheme"] == "https"
    assert client.get("/", headers={"X-Forwarded-Proto": "http"}).json()["scheme"] == "http"
    bad = {"X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "off"}
    assert client.get("/", headers=bad).status_code == 400


def test_sigusr1_reopens_log_files(raw_server: Server, access_log: Path) -> None:
    raw_server.get("/hello", params={"before": "usr1"})
    wait_for_file_text(access_log, "before=usr1")
    access_log.rename(access_log.with_suffix(".old"))
    raw_server.signal(signal.SIGUSR1)  # the arbiter reopens, then USR1s its workers
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        raw_server.get("/hello", params={"after": "usr1"})
        if access_log.exists() and "after=usr1" in access_log.read_text():
            break
        time.sleep(0.2)
    wait_for_file_text(access_log, "after=usr1", timeout=1)
    assert "before=usr1" in access_log.with_suffix(".old").read_text()


# --------------------------------------------------------------------------- transports, apps


@markers.real_platform
def test_unix_socket_http_and_websocket() -> None:
    with gunicorn("trio_raw:app", *WORKER, unix=True) as server:
        info = server.get("/").json()
        assert info["trio_task"].startswith("hypercorn.trio")
        assert info["client"] is None
        client = server.client()
        assert client.post("/x", content=b"abc").json() == {"size": 3}
        assert ws_echo(server, ["over unix"]) == ["over unix"]


def test_starlette_app() -> None:
    with gunicorn("starlette_app:app", *WORKER) as server:
        client = server.client()
        assert client.get("/").json()["library"] == "trio"
        assert client.post("/echo", content=b"x" * 5000).json() == {"size": 5000}
        assert client.get("/stream").text == "".join(f"chunk {i}\n" for i in range(5))
        assert ws_echo(server, ["starlette", "ws"]) == ["starlette", "ws"]


def test_quart_trio_app() -> None:
    with gunicorn("quart_trio_app:app", *WORKER) as server:
        client = server.client()
        info = client.get("/").json()
        assert info["pid"] in server.worker_pids()
        assert client.post("/echo", content=b"q" * 100).json() == {"size": 100}
        assert ws_echo(server, ["quart", "trio"]) == ["quart", "trio"]


def _tls_files(tmp_path: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


def test_tls_with_http2_over_alpn(tmp_path: Path) -> None:
    pytest.importorskip("h2")
    cert, key = _tls_files(tmp_path)
    if not servers.gunicorn_has_option("--http-protocols"):
        pytest.skip("gunicorn < 25 has no --http-protocols, so no HTTP/2 to negotiate")
    tls = ("--certfile", str(cert), "--keyfile", str(key), "--http-protocols", "h2,h1")
    with gunicorn("trio_raw:app", *WORKER, *tls, wait=False) as server:
        url = server.url.replace("http://", "https://")
        deadline = time.monotonic() + 20
        with httpx.Client(base_url=url, verify=False, http2=True, timeout=5) as client:
            while True:
                try:
                    response = client.get("/")
                    break
                except httpx.TransportError:
                    if server.proc.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError(server.log) from None
                    time.sleep(0.1)
            assert response.http_version == "HTTP/2"
            assert response.json()["scheme"] == "https"
            assert response.json()["http_version"] == "2"
        with httpx.Client(base_url=url, verify=False, timeout=5) as client:
            assert client.get("/").http_version == "HTTP/1.1"


# --------------------------------------------------------------------------- lifecycle


def test_sigterm_lets_in_flight_request_finish() -> None:
    with gunicorn("trio_raw:app", *WORKER) as server:
        client = server.client()
        result: dict[str, Any] = {}

        def slow() -> None:
            try:
                response = client.get("/slow", params={"s": "1"})
                result["status"], result["text"] = response.status_code, response.text
            except httpx.HTTPError as exc:
                result["error"] = exc

        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(0.3)
        server.signal(signal.SIGTERM)
        thread.join(10)
        assert result == {"status": 200, "text": "slept 1.0"}
        assert server.wait(10) == 0
        log = server.log
    assert "draining in-flight requests" in log
    assert "trio_raw: lifespan shutdown complete" in log


def test_sigquit_exits_without_draining() -> None:
    with gunicorn("trio_raw:app", *WORKER) as server:
        errors: list[Exception] = []

        def slow() -> None:
            try:
                server.client().get("/slow", params={"s": "10"})
            except httpx.HTTPError as exc:
                errors.append(exc)

        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(0.3)
        started = time.monotonic()
        server.signal(signal.SIGQUIT)
        server.wait(10)
        elapsed = time.monotonic() - started
        thread.join(10)
        log = server.log
    assert elapsed < 3, log
    assert errors, "the in-flight request should have been cut off"
    assert "lifespan shutdown complete" not in log


def test_max_requests_recycles_workers_without_failing_requests() -> None:
    with gunicorn("trio_raw:app", *WORKER, "--max-requests", "20") as server:
        client = server.client()
        pids = []
        for _ in range(100):
            response = client.get("/")
            assert response.status_code == 200
            pids.append(response.json()["pid"])
        log = server.log
    assert len(set(pids)) >= 5, sorted(set(pids))
    assert log.count("Autorestarting worker after current request.") >= 4


@pytest.mark.parametrize("app", ["lifespan_fail:app", "lifespan_fail:starlette_app"])
def test_lifespan_startup_failure_stops_gunicorn(app: str) -> None:
    code, output = run_to_exit(gunicorn_argv(app), timeout=60)
    assert code == 3, output
    assert "ASGI lifespan startup failed: RuntimeError: database unreachable" in output
    assert "Worker failed to boot" in output


@pytest.mark.parametrize(
    ("app", "args"),
    [
        pytest.param("wsgi_plain:app", (), id="wsgi-app"),
        pytest.param("trio_raw:no_lifespan", (), id="returns-on-lifespan"),
        pytest.param(
            "lifespan_fail:app",
            ("--asgi-lifespan", "off"),
            id="asgi-lifespan-off",
            marks=pytest.mark.skipif(
                not servers.gunicorn_has_option("--asgi-lifespan"),
                reason="gunicorn < 25 has no --asgi-lifespan",
            ),
        ),
    ],
)
def test_apps_without_a_lifespan_still_serve(app: str, args: tuple[str, ...]) -> None:
    # hypercorn -k trio itself crashes on the first two (ClosedResourceError)
    with gunicorn(app, *WORKER, *args) as server:
        assert server.get("/__ready__").status_code == 200
        server.signal(signal.SIGTERM)
        assert server.wait(10) == 0
        log = server.log
    assert "Traceback" not in log


def test_refuses_to_run_in_a_gevent_patched_process(tmp_path: Path) -> None:
    pytest.importorskip("gevent")
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text("import gevent.monkey\ngevent.monkey.patch_all()\n")
    if servers.gunicorn_version() < (25,):
        # gunicorn 23's master, patched by the config, raises HaltServer inside a gevent
        # signal greenlet, which swallows it: the master hangs (upstream). Check our part.
        with gunicorn("trio_raw:app", *WORKER, "-c", str(conf), wait=False) as server:
            server.wait_for_log("TrioWorker cannot run in a process monkey-patched by gevent")
            assert "remove the patching" in server.log
        return
    code, output = run_to_exit(gunicorn_argv("trio_raw:app", "-c", str(conf)), timeout=60)
    assert code == 3, output
    assert "TrioWorker cannot run in a process monkey-patched by gevent" in output
    assert "remove the patching" in output
    assert "Worker failed to boot" in output


def test_heartbeat_keeps_an_idle_worker_alive_past_the_timeout() -> None:
    env = {"SAFEWORKERS_TCP_KEEPALIVE": "60,15,4"}
    with gunicorn("trio_raw:app", *WORKER, "--timeout", "2", env=env) as server:
        before = server.get("/").json()["pid"]
        time.sleep(4)
        after = server.get("/").json()["pid"]
        log = server.log
        assert server.worker_pids() == {before}
    assert before == after
    assert "WORKER TIMEOUT" not in log
    assert "tcp options on listener" in log
    assert "'TCP_KEEPIDLE': 60" in log


def test_worker_timeout_aborts_a_blocked_worker_cleanly() -> None:
    """SIGABRT from the arbiter unwinds the blocking app code; a new worker takes over."""
    with gunicorn("trio_raw:app", *WORKER, "--timeout", "2") as server:
        before = server.worker_pids()
        response = server.client(timeout=20).get("/block", params={"s": "8"})
        assert response.status_code == 500  # hypercorn answers for the aborted app
        assert server.get("/hello").text == "hello from trio"
        after = server.worker_pids()
        log = server.log
    assert before != after
    assert "WORKER TIMEOUT" in log
    assert "exited with code 1" in log
    assert "Exception ignored" not in log
    assert "Traceback" not in log

"""safeworkers.EventletWorker under real gunicorn (issue: gunicorn >= 26 dropped eventlet).

Every test starts gunicorn on 127.0.0.1 (or a unix socket) with
``-k safeworkers.EventletWorker``. ``SAFEWORKERS_TEST_GUNICORN_BIN`` points them
at another gunicorn (a venv with gunicorn 23 or 25, eventlet, flask, httpx,
trio and safeworkers installed), so the same module checks every version:

    export SAFEWORKERS_TEST_GUNICORN_BIN=/tmp/g23/bin/gunicorn
    pytest tests/integration/test_eventlet_worker.py
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.util
import io
import os
import re
import select
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from tests import markers, servers

WORKER = ("-k", "safeworkers.EventletWorker")

pytestmark = pytest.mark.timeout(90)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def gunicorn_bin() -> str:
    """The gunicorn under test: SAFEWORKERS_TEST_GUNICORN_BIN, else this venv's."""
    chosen = os.environ.get("SAFEWORKERS_TEST_GUNICORN_BIN") or str(servers.BIN / "gunicorn")
    if not Path(chosen).exists():
        pytest.fail(f"SAFEWORKERS_TEST_GUNICORN_BIN={chosen} does not exist")
    python = Path(chosen).parent / "python"
    probe = "import importlib.util as u; print(u.find_spec('eventlet') is not None)"
    found = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, check=False
    ).stdout
    if "True" not in found:
        pytest.skip(f"eventlet is not installed next to {chosen}")
    return chosen


@pytest.fixture(scope="module")
def gunicorn_version(gunicorn_bin: str) -> tuple[int, ...]:
    out = subprocess.run(
        [gunicorn_bin, "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", out)
    assert match, out
    return tuple(int(x) for x in match.groups())


class Serve(Protocol):
    def __call__(
        self, app: str, *args: str, **kwargs: Any
    ) -> contextlib.AbstractContextManager[servers.Server]: ...


@pytest.fixture(scope="module")
def serve(gunicorn_bin: str) -> Serve:
    """``serve(app, *args, **kw)``: gunicorn with our worker and the gunicorn under test."""

    def start(
        app: str, *args: str, **kwargs: Any
    ) -> contextlib.AbstractContextManager[servers.Server]:
        return servers.gunicorn(app, *WORKER, *args, gunicorn_bin=gunicorn_bin, **kwargs)

    return start


@pytest.fixture(scope="module")
def upstream(gunicorn_bin: str) -> Iterator[servers.Server]:
    """A plain sync gunicorn the flask app calls out to (3 processes: 3 calls at once)."""
    args = ("-k", "sync", "-w", "3")
    with servers.gunicorn("wsgi_plain:app", *args, gunicorn_bin=gunicorn_bin) as server:
        yield server


EXTRA_APPS = '''
"""Apps for test_eventlet_worker: file_wrapper/sendfile and eventlet.websocket."""
import os

from eventlet import websocket

PAYLOAD = os.environ.get("SW_TEST_FILE", "")


@websocket.WebSocketWSGI
def _echo(ws):
    while True:
        message = ws.wait()
        if message is None:
            return
        ws.send(message)


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/ws":
        return _echo(environ, start_response)
    if path.startswith("/file"):
        size = os.path.getsize(PAYLOAD)
        headers = [("Content-Type", "application/octet-stream")]
        if path == "/file":
            headers.append(("Content-Length", str(size)))
        start_response("200 OK", headers)
        return environ["wsgi.file_wrapper"](open(PAYLOAD, "rb"), 64 * 1024)
    body = b"ok " + path.encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]
'''


@pytest.fixture(scope="module")
def extra_apps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Env for a server that can import ``sw_eventlet_apps`` (and the usual test apps)."""
    directory = tmp_path_factory.mktemp("eventlet-apps")
    (directory / "sw_eventlet_apps.py").write_text(EXTRA_APPS)
    payload = directory / "payload.bin"
    payload.write_bytes(os.urandom(6_000_000))
    return {"PYTHONPATH": _pythonpath(directory), "SW_TEST_FILE": str(payload)}


def _pythonpath(*first: Path) -> str:
    parts = [*first, servers.TEST_APPS, servers.APPS, servers.ROOT]
    return os.pathsep.join(str(p) for p in parts)


# --------------------------------------------------------------------------- helpers


def assert_clean_log(log: str) -> None:
    assert "[ERROR]" not in log, log
    assert "Traceback" not in log, log
    assert "WORKER TIMEOUT" not in log, log


def pid_of(response: httpx.Response) -> int:
    return int(response.text.split("pid=")[1].split()[0])


def process_gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "State:\tZ" in status  # exited, not yet reaped by its new parent


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def loaded_libraries(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


# --------------------------------------------------------------------------- serving


@markers.real_platform
@pytest.mark.parametrize("unix", [False, True], ids=["tcp", "unix"])
def test_serves_plain_wsgi_get_and_post(serve: Serve, unix: bool) -> None:
    with serve("wsgi_plain:app", unix=unix) as server:
        client = server.client()
        assert client.get("/hello").text.startswith("GET /hello")
        response = client.post("/echo", content=b"x" * 100_000)
        assert response.status_code == 200
        assert response.text.startswith("POST /echo")
        assert "body=100000" in response.text
        server.wait_for_log("safeworkers EventletWorker (pid")
        log = server.log
        assert "guard=guard (trio)" in log
        assert log.count("eventlet is in maintenance mode upstream") == 1
        assert "safeworkers.GeventWorker" in log
        assert "safeworkers.ThreadWorker" in log
        assert_clean_log(log)
        # The master loads the worker class but never eventlet (or greenlet):
        # only the worker is patched.
        (worker,) = server.worker_pids()
        assert "greenlet" not in loaded_libraries(server.proc.pid)
        assert "greenlet" in loaded_libraries(worker)


def test_green_concurrency_and_worker_connections(serve: Serve) -> None:
    def elapsed_for(server: servers.Server, n: int) -> float:
        # Connection: close, or an idle keep-alive connection would hold its slot.
        def get(_: int) -> httpx.Response:
            return server.get("/slow?s=0.6", headers={"Connection": "close"})

        start = time.monotonic()
        with ThreadPoolExecutor(n) as pool:
            results = list(pool.map(get, range(n)))
        assert all(r.status_code == 200 for r in results)
        return time.monotonic() - start

    with serve("wsgi_plain:app") as server:
        assert elapsed_for(server, 4) < 1.8  # one worker, four 0.6 s requests at once
    with serve("wsgi_plain:app", "--worker-connections", "1") as server:
        assert elapsed_for(server, 2) >= 1.15  # the pool holds one: they take turns


def _read_all(sock: socket.socket) -> bytes:
    data = bytearray()
    while chunk := sock.recv(256 * 1024):
        data += chunk
    return bytes(data)


def test_file_wrapper_uses_cooperative_sendfile(serve: Serve, extra_apps: dict[str, str]) -> None:
    """environ['wsgi.file_wrapper'] responses go out through os.sendfile, green.

    The 6 MB file outgrows the kernel's socket buffers while the client does
    not read, so sendfile has to wait for the socket on the hub: the worker
    keeps answering other requests meanwhile.
    """
    expected = hashlib.sha256(Path(extra_apps["SW_TEST_FILE"]).read_bytes()).hexdigest()
    with serve("sw_eventlet_apps:app", env=extra_apps) as server:
        port = int(server.url.rsplit(":", 1)[1])
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)  # a small window
            sock.settimeout(10)
            sock.connect(("127.0.0.1", port))
            sock.sendall(b"GET /file HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            first = sock.recv(1024)
            assert first.startswith(b"HTTP/1.1 200"), first
            time.sleep(0.3)  # not reading: the server's socket is full
            start = time.monotonic()
            assert server.get("/meanwhile").text == "ok /meanwhile"
            assert time.monotonic() - start < 3  # a blocked worker would not answer
            response = first + _read_all(sock)
        head, body = response.split(b"\r\n\r\n", 1)
        assert b"Content-Length: 6000000" in head
        assert hashlib.sha256(body).hexdigest() == expected
        # Without Content-Length gunicorn frames the file in one chunk.
        chunked = server.get("/file-chunked")
        assert chunked.headers["transfer-encoding"] == "chunked"
        assert hashlib.sha256(chunked.content).hexdigest() == expected
        assert_clean_log(server.log)


def _ws_frame(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


def test_eventlet_websocket_app_is_already_handled(
    serve: Serve, extra_apps: dict[str, str]
) -> None:
    with serve("sw_eventlet_apps:app", env=extra_apps) as server:
        port = int(server.url.rsplit(":", 1)[1])
        key = base64.b64encode(os.urandom(16)).decode()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(
                (
                    "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                    f"Sec-WebSocket-Key: {key}\r\n\r\n"
                ).encode()
            )
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(1024)
            assert head.startswith(b"HTTP/1.1 101"), head
            sock.sendall(_ws_frame(0x1, b"hello green"))
            header = sock.recv(2)
            assert header[0] == 0x81, header
            assert sock.recv(header[1]) == b"hello green"
            sock.sendall(_ws_frame(0x8, struct.pack("!H", 1000)))
            rest = b""
            while chunk := sock.recv(1024):  # the server closes after the closing frame
                rest += chunk
            assert b"HTTP/1.1 500" not in rest  # no response appended to the websocket
        assert server.get("/after").text == "ok /after"
        assert_clean_log(server.log)


def _self_signed(directory: Path) -> tuple[Path, Path] | None:
    cert, key = directory / "cert.pem", directory / "key.pem"
    if importlib.util.find_spec("cryptography") is not None:
        import datetime
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        private = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = datetime.datetime.now(datetime.timezone.utc)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
            .sign(private, hashes.SHA256())
        )
        cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key.write_bytes(
            private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert, key
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
            *("-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tls(serve: Serve, tmp_path: Path) -> None:
    pair = _self_signed(tmp_path)
    if pair is None:
        pytest.skip("neither the cryptography package nor the openssl command is available")
    cert, key = pair
    args = ("--certfile", str(cert), "--keyfile", str(key), "--timeout", "2")
    with serve("wsgi_plain:app", *args, wait=False) as server:
        https = server.url.replace("http://", "https://")
        port = int(server.url.rsplit(":", 1)[1])
        context = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(base_url=https, verify=context, timeout=5) as client:
            assert wait_until(lambda: _answers(client), timeout=30), server.log
            # A client that connects and never starts the handshake...
            silent = socket.create_connection(("127.0.0.1", port), timeout=10)
            opened = time.monotonic()
            # Plain HTTP on the TLS port: the handshake fails, the worker carries on.
            with pytest.raises(httpx.TransportError):
                httpx.get(server.url + "/plain", timeout=5)
            response = client.post("/secure", content=b"abc")
            assert response.text.startswith("POST /secure")
            assert "body=3" in response.text
            assert response.http_version == "HTTP/1.1"
            pids = {pid_of(client.get("/again")) for _ in range(3)}
            assert pids == server.worker_pids()
            # ...is let go after --timeout seconds instead of holding a slot.
            with silent:
                assert silent.recv(1024) == b""
            assert 1.5 < time.monotonic() - opened < 5
        assert_clean_log(server.log)


def _answers(client: httpx.Client) -> bool:
    try:
        return client.get("/__ready__").status_code == 200
    except httpx.TransportError:
        return False


# --------------------------------------------------------------------------- the field failure


def test_flask_httpx_outbound_calls_are_green(serve: Serve, upstream: servers.Server) -> None:
    """/proxy calls a second local server through the app's module-level httpx.Client.

    The upstream sleeps 1 s per call: three calls at once through one
    worker finish in about 1 s only if the outbound sockets are green (3 s if not).
    """
    env = {"UPSTREAM_URL": f"{upstream.url}/slow?s=1&from="}
    with serve("flask_httpx:app", env=env) as server:
        start = time.monotonic()
        with ThreadPoolExecutor(3) as pool:
            results = list(pool.map(lambda _: server.get("/proxy"), range(3)))
        elapsed = time.monotonic() - start
        for response in results:
            assert response.status_code == 200, server.log
            assert response.text.startswith("proxied: 200 GET /slow pid="), response.text
        assert elapsed < 2.5, elapsed
        assert_clean_log(server.log)


def test_side_by_side_with_upstream_eventlet_worker(
    serve: Serve, gunicorn_bin: str, gunicorn_version: tuple[int, ...]
) -> None:
    with servers.gunicorn(
        "wsgi_plain:app", "-k", "eventlet", gunicorn_bin=gunicorn_bin, wait=gunicorn_version < (26,)
    ) as theirs:
        if gunicorn_version >= (26,):
            assert theirs.wait(timeout=30) != 0
            assert "class uri 'eventlet' invalid or not found" in theirs.log
        else:  # gunicorn <= 25 still ships one: both serve
            assert theirs.get("/").status_code == 200
    with serve("wsgi_plain:app") as ours:
        assert ours.get("/").text.startswith("GET / ")


@markers.real_platform
def test_macos_like_platform_boots_and_serves_flask_httpx(
    serve: Serve, upstream: servers.Server
) -> None:
    env = {"UPSTREAM_URL": upstream.url}
    with serve("flask_httpx:app", fake_platform="darwin", env=env) as server:
        assert server.get("/").text == "flask ok"
        assert server.get("/proxy").text.startswith("proxied: 200 GET /upstream")


def test_without_the_guard_flask_httpx_fails_to_boot_on_linux(
    serve: Serve,
) -> None:
    """The guard is what fixes it: with SAFEWORKERS_GUARD=off, import trio kills the worker."""
    env = {"SAFEWORKERS_GUARD": "off", "UPSTREAM_URL": "http://127.0.0.1:9"}
    with serve("flask_httpx:app", env=env, wait=False) as server:
        assert server.wait(timeout=30) != 0
        log = server.log
        assert "AttributeError" in log, log
        assert "sendmsg" in log, log
        assert "GreenSocket" in log, log
        assert "Worker failed to boot" in log


# --------------------------------------------------------------------------- process management


def test_two_workers(serve: Serve) -> None:
    with serve("wsgi_plain:app", "-w", "2") as server:
        assert wait_until(lambda: len(server.worker_pids()) == 2, timeout=20)
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda _: server.get("/slow?s=0.05"), range(40)))
        assert all(r.status_code == 200 for r in results)
        assert {pid_of(r) for r in results} <= server.worker_pids()
        assert_clean_log(server.log)


def test_max_requests_with_jitter_recycles(serve: Serve) -> None:
    args = ("--max-requests", "5", "--max-requests-jitter", "2")
    with serve("wsgi_plain:app", *args) as server:
        pids: set[int] = set()
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for _ in range(21):
                response = client.get("/")
                assert response.status_code == 200
                pids.add(pid_of(response))
        assert len(pids) >= 3, pids
        assert "Autorestarting worker after current request" in server.log
        assert_clean_log(server.log)


def test_sighup_reload(serve: Serve) -> None:
    with serve("wsgi_plain:app", "-w", "2") as server:
        assert wait_until(lambda: len(server.worker_pids()) == 2, timeout=20)
        before = server.worker_pids()
        server.signal(signal.SIGHUP)
        assert wait_until(
            lambda: len(server.worker_pids()) == 2 and not (server.worker_pids() & before),
            timeout=20,
        ), (before, server.worker_pids())
        assert pid_of(server.get("/")) not in before
        assert_clean_log(server.log)


def test_preload(serve: Serve, upstream: servers.Server) -> None:
    """The app (httpx client and all) is imported in the unpatched master, then served green."""
    env = {"UPSTREAM_URL": upstream.url}
    with serve("flask_httpx:app", "--preload", env=env) as server:
        assert server.get("/").text == "flask ok"
        assert server.get("/proxy").text.startswith("proxied: 200 GET /upstream")
        assert_clean_log(server.log)


def test_heartbeat_keeps_the_worker_alive_under_a_short_timeout(
    serve: Serve,
) -> None:
    with serve("wsgi_plain:app", "--timeout", "2") as server:
        (pid,) = server.worker_pids()
        client = server.client()
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            assert pid_of(client.get("/slow?s=0.3")) == pid
            time.sleep(0.2)
        assert server.worker_pids() == {pid}
        assert_clean_log(server.log)


def test_sigterm_drains_in_flight_requests(serve: Serve) -> None:
    with serve("wsgi_plain:app") as server:
        outcome: dict[str, object] = {}

        def slow() -> None:
            with httpx.Client(base_url=server.url, timeout=15) as client:
                outcome["response"] = client.get("/slow?s=1")

        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(0.4)
        server.signal(signal.SIGTERM)
        # Stopped accepting: new connections are refused while the request finishes.
        time.sleep(0.2)
        with pytest.raises(httpx.TransportError):
            httpx.get(server.url + "/late", timeout=2)
        thread.join(timeout=10)
        response = outcome["response"]
        assert isinstance(response, httpx.Response)
        assert response.status_code == 200
        assert response.text.startswith("GET /slow pid=")
        assert server.wait(timeout=10) == 0
        assert "graceful timeout" not in server.log


def test_sigterm_closes_idle_keepalive_connections_at_once(serve: Serve) -> None:
    """A client's idle keep-alive connection does not hold the shutdown open."""
    args = ("--keep-alive", "30", "--graceful-timeout", "10")
    with serve("wsgi_plain:app", *args) as server:
        client = server.client()
        assert client.get("/").status_code == 200  # the connection stays open, idle
        start = time.monotonic()
        server.signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
        assert time.monotonic() - start < 4  # not the 10 s graceful timeout
        assert "graceful timeout" not in server.log.lower()


@pytest.mark.parametrize("sig", [signal.SIGQUIT, signal.SIGINT], ids=["SIGQUIT", "SIGINT"])
def test_quick_exit_signals(serve: Serve, sig: signal.Signals) -> None:
    with serve("wsgi_plain:app") as server:
        (pid,) = server.worker_pids()
        pool = ThreadPoolExecutor(1)
        in_flight = pool.submit(server.get, "/slow?s=5")
        time.sleep(0.3)
        start = time.monotonic()
        os.kill(pid, sig)
        assert wait_until(lambda: pid not in server.worker_pids(), timeout=5)
        assert time.monotonic() - start < 3  # did not wait for the 5 s request
        with pytest.raises(httpx.TransportError):
            in_flight.result(timeout=10)
        pool.shutdown()
        # The master replaces it.
        assert wait_until(lambda: len(server.worker_pids()) == 1, timeout=20)
        assert pid_of(server.get("/")) != pid


def test_sigusr1_reopens_log_files(serve: Serve, tmp_path: Path) -> None:
    access = tmp_path / "access.log"
    with serve("wsgi_plain:app", "--access-logfile", str(access)) as server:
        client = server.client()
        client.get("/before")
        assert wait_until(lambda: "/before" in access.read_text(), timeout=5)
        access.rename(tmp_path / "access.log.1")
        server.signal(signal.SIGUSR1)  # the master reopens, then signals its workers

        def logged_after() -> bool:
            client.get("/after")
            return access.exists() and "/after" in access.read_text()

        assert wait_until(logged_after, timeout=10, step=0.2), server.log
        assert "/after" not in (tmp_path / "access.log.1").read_text().split("/before", 1)[0]
        assert_clean_log(server.log)


SLOW_EVENTLET_IMPORT = """
import sys
import time


class _SlowEventlet:
    def find_spec(self, name, path=None, target=None):
        if name == "eventlet":
            time.sleep(1.0)
        return None


sys.meta_path.insert(0, _SlowEventlet())
"""


def test_stop_signal_during_boot_is_not_lost(serve: Serve, tmp_path: Path) -> None:
    """SIGTERM while the worker is still importing eventlet: it stops once booted.

    Until gunicorn installs a worker's handlers, the forked process runs the
    master's, which would swallow the signal (a SIGHUP right after start-up
    then left an old worker serving).
    """
    (tmp_path / "sitecustomize.py").write_text(SLOW_EVENTLET_IMPORT)
    env = {"PYTHONPATH": _pythonpath(tmp_path)}
    with serve("wsgi_plain:app", env=env, wait=False) as server:
        assert wait_until(lambda: len(server.worker_pids()) == 1, timeout=20), server.log
        (pid,) = server.worker_pids()
        time.sleep(0.3)  # inside init_process, importing eventlet
        os.kill(pid, signal.SIGTERM)
        assert wait_until(lambda: pid not in server.worker_pids(), timeout=5), server.log
        assert "Booting worker with pid" in server.log


def test_worker_exits_when_the_master_dies(serve: Serve) -> None:
    with serve("wsgi_plain:app") as server:
        (pid,) = server.worker_pids()
        server.proc.kill()
        server.proc.wait(timeout=5)
        try:
            assert wait_until(lambda: process_gone(pid), timeout=5), server.log
            assert "Parent changed, shutting down" in server.log
        finally:
            if not process_gone(pid):
                os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------- boot failures


def test_bad_guard_setting_stops_the_worker(serve: Serve) -> None:
    with serve("wsgi_plain:app", env={"SAFEWORKERS_GUARD": "bogus"}, wait=False) as server:
        assert server.wait(timeout=30) != 0
        log = server.log
        assert "SAFEWORKERS_GUARD='bogus' is not valid" in log
        assert "Worker failed to boot" in log
        assert "Traceback" not in log


BROKEN_EVENTLET = 'raise ImportError("eventlet is broken here (test)", name="eventlet")\n'


@pytest.mark.parametrize("how", ["not-installed", "broken-install"])
def test_missing_eventlet_names_the_install_command(serve: Serve, tmp_path: Path, how: str) -> None:
    """A fresh interpreter where eventlet cannot be imported: the worker says what to install.

    not-installed: a meta_path finder (tests/harness/site) makes ``find_spec``
    and ``import`` fail, so the master gets the stand-in class.
    broken-install: eventlet is found but raises ImportError when imported,
    so the real class reports it at boot.
    """
    if how == "not-installed":
        env = {"PYTHONPATH": _pythonpath(servers.SITE), "SWTEST_BLOCK_IMPORTS": "eventlet"}
    else:
        (tmp_path / "eventlet").mkdir()
        (tmp_path / "eventlet" / "__init__.py").write_text(BROKEN_EVENTLET)
        env = {"PYTHONPATH": _pythonpath(tmp_path)}
    with serve("wsgi_plain:app", env=env, wait=False) as server:
        assert server.wait(timeout=30) != 0
        log = server.log
        assert "pip install 'safeworkers[eventlet]'" in log, log
        assert "Worker failed to boot" in log
        assert "Traceback" not in log
        if how == "broken-install":
            assert "eventlet is broken here (test)" in log


# --------------------------------------------------------------------------- sendfile contract


def _drain_into(sock: socket.socket, size: int, out: bytearray) -> threading.Thread:
    def read() -> None:
        while len(out) < size:
            chunk = sock.recv(size - len(out))
            if not chunk:
                return
            out.extend(chunk)
            time.sleep(0.001)  # slower than the writer: its buffer fills up

    thread = threading.Thread(target=read)
    thread.start()
    return thread


def test_cooperative_sendfile_keeps_the_stdlib_contract(tmp_path: Path) -> None:
    """Offset, count, returned size and final file position as socket.sendfile has them."""
    from safeworkers.workers.eventlet import _cooperative_sendfile

    data = os.urandom(3_000_000)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    waits: list[int] = []
    pauses: list[None] = []

    def wait_writable(fd: int, **_: object) -> None:
        waits.append(fd)
        select.select([], [fd], [], 5)

    writer, reader = socket.socketpair()
    with writer, reader, path.open("rb") as file:
        writer.setblocking(False)  # as under every GreenSocket
        received = bytearray()
        thread = _drain_into(reader, 2_000_000, received)
        sent = _cooperative_sendfile(
            writer, file, 100, 2_000_000, wait_writable, lambda: pauses.append(None)
        )
        thread.join(timeout=10)
        assert sent == 2_000_000
        assert bytes(received) == data[100:2_000_100]
        assert file.tell() == 2_000_100
        assert waits  # the socket filled up and the hub was asked to wait
        # A file object without a descriptor is copied through user space.
        copied = bytearray()
        thread = _drain_into(reader, 1000, copied)
        assert (
            _cooperative_sendfile(writer, io.BytesIO(data), 10, 1000, wait_writable, list) == 1000
        )
        thread.join(timeout=10)
        assert bytes(copied) == data[10:1010]
        with pytest.raises(ValueError, match="count"):
            _cooperative_sendfile(writer, file, 0, 0, wait_writable, list)

"""Start real gunicorn / hypercorn processes for integration tests.

Servers listen on 127.0.0.1 (a free port picked here) or on a Unix socket in
a temporary directory. Output goes to a log file that tests read. Every wait
is bounded; every server is stopped (and, if need be, killed) on exit.

``SAFEWORKERS_TEST_GUNICORN_BIN`` points the tests at another gunicorn (a venv
with gunicorn 23 or 25 and safeworkers installed): see ``make test-gunicorn``.

``fake_platform="darwin"`` (or ``"freebsd14"``) makes Trio's backend
selection in the server's processes see that platform; see tests/harness for
how the simulation works. It is injected with a ``sitecustomize`` module on
``PYTHONPATH``, so it also applies in gunicorn's forked workers.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "examples" / "apps"
TEST_APPS = Path(__file__).resolve().parent / "apps"
SITE = Path(__file__).resolve().parent / "harness" / "site"
BIN = Path(sys.executable).parent


@functools.cache
def _help(exe: str) -> str:
    return subprocess.run([exe, "--help"], capture_output=True, text=True, check=False).stdout


def gunicorn_has_option(flag: str, exe: str | None = None) -> bool:
    """Whether the gunicorn under test knows ``flag`` (options come and go across 23-27)."""
    return flag in _help(exe or gunicorn_exe())


def _has_control_socket(exe: str) -> bool:
    """gunicorn >= 27 opens a control socket at a fixed path: parallel tests would share it."""
    return gunicorn_has_option("--no-control-socket", exe)


def gunicorn_exe() -> str:
    """The gunicorn the tests run: SAFEWORKERS_TEST_GUNICORN_BIN, else this venv's."""
    return os.environ.get("SAFEWORKERS_TEST_GUNICORN_BIN") or str(BIN / "gunicorn")


@functools.cache
def gunicorn_version(exe: str | None = None) -> tuple[int, ...]:
    out = subprocess.run(
        [exe or gunicorn_exe(), "--version"], capture_output=True, text=True, check=True
    )
    version = re.search(r"(\d+)\.(\d+)\.(\d+)", out.stdout + out.stderr)
    assert version is not None, out
    return tuple(int(part) for part in version.groups())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running server process; ``client()`` talks to it."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    url: str
    uds: str | None = None
    _clients: list[httpx.Client] = field(default_factory=list)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def client(self, timeout: float = 10.0) -> httpx.Client:
        transport = httpx.HTTPTransport(uds=self.uds) if self.uds else None
        client = httpx.Client(base_url=self.url, timeout=timeout, transport=transport)
        self._clients.append(client)
        return client

    def get(self, path: str = "/", **kwargs: object) -> httpx.Response:
        return self.client().get(path, **kwargs)  # type: ignore[arg-type]

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        return self.proc.wait(timeout=timeout)

    def wait_for_log(self, text: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log:
                return
            if self.proc.poll() is not None and text not in self.log:
                break
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not logged within {timeout}s; log:\n{self.log}")

    def worker_pids(self) -> set[int]:
        """PIDs of the master's live children (its workers)."""
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return {int(p) for p in path.read_text().split()}
        except OSError:
            return set()

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def _env(fake_platform: str | None, extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEWORKERS_")}
    paths = [str(SITE), str(TEST_APPS), str(APPS), str(ROOT)]
    if fake_platform:
        env["SWTEST_FAKE_PLATFORM"] = fake_platform
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONWARNINGS"] = "ignore::DeprecationWarning"
    env.update(extra or {})
    return env


def _wait_ready(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise ServerExited(server)
        try:
            with contextlib.closing(server.client(timeout=1.0)) as c:
                c.get("/__ready__")
            return
        except httpx.TransportError as exc:
            last = exc
            time.sleep(0.05)
    server.stop()
    raise AssertionError(f"server not ready within {timeout}s ({last}); log:\n{server.log}")


class ServerExited(AssertionError):
    """The server process exited before it served."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.returncode = server.proc.returncode
        super().__init__(f"server exited with {self.returncode}; log:\n{server.log}")


def _start(
    argv: Sequence[str],
    *,
    uds: str | None,
    url: str,
    env: dict[str, str],
    wait: bool,
    ready_timeout: float,
    log_dir: Path,
) -> Server:
    log_path = log_dir / "server.log"
    log_file = log_path.open("wb")
    proc = subprocess.Popen(
        list(argv), stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=str(ROOT)
    )
    log_file.close()
    server = Server(proc=proc, log_path=log_path, url=url, uds=uds)
    if wait:
        _wait_ready(server, ready_timeout)
    return server


@contextlib.contextmanager
def gunicorn(
    app: str,
    *args: str,
    unix: bool = False,
    fake_platform: str | None = None,
    env: dict[str, str] | None = None,
    wait: bool = True,
    ready_timeout: float = 30.0,
    gunicorn_bin: str | Path | None = None,
    bind_via_env: bool = False,
) -> Iterator[Server]:
    """Run ``gunicorn APP ARGS`` bound to a fresh port or Unix socket.

    With ``wait=False`` it returns at once (for servers expected to fail);
    otherwise it returns once an HTTP request has been answered. With
    ``bind_via_env`` the address goes in ``BIND`` (read by the safeworkers
    config modules) instead of ``--bind``.
    """
    with tempfile.TemporaryDirectory(prefix="sw-") as tmp:
        tmp_path = Path(tmp)
        if unix:
            uds = str(tmp_path / "gunicorn.sock")
            bind, url = f"unix:{uds}", "http://localhost"
        else:
            port = free_port()
            uds, bind, url = None, f"127.0.0.1:{port}", f"http://127.0.0.1:{port}"
        exe = str(
            gunicorn_bin or os.environ.get("SAFEWORKERS_TEST_GUNICORN_BIN") or BIN / "gunicorn"
        )
        extra = ["--no-control-socket"] if _has_control_socket(exe) else []
        bind_args = [] if bind_via_env else ["--bind", bind]
        env = {**(env or {}), "BIND": bind} if bind_via_env else env
        argv = [exe, *bind_args, "--graceful-timeout", "5", *extra, *args, app]
        server = _start(
            argv,
            uds=uds,
            url=url,
            env=_env(fake_platform, env),
            wait=wait,
            ready_timeout=ready_timeout,
            log_dir=tmp_path,
        )
        try:
            yield server
        finally:
            server.stop()


@contextlib.contextmanager
def hypercorn(
    app: str,
    *args: str,
    fake_platform: str | None = None,
    env: dict[str, str] | None = None,
    wait: bool = True,
    ready_timeout: float = 30.0,
    bind_via_env: bool = False,
) -> Iterator[Server]:
    """Run ``hypercorn APP ARGS`` on a fresh 127.0.0.1 port (``bind_via_env``: in BIND)."""
    with tempfile.TemporaryDirectory(prefix="sw-") as tmp:
        port = free_port()
        bind = f"127.0.0.1:{port}"
        bind_args = [] if bind_via_env else ["--bind", bind]
        env = {**(env or {}), "BIND": bind} if bind_via_env else env
        argv = [str(BIN / "hypercorn"), *bind_args, *args, app]
        server = _start(
            argv,
            uds=None,
            url=f"http://127.0.0.1:{port}",
            env=_env(fake_platform, env),
            wait=wait,
            ready_timeout=ready_timeout,
            log_dir=Path(tmp),
        )
        try:
            yield server
        finally:
            server.stop()


def run_to_exit(argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 60):
    """Run a command that is expected to exit by itself; return (code, output)."""
    proc = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(None, env),
        cwd=str(ROOT),
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr

"""Start servers, wait for them, load them, time them: what the benchmarks share.

Bench-local on purpose (no imports from tests/): servers are subprocesses on
127.0.0.1 with a free port, serving bench/apps; readiness is a raw HTTP
request; load comes from ``wrk``. Extra environments (another gunicorn, the
ASGI workers) are virtualenvs the bench makes itself with uv under
``.venv-bench/``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "bench" / "apps"
VENVS = ROOT / ".venv-bench"
MAIN_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_status(port: int, path: str = "/", timeout: float = 2.0) -> int | None:
    """One GET on a fresh connection; the status, or None if nothing answered."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            head = sock.recv(64)
    except OSError:
        return None
    match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return int(match.group(1)) if match else None


@dataclass
class Env:
    """A Python environment holding the servers to run (the project's .venv or a bench venv)."""

    name: str
    bin: Path

    def exe(self, name: str) -> str:
        return str(self.bin / name)

    def version(self, package: str) -> str | None:
        code = (
            "import importlib.metadata as m, sys\n"
            "try: print(m.version(sys.argv[1]))\n"
            "except m.PackageNotFoundError: print('')"
        )
        out = subprocess.run(
            [self.exe("python"), "-c", code, package], capture_output=True, text=True, check=True
        ).stdout.strip()
        return out or None

    def gunicorn_args(self) -> list[str]:
        """Options every gunicorn here gets: no control socket (gunicorn >= 27)."""
        helptext = subprocess.run(
            [self.exe("gunicorn"), "--help"], capture_output=True, text=True, check=False
        ).stdout
        return ["--no-control-socket"] if "--no-control-socket" in helptext else []


MAIN = Env("main", MAIN_BIN)


def make_env(name: str, requirements: Sequence[str]) -> Env:
    """A bench virtualenv (made once, with uv) holding safeworkers and ``requirements``."""
    where = VENVS / name
    stamp = where / ".requirements"
    wanted = "\n".join(requirements)
    if not (stamp.exists() and stamp.read_text() == wanted):
        uv = shutil.which("uv", path=str(MAIN_BIN)) or shutil.which("uv")
        if uv is None:
            raise SystemExit("the benchmarks need uv (pip install -e '.[dev]')")
        env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": str(where)}
        subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(where)], check=True, env=env)
        subprocess.run(
            [uv, "pip", "install", "-q", "-e", str(ROOT), *requirements], check=True, env=env
        )
        stamp.write_text(wanted)
    return Env(name, where / "bin")


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


def _argv(env: Env, server: str, app: str, args: Sequence[str], port: int) -> list[str]:
    bind = f"127.0.0.1:{port}"
    if server == "gunicorn":
        return [env.exe("gunicorn"), "--bind", bind, "-w", "1", *env.gunicorn_args(), *args, app]
    if server == "hypercorn":
        return [env.exe("hypercorn"), "--bind", bind, "-w", "1", *args, app]
    raise ValueError(server)


@contextlib.contextmanager
def serve(
    env: Env, server: str, app: str, *args: str, ready_timeout: float = 60.0
) -> Iterator[Running]:
    """Run a server until the block ends; it has answered 200 when the block starts."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="sw-bench-") as tmp:
        log = Path(tmp) / "server.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                _argv(env, server, app, args, port),
                cwd=APPS,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**_clean_env(), "PYTHONPATH": str(APPS)},
            )
        running = Running(proc, port, log)
        try:
            deadline = time.monotonic() + ready_timeout
            while http_status(port) != 200:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{server} {' '.join(args)} did not serve:\n{log.read_text()}"
                    )
                time.sleep(0.02)
            yield running
        finally:
            _stop(proc)


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("SAFEWORKERS_", "PYTHON"))}


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def boot_seconds(env: Env, server: str, app: str, *args: str, timeout: float = 60.0) -> float:
    """Seconds from spawning the server to its first 200."""
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(
        _argv(env, server, app, args, port),
        cwd=APPS,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**_clean_env(), "PYTHONPATH": str(APPS)},
    )
    try:
        while http_status(port, timeout=1.0) != 200:
            if proc.poll() is not None or time.perf_counter() - started > timeout:
                raise RuntimeError(f"{server} {' '.join(args)} did not boot")
            time.sleep(0.002)
        return time.perf_counter() - started
    finally:
        _stop(proc)


def wrk(url: str, seconds: int, connections: int) -> float:
    """Requests/s from ``wrk -t1`` (one thread: the other core is the server's)."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, seconds)}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"could not read wrk's output:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{errors.group(1)} non-2xx answers from {url}:\n{out}")
    return float(match.group(1))


def command_seconds(argv: Sequence[str], runs: int, env: dict[str, str] | None = None) -> float:
    """Median wall time of a command that exits by itself."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(list(argv), check=True, capture_output=True, env=env or _clean_env())
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def load_average() -> float:
    return os.getloadavg()[0]

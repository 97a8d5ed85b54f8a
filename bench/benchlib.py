"""Start servers, load them, time them: what the benchmarks share.

Servers are started and stopped with :mod:`safeworkers.testing` (the public
API our tests use too; bench/ imports nothing from tests/): one worker
process, on 127.0.0.1 with a free port, serving bench/apps, from the
project's .venv or from a virtualenv the bench makes itself with uv under
``.venv-bench/`` (another gunicorn, the ASGI workers). Load comes from
``wrk``. With two or more CPUs and ``taskset``, servers under load run on
CPU 0 and wrk on CPU 1, so neither migrates onto the other's CPU mid-run.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from safeworkers import testing

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "bench" / "apps"
VENVS = ROOT / ".venv-bench"
MAIN_BIN = Path(sys.executable).parent


def clean_environment() -> None:
    """Run the servers and commands without this shell's ``PYTHON*`` and ``SAFEWORKERS_*``.

    ``PYTHONDONTWRITEBYTECODE`` would make every server compile what it imports at each
    start (boot times would measure the compiler), ``PYTHONPATH`` would add modules.
    """
    for name in list(os.environ):
        if name.startswith(("PYTHON", "SAFEWORKERS_")):
            del os.environ[name]


def _pinning() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(prefix for servers, prefix for wrk): CPU 0 and CPU 1, where that is possible."""
    if (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        return (), ()
    return ("taskset", "-c", "0"), ("taskset", "-c", "1")


SERVER_CPU, WRK_CPU = _pinning()
PINNED = bool(SERVER_CPU)


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
        install = [uv, "pip", "install", "-q", "--compile-bytecode", "-e", str(ROOT)]
        subprocess.run([*install, *requirements], check=True, env=env)
        stamp.write_text(wanted)
    return Env(name, where / "bin")


def start(
    env: Env, server: testing.ServerName, app: str, *args: str, wait: bool = True, pin: bool = True
) -> testing.Server:
    """One server (one worker process) of ``env``; on CPU 0 where the bench pins (``pin``)."""
    return testing.start(
        server,
        app,
        "-w",
        "1",
        *args,
        executable_path=env.exe(server),
        cwd=APPS,
        pythonpath=[APPS],
        wait=wait,
        ready_timeout=60,
        prefix=SERVER_CPU if pin else (),
    )


@contextlib.contextmanager
def serve(env: Env, server: testing.ServerName, app: str, *args: str) -> Iterator[testing.Server]:
    """Run a server until the block ends; it has answered when the block starts."""
    running = start(env, server, app, *args)
    try:
        yield running
    finally:
        running.stop()


def boot_seconds(
    env: Env, server: testing.ServerName, app: str, *args: str, timeout: float = 60.0
) -> float:
    """Seconds from spawning the server to its first 200 (polled every 2 ms).

    Not pinned: the master and its worker start side by side on a real machine's CPUs,
    and no wrk runs meanwhile.
    """
    started = time.perf_counter()
    running = start(env, server, app, *args, wait=False, pin=False)
    try:
        answer = running.wait_ready(timeout, path="/", poll=0.002)
        took = time.perf_counter() - started
        if answer.status != 200:
            raise RuntimeError(f"{server} {' '.join(args)} answered {answer.status}")
        return took
    finally:
        running.stop()


def wrk(url: str, seconds: int, connections: int) -> float:
    """Requests/s from ``wrk -t1`` (one thread: the other core is the server's)."""
    out = subprocess.run(
        [*WRK_CPU, "wrk", "-t1", f"-c{connections}", f"-d{max(1, seconds)}s", url],
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


def command_seconds(argv: Sequence[str]) -> float:
    """Wall time of one run of a command that exits by itself."""
    started = time.perf_counter()
    subprocess.run(list(argv), check=True, capture_output=True)
    return time.perf_counter() - started


@dataclass(frozen=True)
class Paired:
    """Per-round ratios of two measurements taken side by side: their median and quartiles."""

    ratios: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    @property
    def quartiles(self) -> tuple[float, float]:
        if len(self.ratios) < 2:
            return self.ratios[0], self.ratios[0]
        low, _, high = statistics.quantiles(self.ratios, n=4, method="inclusive")
        return low, high


def paired(ours: Sequence[float], theirs: Sequence[float]) -> Paired:
    return Paired(tuple(a / b for a, b in zip(ours, theirs, strict=True)))


def turns(labels: Sequence[str], rounds: int) -> Iterator[list[str]]:
    """Each round's order: forward, then backward (A B, B A, A B, ...), so that neither
    side is always first and each pair of runs compared is adjacent in time."""
    for round_no in range(rounds):
        yield list(labels) if round_no % 2 == 0 else list(reversed(labels))


def load_average() -> float:
    return os.getloadavg()[0]

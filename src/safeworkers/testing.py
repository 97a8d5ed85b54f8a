"""Start a real gunicorn or hypercorn for tests and benchmarks, and stop it cleanly.

::

    from safeworkers import testing

    with testing.gunicorn("myapp:app", worker="safeworkers.GeventWorker") as server:
        assert server.fetch("/").status == 200
        print(server.url, server.log)

Each server gets a free 127.0.0.1 port (or, with ``unix=True``, a Unix
socket in a fresh temporary directory), writes its output to a log file
that :attr:`Server.log` reads, and is waited for until it answers an HTTP
request (``wait=False`` returns at once, for servers expected to fail).
Every wait is bounded; on exit the server gets ``SIGTERM`` and, if it has
not stopped within ``stop_timeout``, ``SIGKILL``.

``simulate="darwin"`` (or ``"freebsd"``) makes Trio's backend selection in
the server's processes see that platform (see :mod:`safeworkers.simulation`),
which reproduces the macOS/BSD-only failures on Linux; ``darwin`` also
reproduces macOS's fork-safety crash (a forked worker that asks for the
system proxy settings dies with SIGABRT).

A worker that dies by a crash signal (SIGABRT, SIGSEGV, ...) before the
server answered ends the wait at once (:class:`WorkerCrashed`): gunicorn
would respawn it, and it would crash again, until the time allowed ran out.

The child's environment is ours without ``SAFEWORKERS_*`` variables (so the
settings of the session running the tests do not leak into the server; pass
them in ``env``, or ``keep_settings=True``), plus ``env``; ``pythonpath``
entries go in front of ``PYTHONPATH``.

This module imports only the standard library; :meth:`Server.client` and
:meth:`Server.get` need httpx.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from safeworkers import simulation
from safeworkers.facts import forksafety

if TYPE_CHECKING:
    import httpx
    from typing_extensions import Unpack

__all__ = [
    "Fetched",
    "ServeOptions",
    "Server",
    "ServerExited",
    "ServerNotReady",
    "WorkerCrashed",
    "executable",
    "free_port",
    "gunicorn",
    "gunicorn_has_option",
    "gunicorn_version",
    "hypercorn",
    "one_line_cause",
    "start",
]

ServerName = Literal["gunicorn", "hypercorn"]
PathLike = str | os.PathLike[str]


def executable(name: str) -> str:
    """``name`` next to this interpreter (its venv), else on ``PATH``."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed next to {sys.executable} nor on PATH")
    return found


@functools.cache
def _help(exe: str) -> str:
    return subprocess.run(
        [exe, "--help"], capture_output=True, text=True, check=False, timeout=60
    ).stdout


def gunicorn_has_option(flag: str, exe: str | None = None) -> bool:
    """Whether this gunicorn knows ``flag`` (options come and go across 23-27)."""
    return flag in _help(exe or executable("gunicorn"))


@functools.cache
def gunicorn_version(exe: str | None = None) -> tuple[int, ...]:
    """gunicorn's version as a tuple, e.g. ``(25, 1, 0)``."""
    out = subprocess.run(
        [exe or executable("gunicorn"), "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    version = re.search(r"(\d+)\.(\d+)\.(\d+)", out.stdout + out.stderr)
    if version is None:
        raise RuntimeError(f"cannot read gunicorn's version from {out.stdout + out.stderr!r}")
    return tuple(int(part) for part in version.groups())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self._path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


#: An exception line, also inside an exception group's "  | " frame; the message is optional.
_EXCEPTION = re.compile(
    r"^[ \t|]*((?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Exit|Unavailable|Failure))(?:: (.*))?$"
)
_OURS = re.compile(r"\[ERROR\] safeworkers: (.*)$")
_GUNICORN_ERROR = re.compile(r"^Error: (.*?):?\s*$")
_REASON = re.compile(r"\[ERROR\] Reason: (.*)$")
#: The Objective-C runtime's line before it aborts a forked child on macOS.
_OBJC = re.compile(r"^(objc\[\d+\]: .*? when fork\(\) was called\.)")


def one_line_cause(log: str) -> str | None:
    """Why a server failed, from its log (:attr:`Server.log`): the line a user would
    paste. Our own error, gunicorn's ``Error:`` line, a worker's death by a crash
    signal (with the Objective-C runtime's line, if it printed one), the last
    exception (type and message), or gunicorn's stated reason, in that order.

    What Python prints under "Exception ignored in" is left out: those are
    errors in finalizers while the process exits (gevent's hub on Python 3.10
    prints one after the real cause), never why it exited.
    """
    lines = _without_ignored(log.splitlines())
    for pattern in (_OURS, _GUNICORN_ERROR):
        found = _last_match(pattern, lines)
        if found:
            return found
    crash = _crash_line(log)
    if crash is not None:
        objc = _last_match(_OBJC, lines)
        return f"a worker was killed by {crash[1]}" + (f" ({objc})" if objc else "")
    for pattern in (_EXCEPTION, _REASON):
        found = _last_match(pattern, lines)
        if found:
            return found
    return None


def _last_match(pattern: re.Pattern[str], lines: list[str]) -> str | None:
    for line in reversed(lines):
        match = pattern.search(line.rstrip())
        if match:
            return ": ".join(g for g in match.groups() if g).strip()
    return None


def _crash_line(log: str) -> tuple[int, str] | None:
    """``(pid, signal)`` of the last worker gunicorn reports killed by a crash signal
    (SIGABRT, SIGSEGV, SIGBUS, SIGTRAP, SIGILL) in ``log``, or None."""
    for line in reversed(log.splitlines()):
        found = forksafety.worker_signal(line)
        if found is not None and found[1] in forksafety.CRASH_SIGNALS:
            return found
    return None


def _without_ignored(lines: list[str]) -> list[str]:
    """``lines`` less each "Exception ignored in" report (up to its exception line)."""
    kept: list[str] = []
    ignoring = False
    for line in lines:
        if line.startswith("Exception ignored in"):
            ignoring = True
        elif ignoring and not line.startswith((" ", "Traceback")):
            ignoring = False  # the report's exception line ends it
        elif not ignoring:
            kept.append(line)
    return kept


@dataclass(frozen=True)
class Fetched:
    """One response, read whole: ``status``, ``headers`` (lower-case names), ``body``."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class ServerNotReady(AssertionError):
    """The server did not answer within the time allowed; the message has its log."""


class ServerExited(ServerNotReady):
    """The server process exited before it served."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.returncode = server.proc.returncode
        super().__init__(f"server exited with {self.returncode}; log:\n{server.log}")


class WorkerCrashed(ServerNotReady):
    """A worker died by a crash signal before the server answered (the server is stopped)."""

    def __init__(self, server: Server, pid: int, signal_name: str) -> None:
        self.server = server
        self.pid = pid
        self.signal = signal_name
        super().__init__(
            f"worker {pid} was killed by {signal_name} before the server answered; "
            f"log:\n{server.log}"
        )


@dataclass
class Server:
    """A running server process.

    ``url`` is ``http://127.0.0.1:PORT``, or ``http://localhost`` with ``uds``
    set to the socket path for a Unix socket.
    """

    proc: subprocess.Popen[bytes]
    log_path: Path
    url: str
    uds: str | None = None
    argv: tuple[str, ...] = ()
    _clients: list[Any] = field(default_factory=list, repr=False)
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)
    _final_log: str | None = field(default=None, repr=False)

    @property
    def log(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        if self._final_log is not None:
            return self._final_log
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:  # a process that has not written it yet
            return ""

    @property
    def address(self) -> tuple[str, int] | str:
        """``(host, port)``, or the Unix socket path."""
        if self.uds:
            return self.uds
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        return host, int(port)

    def fetch(
        self,
        path: str = "/",
        method: str = "GET",
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Fetched:
        """One request with the standard library (no httpx needed)."""
        address = self.address
        conn: http.client.HTTPConnection
        if isinstance(address, str):
            conn = _UnixConnection(address, timeout)
        else:
            conn = http.client.HTTPConnection(*address, timeout=timeout)
        try:
            conn.request(method, path, headers=dict(headers or {}))
            response = conn.getresponse()
            body = response.read()
            names = {k.lower(): v for k, v in response.getheaders()}
            return Fetched(response.status, names, body)
        finally:
            conn.close()

    def client(self, timeout: float = 10.0) -> httpx.Client:
        """An ``httpx.Client`` for this server (closed when the server stops)."""
        try:
            import httpx
        except ImportError:
            raise ImportError("Server.client() needs httpx: pip install httpx") from None
        transport = httpx.HTTPTransport(uds=self.uds) if self.uds else None
        client = httpx.Client(base_url=self.url, timeout=timeout, transport=transport)
        self._clients.append(client)
        return client

    def get(self, path: str = "/", **kwargs: Any) -> httpx.Response:
        """``client().get(path, ...)``."""
        return self.client().get(path, **kwargs)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        """Wait for the server process to exit; its return code."""
        return self.proc.wait(timeout=timeout)

    def wait_for_log(self, text: str, timeout: float = 20.0) -> None:
        """Wait until ``text`` is in the log; AssertionError with the log if not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log:
                return
            if self.proc.poll() is not None and text not in self.log:
                break
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not logged within {timeout}s; log:\n{self.log}")

    def wait_ready(
        self, timeout: float = 30.0, path: str = "/__ready__", *, poll: float = 0.05
    ) -> Fetched:
        """Wait until the server answers any HTTP request (``GET path``); that answer.

        Tries every ``poll`` seconds (a benchmark timing the boot polls more
        often). Raises :class:`ServerExited` if the process ends first,
        :class:`WorkerCrashed` (after stopping the server) when a worker died
        by a crash signal, and :class:`ServerNotReady` (after stopping the
        server) on time-out.
        """
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerExited(self)
            try:
                return self.fetch(path, timeout=max(0.1, min(5.0, deadline - time.monotonic())))
            except (OSError, http.client.HTTPException) as exc:
                last = exc
                crashed = _crash_line(self.log)
                if crashed is not None:
                    self.stop()
                    raise WorkerCrashed(self, *crashed) from None
                time.sleep(poll)
        if self.proc.poll() is not None:
            raise ServerExited(self)
        self.stop()
        raise ServerNotReady(f"server not ready within {timeout}s ({last}); log:\n{self.log}")

    def worker_pids(self) -> set[int]:
        """PIDs of the master's live children (its workers); Linux only."""
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return {int(p) for p in path.read_text().split()}
        except OSError:
            return set()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; keeps the log readable after."""
        for client in self._clients:
            client.close()
        self._clients.clear()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._final_log = self.log_path.read_text(errors="replace")
            self._tmp.cleanup()
            self._tmp = None


def _child_env(
    env: Mapping[str, str] | None,
    pythonpath: Sequence[PathLike],
    simulate: str | None,
    keep_settings: bool,
) -> dict[str, str]:
    child = {
        k: v for k, v in os.environ.items() if keep_settings or not k.startswith("SAFEWORKERS_")
    }
    paths = [*(os.fspath(p) for p in pythonpath), child.get("PYTHONPATH", "")]
    child["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    child.update(env or {})
    if simulate:
        child = simulation.child_env(simulate, child)
    return child


def start(
    server: ServerName,
    app: str,
    *args: str,
    worker: str | None = None,
    unix: bool | PathLike = False,
    simulate: str | None = None,
    env: Mapping[str, str] | None = None,
    wait: bool = True,
    ready_timeout: float = 30.0,
    executable_path: PathLike | None = None,
    bind_via_env: bool = False,
    bind_by_config: bool = False,
    cwd: PathLike | None = None,
    pythonpath: Sequence[PathLike] = (),
    keep_settings: bool = False,
    graceful_timeout: float = 5,
    prefix: Sequence[str] = (),
) -> Server:
    """Start ``gunicorn``/``hypercorn`` ``[-k WORKER] ARGS APP``; the caller stops it.

    ``unix``: ``True`` for a socket in a temporary directory, or the socket's
    path. ``bind_via_env`` puts the address in ``BIND`` (read by the
    safeworkers config modules) instead of ``--bind``; ``bind_by_config``
    passes neither, for a config file that binds to ``unix`` itself.
    ``graceful_timeout`` (gunicorn only) keeps stops quick; later ``args``
    override it. ``prefix``: a command the server runs under, which must exec
    it (``("taskset", "-c", "0")`` to pin it to a CPU, ``("nice", "-n", "5")``):
    the process stopped and reported is then the server's.
    """
    if simulate:
        simulation.platform_value(simulate)  # a bad name fails here, not in the child
    tmp = tempfile.TemporaryDirectory(prefix="safeworkers-")
    try:
        tmp_path = Path(tmp.name)
        if unix:
            uds: str | None = str(tmp_path / f"{server}.sock") if unix is True else os.fspath(unix)
            bind, url = f"unix:{uds}", "http://localhost"
        else:
            port = free_port()
            uds, bind, url = None, f"127.0.0.1:{port}", f"http://127.0.0.1:{port}"
        exe = os.fspath(executable_path) if executable_path else executable(server)
        extra_env = {"BIND": bind} if bind_via_env else {}
        argv = [exe] + ([] if bind_via_env or bind_by_config else ["--bind", bind])
        if server == "gunicorn":
            argv += ["--graceful-timeout", str(graceful_timeout)]
            # gunicorn >= 25.1 opens a control socket at a fixed path that parallel servers share.
            if gunicorn_has_option("--no-control-socket", exe):
                argv.append("--no-control-socket")
        if worker:
            argv += ["-k", worker]
        argv += [*args, app]
        child_env = _child_env({**(env or {}), **extra_env}, pythonpath, simulate, keep_settings)
        log_path = tmp_path / "server.log"
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen(
                [*prefix, *argv],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=child_env,
                cwd=os.fspath(cwd) if cwd is not None else None,
            )
    except BaseException:
        tmp.cleanup()
        raise
    running = Server(proc=proc, log_path=log_path, url=url, uds=uds, argv=tuple(argv), _tmp=tmp)
    if wait:
        try:
            running.wait_ready(ready_timeout)
        except BaseException:
            running.stop()
            raise
    return running


class ServeOptions(TypedDict, total=False):
    """The keyword arguments :func:`gunicorn` and :func:`hypercorn` pass on to :func:`start`."""

    worker: str | None
    unix: bool | PathLike
    simulate: str | None
    env: Mapping[str, str] | None
    wait: bool
    ready_timeout: float
    bind_via_env: bool
    bind_by_config: bool
    cwd: PathLike | None
    pythonpath: Sequence[PathLike]
    keep_settings: bool
    graceful_timeout: float  # gunicorn only
    prefix: Sequence[str]


@contextlib.contextmanager
def _serving(
    server: ServerName,
    app: str,
    args: tuple[str, ...],
    executable_path: PathLike | None,
    options: ServeOptions,
) -> Iterator[Server]:
    running = start(server, app, *args, executable_path=executable_path, **options)
    try:
        yield running
    finally:
        running.stop()


def gunicorn(
    app: str, *args: str, gunicorn_bin: PathLike | None = None, **options: Unpack[ServeOptions]
) -> contextlib.AbstractContextManager[Server]:
    """``with gunicorn("app:app", "-w", "2", worker=...) as server:``; see :func:`start`."""
    return _serving("gunicorn", app, args, gunicorn_bin, options)


def hypercorn(
    app: str, *args: str, hypercorn_bin: PathLike | None = None, **options: Unpack[ServeOptions]
) -> contextlib.AbstractContextManager[Server]:
    """``with hypercorn("app:app", worker="trio") as server:``; see :func:`start`."""
    return _serving("hypercorn", app, args, hypercorn_bin, options)

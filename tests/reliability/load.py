"""Bounded load for the reliability tests: raw HTTP/1.1 clients on threads.

Each client opens a new connection per request (``Connection: close``), so a
reload, a respawn or a lost listener shows up as a failed request instead of
hiding behind a kept-alive connection. Raw sockets keep the client cheap next
to the server and work the same on TCP and Unix sockets. Every loop is bounded
in count and in time.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from tests.servers import Server


def address(server: Server) -> tuple[int, object]:
    """(family, address) to connect to ``server``."""
    if server.uds:
        return socket.AF_UNIX, server.uds
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    return socket.AF_INET, (host, int(port))


def connect(server: Server, timeout: float = 10.0) -> socket.socket:
    family, where = address(server)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(where)
    except BaseException:
        sock.close()
        raise
    return sock


def read_all(sock: socket.socket, limit: int = 1 << 20) -> bytes:
    """Everything the server sends until it closes (or ``limit`` bytes)."""
    chunks = []
    size = 0
    while size < limit:
        data = sock.recv(65536)
        if not data:
            break
        chunks.append(data)
        size += len(data)
    return b"".join(chunks)


def status_of(response: bytes) -> int | None:
    """The status code of a raw HTTP response, or None when there is none."""
    if not response.startswith(b"HTTP/"):
        return None
    parts = response.split(b" ", 2)
    try:
        return int(parts[1])
    except (IndexError, ValueError):
        return None


def one_request(server: Server, path: str = "/", timeout: float = 10.0) -> int:
    """One request on a fresh connection; its status, or raise the failure."""
    with contextlib.closing(connect(server, timeout)) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()
        )
        response = read_all(sock)
    status = status_of(response)
    if status is None:
        raise ConnectionError(f"no HTTP response ({len(response)} bytes: {response[:60]!r})")
    return status


@dataclass
class Stats:
    """What a load run saw."""

    ok: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())

    @property
    def failed(self) -> int:
        """Requests without an HTTP response (reset, refused, empty, timeout)."""
        return sum(self.errors.values())

    @property
    def non_2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)

    def __str__(self) -> str:
        return (
            f"{self.total} requests in {self.seconds:.1f}s: statuses {dict(self.statuses)}, "
            f"failures {dict(self.errors)}"
        )


class Load:
    """``clients`` threads sending requests to ``server`` until stopped.

    Use as a context manager; ``stats`` holds the result after exit. Stops by
    itself after ``max_seconds`` or ``max_requests`` whichever comes first.
    """

    def __init__(
        self,
        server: Server,
        *,
        clients: int = 4,
        path: str = "/",
        max_seconds: float = 60.0,
        max_requests: int = 200_000,
    ) -> None:
        self.server = server
        self.clients = clients
        self.path = path
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.stats = Stats()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._started = 0.0

    def _client(self) -> None:
        deadline = self._started + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                status = one_request(self.server, self.path)
            except OSError as exc:  # ConnectionError, TimeoutError, ...
                with self._lock:
                    self.stats.errors[type(exc).__name__] += 1
                    if self.stats.total >= self.max_requests:
                        return
                time.sleep(0.01)  # a refused connect would otherwise spin
                continue
            with self._lock:
                self.stats.statuses[status] += 1
                if 200 <= status < 300:
                    self.stats.ok += 1
                if self.stats.total >= self.max_requests:
                    return

    def count(self) -> int:
        with self._lock:
            return self.stats.total

    def wait_for(self, requests: int, timeout: float = 30.0) -> None:
        """Block until ``requests`` more requests were sent (bounded)."""
        self.wait_total(self.count() + requests, timeout)

    def wait_total(self, requests: int, timeout: float = 30.0) -> None:
        """Block until ``requests`` requests in all were sent (bounded)."""
        deadline = time.monotonic() + timeout
        while self.count() < requests and time.monotonic() < deadline:
            time.sleep(0.02)

    def __enter__(self) -> Load:
        self._started = time.monotonic()
        self._threads = [
            threading.Thread(target=self._client, daemon=True) for _ in range(self.clients)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self.stats.seconds = time.monotonic() - self._started

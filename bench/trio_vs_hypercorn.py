"""Throughput: ``gunicorn -k safeworkers.TrioWorker -w 1`` vs ``hypercorn -k trio -w 1``.

Both serve tests/apps/trio_raw.py (``GET /hello``, 15 bytes) on 127.0.0.1 with
access logs off. The load is bounded: after a warm-up, each round sends a fixed
number of requests over a few HTTP/1.1 keep-alive connections, one thread per
connection, with a minimal raw-socket client (so the client costs little next
to the server). Rounds alternate between the servers; the median is reported.
With ``--client wrk`` and ``wrk`` on PATH, wrk runs for a fixed duration instead.

    .venv/bin/python bench/trio_vs_hypercorn.py [--requests 2000] [--connections 4]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from loadgen import wrk_requests_per_second

from safeworkers.testing import Server, gunicorn, hypercorn

ROOT = Path(__file__).resolve().parent.parent
#: Where the benchmark apps live (imported by the servers, not by this script).
APP_PATH = [ROOT / "tests" / "apps"]

APP = "trio_raw:app"
PATH = "/hello"


def _request_bytes(host: str) -> bytes:
    return f"GET {PATH} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: sw-bench\r\n\r\n".encode()


def _read_response(sock: socket.socket, buffer: bytearray) -> int:
    """Read one response (Content-Length framed) from ``sock``; return its status."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buffer += chunk
    head_end = buffer.index(b"\r\n\r\n") + 4
    head = bytes(buffer[:head_end])
    match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    if match is None:
        raise ValueError(f"benchmark needs Content-Length responses, got {head!r}")
    total = head_end + int(match.group(1))
    while len(buffer) < total:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection mid-body")
        buffer += chunk
    status = int(head.split(b" ", 2)[1])
    del buffer[:total]
    return status


def _connection_worker(
    address: tuple[str, int], count: int, errors: list[BaseException], barrier: threading.Barrier
) -> None:
    request = _request_bytes(f"{address[0]}:{address[1]}")
    try:
        with socket.create_connection(address, timeout=10) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buffer = bytearray()
            barrier.wait()
            for _ in range(count):
                sock.sendall(request)
                status = _read_response(sock, buffer)
                if status != 200:
                    raise ValueError(f"status {status}")
    except BaseException as exc:
        errors.append(exc)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.abort()


def python_load(address: tuple[str, int], requests: int, connections: int) -> float:
    """Send ``requests`` over ``connections`` keep-alive connections; return requests/s."""
    per_connection = [requests // connections] * connections
    per_connection[0] += requests - sum(per_connection)
    errors: list[BaseException] = []
    barrier = threading.Barrier(connections + 1)
    threads = [
        threading.Thread(target=_connection_worker, args=(address, n, errors, barrier))
        for n in per_connection
    ]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"load failed: {errors[0]!r}")
    return requests / elapsed


def wrk_load(address: tuple[str, int], seconds: int, connections: int) -> float:
    url = f"http://{address[0]}:{address[1]}{PATH}"
    return wrk_requests_per_second(url, seconds, connections)


def _address(server: Server) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


@contextlib.contextmanager
def _servers() -> Iterator[dict[str, Server]]:
    with (
        gunicorn(APP, "-w", "1", worker="safeworkers.TrioWorker", pythonpath=APP_PATH) as ours,
        hypercorn(APP, "-w", "1", worker="trio", pythonpath=APP_PATH) as theirs,
    ):
        yield {
            "gunicorn -k safeworkers.TrioWorker -w 1": ours,
            "hypercorn -k trio -w 1": theirs,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--connections", type=int, default=4, help="keep-alive connections")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per server (median kept)")
    parser.add_argument("--warmup", type=int, default=300, help="warm-up requests per server")
    parser.add_argument(
        "--client",
        choices=("python", "wrk"),
        default="python",
        help="load generator (wrk: fixed 3 s per round, needs wrk on PATH)",
    )
    args = parser.parse_args(argv)
    if args.client == "wrk" and shutil.which("wrk") is None:
        print("wrk is not installed; using the Python client", file=sys.stderr)
        args.client = "python"

    def load(address: tuple[str, int]) -> float:
        if args.client == "wrk":
            return wrk_load(address, 3, args.connections)
        return python_load(address, args.requests, args.connections)

    measure: Callable[[tuple[str, int]], float] = load
    results: dict[str, list[float]] = {}
    with _servers() as servers:
        for server in servers.values():
            python_load(_address(server), args.warmup, args.connections)
        for _ in range(args.rounds):
            for name, server in servers.items():
                results.setdefault(name, []).append(measure(_address(server)))

    print(
        f"app {APP} GET {PATH}; client {args.client}; "
        + (
            f"{args.requests} requests x {args.rounds} rounds"
            if args.client == "python"
            else f"3 s x {args.rounds} rounds"
        )
        + f" over {args.connections} keep-alive connections; access logs off"
    )
    medians = {}
    for name, values in results.items():
        medians[name] = statistics.median(values)
        spread = ", ".join(f"{v:.0f}" for v in values)
        print(f"  {name:<42} {medians[name]:8.0f} req/s  (rounds: {spread})")
    ours, theirs = medians.values()
    print(f"  ratio TrioWorker / hypercorn: {ours / theirs:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

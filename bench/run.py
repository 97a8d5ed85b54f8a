"""Side-by-side throughput: safeworkers' WSGI workers against gunicorn's own.

Each pair runs in the same invocation, on the same app (tests/apps/wsgi_plain.py),
one worker process each, on 127.0.0.1, for several rounds in which the two
take turns going first; the median requests/s and the ratio are printed. The load comes from
``wrk`` when installed (a bounded duration), else from a bounded Python
client (a fixed number of requests). Nothing here is asserted: speed is
measured, not tested.

    make bench                      # or: .venv/bin/python bench/run.py --rounds 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import threading
import time
from pathlib import Path

import httpx
from loadgen import wrk_requests_per_second

from safeworkers import testing

ROOT = Path(__file__).resolve().parent.parent
#: Where the benchmark apps live (imported by the servers, not by this script).
APP_PATH = [ROOT / "tests" / "apps"]

PAIRS: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("sync", ("-k", "safeworkers.SyncWorker"), ("-k", "sync")),
    ("auto (sync)", ("-k", "safeworkers.AutoWorker"), ("-k", "sync")),
    (
        "gthread, 4 threads",
        ("-k", "safeworkers.ThreadWorker", "--threads", "4"),
        ("-k", "gthread", "--threads", "4"),
    ),
    ("gevent", ("-k", "safeworkers.GeventWorker"), ("-k", "gevent")),
    ("eventlet vs gevent", ("-k", "safeworkers.EventletWorker"), ("-k", "gevent")),
]


def load_python(url: str, requests: int, connections: int) -> float:
    """A fixed number of keep-alive requests over ``connections`` threads."""
    per_thread = requests // connections

    def run() -> None:
        with httpx.Client(base_url=url, timeout=10) as client:
            for _ in range(per_thread):
                client.get("/").raise_for_status()

    threads = [threading.Thread(target=run) for _ in range(connections)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return per_thread * connections / (time.perf_counter() - start)


def measure(args: tuple[str, ...], options: argparse.Namespace) -> float:
    with testing.gunicorn("wsgi_plain:app", *args, "-w", "1", pythonpath=APP_PATH) as server:
        server.get("/")  # warm up
        if options.wrk:
            return wrk_requests_per_second(server.url + "/", options.seconds, options.connections)
        return load_python(server.url, options.requests, options.connections)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="per run, with wrk")
    parser.add_argument("--requests", type=int, default=2000, help="per run, without wrk")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--only", help="run only pairs whose name contains this")
    options = parser.parse_args()
    options.wrk = shutil.which("wrk") is not None
    print(f"load: {'wrk' if options.wrk else 'python client'}, {options.connections} connections")
    print("| workers | safeworkers req/s | upstream req/s | ratio |\n|---|---|---|---|")
    for name, ours, upstream in PAIRS:
        if options.only and options.only not in name:
            continue
        ours_runs, up_runs = [], []
        for round_no in range(options.rounds):
            # Alternate who goes first: the second server of a round runs on a warmer machine.
            if round_no % 2:
                up_runs.append(measure(upstream, options))
                ours_runs.append(measure(ours, options))
            else:
                ours_runs.append(measure(ours, options))
                up_runs.append(measure(upstream, options))
        a, b = statistics.median(ours_runs), statistics.median(up_runs)
        print(f"| {name} | {a:,.0f} | {b:,.0f} | {a / b:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The blocking-driver benchmark's app: each request waits 20 ms in PostgreSQL through psycopg2.

``BENCH_PG_DSN`` names the throwaway server bench/run.py starts (tests/postgres.py).
Under a green worker without psycogreen, the worker waits with the driver: one
request at a time; with it (GeventWorker applies it at boot), the waits overlap.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import psycopg2


def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    conn = psycopg2.connect(os.environ["BENCH_PG_DSN"])
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(0.02)")
    finally:
        conn.close()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]

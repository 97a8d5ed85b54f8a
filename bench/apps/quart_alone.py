"""The quart-trio app of quart_hello.py called in-process: requests per second with no server.

No sockets, no parsing, no response writing: ``receive`` hands over an empty
request and then waits (as for a client that stays), ``send`` drops what it
gets. What quart-trio itself costs per request, so the most any server could
serve it: the bench's ceiling for the quart-trio row. Prints one number.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import trio
from quart_hello import app

SCOPE = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.1"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/",
    "raw_path": b"/",
    "query_string": b"",
    "root_path": "",
    "headers": [(b"host", b"127.0.0.1")],
    "client": ("127.0.0.1", 40000),
    "server": ("127.0.0.1", 8000),
    "extensions": {},
}


async def one_request() -> None:
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        pass

    await app(dict(SCOPE), receive, send)


async def main(seconds: float) -> None:
    for _ in range(200):  # warm up
        await one_request()
    count = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(100):
            await one_request()
        count += 100
    print(f"{count / elapsed:.1f}")


if __name__ == "__main__":
    trio.run(main, float(sys.argv[1]) if len(sys.argv) > 1 else 2.0)

"""An ASGI app that shows what a server gives it, for TrioWorker's two HTTP/1.1 paths.

Routes: ``/scope`` (the scope as JSON: what the app sees of the request);
``/echo`` (reads the body as the server hands it: answers the number of
``http.request`` messages and the bytes); ``/slow-echo`` (the same, sleeping
between reads); ``/stream?n=5`` (a chunked response of n parts);
``/big?n=BYTES`` (one body of that size); ``/big-stream?n=BYTES`` (the same
in 64 KiB parts); ``/status?code=204``; ``/stream-ticks?n=1000`` (n one-byte
parts, then how often another task ran meanwhile); ``/bad-header`` (a control
character in a header value); ``/no-read`` (answers without reading the body);
``/long-poll`` (waits for ``http.disconnect`` and writes "disconnected" to the
file named by ``SWTEST_EVENTS``); ``/fail`` (raises before answering);
``/half`` (starts a response and raises); ``/answer-then-wait?ms=50`` (answers after
ms while another task waits in ``receive()``, then writes what that wait
got); ``/big-then-cancel?n=BYTES`` (quart-trio's pattern: one task sends a
body of n bytes in one message while another, waiting in ``receive()``,
cancels both when it gets ``http.disconnect``); ``/gc`` (how many objects the
garbage collector has frozen).
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import parse_qs

import trio
from asgi_parts import lifespan

EVENTS = os.environ.get("SWTEST_EVENTS", "")


def _number(scope: dict[str, Any], name: str, default: int) -> int:
    return int(parse_qs(scope["query_string"].decode()).get(name, [default])[0])


async def _respond(send: Any, body: bytes, status: int = 200, *, more: bool = False) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body, "more_body": more})


async def _read(receive: Any, *, pause: float = 0) -> tuple[int, int, str]:
    messages = size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return messages, size, "disconnect"
        messages += 1
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            return messages, size, "end"
        if pause:
            await trio.sleep(pause)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path.startswith("/scope"):
        shown = {k: v for k, v in scope.items() if k not in ("state", "headers")}
        shown["headers"] = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]]
        shown["raw_path"] = scope["raw_path"].decode("latin-1")
        shown["query_string"] = scope["query_string"].decode("latin-1")
        shown["state"] = sorted(scope.get("state", {}))
        body = json.dumps(shown, sort_keys=True).encode()
        await _respond(send, body)
    elif path in ("/echo", "/slow-echo"):
        messages, size, end = await _read(receive, pause=0.01 if path == "/slow-echo" else 0)
        await _respond(send, json.dumps({"messages": messages, "size": size, "end": end}).encode())
    elif path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(_number(scope, "n", 5)):
            await send({"type": "http.response.body", "body": b"part %d\n" % i, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/big":
        await _respond(send, b"x" * _number(scope, "n", 1 << 20))
    elif path == "/big-stream":
        left = _number(scope, "n", 1 << 20)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while left > 0:
            part = min(left, 65536)
            left -= part
            await send({"type": "http.response.body", "body": b"y" * part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/status":
        await _respond(send, b"", _number(scope, "code", 204))
    elif path == "/stream-ticks":
        # How often another task ran while the response streamed: a worker that never
        # yields while writing would starve every other connection (and its heartbeat).
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await trio.sleep(0)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(tick)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for _ in range(_number(scope, "n", 1000)):
                await send({"type": "http.response.body", "body": b"x", "more_body": True})
            seen = ticks
            nursery.cancel_scope.cancel()
        await send({"type": "http.response.body", "body": b"|%d" % seen})
    elif path == "/bad-header":
        headers = [(b"x-bad", b"a\x01b")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"never"})
    elif path == "/no-read":
        await _respond(send, b"not read")
    elif path == "/long-poll":
        message = await receive()  # the (empty) request
        message = await receive()  # then nothing more until the client goes away
        if EVENTS:
            with open(EVENTS, "a") as events:
                events.write(f"{message['type']}\n")
    elif path == "/answer-then-wait":
        await receive()  # the (empty) request
        got: list[str] = []

        async def wait() -> None:
            got.append((await receive())["type"])

        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait)
            await trio.sleep(_number(scope, "ms", 50) / 1000)  # the wait has begun
            await _respond(send, b"answered")
            with trio.move_on_after(3):
                while not got:
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
        if EVENTS:
            with open(EVENTS, "a") as events:
                events.write(f"after the answer: {got[0] if got else 'still waiting'}\n")
    elif path == "/big-then-cancel":
        await receive()  # the (empty) request

        async def watch(nursery: trio.Nursery) -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            nursery.cancel_scope.cancel()

        async def answer(nursery: trio.Nursery) -> None:
            await _respond(send, b"x" * _number(scope, "n", 1 << 20))
            nursery.cancel_scope.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch, nursery)
            await trio.sleep(0.01)  # the watch waits in receive()
            nursery.start_soon(answer, nursery)
    elif path == "/gc":
        import gc

        await _respond(send, str(gc.get_freeze_count()).encode())
    elif path == "/fail":
        raise RuntimeError("the app failed before answering")
    elif path == "/half":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"half", "more_body": True})
        raise RuntimeError("the app failed in the middle of its answer")
    else:
        await _respond(send, b"hello")

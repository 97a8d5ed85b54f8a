"""TrioWorker's fast path gathers the writes of busy connections (FastServer.flush).

In-process, on real loopback sockets: the server's own tasks run in this
test's Trio loop, so the flusher's count of the writes it made says which way
an answer went. What clients see is checked on real servers too
(tests/integration/test_trio_fast.py, many busy connections at once).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from hypercorn.config import Config

from safeworkers.workers.trio.fast import FastConnection, FastServer
from safeworkers.workers.trio.http1 import Limits
from safeworkers.workers.trio.protocol import Rules

Send = Callable[[dict[str, Any]], Awaitable[None]]


async def answer(send: Send, body: bytes) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


class App:
    """``/hold`` answers once released; ``/big`` 8 MiB; ``/two-tasks`` sends from two
    tasks at once; ``/cancelled`` cancels its own answer, ``/part-cancelled`` a part
    of it; anything else answers at once with its path."""

    def __init__(self) -> None:
        self.release = trio.Event()
        self.holding = trio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Send, *_: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/hold":
            self.holding.set()
            await self.release.wait()
            await answer(send, b"held")
        elif path == "/big":
            await answer(send, bytes(range(256)) * (32 * 1024))
        elif path == "/two-tasks":
            # Two tasks of the app send at once (ASGI leaves their order open).
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", b"4")],
                }
            )
            async with trio.open_nursery() as nursery:
                for part in (b"ab", b"cd"):
                    nursery.start_soon(
                        send, {"type": "http.response.body", "body": part, "more_body": True}
                    )
            await send({"type": "http.response.body", "body": b""})
        elif path == "/part-cancelled":
            # A part whose send is cancelled, then the rest: the answer is broken.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", b"4")],
                }
            )
            with trio.move_on_after(0):
                await send({"type": "http.response.body", "body": b"ab", "more_body": True})
            await send({"type": "http.response.body", "body": b"cd"})
        elif path == "/cancelled":
            with trio.CancelScope() as scope_:
                scope_.cancel()
                await answer(send, b"never")
        else:
            await answer(send, path.encode())


@asynccontextmanager
async def serving(app: App) -> AsyncIterator[tuple[FastServer, tuple[str, int]]]:
    rules = Rules(limits=Limits(), log=logging.getLogger("test"), trusted=lambda _: True)

    async def handover(sock: socket.socket, prefix: bytes) -> None:
        raise AssertionError("nothing here is handed to hypercorn")

    server = FastServer(app, Config(), rules, {}, handover=handover, access=None)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.flush)
        await nursery.start(server.serve, listener, nursery)
        yield server, listener.getsockname()
        nursery.cancel_scope.cancel()
    listener.close()


async def request(stream: trio.SocketStream, path: str) -> None:
    await stream.send_all(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())


async def response(stream: trio.SocketStream) -> bytes:
    """The body of the next response (content-length framed); b"" at a close."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = await stream.receive_some()
        if not more:
            assert not data, data
            return b""
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += await stream.receive_some()
    assert len(body) == length
    return body


def run(test: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        with trio.fail_after(20):
            await test()

    trio.run(bounded)


async def holding(app: App, address: tuple[str, int]) -> trio.SocketStream:
    """A connection whose request keeps the app busy until ``app.release`` is set."""
    busy = await trio.open_tcp_stream(*address)
    await request(busy, "/hold")
    await app.holding.wait()
    return busy


@asynccontextmanager
async def another_busy(app: App, address: tuple[str, int]) -> AsyncIterator[None]:
    """Another connection kept busy meanwhile; released at the end, its answer checked."""
    busy = await holding(app, address)
    yield
    app.release.set()
    assert await response(busy) == b"held"
    await busy.aclose()


def test_an_answer_finished_while_another_connection_is_busy_goes_out_with_the_flush() -> None:
    async def main() -> None:
        app = App()
        async with serving(app) as (server, address):
            async with another_busy(app, address):
                quick = await trio.open_tcp_stream(*address)
                await request(quick, "/now")
                assert await response(quick) == b"/now"
                assert server.gathered == 1
            # Released, the held answer had nothing to be gathered with (the other
            # connection waited for its next request): it went out at once.
            assert server.gathered == 1
            await request(quick, "/again")
            assert await response(quick) == b"/again"
            await quick.aclose()

    run(main)


def test_a_lone_connection_writes_at_once() -> None:
    async def main() -> None:
        async with serving(App()) as (server, address):
            stream = await trio.open_tcp_stream(*address)
            for n in range(3):
                await request(stream, f"/{n}")
                assert await response(stream) == f"/{n}".encode()
            assert server.gathered == 0
            await stream.aclose()

    run(main)


def test_an_answer_cancelled_while_it_waits_for_the_flush_is_dropped_and_closes() -> None:
    async def main() -> None:
        app = App()
        async with serving(app) as (server, address):
            async with another_busy(app, address):
                cancelled = await trio.open_tcp_stream(*address)
                await request(cancelled, "/cancelled")
                assert await response(cancelled) == b""  # closed, nothing written
                # The flusher goes on: the next answer is gathered as before.
                quick = await trio.open_tcp_stream(*address)
                await request(quick, "/after")
                assert await response(quick) == b"/after"
                assert server.gathered == 1
            for stream in (cancelled, quick):
                await stream.aclose()

    run(main)


def test_an_answer_too_large_for_one_write_is_finished_by_its_connection() -> None:
    async def main() -> None:
        app = App()
        async with serving(app) as (server, address):
            async with another_busy(app, address):
                reader = await trio.open_tcp_stream(*address)
                await request(reader, "/big")
                await trio.sleep(0.2)  # the socket's buffer fills: the flusher writes a part
                assert await response(reader) == bytes(range(256)) * (32 * 1024)
                assert server.gathered == 1
                await request(reader, "/next")
                assert await response(reader) == b"/next"
            await reader.aclose()

    run(main)


def test_an_app_sending_from_two_tasks_at_once_has_its_writes_made_in_turn() -> None:
    async def main() -> None:
        app = App()
        async with serving(app) as (server, address):
            async with another_busy(app, address):
                stream = await trio.open_tcp_stream(*address)
                await request(stream, "/two-tasks")
                assert sorted([(body := await response(stream))[:2], body[2:]]) == [b"ab", b"cd"]
                assert server.gathered == 2  # one after the other, each through the flusher
                await request(stream, "/next")
                assert await response(stream) == b"/next"
            await stream.aclose()

    run(main)


def test_a_part_whose_write_was_cancelled_closes_the_connection_and_nothing_follows_it() -> None:
    async def main() -> None:
        app = App()
        async with serving(app) as (server, address):
            async with another_busy(app, address):
                stream = await trio.open_tcp_stream(*address)
                await request(stream, "/part-cancelled")
                await request(stream, "/next")  # never read as the rest of a body
                data = b""
                try:
                    while more := await stream.receive_some():
                        data += more
                except trio.BrokenResourceError:
                    pass  # closed with /next unread: the kernel resets the connection
                assert data == b""  # the head went with the cancelled part: closed, nothing sent
                assert server.gathered == 0
            await stream.aclose()

    run(main)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGUSR2")
def test_gunicorns_abort_in_the_middle_of_a_flush_unwinds_cleanly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """gunicorn's timeout abort raises SystemExit wherever the worker is, unless
    Trio's protection is on (TrioWorker.handle_abort, done here by a signal
    handler of the same logic): landing in the flusher's batch, it must not leave
    tasks that nobody wakes, which would break the run loop."""
    everything = trio.CancelScope()

    def handle_abort(sig: int, frame: Any) -> None:
        if trio.lowlevel.currently_ki_protected():
            trio.lowlevel.current_trio_token().run_sync_soon(everything.cancel)
        else:
            sys.exit(1)

    flushed = FastConnection._flushed
    calls = 0

    def flushed_then_abort(self: FastConnection) -> None:
        nonlocal calls
        calls += 1
        flushed(self)
        if calls == 1:
            os.kill(os.getpid(), signal.SIGUSR2)  # the arbiter's SIGABRT, landing here

    monkeypatch.setattr(FastConnection, "_flushed", flushed_then_abort)
    previous = signal.signal(signal.SIGUSR2, handle_abort)

    async def main() -> None:
        app = App()
        with everything:
            async with serving(app) as (_, address):
                await holding(app, address)
                for _ in range(3):
                    await request(await trio.open_tcp_stream(*address), "/hold")
                await trio.sleep(0.1)
                app.release.set()  # four answers at once: one batch for the flusher
                await trio.sleep_forever()

    try:
        run(main)
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert calls >= 3  # the batch went on to its end

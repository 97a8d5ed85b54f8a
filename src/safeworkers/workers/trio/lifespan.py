"""gunicorn's ``asgi_lifespan`` modes around the app's ASGI lifespan."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hypercorn.typing import AppWrapper

    from safeworkers.workers.trio._types import TrioWorkerLike as TrioWorker

STARTUP_FAILED = "lifespan.startup.failed"


def walk(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and, recursively, the members of any exception group."""
    yield exc
    for member in getattr(exc, "exceptions", None) or ():
        if isinstance(member, BaseException):
            yield from walk(member)


def find(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> BaseException | None:
    """The first exception of one of ``kinds`` in ``exc`` or its groups."""
    return next((e for e in walk(exc) if isinstance(e, kinds)), None)


class LifespanModes:
    """Run the app's lifespan under gunicorn's ``asgi_lifespan`` mode.

    ``off``: answer the lifespan messages here, never calling the app.
    ``on``: any exception before startup completes fails the boot.
    ``auto``: an exception raised *after* the app received
    ``lifespan.startup`` fails the boot (the app speaks lifespan and its
    startup broke); one raised before that means "lifespan unsupported"
    and serving goes on, as the ASGI spec asks.

    An app that *returns* without finishing the protocol (a WSGI app,
    ``if scope["type"] != "http": return``) is answered for here: hypercorn's
    Trio lifespan would otherwise send into a closed channel and crash.
    A startup failure is recorded on the worker (``_startup_failure``) so it
    can stop gunicorn with the app's own message.
    """

    def __init__(self, app: AppWrapper, worker: TrioWorker, mode: str) -> None:
        self.app = app
        self.worker = worker
        self.mode = mode

    async def __call__(
        self,
        scope: Any,
        receive: Any,
        send: Any,
        sync_spawn: Callable[..., Any],
        call_soon: Callable[..., Any],
    ) -> None:
        state = {"received": False, "answered": False, "finished": False}
        if self.mode == "off":
            await self._answer(receive, send, state)
            return
        worker = self.worker

        async def lifespan_receive() -> Any:
            message = await receive()
            if message["type"] == "lifespan.startup":
                state["received"] = True
            return message

        async def lifespan_send(message: Any) -> None:
            kind = message["type"]
            if kind in ("lifespan.startup.complete", STARTUP_FAILED):
                state["answered"] = True
                if kind == STARTUP_FAILED:
                    worker._startup_failure = str(message.get("message", "") or "")
            elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                state["finished"] = True
            await send(message)

        try:
            await self.app(scope, lifespan_receive, lifespan_send, sync_spawn, call_soon)
        except Exception as exc:
            from hypercorn.utils import LifespanFailureError

            if find(exc, (LifespanFailureError,)) is not None or state["answered"]:
                raise
            if self.mode == "on" or state["received"]:
                worker.log.error("ASGI lifespan startup raised", exc_info=exc)
                message = f"{type(exc).__name__}: {exc}"
                worker._startup_failure = message
                await send({"type": STARTUP_FAILED, "message": message})
            raise
        if not state["finished"]:
            await self._answer(receive, send, state)

    @staticmethod
    async def _answer(receive: Any, send: Any, state: dict[str, bool]) -> None:
        """Complete the lifespan protocol on the app's behalf."""
        if state["received"] and not state["answered"]:
            await send({"type": "lifespan.startup.complete"})
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

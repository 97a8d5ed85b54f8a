"""What the worker tracks about each connection, and the graceful stop that uses it.

gunicorn's ``AsyncWorker`` waits ``--keep-alive`` seconds for a connection's
next request. On SIGTERM, a worker that only waited for its green threads
would hold the drain open until every idle keep-alive connection timed out.
This one registers each connection (by green thread) and the keep-alive wait
it sits in between requests, so a graceful stop ends those waits at once,
while in-flight requests get ``--graceful-timeout``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any


class Connection:
    """What the worker tracks about one connection it is serving."""

    __slots__ = ("idle", "served")

    def __init__(self) -> None:
        #: Requests answered on this connection so far.
        self.served = 0
        #: The keep-alive timer while the connection waits for its next request.
        self.idle: Any = None


class GracefulStopMixin:
    """Connection bookkeeping and the graceful stop, for ``EventletWorker``.

    Comes before gunicorn's ``AsyncWorker`` in the worker's bases: it
    overrides ``handle_request`` and ``timeout_ctx``.
    """

    if TYPE_CHECKING:  # provided by the worker and gunicorn's Worker
        cfg: Any
        log: Any
        pid: Any
        alive: bool
        sockets: list[Any]
        _eventlet: Any
        _hubs: Any

        def notify(self) -> None: ...
        def _sleep(self, seconds: float) -> None: ...
        def _wake(self) -> None: ...
        def _exit_if_quitting(self) -> None: ...

    _connections: dict[Any, Connection]

    # ----------------------------------------------------------- bookkeeping

    @contextlib.contextmanager
    def _tracking_connection(self) -> Iterator[None]:
        """Register the calling green thread's connection while it is served."""
        me = self._eventlet.getcurrent()
        self._connections[me] = Connection()
        try:
            yield
        finally:
            self._connections.pop(me, None)

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> Any:
        try:
            return super().handle_request(listener_name, req, sock, addr)  # type: ignore[misc]
        finally:
            state = self._connections.get(self._eventlet.getcurrent())
            if state is not None:
                state.served += 1

    def timeout_ctx(self) -> contextlib.AbstractContextManager[None]:
        return self._waiting_for_request()

    @contextlib.contextmanager
    def _waiting_for_request(self) -> Iterator[None]:
        """The keep-alive wait: ``--keep-alive`` seconds for the next request.

        Between requests the wait is registered, so a graceful stop can end
        it at once; once stopping, a connection that has been answered
        gets no further wait at all (requests already sent are still read).
        """
        state = self._connections.get(self._eventlet.getcurrent())
        between = state is not None and state.served > 0
        seconds = self.cfg.keepalive or None
        if between and not self.alive:
            seconds = 0
        timer = self._eventlet.Timeout(seconds, False)
        if between and state is not None:
            state.idle = timer
        try:
            with timer:
                yield
        finally:
            if state is not None:
                state.idle = None

    # ----------------------------------------------------------- stopping

    def _stop_accepting(self, acceptors: list[Any]) -> None:
        # The listeners stay open until the connections are served:
        # a connection accepted just before the stop is handled by a
        # green thread that has not run yet, and gunicorn's handle()
        # starts with listener.getsockname(), which a closed listener
        # answers with EBADF (the client then sees a reset).
        for acceptor in acceptors:
            acceptor.kill()

    def _close_listeners(self) -> None:
        for listener in self.sockets:
            # Our descriptor only: the master still holds the socket (and
            # a unix socket's path stays).
            with contextlib.suppress(OSError):
                listener.close()

    def _drain(self, pool: Any, tick: float) -> None:
        self._end_idle_waits()
        if not pool.running():
            return
        self.log.info(
            "safeworkers: finishing %d connection(s) (up to %ss)",
            pool.running(),
            self.cfg.graceful_timeout,
        )
        self._eventlet.spawn_n(self._wake_when_idle, pool)
        deadline = time.monotonic() + float(self.cfg.graceful_timeout)
        while pool.running():
            self.notify()
            self._exit_if_quitting()
            left = deadline - time.monotonic()
            if left <= 0:
                self.log.warning(
                    "Worker graceful timeout (pid:%s): closing %d connection(s)",
                    self.pid,
                    pool.running(),
                )
                return
            self._sleep(min(tick, left))

    def _end_idle_waits(self) -> None:
        hub = self._hubs.get_hub()
        for glet, state in list(self._connections.items()):
            if state.idle is not None:
                hub.schedule_call_global(0, self._interrupt_wait, glet, state, state.idle)

    @staticmethod
    def _interrupt_wait(glet: Any, state: Connection, timer: Any) -> None:
        # Checked when it runs: the connection may have received a request
        # in the meantime, and then it is not ours to interrupt.
        if state.idle is timer and not glet.dead:
            glet.throw(timer)  # the wait's own timeout: it ends quietly

    def _wake_when_idle(self, pool: Any) -> None:
        pool.waitall()
        self._wake()

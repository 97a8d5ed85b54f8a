"""SafeWorkerMixin's listener-first tuning, on real sockets (no server needed)."""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Iterator

import pytest

from safeworkers.settings import Settings
from safeworkers.workers._base import SafeWorkerMixin

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads back Linux option numbers"
)


class Worker(SafeWorkerMixin):
    """The mixin with what gunicorn's Worker would give it."""

    def __init__(self, listener: socket.socket) -> None:
        self.log = logging.getLogger("test-worker")
        self.pid = 1
        self.sockets = [listener]
        self._sw_settings = Settings(tcp_keepalive=(61, 16, 5))


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


def accept(listener: socket.socket) -> tuple[socket.socket, socket.socket]:
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    return client, server


def keepidle(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)


def test_listener_is_tuned_and_inheriting_connections_are_trusted(
    listener: socket.socket,
) -> None:
    worker = Worker(listener)
    worker.tune_listeners(worker.sockets)
    assert keepidle(listener) == 61
    key = listener.fileno()
    for _ in range(3):
        client, server = accept(listener)
        with client, server:
            worker.tune_client(server, key)
            assert keepidle(server) == 61
    assert worker._sw_listeners[key] is True


def test_a_connection_that_did_not_inherit_is_tuned_and_the_listener_not_trusted(
    listener: socket.socket,
) -> None:
    worker = Worker(listener)
    worker.tune_listeners(worker.sockets)
    key = listener.fileno()
    client, server = accept(listener)
    with client, server:
        server.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 7200)  # as if not copied
        worker.tune_client(server, key)
        assert keepidle(server) == 61  # tuned on the connection itself
    assert worker._sw_listeners[key] is False
    client, server = accept(listener)
    with client, server:
        server.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 7200)
        worker.tune_client(server, key)
        assert keepidle(server) == 61  # and every later connection too


def test_unknown_listener_tunes_every_connection(listener: socket.socket) -> None:
    worker = Worker(listener)  # tune_listeners not called: nothing is trusted
    client, server = accept(listener)
    with client, server:
        worker.tune_client(server, listener.fileno())
        assert keepidle(server) == 61

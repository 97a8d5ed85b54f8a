"""classify, set_nodelay, enable_keepalive (in-process) and tune_connection on real sockets.

Every socket here is real (127.0.0.1, ::1, socketpairs). Where a test needs a
socket whose system calls must not happen or must fail in a given way, it uses
a ``socket.socket`` subclass around a real fd: the code under test is never
replaced.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from safeworkers import sockets
from safeworkers.sockets import (
    IPPROTO_MPTCP,
    SocketInfo,
    classify,
    enable_keepalive,
    set_nodelay,
    tune_connection,
)
from tests.markers import needs_mptcp, real_platform

#: Real sockets: the macOS CI job runs these there (tests/markers.py).
pytestmark = real_platform

if TYPE_CHECKING:
    from collections.abc import Iterator

LINUX = sys.platform.startswith("linux")
# Linux option numbers, so getsockopt can verify even when a test deleted the
# socket module's constants.
TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT = 4, 5, 6
S = TypeVar("S", bound=socket.socket)


needs_linux = pytest.mark.skipif(not LINUX, reason="verifies with Linux option numbers")


class Closer:
    """Collects sockets and closes them at teardown."""

    def __init__(self) -> None:
        self.items: list[socket.socket] = []

    def __call__(self, sock: S) -> S:
        self.items.append(sock)
        return sock


@pytest.fixture
def keep() -> Iterator[Closer]:
    closer = Closer()
    yield closer
    for sock in closer.items:
        sock.close()


def _tcp_listener(keep: Closer, host: str = "127.0.0.1", proto: int = 0) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    srv = keep(socket.socket(family, socket.SOCK_STREAM, proto))
    srv.bind((host, 0))
    srv.listen()
    return srv


def _tcp_pair(
    keep: Closer, proto: int = 0, client_proto: int = 0
) -> tuple[socket.socket, socket.socket]:
    srv = _tcp_listener(keep, proto=proto)
    client = keep(socket.socket(socket.AF_INET, socket.SOCK_STREAM, client_proto))
    client.connect(srv.getsockname())
    conn, _ = srv.accept()
    return client, keep(conn)


class NoSyscalls(socket.socket):
    """A real socket whose option and name calls must not be made."""

    def setsockopt(self, *args: Any) -> None:
        raise AssertionError(f"setsockopt{args} must not be called")

    def getsockopt(self, *args: Any) -> Any:
        raise AssertionError(f"getsockopt{args} must not be called")

    def getpeername(self) -> Any:
        raise AssertionError("getpeername must not be called")


class Failing(socket.socket):
    """A real TCP socket whose setsockopt fails with a chosen errno."""

    fail_errno = errno.EOPNOTSUPP

    def setsockopt(self, *args: Any) -> None:
        raise OSError(self.fail_errno, os.strerror(self.fail_errno))


class Counting(socket.socket):
    """A real socket that counts the option/name system calls made on it."""

    calls: list[str]

    def getsockopt(self, *args: Any) -> Any:
        self.calls.append("getsockopt")
        return super().getsockopt(*args)

    def setsockopt(self, *args: Any) -> None:
        self.calls.append("setsockopt")
        super().setsockopt(*args)

    def getpeername(self) -> Any:
        self.calls.append("getpeername")
        return super().getpeername()

    def getsockname(self) -> Any:
        self.calls.append("getsockname")
        return super().getsockname()


# --------------------------------------------------------------------------- classify


def test_classify_tcp_listener(keep: Closer) -> None:
    srv = _tcp_listener(keep)
    info = classify(srv)
    assert info == SocketInfo(
        family="inet",
        kind="stream",
        protocol="tcp",
        listening=True,
        connected=False,
        address=srv.getsockname(),
        fd=srv.fileno(),
    )
    assert info.is_tcp
    assert not info.is_unix


def test_classify_connected_tcp_pair(keep: Closer) -> None:
    client, conn = _tcp_pair(keep)
    for sock in (client, conn):
        info = classify(sock)
        assert (info.family, info.kind, info.protocol) == ("inet", "stream", "tcp")
        assert info.connected
        assert not info.listening
        assert info.address == sock.getsockname()
        assert info.is_tcp


def test_classify_ipv6_listener(keep: Closer) -> None:
    try:
        srv = _tcp_listener(keep, "::1")
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    info = classify(srv)
    assert (info.family, info.protocol, info.listening) == ("inet6", "tcp", True)
    assert info.is_tcp


def test_classify_udp(keep: Closer) -> None:
    udp = keep(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    udp.bind(("127.0.0.1", 0))
    info = classify(udp)
    assert (info.family, info.kind, info.protocol) == ("inet", "dgram", "udp")
    assert not info.listening
    assert not info.connected
    assert not info.is_tcp
    udp.connect(("127.0.0.1", 9))  # a connected UDP socket has a peer
    assert classify(udp).connected


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no AF_UNIX")
def test_classify_unix_stream_pair(keep: Closer) -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    keep(a), keep(b)
    info = classify(a)
    assert (info.family, info.kind, info.protocol) == ("unix", "stream", "unix")
    assert info.connected
    assert not info.listening
    assert not info.is_tcp
    assert info.is_unix


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no AF_UNIX")
def test_classify_unix_datagram_and_seqpacket(keep: Closer) -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    keep(a), keep(b)
    assert (classify(a).family, classify(a).kind) == ("unix", "dgram")
    lone = keep(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
    assert not classify(lone).connected
    if hasattr(socket, "SOCK_SEQPACKET"):
        c, d = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        keep(c), keep(d)
        assert classify(c).kind == "seqpacket"


@needs_mptcp
def test_classify_mptcp_listener(keep: Closer) -> None:
    srv = _tcp_listener(keep, proto=IPPROTO_MPTCP)
    info = classify(srv)
    assert (info.family, info.kind, info.protocol, info.listening) == (
        "inet",
        "stream",
        "mptcp",
        True,
    )
    assert info.is_tcp
    # Through a raw fd too: the kernel, not the Python object, says 262.
    fd = os.dup(srv.fileno())
    try:
        assert classify(fd).protocol == "mptcp"
    finally:
        os.close(fd)


def test_classify_raw_fd_does_not_take_ownership(keep: Closer) -> None:
    srv = _tcp_listener(keep)
    fd = os.dup(srv.fileno())
    try:
        info = classify(fd)
        assert (info.family, info.kind, info.protocol) == ("inet", "stream", "tcp")
        assert info.listening
        assert info.fd == fd
        assert info.address == srv.getsockname()
        # still open, still a socket, still usable after classify
        os.fstat(fd)
        assert classify(fd).listening
        adopted = keep(socket.socket(fileno=os.dup(fd)))
        assert adopted.getsockname() == srv.getsockname()
    finally:
        os.close(fd)


def test_classify_closed_fd_names_the_fd(keep: Closer) -> None:
    srv = _tcp_listener(keep)
    fd = os.dup(srv.fileno())
    os.close(fd)
    with pytest.raises(ValueError, match=rf"fd {fd} is not open"):
        classify(fd)


def test_classify_non_socket_fd_names_it_and_leaves_it_open() -> None:
    r, w = os.pipe()
    try:
        with pytest.raises(ValueError, match=rf"fd {r} is not a socket"):
            classify(r)
        os.fstat(r)  # not closed by the failed attempt
    finally:
        os.close(r)
        os.close(w)


def test_classify_rejects_other_input(keep: Closer) -> None:
    with pytest.raises(ValueError, match=r"fd -3"):
        classify(-3)
    with pytest.raises(ValueError, match=r"needs a socket or an int fd"):
        classify(True)
    with pytest.raises(ValueError, match=r"needs a socket or an int fd"):
        classify("3")  # type: ignore[arg-type]
    closed = socket.socket()
    closed.close()
    with pytest.raises(ValueError, match=r"closed"):
        classify(closed)


# --------------------------------------------------------------------------- set_nodelay


def test_set_nodelay_on_tcp(keep: Closer) -> None:
    client, conn = _tcp_pair(keep)
    for sock in (client, conn):
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        assert set_nodelay(sock) is True
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


@needs_mptcp
def test_set_nodelay_on_mptcp(keep: Closer) -> None:
    _, conn = _tcp_pair(keep, proto=IPPROTO_MPTCP, client_proto=IPPROTO_MPTCP)
    applied = set_nodelay(conn)
    # Recent kernels support it on MPTCP; older ones say EOPNOTSUPP -> False.
    assert applied == bool(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no AF_UNIX")
def test_set_nodelay_skips_unix_without_a_syscall(keep: Closer) -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    keep(b)
    # The kernel really refuses, which is why the function must not ask:
    with pytest.raises(OSError) as info:  # noqa: PT011 - errno checked below
        a.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    assert info.value.errno in (errno.EOPNOTSUPP, errno.ENOPROTOOPT, errno.EINVAL)
    strict = keep(NoSyscalls(socket.AF_UNIX, socket.SOCK_STREAM, 0, fileno=a.detach()))
    assert set_nodelay(strict) is False


def test_set_nodelay_skips_udp_without_a_syscall(keep: Closer) -> None:
    udp = keep(NoSyscalls(socket.AF_INET, socket.SOCK_DGRAM))
    assert set_nodelay(udp) is False


@pytest.mark.parametrize("code", [errno.EOPNOTSUPP, errno.EINVAL, errno.ENOPROTOOPT])
def test_set_nodelay_tolerates_not_applicable(keep: Closer, code: int) -> None:
    client, _ = _tcp_pair(keep)
    failing = keep(Failing(socket.AF_INET, socket.SOCK_STREAM, 0, fileno=client.detach()))
    failing.fail_errno = code
    assert set_nodelay(failing) is False


def test_set_nodelay_does_not_swallow_real_errors(keep: Closer) -> None:
    client, _ = _tcp_pair(keep)
    client.close()
    with pytest.raises(OSError) as info:  # noqa: PT011 - errno checked below
        set_nodelay(client)
    assert info.value.errno == errno.EBADF


# --------------------------------------------------------------------------- keepalive


@needs_linux
def test_enable_keepalive_applies_and_reports(keep: Closer) -> None:
    _, conn = _tcp_pair(keep)
    applied = enable_keepalive(conn, idle=31, interval=7, count=4)
    assert applied == {"SO_KEEPALIVE": 1, "TCP_KEEPIDLE": 31, "TCP_KEEPINTVL": 7, "TCP_KEEPCNT": 4}
    assert conn.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    assert conn.getsockopt(socket.IPPROTO_TCP, TCP_KEEPIDLE) == 31
    assert conn.getsockopt(socket.IPPROTO_TCP, TCP_KEEPINTVL) == 7
    assert conn.getsockopt(socket.IPPROTO_TCP, TCP_KEEPCNT) == 4


@needs_linux
@needs_mptcp
def test_enable_keepalive_on_mptcp_reports_only_what_the_kernel_took(keep: Closer) -> None:
    _, conn = _tcp_pair(keep, proto=IPPROTO_MPTCP, client_proto=IPPROTO_MPTCP)
    assert conn.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL) == IPPROTO_MPTCP
    applied = enable_keepalive(conn, idle=33, interval=8, count=5)
    for name, number, value in (
        ("TCP_KEEPIDLE", TCP_KEEPIDLE, 33),
        ("TCP_KEEPINTVL", TCP_KEEPINTVL, 8),
        ("TCP_KEEPCNT", TCP_KEEPCNT, 5),
    ):
        if name in applied:
            assert conn.getsockopt(socket.IPPROTO_TCP, number) == value


@needs_linux
def test_enable_keepalive_skips_an_option_the_kernel_rejects(keep: Closer) -> None:
    _, conn = _tcp_pair(keep)
    # Linux caps TCP_KEEPCNT at 127 and answers EINVAL above: skipped, not fatal.
    applied = enable_keepalive(conn, idle=40, interval=9, count=1000)
    assert applied == {"SO_KEEPALIVE": 1, "TCP_KEEPIDLE": 40, "TCP_KEEPINTVL": 9}
    assert conn.getsockopt(socket.IPPROTO_TCP, TCP_KEEPCNT) != 1000


def test_enable_keepalive_is_a_no_op_off_tcp(keep: Closer) -> None:
    udp = keep(NoSyscalls(socket.AF_INET, socket.SOCK_DGRAM))
    assert enable_keepalive(udp, idle=60, interval=10, count=5) == {}
    if hasattr(socket, "AF_UNIX"):
        unix = keep(NoSyscalls(socket.AF_UNIX, socket.SOCK_STREAM))
        assert enable_keepalive(unix, idle=60, interval=10, count=5) == {}


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"idle": 0, "interval": 10, "count": 5}, "idle"),
        ({"idle": -1, "interval": 10, "count": 5}, "idle"),
        ({"idle": 60, "interval": 1.5, "count": 5}, "interval"),
        ({"idle": 60, "interval": "10", "count": 5}, "interval"),
        ({"idle": 60, "interval": 10, "count": True}, "count"),
        ({"idle": 60, "interval": 10, "count": None}, "count"),
    ],
)
def test_enable_keepalive_rejects_bad_values(
    keep: Closer, kwargs: dict[str, Any], name: str
) -> None:
    _, conn = _tcp_pair(keep)
    with pytest.raises(ValueError, match=rf"^{name} must be a positive int"):
        enable_keepalive(conn, **kwargs)
    # validated before looking at the socket: a unix socket rejects them too
    udp = keep(NoSyscalls(socket.AF_INET, socket.SOCK_DGRAM))
    with pytest.raises(ValueError, match=rf"^{name} must be a positive int"):
        enable_keepalive(udp, **kwargs)


# --------------------------------------------------------------------------- tune_connection


@needs_linux
def test_tune_connection_tcp(keep: Closer) -> None:
    _, conn = _tcp_pair(keep)
    result = tune_connection(conn, keepalive=(50, 6, 3))
    assert result == {
        "protocol": "tcp",
        "TCP_NODELAY": True,
        "SO_KEEPALIVE": 1,
        "TCP_KEEPIDLE": 50,
        "TCP_KEEPINTVL": 6,
        "TCP_KEEPCNT": 3,
    }
    assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    assert conn.getsockopt(socket.IPPROTO_TCP, TCP_KEEPIDLE) == 50


def test_tune_connection_without_options(keep: Closer) -> None:
    _, conn = _tcp_pair(keep)
    assert tune_connection(conn, nodelay=False) == {"protocol": "tcp"}
    assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
    assert conn.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0


@needs_mptcp
def test_tune_connection_mptcp_listener_reports_each_connection_truthfully(
    keep: Closer,
) -> None:
    # An MPTCP client gets an MPTCP connection...
    _, mp_conn = _tcp_pair(keep, proto=IPPROTO_MPTCP, client_proto=IPPROTO_MPTCP)
    assert mp_conn.proto == IPPROTO_MPTCP
    assert tune_connection(mp_conn)["protocol"] == "mptcp"
    # ...a plain TCP client gets a plain TCP socket from the same kind of
    # listener, although Python copies the listener's proto (262) onto it.
    _, tcp_conn = _tcp_pair(keep, proto=IPPROTO_MPTCP, client_proto=0)
    assert tcp_conn.proto == IPPROTO_MPTCP
    assert tcp_conn.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL) == socket.IPPROTO_TCP
    result = tune_connection(tcp_conn)
    assert result == {"protocol": "tcp", "TCP_NODELAY": True}


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no AF_UNIX")
def test_tune_connection_unix_makes_no_syscalls(keep: Closer) -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    keep(b)
    strict = keep(NoSyscalls(socket.AF_UNIX, socket.SOCK_STREAM, 0, fileno=a.detach()))
    assert tune_connection(strict, keepalive=(60, 10, 5)) == {"protocol": "unix"}


def test_tune_connection_is_cheap(keep: Closer) -> None:
    _, conn = _tcp_pair(keep)
    counted = keep(Counting(socket.AF_INET, socket.SOCK_STREAM, 0, fileno=conn.detach()))
    counted.calls = []
    result = tune_connection(counted)
    assert result == {"protocol": "tcp", "TCP_NODELAY": True}
    assert counted.calls.count("getsockopt") <= 1
    assert "getpeername" not in counted.calls
    assert "getsockname" not in counted.calls
    assert counted.calls.count("setsockopt") == 1


@pytest.mark.parametrize(
    ("keepalive", "match"),
    [
        ((60, 10), r"keepalive must be \(idle, interval, count\)"),
        ([60, 10, 5], r"keepalive must be \(idle, interval, count\)"),
        ((60, 0, 5), r"keepalive interval must be a positive int"),
        ((60, 10, False), r"keepalive count must be a positive int"),
    ],
)
def test_tune_connection_rejects_bad_keepalive_on_any_socket(
    keep: Closer, keepalive: Any, match: str
) -> None:
    _, conn = _tcp_pair(keep)
    with pytest.raises(ValueError, match=match):
        tune_connection(conn, keepalive=keepalive)
    if hasattr(socket, "AF_UNIX"):
        unix = keep(NoSyscalls(socket.AF_UNIX, socket.SOCK_STREAM))
        with pytest.raises(ValueError, match=match):
            tune_connection(unix, keepalive=keepalive)


def test_public_names() -> None:
    assert set(sockets.__all__) >= {
        "classify",
        "enable_keepalive",
        "set_nodelay",
        "listen",
        "tune_connection",
        "SocketInfo",
    }
    assert getattr(socket, "IPPROTO_MPTCP", IPPROTO_MPTCP) == IPPROTO_MPTCP


def test_carries_sees_options_a_connection_inherited_from_its_listener() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        applied = sockets.tune_connection(listener, keepalive=(61, 16, 5))
        assert applied["protocol"] == "tcp"
        with socket.create_connection(listener.getsockname()):
            accepted, _ = listener.accept()
            with accepted:
                assert sockets.carries(accepted, applied) is LINUX
                accepted.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
                assert sockets.carries(accepted, applied) is False


def test_carries_is_false_for_what_cannot_be_read_back() -> None:
    with socket.socket() as sock:
        assert sockets.carries(sock, {"SIO_KEEPALIVE_VALS_TIME_MS": 1000}) is False
        assert sockets.carries(sock, {"protocol": "tcp"}) is True


def test_keepalive_values_beyond_a_c_int_are_a_value_error() -> None:
    with socket.socket() as sock, pytest.raises(ValueError, match="idle must be a positive int"):
        sockets.enable_keepalive(sock, idle=2**31, interval=15, count=4)

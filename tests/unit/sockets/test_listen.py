"""listen(): every address form, on real sockets (127.0.0.1, ::1, unix sockets in /tmp)."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import stat
import tempfile
import warnings
from typing import TYPE_CHECKING, Any

import pytest

from safeworkers.sockets import IPPROTO_MPTCP, MPTCPUnavailableError, classify, listen
from tests.markers import needs_mptcp, real_platform

#: Real sockets: the macOS CI job runs these there (tests/markers.py).
pytestmark = real_platform

if TYPE_CHECKING:
    from collections.abc import Iterator

HAS_UNIX = hasattr(socket, "AF_UNIX")
needs_unix = pytest.mark.skipif(not HAS_UNIX, reason="no AF_UNIX on this platform")


@pytest.fixture
def opened() -> Iterator[list[socket.socket]]:
    socks: list[socket.socket] = []
    yield socks
    for sock in socks:
        sock.close()


@pytest.fixture
def sockdir() -> Iterator[str]:
    # short: AF_UNIX paths are limited to ~104-108 bytes, pytest's tmp_path can be longer
    path = tempfile.mkdtemp(prefix="sw-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def roundtrip(listener: socket.socket) -> None:
    """A client connects, sends, and the accepted connection reads it."""
    family = listener.family
    client = socket.socket(family, socket.SOCK_STREAM)
    client.settimeout(5)
    try:
        client.connect(listener.getsockname())
        conn, _ = listener.accept()
        with conn:
            client.sendall(b"ping")
            assert conn.recv(4) == b"ping"
    finally:
        client.close()


# --------------------------------------------------------------------------- inet


def test_listen_ipv4(opened: list[socket.socket]) -> None:
    sock = listen("127.0.0.1:0")
    opened.append(sock)
    info = classify(sock)
    assert (info.family, info.kind, info.protocol, info.listening) == (
        "inet",
        "stream",
        "tcp",
        True,
    )
    assert info.address[0] == "127.0.0.1"
    assert info.address[1] > 0
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0
    roundtrip(sock)


def test_listen_ipv6(opened: list[socket.socket]) -> None:
    try:
        sock = listen("[::1]:0")
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    opened.append(sock)
    info = classify(sock)
    assert (info.family, info.protocol, info.listening) == ("inet6", "tcp", True)
    assert info.address[0] == "::1"
    roundtrip(sock)


def test_listen_tcp_prefix(opened: list[socket.socket]) -> None:
    sock = listen("tcp://127.0.0.1:0")
    opened.append(sock)
    assert sock.getsockname()[0] == "127.0.0.1"
    roundtrip(sock)


def test_listen_hostname(opened: list[socket.socket]) -> None:
    sock = listen("localhost:0")
    opened.append(sock)
    assert classify(sock).family in ("inet", "inet6")
    roundtrip(sock)


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT")
def test_listen_reuse_port(opened: list[socket.socket]) -> None:
    first = listen("127.0.0.1:0", reuse_port=True)
    opened.append(first)
    port = first.getsockname()[1]
    second = listen(f"127.0.0.1:{port}", reuse_port=True)
    opened.append(second)
    assert second.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) != 0


def test_listen_port_in_use_names_the_address(opened: list[socket.socket]) -> None:
    first = listen("127.0.0.1:0")
    opened.append(first)
    address = f"127.0.0.1:{first.getsockname()[1]}"
    with pytest.raises(OSError, match=rf"cannot listen on '{address}'") as info:
        listen(address)
    assert info.value.errno == errno.EADDRINUSE


@needs_mptcp
@pytest.mark.parametrize("address", ["127.0.0.1:0", "[::1]:0"])
def test_listen_mptcp(opened: list[socket.socket], address: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # where MPTCP works there is nothing to warn about
        try:
            sock = listen(address, mptcp=True, strict=True)
        except MPTCPUnavailableError:
            raise
        except OSError as exc:
            pytest.skip(f"{address} unavailable here: {exc}")
    opened.append(sock)
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL) == IPPROTO_MPTCP
    assert classify(sock).protocol == "mptcp"
    roundtrip(sock)  # a plain TCP client still connects (MPTCP falls back per connection)


# --------------------------------------------------------------------------- unix


@needs_unix
@pytest.mark.parametrize("prefix", ["unix:", "unix://"])
def test_listen_unix(opened: list[socket.socket], sockdir: str, prefix: str) -> None:
    path = os.path.join(sockdir, "app.sock")
    sock = listen(prefix + path)
    opened.append(sock)
    info = classify(sock)
    assert (info.family, info.kind, info.protocol, info.listening) == (
        "unix",
        "stream",
        "unix",
        True,
    )
    assert info.address == path
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    roundtrip(sock)


@needs_unix
@pytest.mark.parametrize("mode", [0o600, 0o660, 0o666])
def test_listen_unix_mode(opened: list[socket.socket], sockdir: str, mode: int) -> None:
    path = os.path.join(sockdir, "app.sock")
    old_umask = os.umask(0o077)  # the mode must win over a strict umask
    try:
        opened.append(listen(f"unix:{path}", mode=mode))
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.lstat(path).st_mode) == mode


@needs_unix
def test_listen_unix_removes_a_stale_socket(opened: list[socket.socket], sockdir: str) -> None:
    path = os.path.join(sockdir, "app.sock")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(path)
    dead.close()  # the file stays behind, nobody listens: a crashed previous run
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    sock = listen(f"unix:{path}")
    opened.append(sock)
    roundtrip(sock)


@needs_unix
def test_listen_unix_refuses_a_live_socket(opened: list[socket.socket], sockdir: str) -> None:
    path = os.path.join(sockdir, "app.sock")
    live = listen(f"unix:{path}")
    opened.append(live)
    with pytest.raises(OSError, match=r"another process is accepting") as info:
        listen(f"unix:{path}")
    assert info.value.errno == errno.EADDRINUSE
    assert path in str(info.value)
    # The liveness probe was a real connect(): the live server sees one
    # connection that closes without sending anything, then business as usual.
    probe, _ = live.accept()
    with probe:
        assert probe.recv(1) == b""
    roundtrip(live)  # the running listener kept its path


@needs_unix
def test_listen_unix_refuses_a_regular_file(sockdir: str) -> None:
    path = os.path.join(sockdir, "important.txt")
    with open(path, "w") as fh:
        fh.write("keep me")
    with pytest.raises(FileExistsError, match=r"is not a socket") as info:
        listen(f"unix:{path}")
    assert path in str(info.value)
    with open(path) as fh:
        assert fh.read() == "keep me"


@needs_unix
def test_listen_unix_refuses_a_directory_and_a_symlink(sockdir: str) -> None:
    directory = os.path.join(sockdir, "dir")
    os.mkdir(directory)
    with pytest.raises(FileExistsError, match=r"is not a socket"):
        listen(f"unix:{directory}")
    target = os.path.join(sockdir, "target")
    with open(target, "w"):
        pass
    link = os.path.join(sockdir, "link")
    os.symlink(target, link)
    with pytest.raises(FileExistsError, match=r"is not a socket"):
        listen(f"unix:{link}")
    assert os.path.exists(target)


# --------------------------------------------------------------------------- fd://


def test_listen_adopts_an_inherited_listener(opened: list[socket.socket]) -> None:
    original = listen("127.0.0.1:0")
    opened.append(original)
    fd = os.dup(original.fileno())
    adopted = listen(f"fd://{fd}")
    opened.append(adopted)
    assert adopted.fileno() == fd
    assert adopted.getsockname() == original.getsockname()
    roundtrip(adopted)


@needs_unix
def test_listen_adopts_an_inherited_unix_listener(
    opened: list[socket.socket], sockdir: str
) -> None:
    original = listen(f"unix:{os.path.join(sockdir, 'a.sock')}")
    opened.append(original)
    adopted = listen(f"fd://{os.dup(original.fileno())}")
    opened.append(adopted)
    assert classify(adopted).family == "unix"
    roundtrip(adopted)


def _refused(fd: int, *fragments: str) -> None:
    with pytest.raises(ValueError, match=rf"cannot adopt 'fd://{fd}'") as info:
        listen(f"fd://{fd}")
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    os.fstat(fd)  # a refused fd is left open for its owner


def test_listen_fd_refuses_a_connected_tcp_socket(opened: list[socket.socket]) -> None:
    srv = listen("127.0.0.1:0")
    opened.append(srv)
    client = socket.create_connection(srv.getsockname(), timeout=5)
    opened.append(client)
    _refused(client.fileno(), f"fd {client.fileno()} is a connected inet/stream (tcp)")


def test_listen_fd_refuses_udp(opened: list[socket.socket]) -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    opened.append(udp)
    udp.bind(("127.0.0.1", 0))
    _refused(udp.fileno(), "inet/dgram (udp)", "not a listening stream socket")


def test_listen_fd_refuses_a_bound_but_not_listening_socket(
    opened: list[socket.socket],
) -> None:
    sock = socket.socket()
    opened.append(sock)
    sock.bind(("127.0.0.1", 0))
    _refused(sock.fileno(), "idle inet/stream (tcp)", str(sock.getsockname()))


def test_listen_fd_refuses_non_sockets_and_closed_fds() -> None:
    r, w = os.pipe()
    try:
        _refused(r, f"fd {r} is not a socket")
    finally:
        os.close(r)
        os.close(w)
    fd = os.dup(1)
    os.close(fd)
    with pytest.raises(ValueError, match=rf"fd {fd} is not open"):
        listen(f"fd://{fd}")


@needs_mptcp
def test_listen_fd_strict_mptcp_checks_what_it_adopts(opened: list[socket.socket]) -> None:
    tcp = listen("127.0.0.1:0")
    opened.append(tcp)
    fd = os.dup(tcp.fileno())
    try:
        with pytest.raises(MPTCPUnavailableError, match=rf"fd {fd} .* is a tcp socket"):
            listen(f"fd://{fd}", mptcp=True, strict=True)
    finally:
        os.close(fd)
    mp = listen("127.0.0.1:0", mptcp=True, strict=True)
    opened.append(mp)
    adopted = listen(f"fd://{os.dup(mp.fileno())}", mptcp=True, strict=True)
    opened.append(adopted)
    assert classify(adopted).protocol == "mptcp"


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "address",
    [
        "",
        "8000",
        "127.0.0.1",
        ":8000",
        "127.0.0.1:",
        "127.0.0.1:http",
        "127.0.0.1:65536",
        "127.0.0.1:-1",
        "::1:8000",
        "[::1]8000",
        "[::1]:",
        "[127.0.0.1]:80",
        "[]:80",
        "unix:",
        "fd://",
        "fd://-1",
        "fd://three",
        "tcp://",
        "tcp://127.0.0.1",
        "tcp://[::1]",
    ],
)
def test_listen_rejects_bad_addresses(address: str) -> None:
    with pytest.raises(ValueError, match=r"bad listen address") as info:
        listen(address)
    message = str(info.value)
    assert repr(address) in message
    assert "'fd://N'" in message  # the accepted forms are listed


def test_listen_rejects_unresolvable_host() -> None:
    with pytest.raises(ValueError, match=r"cannot resolve 'no-such-host.invalid'"):
        listen("no-such-host.invalid:8000")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": 0o660}, r"mode=0o660 applies only to unix: addresses"),
        ({"mode": "660"}, r"mode must be a permission int"),
        ({"mode": True}, r"mode must be a permission int"),
        ({"mode": 0o10000}, r"mode must be a permission int"),
        ({"backlog": -1}, r"backlog must be a non-negative int"),
    ],
)
def test_listen_rejects_bad_options(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        listen("127.0.0.1:0", **kwargs)


def test_listen_rejects_non_str() -> None:
    with pytest.raises(ValueError, match=r"must be a str"):
        listen(("127.0.0.1", 0))  # type: ignore[arg-type]

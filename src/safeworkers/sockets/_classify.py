"""What a socket is, asked of the kernel: :func:`classify` and :class:`SocketInfo`.

A socket inherited as a bare file descriptor (systemd socket activation,
``fd://N``) is of unknown family, type and state until someone asks.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from dataclasses import dataclass
from typing import Any

from safeworkers.sockets._platform import IPPROTO_MPTCP, Family, Kind, Protocol, const


@dataclass(frozen=True)
class SocketInfo:
    """What the kernel says a socket is. Built by :func:`classify`."""

    family: Family
    kind: Kind
    protocol: Protocol
    #: ``SO_ACCEPTCONN``; False where the platform cannot tell.
    listening: bool
    #: ``getpeername()`` succeeded (also True for a connected UDP socket).
    connected: bool
    #: ``getsockname()`` as Python returns it (tuple, str or bytes), or None.
    address: Any
    fd: int

    @property
    def is_tcp(self) -> bool:
        """TCP or MPTCP over IPv4/IPv6: the sockets TCP options apply to."""
        return (
            self.family in ("inet", "inet6")
            and self.kind == "stream"
            and self.protocol in ("tcp", "mptcp")
        )

    @property
    def is_unix(self) -> bool:
        return self.family == "unix"


def _family_name(family: int) -> Family:
    if family == socket.AF_INET:
        return "inet"
    if family == const("AF_INET6"):
        return "inet6"
    if family == const("AF_UNIX"):
        return "unix"
    return "other"


def _kind_name(kind: int) -> Kind:
    kinds: tuple[tuple[str, Kind], ...] = (
        ("SOCK_STREAM", "stream"),
        ("SOCK_DGRAM", "dgram"),
        ("SOCK_SEQPACKET", "seqpacket"),
        ("SOCK_RAW", "raw"),
    )
    for name, label in kinds:
        if kind == const(name):
            return label
    return "other"


def _protocol_name(family: Family, kind: Kind, proto: int) -> Protocol:
    if family == "unix":
        return "unix"
    if family in ("inet", "inet6"):
        if kind == "stream" and proto == IPPROTO_MPTCP:
            return "mptcp"
        if kind == "stream" and proto in (0, socket.IPPROTO_TCP):
            return "tcp"
        if kind == "dgram" and proto in (0, socket.IPPROTO_UDP):
            return "udp"
    return "other"


def classify(sock_or_fd: socket.socket | int) -> SocketInfo:
    """Ask the kernel what a socket (object or raw fd) is.

    A raw int fd is inspected through a temporary ``socket.socket(fileno=fd)``
    that is ``detach()``-ed afterwards, so the fd is never closed or owned:
    callers such as ``listen("fd://N")`` decide what to do with it after.
    Python's ``socket(fileno=)`` already reads ``SO_DOMAIN``/``SO_TYPE``/
    ``SO_PROTOCOL`` where they exist, which is how an inherited fd of unknown
    provenance becomes known. Raises ValueError naming the fd when it is
    closed, not a socket, or not an fd at all.
    """
    if isinstance(sock_or_fd, int) and not isinstance(sock_or_fd, bool):
        fd = sock_or_fd
        if fd < 0:
            raise ValueError(f"fd {fd} is not a valid file descriptor (negative)")
        try:
            tmp = socket.socket(fileno=fd)
        except OSError as exc:
            what = "is not open" if exc.errno == errno.EBADF else "is not a socket"
            raise ValueError(f"fd {fd} {what}: {exc.strerror or exc}") from exc
        try:
            return _classify(tmp, fd)
        finally:
            tmp.detach()
    if isinstance(sock_or_fd, bool) or not hasattr(sock_or_fd, "fileno"):
        raise ValueError(f"classify() needs a socket or an int fd, got {sock_or_fd!r}")
    fd = sock_or_fd.fileno()
    if fd < 0:
        raise ValueError(f"socket {sock_or_fd!r} is closed (fd -1)")
    return _classify(sock_or_fd, fd)


def _classify(sock: socket.socket, fd: int) -> SocketInfo:
    family = _family_name(sock.family)
    kind = _kind_name(sock.type)
    proto = sock.proto
    so_protocol = const("SO_PROTOCOL")
    if so_protocol is not None:
        # The object's .proto is what it was *created* with (often 0);
        # the kernel knows the real one (6, 17, 262).
        with contextlib.suppress(OSError):
            proto = sock.getsockopt(socket.SOL_SOCKET, so_protocol)
    listening = False
    so_acceptconn = const("SO_ACCEPTCONN")
    if so_acceptconn is not None and kind in ("stream", "seqpacket"):
        with contextlib.suppress(OSError):
            listening = bool(sock.getsockopt(socket.SOL_SOCKET, so_acceptconn))
    try:
        sock.getpeername()
        connected = True
    except OSError:
        connected = False
    try:
        address: Any = sock.getsockname()
    except OSError:
        address = None
    return SocketInfo(
        family=family,
        kind=kind,
        protocol=_protocol_name(family, kind, proto),
        listening=listening,
        connected=connected,
        address=address,
        fd=fd,
    )

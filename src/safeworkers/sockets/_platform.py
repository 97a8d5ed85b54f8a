"""What the platform's ``socket`` module and kernel offer, looked up at call time.

Shared by :mod:`safeworkers.sockets`' modules: constants that may be missing
from a build (``const``), the errno values that mean "this option does not
apply here" rather than "something is broken", and argument checks.
"""

from __future__ import annotations

import errno
import socket
from typing import Literal

#: Linux's protocol number for MPTCP; ``socket.IPPROTO_MPTCP`` only exists on
#: Python >= 3.10 built against recent headers, the number never changes.
IPPROTO_MPTCP = 262
#: macOS's ``TCP_KEEPALIVE`` (idle seconds before the first probe), from
#: ``<netinet/tcp.h>``; used when the ``socket`` module does not export it.
DARWIN_TCP_KEEPALIVE = 0x10

Family = Literal["inet", "inet6", "unix", "other"]
Kind = Literal["stream", "dgram", "seqpacket", "raw", "other"]
Protocol = Literal["tcp", "mptcp", "udp", "unix", "other"]

#: errno values meaning "this option/protocol does not apply to this socket
#: here" rather than "something is broken": skip, do not crash.
_NOT_APPLICABLE = frozenset(
    {errno.EINVAL, errno.ENOPROTOOPT, errno.EOPNOTSUPP, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}
)
#: Winsock's spelling of the same (WSAEINVAL, WSAENOPROTOOPT, WSAEOPNOTSUPP);
#: on Windows ``OSError.winerror`` carries them.
_NOT_APPLICABLE_WIN = frozenset({10022, 10042, 10045})


def const(name: str) -> int | None:
    """A ``socket`` constant looked up now, so a build (or a test) lacking it is seen."""
    value = getattr(socket, name, None)
    return value if isinstance(value, int) else None


def not_applicable(exc: OSError) -> bool:
    return exc.errno in _NOT_APPLICABLE or getattr(exc, "winerror", None) in _NOT_APPLICABLE_WIN


def inet_stream(sock: socket.socket) -> bool:
    """TCP-ish by the socket object's own attributes: no system call."""
    return sock.family in (socket.AF_INET, const("AF_INET6")) and sock.type == socket.SOCK_STREAM


#: setsockopt takes a C int: larger values raise TypeError/OverflowError, not OSError.
_C_INT_MAX = 2**31 - 1


def check_positive(name: str, value: object) -> int:
    # bool is an int subclass; keepalive(idle=True) is a bug, not 1 second.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _C_INT_MAX:
        raise ValueError(
            f"{name} must be a positive int (seconds/probes) below 2**31, got {value!r}"
        )
    return value

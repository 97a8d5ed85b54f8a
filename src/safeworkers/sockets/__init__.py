"""Platform- and transport-safe sockets: classify, tune and create listeners.

Socket options are not portable. The TCP keepalive knobs are
``TCP_KEEPIDLE``/``TCP_KEEPINTVL``/``TCP_KEEPCNT`` on Linux and the BSDs,
``TCP_KEEPALIVE`` (0x10) for the idle time on macOS, and the
``SIO_KEEPALIVE_VALS`` ioctl on Windows; any of them may be missing from the
``socket`` module of a given build. ``TCP_NODELAY`` means nothing on
``AF_UNIX`` (the kernel answers ``EOPNOTSUPP``). MPTCP (``IPPROTO_MPTCP``,
262) exists only on Linux >= 5.6 with ``net.mptcp.enabled=1``. And a socket
inherited as a bare file descriptor (systemd socket activation, ``fd://N``)
is of unknown family, type and state until someone asks the kernel.

Everything here therefore looks constants up on the ``socket`` module *at call
time* (``getattr``, never ``socket.X`` at import), treats "this option does
not apply here" (``EINVAL``/``ENOPROTOOPT``/``EOPNOTSUPP``) as "skip it", and
reports what it actually applied, so callers can log facts instead of hopes.

Modules, each on one concern: ``_classify`` (what a socket is),
``_options`` (keepalive, nodelay, what a connection carries), ``_listen``
(creating and adopting listeners), ``_platform`` (the constants and errno
values they share). Import from here. Every worker imports this package at
boot and tunes with ``_options`` only: ``classify`` and ``listen`` (a dataclass
and more) are imported when first asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from safeworkers.sockets._options import carries, enable_keepalive, set_nodelay, tune_connection
from safeworkers.sockets._platform import IPPROTO_MPTCP

if TYPE_CHECKING:
    from safeworkers.sockets._classify import SocketInfo, classify
    from safeworkers.sockets._listen import MPTCPUnavailableError, listen

__all__ = [
    "IPPROTO_MPTCP",
    "MPTCPUnavailableError",
    "SocketInfo",
    "carries",
    "classify",
    "enable_keepalive",
    "listen",
    "set_nodelay",
    "tune_connection",
]


#: name -> the module that defines it, imported on first use (PEP 562).
_LAZY = {
    "SocketInfo": "safeworkers.sockets._classify",
    "classify": "safeworkers.sockets._classify",
    "MPTCPUnavailableError": "safeworkers.sockets._listen",
    "listen": "safeworkers.sockets._listen",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

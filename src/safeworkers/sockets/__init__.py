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
values they share). Import from here.
"""

from __future__ import annotations

from safeworkers.sockets._classify import SocketInfo, classify
from safeworkers.sockets._listen import MPTCPUnavailableError, listen
from safeworkers.sockets._options import carries, enable_keepalive, set_nodelay, tune_connection
from safeworkers.sockets._platform import IPPROTO_MPTCP

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

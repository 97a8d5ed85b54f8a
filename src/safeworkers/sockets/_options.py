"""Connection options, per platform and transport: keepalive, ``TCP_NODELAY``, and
whether a connection already carries what its listener was given.

Keepalive's knobs are ``TCP_KEEPIDLE``/``TCP_KEEPINTVL``/``TCP_KEEPCNT`` on
Linux and the BSDs, ``TCP_KEEPALIVE`` (0x10) for the idle time on macOS and
the ``SIO_KEEPALIVE_VALS`` ioctl on Windows; ``TCP_NODELAY`` means nothing on
``AF_UNIX``. Every function reports what it applied and skips what does not
apply, instead of raising.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Mapping

from safeworkers.sockets._platform import (
    DARWIN_TCP_KEEPALIVE,
    IPPROTO_MPTCP,
    check_positive,
    const,
    inet_stream,
    not_applicable,
)


def _try_setsockopt(sock: socket.socket, level: int, option: int, value: int) -> bool:
    try:
        sock.setsockopt(level, option, value)
    except OSError as exc:
        if not_applicable(exc):
            return False
        raise
    return True


def enable_keepalive(
    sock: socket.socket, *, idle: int, interval: int, count: int
) -> dict[str, int]:
    """Turn on TCP keepalive with the given timings; return what was applied.

    ``idle`` seconds of silence before the first probe, then a probe every
    ``interval`` seconds, and the peer is declared dead after ``count``
    unanswered probes. Without this, a peer that vanished (NAT timeout,
    pulled cable) holds a worker's connection for the OS default of ~2 hours.

    Per platform (constants looked up when called, each skipped if absent):

    - Linux, FreeBSD, ...: ``SO_KEEPALIVE`` + ``TCP_KEEPIDLE``/``TCP_KEEPINTVL``/
      ``TCP_KEEPCNT``.
    - macOS: no ``TCP_KEEPIDLE``; the idle time is ``TCP_KEEPALIVE`` (0x10),
      plus ``TCP_KEEPINTVL``/``TCP_KEEPCNT`` where exported.
    - Windows: ``sock.ioctl(SIO_KEEPALIVE_VALS, (1, idle_ms, interval_ms))``,
      which works on every Windows version (the setsockopt knobs need Windows
      10 1709+); ``TCP_KEEPCNT`` via setsockopt where present.

    A no-op returning ``{}`` on non-TCP sockets (AF_UNIX, UDP). An option the
    kernel refuses with EINVAL/ENOPROTOOPT/EOPNOTSUPP (e.g. MPTCP on kernels
    older than 6.6, out-of-range values) is left out of the result. Bad
    arguments raise ValueError naming the argument; never AttributeError.
    """
    idle = check_positive("idle", idle)
    interval = check_positive("interval", interval)
    count = check_positive("count", count)
    if not inet_stream(sock):
        return {}
    applied: dict[str, int] = {}
    so_keepalive = const("SO_KEEPALIVE")
    if so_keepalive is not None and _try_setsockopt(sock, socket.SOL_SOCKET, so_keepalive, 1):
        applied["SO_KEEPALIVE"] = 1

    options: list[tuple[str, int | None, int]] = []
    sio = const("SIO_KEEPALIVE_VALS")
    ioctl = getattr(sock, "ioctl", None)
    if sio is not None and ioctl is not None:
        try:
            ioctl(sio, (1, idle * 1000, interval * 1000))
        except OSError as exc:
            if not not_applicable(exc):
                raise
        else:
            applied["SIO_KEEPALIVE_VALS_TIME_MS"] = idle * 1000
            applied["SIO_KEEPALIVE_VALS_INTERVAL_MS"] = interval * 1000
    else:
        keepidle = const("TCP_KEEPIDLE")
        if keepidle is not None:
            options.append(("TCP_KEEPIDLE", keepidle, idle))
        elif sys.platform == "darwin":
            options.append(("TCP_KEEPALIVE", const("TCP_KEEPALIVE") or DARWIN_TCP_KEEPALIVE, idle))
        options.append(("TCP_KEEPINTVL", const("TCP_KEEPINTVL"), interval))
    options.append(("TCP_KEEPCNT", const("TCP_KEEPCNT"), count))

    level = socket.IPPROTO_TCP
    for name, option, value in options:
        if option is not None and _try_setsockopt(sock, level, option, value):
            applied[name] = value
    return applied


def set_nodelay(sock: socket.socket) -> bool:
    """Disable Nagle's algorithm (``TCP_NODELAY``); return whether it applied.

    Only TCP/MPTCP sockets have it. On ``AF_UNIX`` the kernel answers
    ``EOPNOTSUPP``, which is how Twisted 24.10.0 broke every HTTP server
    behind a unix socket (twisted/twisted#12365), so non-TCP sockets return
    False from the object's own family/type, without a system call. EINVAL
    (macOS, when the peer already reset the connection), ENOPROTOOPT and
    EOPNOTSUPP (MPTCP on old kernels) also return False: nodelay is a latency
    optimisation, never worth failing a request over.
    """
    nodelay = const("TCP_NODELAY")
    if nodelay is None or not inet_stream(sock):
        return False
    return _try_setsockopt(sock, socket.IPPROTO_TCP, nodelay, 1)


def tune_connection(
    sock: socket.socket,
    *,
    nodelay: bool = True,
    keepalive: tuple[int, int, int] | None = None,
) -> dict[str, object]:
    """Tune one accepted connection for what it is; return what was applied.

    Called by the workers on every accepted connection, so it stays cheap:
    family and type come from the socket object, and the protocol from
    ``sock.proto`` plus at most one ``getsockopt(SO_PROTOCOL)``. Python gives
    an accepted socket its *listener's* ``proto``, but an MPTCP listener hands
    plain TCP clients a plain TCP socket (the kernel reports 6 for those), so
    262 and 0 are checked with the kernel; 6 is trusted as is. TCP_NODELAY
    and keepalive (``(idle, interval, count)``) go to TCP/MPTCP only; a unix
    connection gets nothing, because nothing applies. Keepalive values are
    validated even then, so a misconfiguration shows up on the first
    connection of any kind.

    Result: ``{"protocol": "tcp"|"mptcp"|"unix"|"other", "TCP_NODELAY": True,
    "SO_KEEPALIVE": 1, "TCP_KEEPIDLE": 60, ...}``.
    """
    if keepalive is not None:
        if not isinstance(keepalive, tuple) or len(keepalive) != 3:
            raise ValueError(f"keepalive must be (idle, interval, count), got {keepalive!r}")
        for name, value in zip(("idle", "interval", "count"), keepalive, strict=True):
            check_positive(f"keepalive {name}", value)
    result: dict[str, object] = {}
    if not inet_stream(sock):
        result["protocol"] = "unix" if sock.family == const("AF_UNIX") else "other"
        return result
    proto = sock.proto
    so_protocol = const("SO_PROTOCOL")
    if proto != socket.IPPROTO_TCP and so_protocol is not None:
        with contextlib.suppress(OSError):
            proto = sock.getsockopt(socket.SOL_SOCKET, so_protocol)
    if proto == IPPROTO_MPTCP:
        result["protocol"] = "mptcp"
    elif proto in (0, socket.IPPROTO_TCP):
        result["protocol"] = "tcp"
    else:  # SCTP or something else stream-shaped: TCP options do not apply
        result["protocol"] = "other"
        return result
    if nodelay and set_nodelay(sock):
        result["TCP_NODELAY"] = True
    if keepalive is not None:
        idle, interval, count = keepalive
        result.update(enable_keepalive(sock, idle=idle, interval=interval, count=count))
    return result


#: Options ``tune_connection`` reports that can be read back: name -> level.
_READABLE_LEVELS = {
    "TCP_NODELAY": "IPPROTO_TCP",
    "SO_KEEPALIVE": "SOL_SOCKET",
    "TCP_KEEPIDLE": "IPPROTO_TCP",
    "TCP_KEEPALIVE": "IPPROTO_TCP",
    "TCP_KEEPINTVL": "IPPROTO_TCP",
    "TCP_KEEPCNT": "IPPROTO_TCP",
}


def carries(sock: socket.socket, applied: Mapping[str, object]) -> bool:
    """Whether ``sock`` already has every option in ``applied``.

    ``applied`` is what :func:`tune_connection` returned for a listener.
    Linux copies a listener's options onto each connection it accepts; a
    worker that tuned its listeners checks the first connection with this,
    and when the options came along it can skip tuning the rest. Anything
    that cannot be read back (Windows' ``SIO_KEEPALIVE_VALS``), or a read
    that fails, answers False: then every connection is tuned as before.
    """
    for name, value in applied.items():
        if name == "protocol":
            continue
        level_name = _READABLE_LEVELS.get(name)
        option = const(name)
        if option is None and name == "TCP_KEEPALIVE":  # macOS' idle knob, as applied
            option = DARWIN_TCP_KEEPALIVE
        if level_name is None or option is None:
            return False
        try:
            current = sock.getsockopt(getattr(socket, level_name), option)
        except OSError:
            return False
        if value is True:
            if not current:
                return False
        elif current != value:
            return False
    return True

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
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "IPPROTO_MPTCP",
    "MPTCPUnavailableError",
    "SocketInfo",
    "classify",
    "enable_keepalive",
    "listen",
    "set_nodelay",
    "tune_connection",
]

#: Linux's protocol number for MPTCP; ``socket.IPPROTO_MPTCP`` only exists on
#: Python >= 3.10 built against recent headers, the number never changes.
IPPROTO_MPTCP = 262
#: macOS's ``TCP_KEEPALIVE`` (idle seconds before the first probe), from
#: ``<netinet/tcp.h>``; used when the ``socket`` module does not export it.
_DARWIN_TCP_KEEPALIVE = 0x10

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
#: socket(..., IPPROTO_MPTCP) refused: old kernel, non-Linux, or
#: net.mptcp.enabled=0 (ENOPROTOOPT). WSAEPROTONOSUPPORT on Windows.
_MPTCP_REFUSED = frozenset({errno.EPROTONOSUPPORT, errno.ENOPROTOOPT, errno.EINVAL})
_MPTCP_REFUSED_WIN = frozenset({10022, 10042, 10043})

_ADDRESS_FORMS = "'HOST:PORT', '[IPV6]:PORT', 'unix:/PATH' or 'fd://N'"

_mptcp_warned = False


class MPTCPUnavailableError(OSError):
    """``listen(..., mptcp=True, strict=True)`` and the kernel refused MPTCP."""


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


# --------------------------------------------------------------------------- helpers


def _const(name: str) -> int | None:
    """A ``socket`` constant looked up now, so a build (or a test) lacking it is seen."""
    value = getattr(socket, name, None)
    return value if isinstance(value, int) else None


def _not_applicable(exc: OSError) -> bool:
    return exc.errno in _NOT_APPLICABLE or getattr(exc, "winerror", None) in _NOT_APPLICABLE_WIN


def _family_name(family: int) -> Family:
    if family == socket.AF_INET:
        return "inet"
    if family == _const("AF_INET6"):
        return "inet6"
    if family == _const("AF_UNIX"):
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
        if kind == _const(name):
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


def _inet_stream(sock: socket.socket) -> bool:
    """TCP-ish by the socket object's own attributes: no system call."""
    return sock.family in (socket.AF_INET, _const("AF_INET6")) and sock.type == socket.SOCK_STREAM


#: setsockopt takes a C int: larger values raise TypeError/OverflowError, not OSError.
_C_INT_MAX = 2**31 - 1


def _check_positive(name: str, value: object) -> int:
    # bool is an int subclass; keepalive(idle=True) is a bug, not 1 second.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _C_INT_MAX:
        raise ValueError(
            f"{name} must be a positive int (seconds/probes) below 2**31, got {value!r}"
        )
    return value


# --------------------------------------------------------------------------- classify


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
    so_protocol = _const("SO_PROTOCOL")
    if so_protocol is not None:
        # The object's .proto is what it was *created* with (often 0);
        # the kernel knows the real one (6, 17, 262).
        with contextlib.suppress(OSError):
            proto = sock.getsockopt(socket.SOL_SOCKET, so_protocol)
    listening = False
    so_acceptconn = _const("SO_ACCEPTCONN")
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


# --------------------------------------------------------------------------- options


def _try_setsockopt(sock: socket.socket, level: int, option: int, value: int) -> bool:
    try:
        sock.setsockopt(level, option, value)
    except OSError as exc:
        if _not_applicable(exc):
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
    idle = _check_positive("idle", idle)
    interval = _check_positive("interval", interval)
    count = _check_positive("count", count)
    if not _inet_stream(sock):
        return {}
    applied: dict[str, int] = {}
    so_keepalive = _const("SO_KEEPALIVE")
    if so_keepalive is not None and _try_setsockopt(sock, socket.SOL_SOCKET, so_keepalive, 1):
        applied["SO_KEEPALIVE"] = 1

    options: list[tuple[str, int | None, int]] = []
    sio = _const("SIO_KEEPALIVE_VALS")
    ioctl = getattr(sock, "ioctl", None)
    if sio is not None and ioctl is not None:
        try:
            ioctl(sio, (1, idle * 1000, interval * 1000))
        except OSError as exc:
            if not _not_applicable(exc):
                raise
        else:
            applied["SIO_KEEPALIVE_VALS_TIME_MS"] = idle * 1000
            applied["SIO_KEEPALIVE_VALS_INTERVAL_MS"] = interval * 1000
    else:
        keepidle = _const("TCP_KEEPIDLE")
        if keepidle is not None:
            options.append(("TCP_KEEPIDLE", keepidle, idle))
        elif sys.platform == "darwin":
            options.append(
                ("TCP_KEEPALIVE", _const("TCP_KEEPALIVE") or _DARWIN_TCP_KEEPALIVE, idle)
            )
        options.append(("TCP_KEEPINTVL", _const("TCP_KEEPINTVL"), interval))
    options.append(("TCP_KEEPCNT", _const("TCP_KEEPCNT"), count))

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
    nodelay = _const("TCP_NODELAY")
    if nodelay is None or not _inet_stream(sock):
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
            _check_positive(f"keepalive {name}", value)
    result: dict[str, object] = {}
    if not _inet_stream(sock):
        result["protocol"] = "unix" if sock.family == _const("AF_UNIX") else "other"
        return result
    proto = sock.proto
    so_protocol = _const("SO_PROTOCOL")
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
        option = _const(name)
        if option is None and name == "TCP_KEEPALIVE":  # macOS' idle knob, as applied
            option = _DARWIN_TCP_KEEPALIVE
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


# --------------------------------------------------------------------------- listen


def listen(
    address: str,
    *,
    mptcp: bool = False,
    strict: bool = False,
    backlog: int = 2048,
    reuse_port: bool = False,
    mode: int | None = None,
) -> socket.socket:
    """Create (or adopt) a listening stream socket for a gunicorn-style address.

    Accepted forms: ``"HOST:PORT"`` (IPv4 literal or a name resolved with
    ``getaddrinfo``), ``"[IPV6]:PORT"`` (both also with gunicorn's optional
    ``tcp://`` prefix), ``"unix:/PATH"`` (or ``unix://PATH``) and ``"fd://N"``.
    The port is required: a silent default would hide a typo.

    - inet: ``SO_REUSEADDR`` as gunicorn sets it (restart without waiting out
      TIME_WAIT; not on Windows, where it means "share the port with anyone"),
      ``SO_REUSEPORT`` if ``reuse_port``. With ``mptcp=True`` the
      socket is created with protocol 262; if the kernel refuses (non-Linux,
      Linux < 5.6, ``net.mptcp.enabled=0``) it falls back to TCP with one
      RuntimeWarning per process, or raises MPTCPUnavailableError if
      ``strict``. MPTCP is a drop-in: plain TCP clients still connect.
    - unix: a leftover socket file at the path is removed only if it is a
      socket *and* nobody accepts connections on it; anything else there (a
      regular file, a live server) is an error naming the path, never
      clobbered. ``mode`` is applied between ``bind`` and ``listen``, before
      any client can connect. ``mptcp``/``reuse_port`` do not apply and are
      ignored.
    - fd: adopts an inherited fd (systemd, or a parent that created the
      listener, see docs/sockets.md) after :func:`classify` confirms it is a
      listening stream socket. The socket is used as it is (``backlog`` and
      ``reuse_port`` are ignored); with ``mptcp=True, strict=True`` it must
      already be MPTCP.

    ``mode`` on a non-unix address is a ValueError rather than silently
    ignored, since it is about who may connect.
    """
    if not isinstance(address, str):
        raise ValueError(f"listen address must be a str, one of {_ADDRESS_FORMS}; got {address!r}")
    if mode is not None and (
        isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o7777
    ):
        raise ValueError(f"mode must be a permission int such as 0o660, got {mode!r}")
    if isinstance(backlog, bool) or not isinstance(backlog, int) or backlog < 0:
        raise ValueError(f"backlog must be a non-negative int, got {backlog!r}")
    is_unix = address.startswith("unix:")
    if mode is not None and not is_unix:
        raise ValueError(f"mode={mode:#o} applies only to unix: addresses, not {address!r}")
    if address.startswith("fd://"):
        return _adopt_fd(address, mptcp=mptcp, strict=strict)
    if is_unix:
        return _listen_unix(address, backlog=backlog, mode=mode)
    family, sockaddr = _parse_inet(address, address.removeprefix("tcp://"))
    sock = _inet_socket(family, address, mptcp=mptcp, strict=strict)
    try:
        if sys.platform != "win32":  # there it would let others bind the same port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            so_reuseport = _const("SO_REUSEPORT")
            if so_reuseport is None:
                raise ValueError(
                    f"reuse_port=True but this platform has no SO_REUSEPORT ({address!r})"
                )
            sock.setsockopt(socket.SOL_SOCKET, so_reuseport, 1)
        sock.bind(sockaddr)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {address!r}: {exc.strerror or exc}") from exc
    except BaseException:
        sock.close()
        raise
    return sock


def _bad_address(address: str, why: str) -> ValueError:
    return ValueError(f"bad listen address {address!r}: {why}; expected {_ADDRESS_FORMS}")


def _parse_port(address: str, text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise _bad_address(address, f"port {text!r} is not an integer 0-65535")
    return int(text)


def _parse_inet(address: str, hostport: str) -> tuple[int, tuple[Any, ...]]:
    if hostport.startswith("["):
        host, sep, rest = hostport[1:].partition("]")
        if not sep or not rest.startswith(":") or not host:
            raise _bad_address(address, "an IPv6 address needs the form [IPV6]:PORT")
        port = _parse_port(address, rest[1:])
        try:
            socket.inet_pton(socket.AF_INET6, host.split("%", 1)[0])
        except (OSError, ValueError):
            raise _bad_address(address, f"{host!r} is not an IPv6 address") from None
        infos = socket.getaddrinfo(host, port, socket.AF_INET6, socket.SOCK_STREAM)
        return socket.AF_INET6, infos[0][4]
    host, sep, port_text = hostport.rpartition(":")
    if not sep or not host:
        raise _bad_address(address, "missing HOST or PORT")
    if ":" in host:
        raise _bad_address(address, "IPv6 addresses must be bracketed")
    port = _parse_port(address, port_text)
    try:
        infos = socket.getaddrinfo(
            host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
        )
    except (OSError, UnicodeError) as exc:
        raise _bad_address(address, f"cannot resolve {host!r} ({exc})") from None
    family, _, _, _, sockaddr = infos[0]
    return int(family), sockaddr


def _new_socket(family: int, address: str, proto: int = 0) -> socket.socket:
    try:
        return socket.socket(family, socket.SOCK_STREAM, proto)
    except OSError as exc:
        if proto == IPPROTO_MPTCP:
            raise
        raise OSError(exc.errno, f"cannot listen on {address!r}: {exc.strerror or exc}") from exc


def _inet_socket(family: int, address: str, *, mptcp: bool, strict: bool) -> socket.socket:
    global _mptcp_warned
    if not mptcp:
        return _new_socket(family, address)
    try:
        return _new_socket(family, address, IPPROTO_MPTCP)
    except OSError as exc:
        refused = exc.errno in _MPTCP_REFUSED or (
            getattr(exc, "winerror", None) in _MPTCP_REFUSED_WIN
        )
        if not refused:
            raise OSError(
                exc.errno, f"cannot listen on {address!r}: {exc.strerror or exc}"
            ) from exc
        why = (
            f"the kernel refused IPPROTO_MPTCP (262) for {address!r}: {exc.strerror or exc}. "
            "MPTCP needs Linux >= 5.6 with `sysctl net.mptcp.enabled=1`"
        )
        if strict:
            raise MPTCPUnavailableError(
                exc.errno, f"{why}; strict=True, so not falling back to TCP"
            ) from exc
        if not _mptcp_warned:
            _mptcp_warned = True
            warnings.warn(
                f"{why}; falling back to plain TCP (warned once per process)",
                RuntimeWarning,
                stacklevel=3,  # the caller of listen()
            )
    return _new_socket(family, address)


def _listen_unix(address: str, *, backlog: int, mode: int | None) -> socket.socket:
    af_unix = _const("AF_UNIX")
    if af_unix is None:
        raise ValueError(f"cannot listen on {address!r}: this platform has no AF_UNIX")
    path = address[len("unix://") :] if address.startswith("unix://") else address[len("unix:") :]
    if not path:
        raise _bad_address(address, "empty unix socket path")
    _remove_stale_unix_socket(path, af_unix)
    sock = socket.socket(af_unix, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        if mode is not None:
            os.chmod(path, mode)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {address!r}: {exc.strerror or exc}") from exc
    return sock


def _remove_stale_unix_socket(path: str, af_unix: int) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise FileExistsError(
            errno.EEXIST,
            f"refusing to listen on unix socket {path!r}: the path exists and is not a "
            "socket (remove it yourself if that is intended)",
            path,
        )
    # Only ECONNREFUSED proves the file is a leftover; a live server (or one
    # too busy to answer within the timeout) must not lose its path to us.
    probe = socket.socket(af_unix, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)  # nobody listening: a leftover from a previous run
        return
    except OSError as exc:
        raise OSError(
            exc.errno or errno.EADDRINUSE,
            f"refusing to listen on unix socket {path!r}: cannot tell whether it is still "
            f"in use ({exc})",
            path,
        ) from exc
    finally:
        probe.close()
    raise OSError(
        errno.EADDRINUSE,
        f"refusing to listen on unix socket {path!r}: another process is accepting "
        "connections on it",
        path,
    )


def _adopt_fd(address: str, *, mptcp: bool, strict: bool) -> socket.socket:
    text = address[len("fd://") :]
    if not text.isdigit():
        raise _bad_address(address, f"{text!r} is not a file descriptor number")
    fd = int(text)
    try:
        info = classify(fd)
    except ValueError as exc:
        raise ValueError(f"cannot adopt {address!r}: {exc}") from exc
    if info.kind != "stream" or not info.listening:
        state = "listening" if info.listening else ("connected" if info.connected else "idle")
        raise ValueError(
            f"cannot adopt {address!r}: fd {fd} is a {state} {info.family}/{info.kind} "
            f"({info.protocol}) socket bound to {info.address!r}, not a listening stream socket"
        )
    if mptcp and strict and info.family != "unix" and info.protocol != "mptcp":
        raise MPTCPUnavailableError(
            errno.EPROTONOSUPPORT,
            f"fd {fd} ({address!r}) is a {info.protocol} socket, not MPTCP, and strict=True",
        )
    return socket.socket(fileno=fd)

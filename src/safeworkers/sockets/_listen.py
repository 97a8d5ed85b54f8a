"""Listening sockets for gunicorn-style addresses: :func:`listen`.

TCP (optionally Multipath TCP, which exists only on Linux >= 5.6 with
``net.mptcp.enabled=1``, with a fallback to TCP), Unix sockets (a stale
socket file is removed only when nobody listens on it) and inherited file
descriptors (``fd://N``, checked with :func:`~safeworkers.sockets.classify`).
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import sys
import warnings
from typing import Any

from safeworkers.sockets._classify import classify
from safeworkers.sockets._platform import IPPROTO_MPTCP, const

#: socket(..., IPPROTO_MPTCP) refused: old kernel, non-Linux, or
#: net.mptcp.enabled=0 (ENOPROTOOPT). WSAEPROTONOSUPPORT on Windows.
_MPTCP_REFUSED = frozenset({errno.EPROTONOSUPPORT, errno.ENOPROTOOPT, errno.EINVAL})
_MPTCP_REFUSED_WIN = frozenset({10022, 10042, 10043})

_ADDRESS_FORMS = "'HOST:PORT', '[IPV6]:PORT', 'unix:/PATH' or 'fd://N'"

_mptcp_warned = False


class MPTCPUnavailableError(OSError):
    """``listen(..., mptcp=True, strict=True)`` and the kernel refused MPTCP."""


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
            so_reuseport = const("SO_REUSEPORT")
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
    af_unix = const("AF_UNIX")
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

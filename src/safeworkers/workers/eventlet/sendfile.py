"""Zero-copy ``sendfile`` for green sockets, and the green socket class that carries it.

gunicorn serves ``wsgi.file_wrapper`` responses with ``socket.sendfile``.
The stdlib version refuses non-blocking sockets, the socket under an eventlet
``GreenSocket`` is always non-blocking, and eventlet has no cooperative one:
without this, every file goes through user space. Nothing here imports
eventlet: the worker passes in the hub's wait and sleep.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Any

#: Bytes per ``os.sendfile`` call: large enough to be cheap, small enough that
#: one big download cannot keep the hub away from other connections for long.
_SENDFILE_CHUNK = 1 << 20
#: Bytes per read when a file has to be copied through user space.
_COPY_CHUNK = 64 * 1024


def _copy_file(sock: Any, file: Any, offset: int, count: int | None) -> int:
    """Send ``file`` through user space: for files without a descriptor."""
    if offset:
        file.seek(offset)
    total = 0
    while count is None or total < count:
        want = _COPY_CHUNK if count is None else min(_COPY_CHUNK, count - total)
        data = file.read(want)
        if not data:
            break
        sock.sendall(data)
        total += len(data)
    return total


def cooperative_sendfile(
    sock: Any,
    file: Any,
    offset: int,
    count: int | None,
    wait_writable: Callable[..., Any],
    pause: Callable[[], Any],
) -> int:
    """``socket.sendfile`` for a green socket: zero-copy, yielding to the hub.

    The stdlib version refuses non-blocking sockets, and the socket under a
    GreenSocket is always non-blocking; eventlet does not provide one. This
    one waits on the hub (``wait_writable``) when the socket is full and
    lets other green threads run (``pause``) between chunks. Same contract as
    the stdlib: returns the bytes sent and leaves the file position after the
    last byte sent.
    """
    if count is not None and count <= 0:
        raise ValueError(f"count must be a positive integer (got {count!r})")
    if offset < 0:
        raise ValueError(f"offset must be a non-negative integer (got {offset!r})")
    native = getattr(os, "sendfile", None)
    try:
        in_fd = file.fileno()
        size = os.fstat(in_fd).st_size
    except (AttributeError, io.UnsupportedOperation, OSError):
        native = None
    if native is None:
        return _copy_file(sock, file, offset, count)
    remaining = count if count is not None else size - offset
    out_fd = sock.fileno()
    position = offset
    total = 0
    try:
        while remaining > 0:
            try:
                sent = native(out_fd, in_fd, position, min(remaining, _SENDFILE_CHUNK))
            except BlockingIOError:
                wait_writable(
                    out_fd,
                    write=True,
                    timeout=sock.gettimeout(),
                    timeout_exc=TimeoutError("timed out"),
                )
                continue
            except OSError:
                if total:
                    raise
                # Not a file sendfile can read (or a socket it can write): copy instead.
                return _copy_file(sock, file, offset, count)
            if not sent:  # end of file
                break
            position += sent
            remaining -= sent
            total += sent
            if remaining > 0:
                pause()
        return total
    finally:
        if total and hasattr(file, "seek"):
            file.seek(position)


def green_socket_class(
    greenio: Any, trampoline: Callable[..., Any], sleep: Callable[[float], Any]
) -> type:
    """eventlet's GreenSocket plus a cooperative ``sendfile``.

    A subclass rather than a patch of eventlet's class: only our listeners use
    it, and ``GreenSocket.accept`` builds each connection as ``type(self)``,
    so every connection gunicorn serves has it too.
    """

    def sendfile(self: Any, file: Any, offset: int = 0, count: int | None = None) -> int:
        return cooperative_sendfile(self, file, offset, count, trampoline, lambda: sleep(0))

    return type(
        "SafeGreenSocket",
        (greenio.GreenSocket,),
        {"sendfile": sendfile, "__module__": __name__, "__doc__": green_socket_class.__doc__},
    )

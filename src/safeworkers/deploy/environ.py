"""What the gunicorn and hypercorn config modules share: reading the
deployment environment (``BIND``, ``PORT``, ``WEB_CONCURRENCY``) and creating
MPTCP listeners to hand over as ``fd://N`` binds.

Errors here happen while the server reads its config, before any logging is
set up, so they stop the process with one line (``SystemExit``) naming the
variable, the value and what is accepted.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from safeworkers import settings as settings_mod

DEFAULT_BIND = "127.0.0.1:8000"


def fail(message: str) -> SystemExit:
    return SystemExit(f"safeworkers: {message}")


def say(message: str) -> None:
    """One line on stderr: the servers' loggers are not configured yet."""
    print(f"[safeworkers] {message}", file=sys.stderr, flush=True)


def load_settings(environ: Mapping[str, str] | None = None) -> settings_mod.Settings:
    try:
        return settings_mod.load(environ)
    except settings_mod.SettingsError as exc:
        raise fail(str(exc)) from None


def binds(environ: Mapping[str, str] | None = None, default: str = DEFAULT_BIND) -> list[str]:
    """``BIND`` (comma- or space-separated), else ``0.0.0.0:$PORT``, else ``default``.

    ``PORT`` alone means "listen on all interfaces", as platforms that set it
    (and gunicorn's own default) expect.
    """
    env = os.environ if environ is None else environ
    raw = env.get("BIND", "").replace(",", " ").split()
    if raw:
        return raw
    port = env.get("PORT")
    if port is None or not port.strip():
        return [default]
    if not port.strip().isdigit() or not 0 < int(port) < 65536:
        raise fail(f"PORT={port!r} is not valid: accepted values are integers 1-65535")
    return [f"0.0.0.0:{int(port)}"]


#: The control socket's name in the service's runtime directory.
CONTROL_SOCKET = "gunicorn.ctl"


def control_socket(environ: Mapping[str, str] | None = None) -> str:
    """gunicorn's control socket in the service's own runtime directory, or "" for none.

    The directory is ``RUNTIME_DIRECTORY``: systemd sets it for a unit's
    ``RuntimeDirectory=`` (the first, when it names several), and the container
    templates set it to a writable volume. gunicorn's own default
    (``$XDG_RUNTIME_DIR/gunicorn.ctl``, else ``~/.gunicorn/gunicorn.ctl``) is one
    path per user, which every app of that user takes from the last one started,
    and fails with an error line on every start where the home is not writable
    (a read-only root filesystem, a service user without a home).
    """
    env = os.environ if environ is None else environ
    directory = env.get("RUNTIME_DIRECTORY", "").split(":")[0].strip()
    return os.path.join(directory, CONTROL_SOCKET) if directory else ""


def cpu_count() -> int:
    """CPUs this process may run on (affinity and cgroup-aware where Python knows)."""
    counter = getattr(os, "process_cpu_count", None)  # Python 3.13
    if counter is not None:
        return int(counter() or 1)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def workers(default: int, environ: Mapping[str, str] | None = None) -> int:
    """``WEB_CONCURRENCY`` if set (a positive integer), else ``default``."""
    env = os.environ if environ is None else environ
    raw = env.get("WEB_CONCURRENCY")
    if raw is None or not raw.strip():
        return default
    if not raw.strip().isdigit() or int(raw) < 1:
        raise fail(f"WEB_CONCURRENCY={raw!r} is not valid: accepted values are integers >= 1")
    return int(raw)


def mptcp_binds(
    addresses: list[str],
    environ: Mapping[str, str] | None = None,
    *,
    umask: int = 0,
    owner: tuple[int, int] | None = None,
) -> list[str]:
    """Create the listeners ourselves, MPTCP where possible, and hand them over as fd:// binds.

    gunicorn and hypercorn cannot create MPTCP sockets from a bind string,
    but both adopt ``fd://N``. Rules that keep the hand-over right:

    - every address is converted (gunicorn ignores other binds once one is
      ``fd://``), unix ones included;
    - the socket object is detached, not closed: the server owns fd N now
      (gunicorn dups it and closes N);
    - nothing is created when the server re-executes itself (gunicorn's
      ``USR2`` sets ``GUNICORN_FD``) or is socket-activated (``LISTEN_FDS``):
      the listeners already exist then, and binding again would fail with
      EADDRINUSE;
    - unix sockets get what gunicorn would give them: mode ``0o777 & ~umask``
      and, when running as root, ``owner`` (uid, gid).
    """
    env = os.environ if environ is None else environ
    if env.get("GUNICORN_FD") or env.get("LISTEN_FDS"):
        return addresses
    from safeworkers import sockets

    handed: list[str] = []
    for address in addresses:
        is_unix = address.startswith("unix:")
        try:
            if is_unix:
                sock = sockets.listen(address, mode=0o777 & ~umask)
                if owner is not None and os.geteuid() == 0:
                    os.chown(sock.getsockname(), *owner)
            else:
                sock = sockets.listen(address, mptcp=not address.startswith("fd://"))
        except (OSError, ValueError) as exc:
            raise fail(f"cannot listen on {address!r} for SAFEWORKERS_MPTCP=1: {exc}") from None
        info = sockets.classify(sock)
        sock.set_inheritable(True)
        handed.append(f"fd://{sock.detach()}")
        say(f"listening on {address} ({info.protocol}) handed over as {handed[-1]}")
    return handed

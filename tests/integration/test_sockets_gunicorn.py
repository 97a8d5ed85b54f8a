"""The MPTCP handover contract against a real gunicorn: ``listen(mptcp=True)`` -> ``fd://N``.

This is what ``SAFEWORKERS_MPTCP=1`` does in the config modules (docs/sockets.md),
with gunicorn's own ``sync`` worker so that only the socket handover is under
test. The client is an MPTCP socket: ``getsockopt(SOL_MPTCP, MPTCP_INFO)``
succeeds on it only when the server side really spoke MPTCP (after a fallback
to TCP the kernel answers EOPNOTSUPP), which proves the listener gunicorn
served from is the one ``listen`` made.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
from typing import TYPE_CHECKING

import pytest

from safeworkers.sockets import IPPROTO_MPTCP, classify, listen

if TYPE_CHECKING:
    from collections.abc import Iterator

SOL_MPTCP, MPTCP_INFO = 284, 1

APP = textwrap.dedent(
    """
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello over " + environ["wsgi.url_scheme"].encode()]
    """
)


def _skip_reason() -> str | None:
    if importlib.util.find_spec("gunicorn") is None:
        return "gunicorn is not installed"
    if not sys.platform.startswith("linux"):
        return "MPTCP is Linux-only"
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_MPTCP).close()
    except OSError as exc:
        return f"the kernel refuses IPPROTO_MPTCP here: {exc}"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))


@pytest.fixture
def appdir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="sw-app-")
    with open(os.path.join(path, "sw_mptcp_app.py"), "w") as fh:
        fh.write(APP)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def http_get(address: tuple[str, int], proto: int) -> tuple[bytes, bool]:
    """GET / ; returns the response and whether MPTCP was negotiated end to end."""
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
    client.settimeout(15)
    with client:
        client.connect(address)
        client.sendall(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")
        chunks = []
        while chunk := client.recv(4096):
            chunks.append(chunk)
        try:
            client.getsockopt(SOL_MPTCP, MPTCP_INFO, 256)
            error = 0
        except OSError as exc:
            error = exc.errno or -1
    assert error in (0, errno.EOPNOTSUPP, errno.ENOPROTOOPT), os.strerror(error)
    return b"".join(chunks), error == 0


def test_gunicorn_serves_an_mptcp_listener_handed_over_as_fd(appdir: str) -> None:
    listener = listen("127.0.0.1:0", mptcp=True, strict=True)
    address = listener.getsockname()
    assert classify(listener).protocol == "mptcp"
    fd = listener.fileno()
    env = dict(os.environ)
    env.pop("GUNICORN_CMD_ARGS", None)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--chdir",
            appdir,
            "--bind",
            f"fd://{fd}",
            "--workers",
            "1",
            "--worker-class",
            "sync",
            "--log-level",
            "warning",
            "sw_mptcp_app:app",
        ],
        pass_fds=(fd,),
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    listener.close()  # gunicorn owns its copy now
    try:
        body, negotiated = http_get(address, IPPROTO_MPTCP)
        assert body.startswith(b"HTTP/1."), body
        assert body.endswith(b"hello over http"), body
        assert negotiated, "the MPTCP client fell back to TCP: gunicorn did not serve our listener"
        # plain TCP clients still work on the same MPTCP listener
        body, negotiated = http_get(address, 0)
        assert body.endswith(b"hello over http")
        assert not negotiated
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            _, stderr = server.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            _, stderr = server.communicate()
    assert server.returncode == 0, stderr

"""The fd handover contract: a parent creates a listener, a child adopts it as ``fd://N``.

This is what ``SAFEWORKERS_MPTCP=1`` relies on (docs/sockets.md): the config
module creates the MPTCP listener with ``listen(..., mptcp=True)`` and hands
gunicorn ``fd://N``; here a plain child process stands in for gunicorn. The
child adopts the inherited fd with ``listen("fd://N")``, serves one
connection, and reports what the socket is; the parent is the client.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from safeworkers.sockets import IPPROTO_MPTCP, listen

if TYPE_CHECKING:
    from collections.abc import Iterator

SRC = str(Path(__file__).resolve().parents[2] / "src")

CHILD = textwrap.dedent(
    """
    import json, sys
    from safeworkers.sockets import classify, listen, tune_connection

    sock = listen(sys.argv[1])
    info = classify(sock)
    conn, _ = sock.accept()
    tuned = tune_connection(conn, keepalive=(30, 5, 4))
    data = conn.recv(4)
    reply = {"protocol": info.protocol, "family": info.family,
             "listening": info.listening, "tuned": tuned, "got": data.decode()}
    conn.sendall(json.dumps(reply).encode())
    conn.close()
    """
)


def _mptcp_ok() -> bool:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_MPTCP).close()
    except OSError:
        return False
    return True


@pytest.fixture
def sockdir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="sw-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def serve_once_in_child(listener: socket.socket, client_proto: int = 0) -> dict[str, object]:
    fd = listener.fileno()
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, f"fd://{fd}"],
        pass_fds=(fd,),
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        client = socket.socket(listener.family, socket.SOCK_STREAM, client_proto)
        client.settimeout(10)
        with client:
            client.connect(listener.getsockname())
            client.sendall(b"ping")
            chunks = []
            while chunk := client.recv(4096):
                chunks.append(chunk)
        _, stderr = child.communicate(timeout=10)
        assert child.returncode == 0, stderr
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    reply: dict[str, object] = json.loads(b"".join(chunks))
    return reply


def test_handover_tcp() -> None:
    with listen("127.0.0.1:0") as listener:
        reply = serve_once_in_child(listener)
    assert reply["protocol"] == "tcp"
    assert reply["listening"] is True
    assert reply["got"] == "ping"
    tuned = reply["tuned"]
    assert isinstance(tuned, dict)
    assert (tuned["protocol"], tuned["TCP_NODELAY"], tuned["SO_KEEPALIVE"]) == ("tcp", True, 1)
    if sys.platform.startswith("linux"):
        assert (tuned["TCP_KEEPIDLE"], tuned["TCP_KEEPINTVL"], tuned["TCP_KEEPCNT"]) == (30, 5, 4)


@pytest.mark.skipif(not _mptcp_ok(), reason="the kernel refuses IPPROTO_MPTCP here")
def test_handover_mptcp() -> None:
    with listen("127.0.0.1:0", mptcp=True, strict=True) as listener:
        reply = serve_once_in_child(listener, client_proto=IPPROTO_MPTCP)
    # the child knows nothing of how the fd was made, and still sees MPTCP
    assert reply["protocol"] == "mptcp"
    assert reply["got"] == "ping"
    tuned = reply["tuned"]
    assert isinstance(tuned, dict)
    assert tuned["protocol"] == "mptcp"


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no AF_UNIX")
def test_handover_unix(sockdir: str) -> None:
    with listen(f"unix:{os.path.join(sockdir, 'app.sock')}", mode=0o600) as listener:
        reply = serve_once_in_child(listener)
    assert reply["family"] == "unix"
    assert reply["protocol"] == "unix"
    assert reply["tuned"] == {"protocol": "unix"}
    assert reply["got"] == "ping"

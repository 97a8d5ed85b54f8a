"""safeworkers.sockets under gevent's and eventlet's monkey-patching.

Green workers hand ``tune_connection`` their own socket classes
(``gevent._socket3.socket``, ``eventlet.greenio.GreenSocket``), and after
patching ``socket.socket(fileno=fd)`` inside ``classify`` builds one of those
too. Patching is process-wide, so each patcher gets its own interpreter.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")

CHILD = textwrap.dedent(
    """
    import sys
    import safeworkers.guard
    safeworkers.guard.install()  # as the green workers do, before patching
    patcher = sys.argv[1]
    if patcher == "gevent":
        from gevent import monkey
        monkey.patch_all()
    else:
        # `import eventlet` itself imports trio where dnspython's DNS-over-HTTPS chain
        # reaches httpcore2 (see test_decisions.test_eventlet_import_needs_the_guard_here):
        # the guard first, as EventletWorker does.
        import safeworkers.guard
        safeworkers.guard.install()
        import eventlet
        eventlet.monkey_patch()
    import json, os, socket
    from safeworkers.sockets import classify, listen, tune_connection

    out = {}
    srv = listen("127.0.0.1:0")
    out["listener_type"] = type(srv).__module__
    fd = os.dup(srv.fileno())
    out["fd_listening"] = classify(fd).listening
    os.fstat(fd)  # still open after classify
    client = socket.create_connection(srv.getsockname())
    conn, _ = srv.accept()
    out["conn_type"] = type(conn).__module__
    out["tuned"] = tune_connection(conn, keepalive=(20, 4, 3))
    out["classified"] = classify(conn).protocol
    a, b = socket.socketpair()
    out["unix"] = tune_connection(a, keepalive=(20, 4, 3))
    adopted = listen("fd://%d" % fd)
    c2 = socket.create_connection(adopted.getsockname())
    conn2, _ = adopted.accept()
    c2.sendall(b"ok")
    out["adopted_echo"] = conn2.recv(2).decode()
    print(json.dumps(out))
    """
)


@pytest.mark.parametrize("patcher", ["gevent", "eventlet"])
def test_sockets_under_monkey_patching(patcher: str) -> None:
    if importlib.util.find_spec(patcher) is None:
        pytest.skip(f"{patcher} is not installed")
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONWARNINGS"] = "ignore"
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, patcher],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["conn_type"].startswith(patcher)  # really a green socket
    assert out["fd_listening"] is True
    assert out["classified"] == "tcp"
    tuned = out["tuned"]
    assert (tuned["protocol"], tuned["TCP_NODELAY"], tuned["SO_KEEPALIVE"]) == ("tcp", True, 1)
    if sys.platform.startswith("linux"):
        assert (tuned["TCP_KEEPIDLE"], tuned["TCP_KEEPINTVL"], tuned["TCP_KEEPCNT"]) == (20, 4, 3)
    assert out["unix"] == {"protocol": "unix"}
    assert out["adopted_echo"] == "ok"

"""enable_keepalive when the socket module lacks constants, or the platform differs.

Each scenario runs in a fresh interpreter (``sys.executable -c``) that imports
``safeworkers.sockets`` first and *then* deletes constants from ``socket`` or
pretends to be macOS/Windows, which proves the constants are looked up at call
time. The calls still reach this machine's kernel, and the child verifies what
the kernel holds with ``getsockopt`` by Linux option number, so a report that
does not match reality fails the test.

The macOS path is simulated by ``sys.platform = "darwin"`` and
``socket.TCP_KEEPALIVE = 4`` (Linux's TCP_KEEPIDLE number, so the kernel really
receives the idle time under macOS's constant name). The Windows path sets
``socket.SIO_KEEPALIVE_VALS`` and records ``ioctl`` on a socket subclass,
since Linux has no such ioctl.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="verifies with Linux option numbers"
)

SRC = str(Path(__file__).resolve().parents[3] / "src")
IDLE, INTERVAL, COUNT = 41, 7, 3

CHILD = textwrap.dedent(
    """
    import json, socket, sys
    import safeworkers.sockets as sw

    IDLE, INTERVAL, COUNT = (int(v) for v in sys.argv[1:4])

    def defaults():
        base = "/proc/sys/net/ipv4/tcp_keepalive_"
        return {k: int(open(base + k).read()) for k in ("time", "intvl", "probes")}

    DEFAULTS = defaults()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.connect(srv.getsockname())
    conn, _ = srv.accept()
    SockClass = socket.socket
    record = []

    # --- scenario set-up (after import: the module must look constants up late)
    @SETUP@
    # ---

    if SockClass is not socket.socket:
        conn = SockClass(conn.family, conn.type, conn.proto, fileno=conn.detach())
    result = {"defaults": DEFAULTS, "record": record}
    try:
        result["applied"] = sw.enable_keepalive(conn, idle=IDLE, interval=INTERVAL, count=COUNT)
        result["nodelay"] = sw.set_nodelay(conn)
        result["tuned"] = sw.tune_connection(conn, keepalive=(IDLE, INTERVAL, COUNT))
    except BaseException as exc:
        result["error"] = type(exc).__name__ + ": " + str(exc)
    result["kernel"] = {
        "SO_KEEPALIVE": conn.getsockopt(socket.SOL_SOCKET, 9),
        "idle": conn.getsockopt(socket.IPPROTO_TCP, 4),
        "intvl": conn.getsockopt(socket.IPPROTO_TCP, 5),
        "cnt": conn.getsockopt(socket.IPPROTO_TCP, 6),
    }
    print(json.dumps(result))
    """
)


def run_child(setup: str) -> dict[str, Any]:
    code = CHILD.replace("@SETUP@", textwrap.dedent(setup).strip() or "pass")
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", code, str(IDLE), str(INTERVAL), str(COUNT)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "error" not in result, result["error"]
    return result


def kernel_expectation(result: dict[str, Any], *, idle: bool, intvl: bool, cnt: bool) -> None:
    """The kernel holds our value for each knob that was applied, its default otherwise."""
    kernel, defaults = result["kernel"], result["defaults"]
    assert kernel["SO_KEEPALIVE"] == 1
    assert kernel["idle"] == (IDLE if idle else defaults["time"])
    assert kernel["intvl"] == (INTERVAL if intvl else defaults["intvl"])
    assert kernel["cnt"] == (COUNT if cnt else defaults["probes"])


def test_all_constants_present() -> None:
    result = run_child("")
    assert result["applied"] == {
        "SO_KEEPALIVE": 1,
        "TCP_KEEPIDLE": IDLE,
        "TCP_KEEPINTVL": INTERVAL,
        "TCP_KEEPCNT": COUNT,
    }
    kernel_expectation(result, idle=True, intvl=True, cnt=True)
    assert result["nodelay"] is True


@pytest.mark.parametrize("missing", ["TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT"])
def test_one_constant_missing(missing: str) -> None:
    result = run_child(f"del socket.{missing}")
    expected = {"SO_KEEPALIVE": 1, "TCP_KEEPIDLE": IDLE, "TCP_KEEPINTVL": INTERVAL}
    expected["TCP_KEEPCNT"] = COUNT
    del expected[missing]
    assert result["applied"] == expected
    kernel_expectation(
        result,
        idle=missing != "TCP_KEEPIDLE",
        intvl=missing != "TCP_KEEPINTVL",
        cnt=missing != "TCP_KEEPCNT",
    )
    assert result["tuned"] == {"protocol": "tcp", "TCP_NODELAY": True, **expected}


def test_all_three_missing() -> None:
    result = run_child(
        """
        del socket.TCP_KEEPIDLE
        del socket.TCP_KEEPINTVL
        del socket.TCP_KEEPCNT
        """
    )
    assert result["applied"] == {"SO_KEEPALIVE": 1}
    kernel_expectation(result, idle=False, intvl=False, cnt=False)


def test_everything_missing_degrades_to_nothing() -> None:
    result = run_child(
        """
        for name in ("TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT", "SO_KEEPALIVE",
                     "TCP_NODELAY", "SO_PROTOCOL"):
            delattr(socket, name)
        """
    )
    assert result["applied"] == {}
    assert result["nodelay"] is False
    assert result["tuned"] == {"protocol": "tcp"}
    assert result["kernel"]["SO_KEEPALIVE"] == 0


def test_macos_path_uses_tcp_keepalive_for_idle() -> None:
    result = run_child(
        """
        sys.platform = "darwin"
        socket.TCP_KEEPALIVE = socket.TCP_KEEPIDLE  # Linux's number: reaches the kernel
        del socket.TCP_KEEPIDLE
        """
    )
    assert result["applied"] == {
        "SO_KEEPALIVE": 1,
        "TCP_KEEPALIVE": IDLE,
        "TCP_KEEPINTVL": INTERVAL,
        "TCP_KEEPCNT": COUNT,
    }
    kernel_expectation(result, idle=True, intvl=True, cnt=True)


def test_macos_path_falls_back_to_0x10_when_the_module_lacks_tcp_keepalive() -> None:
    # 0x10 is TCP_THIN_DUPACK on Linux, so the call is recorded, not sent.
    result = run_child(
        """
        sys.platform = "darwin"
        del socket.TCP_KEEPIDLE
        class SockClass(socket.socket):
            def setsockopt(self, level, option, value):
                record.append([level, option, value])
                if (level, option) != (socket.IPPROTO_TCP, 0x10):
                    super().setsockopt(level, option, value)
        """
    )
    assert [socket.IPPROTO_TCP, 0x10, IDLE] in result["record"]
    assert result["applied"]["TCP_KEEPALIVE"] == IDLE
    assert "TCP_KEEPIDLE" not in result["applied"]
    kernel_expectation(result, idle=False, intvl=True, cnt=True)


def test_windows_path_uses_sio_keepalive_vals() -> None:
    result = run_child(
        """
        sys.platform = "win32"
        socket.SIO_KEEPALIVE_VALS = 0x98000004
        class SockClass(socket.socket):
            def ioctl(self, control, option):
                record.append([control, list(option)])
        """
    )
    assert result["record"][0] == [0x98000004, [1, IDLE * 1000, INTERVAL * 1000]]
    assert result["applied"] == {
        "SO_KEEPALIVE": 1,
        "SIO_KEEPALIVE_VALS_TIME_MS": IDLE * 1000,
        "SIO_KEEPALIVE_VALS_INTERVAL_MS": INTERVAL * 1000,
        "TCP_KEEPCNT": COUNT,
    }
    # idle/interval went through the ioctl only; the count through setsockopt
    kernel_expectation(result, idle=False, intvl=False, cnt=True)

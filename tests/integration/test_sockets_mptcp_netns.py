"""listen(mptcp=True) where the kernel refuses MPTCP: the fallback path, for real.

``net.mptcp.enabled`` is per network namespace, so the test makes a private one
with ``unshare --net`` (needs root, or an unprivileged user namespace),
brings its ``lo`` up, sets ``net.mptcp.enabled=0`` there only, and runs a child
Python that calls ``listen("127.0.0.1:0", mptcp=True)``. The host's setting is
never touched. On a kernel built without MPTCP there is no sysctl to set and
the refusal happens anyway, so the same child runs without it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")
MPTCP_SYSCTL = Path("/proc/sys/net/mptcp/enabled")

CHILD = textwrap.dedent(
    """
    import json, socket, warnings
    from safeworkers.sockets import MPTCPUnavailableError, classify, listen

    out = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # dedup must come from listen(), not the registry
        first = listen("127.0.0.1:0", mptcp=True)
        second = listen("127.0.0.1:0", mptcp=True)
    out["warnings"] = [[w.category.__name__, str(w.message), w.filename] for w in caught]
    out["protocols"] = [
        s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL) for s in (first, second)
    ]
    out["classified"] = classify(first).protocol
    client = socket.create_connection(first.getsockname(), timeout=5)
    conn, _ = first.accept()
    client.sendall(b"ping")
    out["echo"] = conn.recv(4).decode()
    try:
        listen("127.0.0.1:0", mptcp=True, strict=True)
        out["strict"] = None
    except MPTCPUnavailableError as exc:
        out["strict"] = [type(exc).__name__, exc.errno, str(exc)]
    print(json.dumps(out))
    """
)


def _netns_prefix() -> list[str]:
    """The command that runs a shell in a fresh netns, or pytest.skip with why not."""
    if not sys.platform.startswith("linux"):
        pytest.skip("network namespaces are Linux-only")
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            pytest.skip(f"`{tool}` is not installed")
    prefix = ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "--user", "-r", "--net"]
    probe = subprocess.run(
        [*prefix, "sh", "-c", "ip link set lo up"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    if probe.returncode != 0:
        pytest.skip(f"`{' '.join(prefix)}` does not work here: {probe.stderr.strip()}")
    return prefix


def run_in_netns_without_mptcp() -> tuple[dict[str, Any], str]:
    prefix = _netns_prefix()
    disable = ""
    if MPTCP_SYSCTL.exists():
        disable = "echo 0 > /proc/sys/net/mptcp/enabled && "
    script = (
        "ip link set lo up && "
        + disable
        + 'echo "mptcp.enabled=$(cat /proc/sys/net/mptcp/enabled 2>/dev/null || echo absent)" >&2'
        + ' && exec "$0" -c "$1"'
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.run(
        [*prefix, "sh", "-c", script, sys.executable, CHILD],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    if proc.returncode != 0 and "mptcp.enabled=" not in proc.stderr:
        pytest.skip(f"could not disable MPTCP in a private netns: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_mptcp_falls_back_to_tcp_with_one_warning_and_strict_raises() -> None:
    host_before = MPTCP_SYSCTL.read_text() if MPTCP_SYSCTL.exists() else None
    out, stderr = run_in_netns_without_mptcp()
    assert "mptcp.enabled=0" in stderr or "mptcp.enabled=absent" in stderr

    # plain TCP, and it serves
    assert out["protocols"] == [6, 6]
    assert out["classified"] == "tcp"
    assert out["echo"] == "ping"

    # exactly one RuntimeWarning for two fallbacks, pointing at the caller
    assert len(out["warnings"]) == 1, out["warnings"]
    category, message, filename = out["warnings"][0]
    assert category == "RuntimeWarning"
    assert "'127.0.0.1:0'" in message
    assert "falling back to plain TCP" in message
    assert "net.mptcp.enabled=1" in message
    assert filename == "<string>"  # stacklevel: the line that called listen()

    # strict=True refuses instead of falling back
    assert out["strict"] is not None
    name, err, text = out["strict"]
    assert name == "MPTCPUnavailableError"
    assert err in (92, 93, 22)  # ENOPROTOOPT, EPROTONOSUPPORT, EINVAL
    assert "strict=True" in text

    # the host namespace was not touched
    host_after = MPTCP_SYSCTL.read_text() if MPTCP_SYSCTL.exists() else None
    assert host_after == host_before

"""Skip markers shared by test modules: each says why, from what the machine answers."""

from __future__ import annotations

import socket

import pytest

from safeworkers.sockets import IPPROTO_MPTCP


def _mptcp_refusal() -> str | None:
    try:
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_MPTCP)
    except OSError as exc:
        return f"the kernel refuses socket(AF_INET, SOCK_STREAM, 262): {exc}"
    probe.close()
    return None


#: Why this kernel cannot make MPTCP sockets, or None when it can.
MPTCP_REFUSAL = _mptcp_refusal()
needs_mptcp = pytest.mark.skipif(MPTCP_REFUSAL is not None, reason=str(MPTCP_REFUSAL))

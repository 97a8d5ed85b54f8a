"""The platform simulation now lives in the package: safeworkers.simulation (re-exported)."""

from __future__ import annotations

from safeworkers.simulation import (
    BACKEND_MODULE,
    PlatformSimulator,
    install,
)

#: The harness's platform names -> sys.platform values.
FAKE_PLATFORMS = {"macos": "darwin", "bsd": "freebsd14"}

__all__ = ["BACKEND_MODULE", "FAKE_PLATFORMS", "PlatformSimulator", "install"]

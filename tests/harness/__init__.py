"""Run code in a fresh subprocess under a chosen patcher and simulated platform.

Monkey-patching is process-wide and irreversible, so every scenario gets its
own interpreter. ``bootstrap.py`` (run as the child's main script) sets the
scene in the order a real worker does: platform simulation first (it stands
for the machine; none where this host is that platform), then the safeworkers
guard (as our workers install it),
then the patcher, then the scenario code. The child prints one JSON line
describing the outcome.

The macOS/BSD simulation is safeworkers.simulation; its docstring says how it
works and where it differs from a real Mac.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
BOOTSTRAP = HERE / "bootstrap.py"

PATCHES = ("none", "gevent", "eventlet")
PLATFORMS = ("linux", "macos", "bsd")
#: "without" = no safeworkers at all; the others are guard modes.
GUARDS = ("without", "guard", "preimport")


@dataclass(frozen=True)
class Outcome:
    ok: bool
    #: where it failed: "patch" (importing or running the patcher) or "scenario"
    stage: str | None
    exc_type: str | None
    exc_mro: tuple[str, ...]
    message: str
    result: object
    returncode: int
    stderr: str

    def __str__(self) -> str:
        if self.ok:
            return f"ok ({self.result!r})"
        return f"{self.exc_type}: {self.message}"


def run(
    code: str,
    *,
    patch: str = "none",
    platform: str = "linux",
    guard: str = "without",
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> Outcome:
    """Run ``code`` in a fresh interpreter; ``code`` may set ``result``."""
    # Here, not at the top: the child imports this package too, and must not import
    # pytest (which markers needs) before it patches.
    from tests import markers
    from tests.harness import simulate

    assert patch in PATCHES, patch
    assert platform in PLATFORMS, platform
    assert guard in GUARDS, guard
    refusal = markers.platform_refusal(platform)
    assert refusal is None, refusal  # the test skips first: markers.needs_linux
    child_env = dict(os.environ)
    child_env.update(env or {})
    child_env["PYTHONWARNINGS"] = "ignore"
    root = str(HERE.parent.parent)
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, child_env.get("PYTHONPATH")]))
    # Simulated where this host is another platform; natively on a real Mac or BSD box.
    fake = simulate.FAKE_PLATFORMS[platform] if markers.simulated(platform) else None
    config = {"simulate": fake, "patch": patch, "guard": guard, "code": code}
    proc = subprocess.run(
        [sys.executable, str(BOOTSTRAP), json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise AssertionError(
            f"scenario printed no outcome (rc={proc.returncode})\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    data = json.loads(lines[-1])
    return Outcome(
        ok=data["ok"],
        stage=data.get("stage"),
        exc_type=data.get("exc_type"),
        exc_mro=tuple(data.get("exc_mro", ())),
        message=data.get("message", ""),
        result=data.get("result"),
        returncode=proc.returncode,
        stderr=proc.stderr,
    )


@functools.cache
def eventlet_imports_trio() -> bool:
    """Whether importing eventlet imports trio here (so, unguarded, it dies under its own patching).

    eventlet imports dnspython; dnspython before 2.9 (the newest for Python
    3.10) imports httpcore for DNS-over-HTTPS, and httpcore imports trio.
    """
    return run("import dns.query, sys\nresult = 'trio' in sys.modules").result is True

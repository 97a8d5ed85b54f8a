"""Load generation shared by the benchmarks."""

from __future__ import annotations

import re
import subprocess


def wrk_requests_per_second(url: str, seconds: float, connections: int) -> float:
    """Run ``wrk`` (one thread) against ``url`` for ``seconds``; return requests/s."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"could not read wrk output:\n{out}")
    return float(match.group(1))

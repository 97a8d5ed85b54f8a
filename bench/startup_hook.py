"""What the start-up hook (safeworkers_guard.pth) costs every Python process.

Two throwaway virtualenvs from the same base interpreter: one without
safeworkers, one with the wheel built from this checkout (``--no-deps``: the
package and its hook only). Then ``python -c pass`` is started in turn, in
rounds, as: without safeworkers; with it, ``SAFEWORKERS_GUARD_PROCESS``
unset; with it, set to 1. Prints the median and the spread of each, in
milliseconds of wall time per interpreter start. Nothing is asserted: run it
on a quiet machine.

    .venv/bin/python bench/startup_hook.py [--runs 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_env(directory: Path, wheel: Path | None) -> Path:
    # Both with pip (and, on Pythons that bundle it, setuptools, whose own .pth file
    # runs at every start): the two environments differ only by safeworkers.
    venv.EnvBuilder(with_pip=True).create(directory)
    python = directory / "bin" / "python"
    if wheel is not None:
        install = [str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)]
        subprocess.run(install, check=True)
    return python


def start_ms(python: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([str(python), "-c", "pass"], env=env, check=True)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="starts of each variant")
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items() if not k.startswith("SAFEWORKERS_")}
    with tempfile.TemporaryDirectory(prefix="sw-bench-") as tmp:
        work = Path(tmp)
        build = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
        build += ["--no-build-isolation", "-w", str(work / "dist"), str(ROOT)]
        subprocess.run(build, check=True)
        (wheel,) = (work / "dist").glob("safeworkers-*.whl")
        variants = {
            "without safeworkers": (make_env(work / "without", None), base),
            "with safeworkers, variable unset": (make_env(work / "with", wheel), base),
        }
        guarded = {**base, "SAFEWORKERS_GUARD_PROCESS": "1"}
        variants["with safeworkers, SAFEWORKERS_GUARD_PROCESS=1"] = (
            variants["with safeworkers, variable unset"][0],
            guarded,
        )
        times: dict[str, list[float]] = {name: [] for name in variants}
        for python, env in variants.values():  # warm the file cache
            start_ms(python, env)
        for _ in range(args.runs):
            for name, (python, env) in variants.items():
                times[name].append(start_ms(python, env))
    print(f"python -c pass, {args.runs} starts each, in turn; wall ms per start")
    for name, values in times.items():
        quartiles = statistics.quantiles(values, n=4)
        print(
            f"  {name:<48} median {statistics.median(values):6.2f}  "
            f"min {min(values):6.2f}  q1-q3 {quartiles[0]:6.2f}-{quartiles[2]:6.2f}  "
            f"max {max(values):6.2f}"
        )


if __name__ == "__main__":
    main()

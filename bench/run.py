"""Side-by-side benchmarks: each safeworkers worker against the upstream worker it wraps.

    make bench                                   # everything (about 13 minutes)
    .venv/bin/python bench/run.py --only trio    # one group
    .venv/bin/python bench/run.py --rounds 2 --boot-rounds 2 --no-write   # check the bench

Every comparison runs its servers in the same invocation, one worker process
each, on 127.0.0.1, serving bench/apps/hello.py, started with
safeworkers.testing (servers pinned to CPU 0, wrk to CPU 1, where possible).
After a warm-up, each round runs every server once, in an order reversed
every other round (A B, B A, ...); a comparison's ratio is the median of the
per-round ratios, whose quartiles are reported as its spread. This machine's
speed drifts by 10-20 % within seconds: a ratio of two runs side by side
cancels the drift, one of two medians taken apart does not. Load comes from
``wrk -t1``. Groups that need another gunicorn or the ASGI workers get
virtualenvs the bench makes with uv (``.venv-bench/``). Results go to
bench/results/benchmarks.json, the docs' generated tables and
docs/img/benchmarks.png. Nothing is asserted: speed is measured, not tested.
Record figures only on a quiet machine (load average < 0.5): the JSON says
how busy it was.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

# bench/ is on sys.path (the script's own directory): benchlib and report are bench's.
import benchlib
import report
from benchlib import MAIN, Env, Paired

WRAPPER = 0.97  # every wrapper >= 0.97x its twin (and TrioWorker's hypercorn path)
TRIO_FAST = 10.0  # TrioWorker's fast path >= 10x hypercorn -k trio (issue 20)
ASYNCIO = 0.8  # ... and >= 0.8x uvicorn-worker with uvloop and httptools
QUART = 3.0  # a quart-trio app >= 3x on hypercorn -k trio
BOOT = 1.10  # boot <= 1.10x the twin

#: (env, server, app, args): one server configuration
Config = tuple[Env, str, str, tuple[str, ...]]


def gunicorn(env: Env, worker: str, *args: str, app: str = "hello:wsgi") -> Config:
    return (env, "gunicorn", app, ("-k", worker, *args))


def throughput(
    configs: dict[str, Config], options: argparse.Namespace, connections: int
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Req/s of each configuration in every round (all running, measured in turn); logs."""
    runs: dict[str, list[float]] = {label: [] for label in configs}
    with ExitStack() as stack:
        running = {
            label: stack.enter_context(benchlib.serve(env, server, app, *args))
            for label, (env, server, app, args) in configs.items()
        }
        for label in configs:  # warm up: imports, caches, the CPU's clock
            for _ in range(options.warmup):
                benchlib.wrk(running[label].url, 1, connections)
        for order in benchlib.turns(list(configs), options.rounds):
            for label in order:
                runs[label].append(benchlib.wrk(running[label].url, options.seconds, connections))
        logs = {label: run.log for label, run in running.items()}
    return runs, logs


def row(
    group: str,
    name: str,
    ours: tuple[str, list[float]],
    theirs: tuple[str, list[float]],
    *,
    unit: str = "req/s",
    better: str = "higher",
    target: float | None = WRAPPER,
) -> dict[str, Any]:
    """A comparison: each side's median, and the median and quartiles of the paired ratios."""
    pairs: Paired = benchlib.paired(ours[1], theirs[1])
    low, high = pairs.quartiles
    return {
        "group": group,
        "name": name,
        "ours_label": ours[0],
        "ours": round(statistics.median(ours[1]), 4),
        "theirs_label": theirs[0],
        "theirs": round(statistics.median(theirs[1]), 4),
        "ratio": round(pairs.median, 4),
        "low": round(low, 4),
        "high": round(high, 4),
        "rounds": len(pairs.ratios),
        "unit": unit,
        "better": better,
        "target": target,
    }


# --------------------------------------------------------------------------- groups


def group_wsgi(options: argparse.Namespace) -> list[dict[str, Any]]:
    pairs = [
        ("sync", ("safeworkers.SyncWorker",), ("sync",)),
        ("auto (picks sync)", ("safeworkers.AutoWorker",), ("sync",)),
        (
            "gthread, 4 threads",
            ("safeworkers.ThreadWorker", "--threads", "4"),
            ("gthread", "--threads", "4"),
        ),
        ("gevent", ("safeworkers.GeventWorker",), ("gevent",)),
    ]
    rows = []
    for name, ours, theirs in pairs:
        configs = {"ours": gunicorn(MAIN, *ours), "theirs": gunicorn(MAIN, *theirs)}
        rps, _ = throughput(configs, options, options.connections)
        rows.append(
            row(
                "wsgi", name, (f"`-k {ours[0]}`", rps["ours"]), (f"`-k {theirs[0]}`", rps["theirs"])
            )
        )
    rows += blocking_driver(options)
    return rows


def blocking_driver(options: argparse.Namespace) -> list[dict[str, Any]]:
    """GeventWorker, which applies psycogreen at boot, against gunicorn's gevent, which waits
    with psycopg2: each request waits 20 ms in a real PostgreSQL (bench/apps/pg.py)."""
    sys.path.insert(0, str(benchlib.ROOT))  # tests/postgres.py: the throwaway server
    from tests import postgres

    reason = postgres.unavailable()
    if reason is not None:
        print(f"skipped the PostgreSQL row: {reason}")
        return []
    with postgres.cluster() as cluster:
        os.environ["BENCH_PG_DSN"] = cluster.dsn
        try:
            configs = {
                "ours": gunicorn(MAIN, "safeworkers.GeventWorker", app="pg:wsgi"),
                "theirs": gunicorn(MAIN, "gevent", app="pg:wsgi"),
            }
            rps, _ = throughput(configs, options, options.connections)
        finally:
            del os.environ["BENCH_PG_DSN"]
    return [
        row(
            "wsgi",
            "gevent, psycopg2 waiting 20 ms in PostgreSQL",
            ("`-k safeworkers.GeventWorker` (psycogreen applied)", rps["ours"]),
            ("`-k gevent`", rps["theirs"]),
        )
    ]


def eventlet_env() -> Env:
    return benchlib.make_env("gunicorn25-eventlet", ["gunicorn==25.*", "eventlet>=0.36"])


def group_eventlet(options: argparse.Namespace) -> list[dict[str, Any]]:
    env = eventlet_env()
    configs = {
        "ours": gunicorn(env, "safeworkers.EventletWorker"),
        "theirs": gunicorn(env, "eventlet"),
    }
    rps, _ = throughput(configs, options, options.connections)
    version = env.version("gunicorn")
    return [
        row(
            "eventlet",
            f"eventlet, both on gunicorn {version}",
            ("`-k safeworkers.EventletWorker`", rps["ours"]),
            ("`-k eventlet`", rps["theirs"]),
        )
    ]


ASGI_ENVS = {
    # name -> (what it adds, requirements)
    "asyncio": ("asyncio, h11", ["uvicorn-worker", "uvicorn"]),
    "uvloop": (
        "uvloop, httptools, gunicorn_h1c",
        ["uvicorn-worker", "uvicorn", "uvloop", "httptools", "gunicorn-h1c"],
    ),
}
_CHOSE = re.compile(r"safeworkers AutoWorker chose (\S+):")


def group_asgi(options: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for name, (adds, requirements) in ASGI_ENVS.items():
        env = benchlib.make_env(f"asgi-{name}", requirements)
        configs = {
            "auto": gunicorn(env, "safeworkers.AutoWorker", app="hello:asgi"),
            "asgi": gunicorn(env, "asgi", app="hello:asgi"),
            "uvicorn": gunicorn(env, "uvicorn_worker.UvicornWorker", app="hello:asgi"),
        }
        rps, logs = throughput(configs, options, options.connections)
        chose = _CHOSE.search(logs["auto"])
        picked = chose.group(1) if chose else "?"
        labels = {"asgi": "`-k asgi`", "uvicorn": "`-k uvicorn_worker.UvicornWorker`"}
        short = {"asgi": "gunicorn asgi", "uvicorn": "uvicorn-worker"}
        auto = (f"`-k safeworkers.AutoWorker` (picks `{picked}`)", rps["auto"])
        for key, label in labels.items():
            # AutoWorker's twin is the worker it picks: the target applies there.
            picked_this = picked.endswith("UvicornWorker" if key == "uvicorn" else "asgi")
            rows.append(
                row(
                    "asgi",
                    f"{adds}: AutoWorker vs {short[key]}",
                    auto,
                    (label, rps[key]),
                    target=WRAPPER if picked_this else None,
                )
            )
        rows.append(
            row(
                "asgi",
                f"{adds}: gunicorn asgi vs uvicorn-worker",
                (labels["asgi"], rps["asgi"]),
                (labels["uvicorn"], rps["uvicorn"]),
                target=None,
            )
        )
    return rows


#: The Trio group's virtualenv: TrioWorker, hypercorn, gunicorn's asgi worker and
#: uvicorn-worker with the fastest asyncio stack (uvloop, httptools), and quart-trio.
TRIO_REQUIREMENTS = [
    "trio",
    "hypercorn",
    "httptools",
    "uvicorn-worker",
    "uvicorn",
    "uvloop",
    "quart-trio",
]
FAST_OFF = ("--env", "SAFEWORKERS_TRIO_FAST=0")


def group_trio(options: argparse.Namespace) -> list[dict[str, Any]]:
    env = benchlib.make_env("trio", TRIO_REQUIREMENTS)
    labels = {
        "fast": "`gunicorn -k safeworkers.TrioWorker`",
        "off": "`gunicorn -k safeworkers.TrioWorker`, `SAFEWORKERS_TRIO_FAST=0`",
        "hypercorn": "`hypercorn -k trio`",
        "asgi": "`gunicorn -k asgi`",
        "uvicorn": "`gunicorn -k uvicorn_worker.UvicornWorker` (uvloop, httptools)",
    }
    rows = []
    for connections in (4, 32):
        configs = {
            "fast": gunicorn(env, "safeworkers.TrioWorker", app="hello:asgi"),
            "off": gunicorn(env, "safeworkers.TrioWorker", *FAST_OFF, app="hello:asgi"),
            "hypercorn": (env, "hypercorn", "hello:asgi", ("-k", "trio")),
            "asgi": gunicorn(env, "asgi", app="hello:asgi"),
            "uvicorn": gunicorn(env, "uvicorn_worker.UvicornWorker", app="hello:asgi"),
        }
        rps, _ = throughput(configs, options, connections)
        side = {key: (labels[key], rps[key]) for key in configs}
        name = f"{connections} connections"
        rows += [
            # The 10x is at -c32; at -c4 the ratio is shown, not judged.
            row(
                "trio",
                f"{name}: vs hypercorn",
                side["fast"],
                side["hypercorn"],
                target=TRIO_FAST if connections == 32 else None,
            ),
            row(
                "trio", f"{name}: vs uvicorn-worker", side["fast"], side["uvicorn"], target=ASYNCIO
            ),
            row("trio", f"{name}: vs gunicorn asgi", side["fast"], side["asgi"], target=None),
            row("trio", f"{name}: fast path off", side["off"], side["hypercorn"], target=WRAPPER),
        ]
    configs = {
        "fast": gunicorn(env, "safeworkers.TrioWorker", app="quart_hello:app"),
        "hypercorn": (env, "hypercorn", "quart_hello:app", ("-k", "trio")),
    }
    rps, _ = throughput(configs, options, 32)
    rows.append(
        row(
            "trio",
            "quart-trio app, 32 connections",
            (labels["fast"], rps["fast"]),
            (labels["hypercorn"], rps["hypercorn"]),
            target=QUART,
        )
    )
    # What quart-trio costs with no server at all: the most any server could reach.
    alone = [quart_alone(env, options.seconds) for _ in rps["hypercorn"]]
    rows.append(
        row(
            "trio",
            "quart-trio app: the app alone, no server (the ceiling)",
            ("the app called in-process (bench/apps/quart_alone.py)", alone),
            (labels["hypercorn"], rps["hypercorn"]),
            target=None,
        )
    )
    return rows


def quart_alone(env: Env, seconds: float) -> float:
    """Requests per second of the quart-trio app called in-process, pinned as servers are."""
    out = subprocess.run(
        [*benchlib.SERVER_CPU, env.exe("python"), "quart_alone.py", str(seconds)],
        cwd=benchlib.APPS,
        env={**os.environ, "PYTHONPATH": str(benchlib.APPS)},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def group_boot(options: argparse.Namespace) -> list[dict[str, Any]]:
    env25 = eventlet_env()
    pairs: list[tuple[str, Config, Config]] = [
        ("sync", gunicorn(MAIN, "safeworkers.SyncWorker"), gunicorn(MAIN, "sync")),
        ("auto (picks sync)", gunicorn(MAIN, "safeworkers.AutoWorker"), gunicorn(MAIN, "sync")),
        ("gthread", gunicorn(MAIN, "safeworkers.ThreadWorker"), gunicorn(MAIN, "gthread")),
        ("gevent", gunicorn(MAIN, "safeworkers.GeventWorker"), gunicorn(MAIN, "gevent")),
        (
            "eventlet (gunicorn 25)",
            gunicorn(env25, "safeworkers.EventletWorker"),
            gunicorn(env25, "eventlet"),
        ),
        (
            "trio",
            gunicorn(MAIN, "safeworkers.TrioWorker", app="hello:asgi"),
            (MAIN, "hypercorn", "hello:asgi", ("-k", "trio")),
        ),
    ]
    rows = []
    for name, ours, theirs in pairs:
        configs = {"ours": ours, "theirs": theirs}
        for env, server, app, args in configs.values():  # warm up: the file cache
            benchlib.boot_seconds(env, server, app, *args)
        times: dict[str, list[float]] = {"ours": [], "theirs": []}
        for order in benchlib.turns(list(configs), options.boot_rounds):
            for key in order:
                env, server, app, args = configs[key]
                times[key].append(benchlib.boot_seconds(env, server, app, *args))
        label = lambda c: f"`{c[1]} {' '.join(c[3])}`"  # noqa: E731
        rows.append(
            row(
                "boot",
                name,
                (label(ours), times["ours"]),
                (label(theirs), times["theirs"]),
                unit="s",
                better="lower",
                target=BOOT,
            )
        )
    return rows


def group_startup(options: argparse.Namespace) -> list[dict[str, Any]]:
    python = MAIN.exe("python")
    runs = max(10, options.boot_rounds)

    def code(*lines: str) -> list[str]:
        return [python, "-c", "\n".join(lines)]

    imported = "import safeworkers.guard as g"
    #: name -> (what, command, baseline label, baseline command)
    bare = ("`python -c 'pass'`", code("pass"))
    hook = {"SAFEWORKERS_GUARD_PROCESS": "1"}
    commands = {
        "`import safeworkers`": ("`import safeworkers`", code("import safeworkers"), *bare),
        "`import safeworkers.guard`": (f"`{imported}`", code(imported), *bare),
        "`safeworkers doctor`": (
            "`safeworkers doctor`",
            [MAIN.exe("safeworkers"), "doctor"],
            *bare,
        ),
        # What every Python start pays where the start-up hook is on (safeworkers run).
        "`python -c 'pass'`, SAFEWORKERS_GUARD_PROCESS=1 vs unset": (
            "variable set",
            ["env", *(f"{k}={v}" for k, v in hook.items()), python, "-c", "pass"],
            "unset",
            code("pass"),
        ),
        # What the installed guard (a meta-path finder) adds to an import that pulls
        # trio in opportunistically; both sides have imported the guard.
        "`import httpx`, guard installed vs not": (
            "installed",
            code(imported, "g.install()", "import httpx"),
            "not installed",
            code(imported, "import httpx"),
        ),
    }
    rows = []
    for name, (ours_label, ours, theirs_label, theirs) in commands.items():
        benchlib.command_seconds(ours)  # warm up
        benchlib.command_seconds(theirs)
        times: dict[str, list[float]] = {"ours": [], "theirs": []}
        for order in benchlib.turns(["ours", "theirs"], runs):
            for key in order:
                argv = ours if key == "ours" else theirs
                times[key].append(1000 * benchlib.command_seconds(argv))
        rows.append(
            row(
                "startup",
                name,
                (ours_label, times["ours"]),
                (theirs_label, times["theirs"]),
                unit="ms",
                better="lower",
                target=None,
            )
        )
    return rows


GROUP_FUNCTIONS: dict[str, Callable[[argparse.Namespace], list[dict[str, Any]]]] = {
    "wsgi": group_wsgi,
    "eventlet": group_eventlet,
    "asgi": group_asgi,
    "trio": group_trio,
    "boot": group_boot,
    "startup": group_startup,
}


def versions() -> dict[str, str]:
    names = [
        "gunicorn",
        "hypercorn",
        "trio",
        "gevent",
        "eventlet",
        "uvicorn",
        "uvicorn-worker",
        "uvloop",
        "httptools",
        "gunicorn-h1c",
    ]
    found = {name: MAIN.version(name) for name in names}
    asgi = benchlib.VENVS / "asgi-uvloop" / "bin"
    if asgi.exists():
        extra = Env("asgi", asgi)
        for name in ("uvicorn", "uvicorn-worker", "uvloop", "httptools", "gunicorn-h1c"):
            found[name] = found[name] or extra.version(name)
    return {name: version for name, version in found.items() if version}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=24, help="throughput rounds")
    parser.add_argument("--seconds", type=int, default=1, help="per wrk run")
    parser.add_argument("--warmup", type=int, default=2, help="1 s wrk runs per server first")
    parser.add_argument("--boot-rounds", type=int, default=16, help="boots of each server")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--only", action="append", choices=list(GROUP_FUNCTIONS), help="repeatable")
    parser.add_argument(
        "--no-write", action="store_true", help="print only: keep the JSON and docs"
    )
    options = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("the benchmarks need wrk (apt-get install wrk)")
    benchlib.clean_environment()
    load_before = benchlib.load_average()
    if load_before >= 0.5:
        print(f"warning: load average {load_before:.2f}: figures from a busy machine are noise")
    groups = options.only or list(GROUP_FUNCTIONS)
    rows: list[dict[str, Any]] = []
    for group in groups:
        print(f"\n## {report.GROUPS[group]}", flush=True)
        new = GROUP_FUNCTIONS[group](options)
        rows += new
        print(report.table({"rows": new}, group), flush=True)
    load_after = benchlib.load_average()
    if options.no_write:
        return 0
    try:
        data = report.load()
    except (OSError, ValueError):
        data = {"rows": []}
    data["rows"] = [r for r in data["rows"] if r["group"] not in groups] + rows
    order = list(report.GROUPS)
    data["rows"].sort(key=lambda r: order.index(r["group"]))
    data.update(
        recorded=datetime.date.today().isoformat(),
        load_before=round(load_before, 2),
        load_after=round(load_after, 2),
        quiet=load_before < 0.5 and data.get("quiet", True) if options.only else load_before < 0.5,
        machine={
            "cpus": os.cpu_count(),
            "platform": platform.platform(terse=True),
            "python": platform.python_version(),
        },
        versions=versions(),
        settings={
            "rounds": options.rounds,
            "seconds": options.seconds,
            "warmup": options.warmup,
            "boot_rounds": options.boot_rounds,
            "connections": options.connections,
            "pinned": benchlib.PINNED,
        },
    )
    report.save(data)
    report.update_docs(data)
    report.chart(data)
    print(
        f"\nwrote {report.RESULTS.relative_to(report.ROOT)}, the docs' tables and "
        f"{report.CHART.relative_to(report.ROOT)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

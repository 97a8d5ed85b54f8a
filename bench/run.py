"""Side-by-side benchmarks: each safeworkers worker against the upstream worker it wraps.

    make bench                                   # everything (several minutes)
    .venv/bin/python bench/run.py --only trio    # one group
    .venv/bin/python bench/run.py --seconds 1 --rounds 1   # a quick check of the bench itself

Every comparison runs its servers in the same invocation, one worker process
each, on 127.0.0.1, serving bench/apps/hello.py; rounds alternate which
server goes first and the medians are compared. Load comes from ``wrk -t1``.
Groups that need another gunicorn or the ASGI workers get virtualenvs the
bench makes with uv (``.venv-bench/``). Results go to
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
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

# bench/ is on sys.path (the script's own directory): benchlib and report are bench's.
import benchlib
import report
from benchlib import MAIN, Env

WRAPPER = 0.97  # every wrapper >= 0.97x its twin
TRIO = 1.0  # TrioWorker >= 1.0x hypercorn -k trio
BOOT = 1.10  # boot <= 1.10x the twin

#: (env, server, app, args): one server configuration
Config = tuple[Env, str, str, tuple[str, ...]]


def gunicorn(env: Env, worker: str, *args: str, app: str = "hello:wsgi") -> Config:
    return (env, "gunicorn", app, ("-k", worker, *args))


def throughput(
    configs: dict[str, Config], options: argparse.Namespace, connections: int
) -> tuple[dict[str, float], dict[str, str]]:
    """Median req/s of each configuration (all running, measured in turn); their logs."""
    runs: dict[str, list[float]] = {label: [] for label in configs}
    logs: dict[str, str] = {}
    with ExitStack() as stack:
        running = {
            label: stack.enter_context(benchlib.serve(env, server, app, *args))
            for label, (env, server, app, args) in configs.items()
        }
        labels = list(configs)
        for label in labels:  # warm up
            benchlib.wrk(running[label].url, 1, connections)
        for round_no in range(options.rounds):
            shift = round_no % len(labels)
            for label in labels[shift:] + labels[:shift]:
                runs[label].append(benchlib.wrk(running[label].url, options.seconds, connections))
        logs = {label: run.log.read_text(errors="replace") for label, run in running.items()}
    return {label: statistics.median(values) for label, values in runs.items()}, logs


def row(
    group: str,
    name: str,
    ours: tuple[str, float],
    theirs: tuple[str, float],
    *,
    unit: str = "req/s",
    better: str = "higher",
    target: float | None = WRAPPER,
) -> dict[str, Any]:
    return {
        "group": group,
        "name": name,
        "ours_label": ours[0],
        "ours": round(ours[1], 4),
        "theirs_label": theirs[0],
        "theirs": round(theirs[1], 4),
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
    return rows


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


def group_trio(options: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for connections in (4, 32):
        configs = {
            "ours": gunicorn(MAIN, "safeworkers.TrioWorker", app="hello:asgi"),
            "theirs": (MAIN, "hypercorn", "hello:asgi", ("-k", "trio")),
        }
        rps, _ = throughput(configs, options, connections)
        rows.append(
            row(
                "trio",
                f"{connections} connections",
                ("`gunicorn -k safeworkers.TrioWorker`", rps["ours"]),
                ("`hypercorn -k trio`", rps["theirs"]),
                target=TRIO,
            )
        )
    return rows


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
    rounds = max(3, options.rounds * 2)
    for name, ours, theirs in pairs:
        times: dict[str, list[float]] = {"ours": [], "theirs": []}
        for round_no in range(rounds):
            order = [("ours", ours), ("theirs", theirs)]
            for key, (env, server, app, args) in order[::-1] if round_no % 2 else order:
                times[key].append(benchlib.boot_seconds(env, server, app, *args))
        label = lambda c: f"`{c[1]} {' '.join(c[3])}`"  # noqa: E731
        rows.append(
            row(
                "boot",
                name,
                (label(ours), statistics.median(times["ours"])),
                (label(theirs), statistics.median(times["theirs"])),
                unit="s",
                better="lower",
                target=BOOT,
            )
        )
    return rows


def group_startup(options: argparse.Namespace) -> list[dict[str, Any]]:
    python = MAIN.exe("python")
    runs = max(10, options.rounds * 5)

    def ms(*code: str) -> float:
        return 1000 * benchlib.command_seconds([python, "-c", "\n".join(code)], runs)

    bare = ms("pass")
    imported = "import safeworkers.guard as g"
    doctor = 1000 * benchlib.command_seconds([MAIN.exe("safeworkers"), "doctor"], runs)
    pairs = [
        ("`import safeworkers`", "import safeworkers", ms("import safeworkers")),
        ("`import safeworkers.guard`", imported, ms(imported)),
        ("`safeworkers doctor`", "safeworkers doctor", doctor),
    ]
    rows = [
        row(
            "startup",
            name,
            (f"`{what}`", value),
            ("`python -c 'pass'`", bare),
            unit="ms",
            better="lower",
            target=None,
        )
        for name, what, value in pairs
    ]
    # What the installed guard (a meta-path finder) adds to an import that
    # pulls trio in opportunistically; both sides have imported the guard.
    rows.append(
        row(
            "startup",
            "`import httpx`, guard installed vs not",
            ("installed", ms(imported, "g.install()", "import httpx")),
            ("not installed", ms(imported, "import httpx")),
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
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=3, help="per wrk run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--only", action="append", choices=list(GROUP_FUNCTIONS), help="repeatable")
    parser.add_argument(
        "--no-write", action="store_true", help="print only: keep the JSON and docs"
    )
    options = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("the benchmarks need wrk (apt-get install wrk)")
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
            "connections": options.connections,
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

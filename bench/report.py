"""Benchmark results: the JSON file, the Markdown tables in the docs, and the chart.

``bench/results/benchmarks.json`` is the one place the figures live. The docs
hold generated blocks between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME
-->`` markers; ``make bench`` rewrites them from the JSON, and
tests/unit/test_benchmark_docs.py checks that they still match it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "benchmarks.json"
CHART = ROOT / "docs" / "img" / "benchmarks.png"
DOCS = [ROOT / "docs" / "benchmarks.md", ROOT / "docs" / "trio.md"]

#: group -> (title, what the ratio means)
GROUPS = {
    "wsgi": "WSGI workers against gunicorn's own",
    "eventlet": "EventletWorker against gunicorn 25's eventlet worker",
    "asgi": "ASGI: AutoWorker and gunicorn's asgi worker against uvicorn-worker",
    "trio": "TrioWorker against hypercorn -k trio and the asyncio workers",
    "boot": "Boot time: spawn to first 200",
    "startup": "Start-up costs",
}


def load(path: Path = RESULTS) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def save(data: dict[str, Any], path: Path = RESULTS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def ratio(row: dict[str, Any]) -> float:
    """The median of the per-round ratios (older results: the ratio of the medians)."""
    if "ratio" in row:
        return float(row["ratio"])
    return float(row["ours"]) / float(row["theirs"])


def spread(row: dict[str, Any]) -> str:
    """The quartiles of the per-round ratios, as `(0.97-1.03)`, if recorded."""
    if "low" not in row:
        return ""
    return f" ({row['low']:.2f}-{row['high']:.2f})"


def met(row: dict[str, Any]) -> bool | None:
    """Whether the row meets its target (None: no target)."""
    target = row.get("target")
    if target is None:
        return None
    value = round(ratio(row), 2)
    return value >= target if row["better"] == "higher" else value <= target


def _number(value: float, unit: str) -> str:
    if unit == "req/s":
        return f"{value:,.0f}"
    if unit == "ms":
        return f"{value:,.1f} ms"
    return f"{value:,.3f} s"


def _target(row: dict[str, Any]) -> str:
    target = row.get("target")
    if target is None:
        return "-"
    sign = ">=" if row["better"] == "higher" else "<="
    verdict = "met" if met(row) else "**missed**"
    return f"{sign} {target:.2f}: {verdict}"


def table(data: dict[str, Any], group: str) -> str:
    """The Markdown table of one group."""
    rows = [row for row in data["rows"] if row["group"] == group]
    lines = [
        "| comparison | safeworkers | upstream | ratio (quartiles) | target |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['name']} | {row['ours_label']}: {_number(row['ours'], row['unit'])} "
            f"| {row['theirs_label']}: {_number(row['theirs'], row['unit'])} "
            f"| {ratio(row):.2f}{spread(row)} | {_target(row)} |"
        )
    return "\n".join(lines)


def conditions(data: dict[str, Any]) -> str:
    """One paragraph: when, where, with what, and how busy the machine was."""
    machine = data["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in sorted(data["versions"].items()))
    quiet = (
        "a machine that was quiet when the run began"
        if data["quiet"]
        else "**a busy machine** (other jobs were running: these figures are indicative only)"
    )
    settings = data["settings"]
    pinned = (
        "servers pinned to CPU 0 and wrk to CPU 1 (taskset)"
        if settings.get("pinned")
        else "nothing pinned"
    )
    after = data.get("load_after")
    during = (
        f" and {after:.2f} at its end (the bench itself keeps about two processes busy)"
        if after is not None
        else ""
    )
    return (
        f"Recorded {data['recorded']} on {quiet}: load average "
        f"{data['load_before']:.2f} before the run{during}; {machine['cpus']} cores, "
        f"{machine['platform']}, Python {machine['python']}; {versions}. "
        f"Load: `wrk -t1`, {settings['warmup']} s of warm-up per server, then "
        f"{settings['rounds']} rounds of {settings['seconds']} s per server; "
        f"{settings['boot_rounds']} boots of each server; {pinned}. Each round runs every "
        "server once, in an order reversed every other round; a ratio is the median of the "
        "per-round ratios, with their quartiles in brackets; the figures beside it are each "
        "side's median."
    )


def blocks(data: dict[str, Any]) -> dict[str, str]:
    """Every generated docs block, by name."""
    out = {"conditions": conditions(data)}
    for group in GROUPS:
        if any(row["group"] == group for row in data["rows"]):
            out[group] = table(data, group)
    return out


_BLOCK = re.compile(r"(<!-- bench:(\w+) -->)\n(.*?)\n?(<!-- /bench:\2 -->)", re.S)


def embedded(text: str) -> dict[str, str]:
    """The generated blocks found in a docs page."""
    return {match.group(2): match.group(3) for match in _BLOCK.finditer(text)}


def update_docs(data: dict[str, Any], pages: list[Path] = DOCS) -> None:
    rendered = blocks(data)
    for page in pages:
        text = page.read_text()
        new = _BLOCK.sub(
            lambda m: f"{m.group(1)}\n{rendered.get(m.group(2), m.group(3))}\n{m.group(4)}", text
        )
        if new != text:
            page.write_text(new)


def chart(data: dict[str, Any], path: Path = CHART) -> None:
    """A bar per comparison: its ratio, and its target as a tick."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [row for row in data["rows"] if row.get("target") is not None]
    labels = [
        f"{GROUPS[row['group']].split(':')[0].split(' against')[0]}: {row['name']}" for row in rows
    ]
    limit = 2.0  # a longer bar is a busy machine's noise, not news: its label says the value
    ratios = [min(ratio(row), limit) for row in rows]
    colours = ["#2e7d32" if met(row) else "#c62828" for row in rows]
    fig, ax = plt.subplots(figsize=(9, 0.38 * len(rows) + 1.4))
    positions = range(len(rows))
    # The whiskers: the quartiles of the per-round ratios.
    pairs = list(zip(ratios, rows, strict=True))
    errors = [
        [max(0.0, r - min(float(row.get("low", r)), limit)) for r, row in pairs],
        [max(0.0, min(float(row.get("high", r)), limit) - r) for r, row in pairs],
    ]
    ax.barh(positions, ratios, color=colours, xerr=errors, ecolor="#555555", capsize=2)
    for y, row in zip(positions, rows, strict=True):
        ax.plot([row["target"]] * 2, [y - 0.4, y + 0.4], color="black", linewidth=1.5)
        ax.text(min(ratios[y], 1.85) + 0.01, y, f"{ratio(row):.2f}", va="center", fontsize=8)
    ax.set_yticks(list(positions), labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(1.0, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xlim(0, limit)
    ax.set_xlabel("safeworkers / upstream (throughput: higher is better; boot: lower is better)")
    quiet = "quiet machine" if data["quiet"] else "BUSY machine: indicative only"
    ax.set_title(
        f"safeworkers / upstream, {data['recorded']} ({quiet})\n"
        "median of per-round ratios; whiskers: quartiles; black tick: target",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)

"""One set of benchmark figures: the docs' tables are the ones bench/results holds.

``make bench`` writes bench/results/benchmarks.json and regenerates the
tables in the docs from it; a hand-edited figure, or a JSON updated without
the docs, fails here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _report() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "bench" / "report.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_tables_are_the_recorded_figures() -> None:
    report = _report()
    data = report.load()
    rendered = report.blocks(data)
    assert set(rendered) == {"conditions", *report.GROUPS}, "every group was recorded"
    seen = set()
    for page in report.DOCS:
        for name, text in report.embedded(page.read_text()).items():
            assert text == rendered[name], f"{page.name}: block {name!r} differs from the JSON"
            seen.add(name)
    assert seen == set(rendered), "every table appears in the docs"


def test_results_state_machine_and_versions() -> None:
    data = _report().load()
    assert data["machine"]["cpus"]
    assert data["machine"]["python"]
    for name in ("gunicorn", "hypercorn", "trio", "gevent", "eventlet"):
        assert name in data["versions"], name
    assert isinstance(data["quiet"], bool)


def test_chart_is_there() -> None:
    chart = _report().CHART
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

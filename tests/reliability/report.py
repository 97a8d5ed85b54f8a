"""The reliability summary: every figure the reliability tests measured, as one table.

Tests call ``record(...)`` (the ``reliability_record`` fixture); each row is
appended as a JSON line to a file the pytest controller names (so rows from
xdist workers arrive too), and ``pytest_terminal_summary`` prints the table at
the end of the run. tests/conftest.py wires the hooks in.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

_ENV = "SWTEST_RELIABILITY_LOG"
COLUMNS = ("scenario", "worker", "transport", "requests", "failed", "non-2xx", "5xx", "detail")


def record(scenario: str, worker: str, transport: str, **figures: Any) -> None:
    """Add one row to the summary (a no-op outside a pytest run that set the log up)."""
    path = os.environ.get(_ENV)
    if not path:
        return
    row = {"scenario": scenario, "worker": worker, "transport": transport, **figures}
    with open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps(row) + "\n")


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # an xdist worker: the controller set the path
        return
    handle, path = tempfile.mkstemp(prefix="sw-reliability-", suffix=".jsonl")
    os.close(handle)
    os.environ[_ENV] = path


def _rows(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    rows = [json.loads(line) for line in lines if line.strip()]
    return sorted(rows, key=lambda r: (r["scenario"], r["worker"], r["transport"]))


def table(rows: list[dict[str, Any]]) -> list[str]:
    """The rows as a Markdown table (also readable in a terminal)."""
    cells = [[str(row.get(column, "")) for column in COLUMNS] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(COLUMNS)]
    line = "| " + " | ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    return [line, rule, *body]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    path = os.environ.get(_ENV)
    if not path:
        return
    rows = _rows(Path(path))
    if rows:
        terminalreporter.section("safeworkers reliability summary")
        for line in table(rows):
            terminalreporter.write_line(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    path = os.environ.pop(_ENV, None)
    if path:
        Path(path).unlink(missing_ok=True)

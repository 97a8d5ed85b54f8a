"""`safeworkers migrate` when the scan hits a bound: it says the list is incomplete, exit 2.

The bound is lowered here (a real project over 20,000 files is not made in a unit test);
the scan reads tests/fixtures/migrate, never imports it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

from safeworkers.cli import migrate

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "migrate"


def run(json_output: bool) -> argparse.Namespace:
    return argparse.Namespace(
        app="eventlet_app.server:app", json=json_output, chdir=str(FIXTURE), pythonpath=None
    )


def test_a_scan_stopped_at_its_bound_is_incomplete(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # main() changes directory and sys.path, as gunicorn's --chdir does: both undone after
    monkeypatch.chdir(FIXTURE)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(migrate, "MAX_FILES", 2)
    assert migrate.main(run(json_output=False)) == 2
    out, err = capsys.readouterr()
    assert "(eventlet_app.server: 2 files read, stopped early: more than 2 files)" in out
    assert err.strip() == (
        "safeworkers: the list of eventlet uses is incomplete: the scan stopped early (more "
        "than 2 files), and what was not read may use eventlet too: run migrate on one "
        "package of the app at a time"
    )
    assert migrate.main(run(json_output=True)) == 2
    report = json.loads(capsys.readouterr().out)
    assert (report["complete"], report["ok"], report["stopped"]) == (
        False,
        False,
        "more than 2 files",
    )

"""detect reports the right facts in real patched processes, and has no side effects."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests import harness

HEAVY = ("gevent", "eventlet", "trio", "hypercorn")

REPORT = "from safeworkers import detect\nenv = detect.environment()\nresult = env.to_dict()\n"


def test_unpatched_process() -> None:
    outcome = harness.run(REPORT)
    assert outcome.ok, outcome
    facts = outcome.result
    assert isinstance(facts, dict)
    assert facts["patched"] == {}
    assert facts["trio"] == {
        "backend": "epoll",
        "usable": True,
        "unusable_reason": None,
        "imported": False,
    }
    assert facts["packages"]["gunicorn"]
    assert facts["packages"]["trio"]


@pytest.mark.parametrize("patch", ["gevent", "eventlet"])
def test_patched_process_names_the_patcher(patch: str) -> None:
    # Where eventlet's own import pulls trio in (dnspython < 2.9, Python 3.10),
    # an unguarded eventlet process cannot start (the guard matrix shows it):
    # look at a guarded one, as EventletWorker's is.
    guarded = patch == "eventlet" and harness.eventlet_imports_trio()
    outcome = harness.run(REPORT, patch=patch, guard="guard" if guarded else "without")
    assert outcome.ok, outcome
    facts = outcome.result
    assert isinstance(facts, dict)
    assert facts["patchers"] == [patch]
    # The modules both patchers replace by default.
    for module in ("socket", "select", "threading", "time"):
        assert facts["patched"][module] == patch, module
    assert facts["trio"]["usable"] is False
    assert f"removed by {patch}" in facts["trio"]["unusable_reason"]
    # The backend judged from the original select module is still epoll.
    assert facts["trio"]["backend"] == "epoll"
    ids = {f["id"] for f in facts["findings"]}
    if not guarded:
        assert "patched-with-trio-importers" in ids  # no guard in this child


def test_guarded_patched_process_has_no_trio_importer_finding() -> None:
    outcome = harness.run(REPORT, patch="gevent", guard="guard")
    assert outcome.ok, outcome
    facts = outcome.result
    assert isinstance(facts, dict)
    assert "patched-with-trio-importers" not in {f["id"] for f in facts["findings"]}


def test_trio_imported_before_patching_is_a_finding() -> None:
    code = "import trio\nimport gevent.monkey\ngevent.monkey.patch_all()\n" + REPORT
    outcome = harness.run(code)
    assert outcome.ok, outcome
    facts = outcome.result
    assert isinstance(facts, dict)
    finding = next(f for f in facts["findings"] if f["id"] == "trio-imported-before-patching")
    assert finding["severity"] == "info"
    assert "preload" not in finding["fix"]


def test_structural_evidence_without_the_patchers_api() -> None:
    """A primitive that vanished is reported even when no patcher owns up."""
    code = "import select\ndel select.epoll\n" + REPORT
    outcome = harness.run(code)
    facts = outcome.result
    assert isinstance(facts, dict)
    assert facts["patched"] == {"select": "unknown"}
    assert facts["trio"]["usable"] is False


def test_environment_imports_none_of_the_heavy_packages() -> None:
    code = (
        "import sys, json\n"
        "from safeworkers import detect\n"
        "env = detect.environment()\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_import_safeworkers_imports_none_of_the_heavy_packages() -> None:
    code = (
        "import sys, json\n"
        "import safeworkers, safeworkers.guard\n"
        "safeworkers.guard.install()\n"
        f"print(json.dumps([m for m in sys.modules if m.split('.')[0] in {HEAVY!r}]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []

"""`safeworkers doctor` shows the GIL everywhere, and on macOS the two fork-safety states."""

from __future__ import annotations

import argparse
import json
import os

import pytest

from safeworkers.cli import doctor
from safeworkers.facts import forksafety


def run(capsys: pytest.CaptureFixture[str], *, as_json: bool = False) -> str:
    assert doctor.main(argparse.Namespace(json=as_json, strict=False)) == 0
    return capsys.readouterr().out


def test_linux(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(forksafety.SIMULATE_VARIABLE, raising=False)
    out = run(capsys)
    assert "\ngil           regular build (GIL)\n" in out
    assert "objc fork" not in out
    assert "proxies " not in out


def test_macos_simulated(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(forksafety.SIMULATE_VARIABLE, "darwin")
    monkeypatch.delenv(forksafety.OBJC_VARIABLE, raising=False)
    for name in [n for n in os.environ if n.lower().endswith("_proxy")]:
        monkeypatch.delenv(name)
    out = run(capsys)
    assert "macOS simulated (Trio's backend, fork safety)" in out
    assert "\nobjc fork     on (OBJC_DISABLE_INITIALIZE_FORK_SAFETY is not set)" in out
    assert "\nproxies       from macOS's system settings (urllib asks _scproxy)" in out
    assert "[warning] objc-fork-safety-check-on" in out
    assert "[info] proxies-from-system-settings" in out

    monkeypatch.setenv(forksafety.OBJC_VARIABLE, "YES")
    monkeypatch.setenv("NO_PROXY", "*")
    out = run(capsys)
    assert "\nobjc fork     off (OBJC_DISABLE_INITIALIZE_FORK_SAFETY=YES;" in out
    assert "\nproxies       from the environment (NO_PROXY)" in out
    report = json.loads(run(capsys, as_json=True))
    assert report["fork_safety"]["objc_check_disabled"] is True
    assert report["python"]["free_threaded"] is False

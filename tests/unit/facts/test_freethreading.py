"""safeworkers.facts.freethreading, on simulated facts: no free-threaded Python runs here.

CI's 3.14t job runs the suite's subset on a real one (.github/workflows/ci.yml).
"""

from __future__ import annotations

import sys
from types import ModuleType

import pytest

from safeworkers.facts import freethreading
from safeworkers.facts.freethreading import GilState

WARNING = (
    "The global interpreter lock (GIL) has been enabled to load module 'greenlet._greenlet', "
    "which has not declared that it can run safely without the GIL. To override this behavior "
    "and keep the GIL disabled (at your own risk), run with PYTHON_GIL=0 or -Xgil=0."
)


def module(
    name: str, file: str | None = None, registry: dict[object, object] | None = None
) -> ModuleType:
    made = ModuleType(name)
    if file is not None:
        made.__file__ = file
    if registry is not None:
        made.__warningregistry__ = registry  # type: ignore[attr-defined]
    return made


def test_this_interpreter_is_a_regular_build() -> None:
    state = freethreading.gil_state()
    if freethreading.free_threaded_build():  # the 3.14t CI job
        assert state.free_threaded
        assert state.enabled == sys._is_gil_enabled()  # type: ignore[attr-defined]
    else:
        assert state == GilState(free_threaded=False, enabled=True)
        assert state.describe() == "regular build (GIL)"


@pytest.mark.parametrize(
    ("abiflags", "free"), [("t", True), ("td", True), ("", False), ("d", False)]
)
def test_the_build_from_abiflags(abiflags: str, free: bool) -> None:
    assert freethreading.free_threaded_build(abiflags) is free


def test_gil_off() -> None:
    state = freethreading.gil_state(
        abiflags="t", enabled=False, environ={}, xoptions={}, modules={}
    )
    assert state.parallel_threads
    assert state.describe() == "free-threaded build, GIL off: threads run in parallel"


def test_who_reenabled_it_from_the_warning_cpython_recorded() -> None:
    importlib_frame = module("_frozen_importlib", registry={(WARNING, RuntimeWarning, 491): True})
    state = freethreading.gil_state(
        abiflags="t",
        enabled=True,
        environ={},
        xoptions={},
        modules={"_frozen_importlib": importlib_frame},
    )
    assert state.reenabled_by == "greenlet._greenlet"
    assert state.describe() == "free-threaded build, GIL on: greenlet._greenlet re-enabled it"


def test_who_reenabled_it_when_the_warning_was_not_recorded() -> None:
    """Warnings ignored: the third-party extension modules are the candidates."""
    modules = {
        "greenlet._greenlet": module(
            "greenlet._greenlet", "/v/site-packages/greenlet/_greenlet.so"
        ),
        "json": module("json", "/usr/lib/python3.14t/json/__init__.py"),
        "math": module("math", None),
    }
    state = freethreading.gil_state(
        abiflags="t", enabled=True, environ={}, xoptions={}, modules=modules
    )
    assert state.reenabled_by == "one of the extension modules imported (greenlet._greenlet)"


@pytest.mark.parametrize(
    ("environ", "xoptions", "forced"),
    [({"PYTHON_GIL": "1"}, {}, "PYTHON_GIL=1"), ({}, {"gil": "1"}, "-X gil=1"), ({}, {}, None)],
)
def test_forced_on(environ: dict[str, str], xoptions: dict[str, str], forced: str | None) -> None:
    state = freethreading.gil_state(
        abiflags="t", enabled=True, environ=environ, xoptions=xoptions, modules={}
    )
    assert state.forced == forced
    if forced:
        assert state.reenabled_by is None
        assert state.describe() == f"free-threaded build, GIL on ({forced})"


GREENLET_ON = GilState(free_threaded=True, enabled=True, reenabled_by="greenlet._greenlet")


def test_green_worker_says_greenlet_reenabled_the_gil_and_what_it_costs() -> None:
    level, message = freethreading.worker_note(
        GREENLET_ON, "GeventWorker", green=True, threads=1
    ) or ("", "")
    assert level == "warning"
    assert "greenlet._greenlet re-enabled it when imported" in message
    assert "gains nothing from free-threading" in message
    assert "single-thread overhead" in message
    assert "safeworkers.ThreadWorker" in message


def test_green_worker_with_the_gil_still_off_says_so() -> None:
    note = freethreading.worker_note(GilState(True, False), "EventletWorker", green=True, threads=1)
    assert note is not None
    assert "(the GIL is off)" in note[1]


def test_thread_worker_notes() -> None:
    assert (
        freethreading.worker_note(GilState(False, True), "ThreadWorker", green=False, threads=8)
        is None
    )
    info = freethreading.worker_note(GilState(True, False), "ThreadWorker", green=False, threads=8)
    assert info == (
        "info",
        "safeworkers ThreadWorker: free-threaded Python, GIL off: 8 threads run in parallel",
    )
    assert (
        freethreading.worker_note(GilState(True, False), "SyncWorker", green=False, threads=1)
        is None
    )
    warning = freethreading.worker_note(GREENLET_ON, "ThreadWorker", green=False, threads=8)
    assert warning is not None
    assert warning[0] == "warning"
    assert "greenlet._greenlet re-enabled it" in warning[1]
    assert "PYTHON_GIL=0" in warning[1]
    forced = GilState(True, True, forced="PYTHON_GIL=1")
    assert freethreading.worker_note(forced, "ThreadWorker", green=False, threads=8) is None

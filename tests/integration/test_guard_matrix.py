"""Issue #2's matrix: {no patch, gevent, eventlet} x {Linux, macOS-like, BSD-like}
x {without safeworkers, guard, preimport} x four things real apps do.

Cells without safeworkers reproduce today's crashes (exception type asserted);
cells with the guard succeed where the library has an ImportError fallback,
and fail with BackendUnavailable (message checked) where it has none.
Each cell is its own interpreter: see tests/harness.
"""

from __future__ import annotations

import sys

import pytest

from tests import harness, markers

#: The macOS CI job runs the matrix there, natively (markers.simulated).
pytestmark = markers.real_platform

SCENARIOS = {
    "import trio": "import trio\nresult = trio.__name__",
    "import httpcore": "import httpcore\nresult = httpcore.__version__",
    "httpx.Client() at import": (
        "import httpx\nclient = httpx.Client()\nresult = type(client).__name__"
    ),
    "anyio.run asyncio": (
        "import anyio\n"
        "async def main():\n"
        "    await anyio.sleep(0)\n"
        "    return 42\n"
        "result = anyio.run(main, backend='asyncio')"
    ),
}


def trio_import_failure(patch: str, platform: str) -> str | None:
    """What ``import trio`` raises under ``patch`` without safeworkers, or None."""
    if patch == "none":
        return None
    if platform in ("macos", "bsd"):
        return "NotImplementedError"
    if patch == "eventlet":
        return "AttributeError"  # GreenSocket has no sendmsg, inside trio._socket
    return None  # gevent on Linux: the import works; trio.run fails (tested below)


def expected_failure(scenario: str, patch: str, platform: str, guard: str) -> str | None:
    """The exception type a cell must raise, or None when it must succeed."""
    if patch == "none" or guard == "preimport":
        return None
    if scenario == "anyio.run asyncio":
        return None  # anyio imports trio only for backend="trio"
    if guard == "guard":
        # Only a hard `import trio` has no fallback; the others catch ImportError.
        return "BackendUnavailable" if scenario == "import trio" else None
    # Without safeworkers: today's crashes.
    return trio_import_failure(patch, platform)


def covering(patch: str, platform: str, guard: str, scenario: str) -> bool:
    """Whether a cell is in the covering set: each (patch, guard, scenario) once, on the
    platform its position picks in turn, so that every (patch, platform, guard) is run too.

    A third of the matrix; CI's subset on the other Pythons runs only these
    (``-m "not full_matrix"``), the main suite runs every cell.
    """
    index = (
        harness.PATCHES.index(patch) + harness.GUARDS.index(guard) + list(SCENARIOS).index(scenario)
    )
    return harness.PLATFORMS[index % len(harness.PLATFORMS)] == platform


CELLS = [
    pytest.param(
        s,
        p,
        pl,
        g,
        id=f"{p}-{pl}-{g}-{s.replace(' ', '_')}",
        marks=(
            *(() if covering(p, pl, g, s) else (pytest.mark.full_matrix,)),
            *((markers.needs_linux,) if pl == "linux" else ()),
        ),
    )
    for p in harness.PATCHES
    for pl in harness.PLATFORMS
    for g in harness.GUARDS
    for s in SCENARIOS
]


@pytest.mark.parametrize(("scenario", "patch", "platform", "guard"), CELLS)
def test_matrix_cell(scenario: str, patch: str, platform: str, guard: str) -> None:
    outcome = harness.run(SCENARIOS[scenario], patch=patch, platform=platform, guard=guard)
    expected = expected_failure(scenario, patch, platform, guard)
    if outcome.stage == "patch":
        # Without safeworkers, eventlet's own import can pull trio in and die
        # with the failure `import trio` has here: today's crash, only earlier.
        assert (patch, guard) == ("eventlet", "without"), f"{outcome}\n{outcome.stderr}"
        assert harness.eventlet_imports_trio(), f"{outcome}\n{outcome.stderr}"
        assert outcome.exc_type == trio_import_failure(patch, platform), outcome
        return
    if expected is None:
        assert outcome.ok, f"expected success, got {outcome}\n{outcome.stderr}"
        return
    assert not outcome.ok, f"expected {expected}, but the cell succeeded: {outcome}"
    assert outcome.exc_type == expected, f"{outcome}\n{outcome.stderr}"
    if expected == "BackendUnavailable":
        assert "ImportError" in outcome.exc_mro
        assert f"monkey-patched by {patch}" in outcome.message
        assert f"platform {sys.platform}" in outcome.message  # the real one, simulated or not
        assert "SAFEWORKERS_GUARD=preimport" in outcome.message  # the cure is named
        assert "safeworkers.TrioWorker" in outcome.message


RUN_TRIO = "import trio\ntrio.run(trio.sleep, 0)\nresult = 'ran'"


@markers.needs_linux
def test_gevent_on_linux_imports_trio_then_fails_at_run_without_safeworkers() -> None:
    """The third failure mode: the import works, the loop does not."""
    outcome = harness.run(RUN_TRIO, patch="gevent", platform="linux", guard="without")
    assert outcome.exc_type == "AttributeError"
    assert "epoll" in outcome.message


@markers.needs_linux
def test_gevent_on_linux_with_guard_fails_at_import_with_the_reason() -> None:
    outcome = harness.run(RUN_TRIO, patch="gevent", platform="linux", guard="guard")
    assert outcome.exc_type == "BackendUnavailable"
    assert "select.epoll was removed by gevent" in outcome.message


@pytest.mark.parametrize(
    ("patch", "platform", "original"),
    [
        ("gevent", "macos", "NotImplementedError"),
        pytest.param("eventlet", "linux", "AttributeError", marks=markers.needs_linux),
        ("eventlet", "bsd", "NotImplementedError"),
    ],
)
def test_catch_path_translates_what_trio_raises(patch: str, platform: str, original: str) -> None:
    """With the pre-check disabled, the exception trio raises is translated.

    This exercises the second line of defence (catching during the import),
    which protects modules the guard has no pre-check for.
    """
    code = (
        "import sys, safeworkers.guard as g\n"
        "g._PRECHECKS.clear()\n"
        # Forget a failure from an earlier, optional import (eventlet's own,
        # through dnspython and httpcore, on Python 3.10).
        "g._guard.failures.clear()\n"
        "try:\n"
        "    import trio\n"
        "except ImportError as exc:\n"
        "    leftovers = sorted(m for m in sys.modules if m == 'trio' or m.startswith('trio.'))\n"
        "    cause = type(exc.__cause__).__name__\n"
        "    try:\n"
        "        import trio\n"
        "    except ImportError as again:\n"
        "        second = str(again) == str(exc)\n"
        "    result = [type(exc).__name__, cause, leftovers, second]\n"
    )
    outcome = harness.run(code, patch=patch, platform=platform, guard="guard")
    assert outcome.ok, outcome
    assert outcome.result == ["BackendUnavailable", original, [], True]


def test_httpx_async_client_works_under_gevent_with_guard() -> None:
    """httpcore's async path uses anyio when trio is unavailable."""
    code = (
        "import httpx, anyio\n"
        "async def main():\n"
        "    async with httpx.AsyncClient() as c:\n"
        "        return type(c).__name__\n"
        "result = anyio.run(main)"
    )
    outcome = harness.run(code, patch="gevent", platform="macos", guard="guard")
    assert outcome.ok, outcome


def test_the_covering_cells_cover_every_triple() -> None:
    """The subset's cells: every (patch, platform, guard) and (patch, guard, scenario)."""
    cells = [cell for cell in CELLS if pytest.mark.full_matrix not in cell.marks]
    assert len(cells) == len(CELLS) // 3
    triples = {(p, pl, g) for _, p, pl, g in (c.values for c in cells)}
    assert len(triples) == len(harness.PATCHES) * len(harness.PLATFORMS) * len(harness.GUARDS)
    scenarios = {(p, g, s) for s, p, _, g in (c.values for c in cells)}
    assert len(scenarios) == len(harness.PATCHES) * len(harness.GUARDS) * len(SCENARIOS)

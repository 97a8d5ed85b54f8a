"""The `safeworkers` command, run as users run it."""

from __future__ import annotations

import json

import pytest

from tests import servers
from tests.expect import FASTEST

CLI = str(servers.BIN / "safeworkers")


def test_doctor_json() -> None:
    code, output = servers.run_to_exit([CLI, "doctor", "--json"])
    assert code == 0, output
    facts = json.loads(output)
    assert facts["packages"]["gunicorn"]
    assert facts["trio"]["usable"] is True
    assert facts["patched"] == {}


def test_doctor_text_lists_findings_and_strict_fails_on_warnings() -> None:
    code, output = servers.run_to_exit([CLI, "doctor"])
    assert code == 0
    assert "trio backend  epoll (usable)" in output
    # --strict fails exactly when there are warnings (here: only the environment's
    # eventlet import chain, where it exists; gunicorn >= 26 without eventlet is info).
    _, facts = servers.run_to_exit([CLI, "doctor", "--json"])
    warnings = [f["id"] for f in json.loads(facts)["findings"] if f["severity"] != "info"]
    assert set(warnings) <= {"eventlet-import-imports-trio"}
    code, _ = servers.run_to_exit([CLI, "doctor", "--strict"])
    assert code == (1 if warnings else 0)


@pytest.mark.parametrize(
    ("app", "args", "expected"),
    [
        ("wsgi_plain:app", [], "gunicorn -k safeworkers.SyncWorker"),
        ("wsgi_plain:app", ["--threads", "4"], "gunicorn -k safeworkers.ThreadWorker"),
        ("asgi_plain:app", [], f"gunicorn -k {FASTEST}"),
        ("asgi_trio_only:app", [], "gunicorn -k safeworkers.TrioWorker"),
        ("asgi_trio_only:app", ["--server", "hypercorn"], "hypercorn -k trio"),
        ("factory_app:create_app()", [], "gunicorn -k safeworkers.SyncWorker"),
    ],
)
def test_recommend(app: str, args: list[str], expected: str) -> None:
    code, output = servers.run_to_exit([CLI, "recommend", app, *args])
    assert code == 0, output
    assert output.splitlines()[0] == expected
    assert "  because " in output
    assert "run: " in output


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ("wsgi_plain", "is not MODULE:APP"),
        ("no_such_module_xyz:app", "cannot import 'no_such_module_xyz'"),
        ("wsgi_plain:nope", "module 'wsgi_plain' has no 'nope'"),
        ("broken_app:app", "cannot import 'broken_app': RuntimeError: DATABASE_URL is not set"),
    ],
)
def test_recommend_bad_target(app: str, message: str) -> None:
    code, output = servers.run_to_exit([CLI, "recommend", app])
    assert code != 0
    assert "safeworkers: " in output
    assert message in output
    assert "Traceback" not in output


def test_recommend_never_prints_threads_with_syncworker() -> None:
    """gunicorn swaps '...SyncWorker' with --threads > 1 for its own gthread."""
    code, output = servers.run_to_exit(
        [CLI, "recommend", "wsgi_plain:app", "--threads", "4"], env={"SAFEWORKERS_BACKEND": "sync"}
    )
    assert code == 0, output
    assert "run: gunicorn -k safeworkers.SyncWorker wsgi_plain:app" in output
    assert "--threads 4 is ignored by the sync worker" in output

"""The `safeworkers` command, run as users run it."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from tests import markers, servers
from tests.expect import FASTEST

CLI = str(servers.BIN / "safeworkers")


def test_doctor_json() -> None:
    code, output = servers.run_to_exit([CLI, "doctor", "--json"])
    assert code == 0, output
    facts = json.loads(output)
    assert facts["packages"]["gunicorn"]
    assert facts["trio"]["usable"] is True
    assert facts["patched"] == {}


def test_doctor_imports_only_what_it_reports_on() -> None:
    """No other command's imports (the server harness, the decision) in `doctor`."""
    probe = (
        "import sys; from safeworkers import cli; cli.main(['doctor', '--json']); "
        "print(*sorted(m for m in sys.modules if m.startswith('safeworkers')), file=sys.stderr)"
    )
    code, output = servers.run_to_exit([str(servers.BIN / "python"), "-c", probe])
    assert code == 0, output
    loaded = set(output.split("\n")[-2].split())
    assert "safeworkers.facts.process" in loaded
    assert not loaded & {
        "safeworkers.testing",
        "safeworkers.decision.decide",
        "safeworkers.decision.policy",
    }


def test_doctor_text_lists_findings_and_strict_fails_on_warnings() -> None:
    code, output = servers.run_to_exit([CLI, "doctor"])
    assert code == 0
    assert f"trio backend  {markers.TRIO_BACKEND} (usable)" in output
    # --strict fails exactly when there are warnings (here: only the environment's
    # eventlet import chain, where it exists; gunicorn >= 26 without eventlet is info).
    _, facts = servers.run_to_exit([CLI, "doctor", "--json"])
    warnings = [f["id"] for f in json.loads(facts)["findings"] if f["severity"] != "info"]
    assert set(warnings) <= {"eventlet-import-imports-trio"}
    code, _ = servers.run_to_exit([CLI, "doctor", "--strict"])
    assert code == (1 if warnings else 0)


@markers.needs_posix  # the app is loaded with gunicorn's loader
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


@markers.needs_posix  # the app is loaded with gunicorn's loader
@pytest.mark.parametrize(
    ("app", "message"),
    [
        # gunicorn reads a bare module as MODULE:application
        ("wsgi_plain", "Failed to find attribute 'application' in 'wsgi_plain'"),
        ("no_such_module_xyz:app", "cannot import 'no_such_module_xyz'"),
        ("wsgi_plain:nope", "Failed to find attribute 'nope' in 'wsgi_plain'"),
        ("factory_app:create_app(", "Failed to parse 'create_app(' as an attribute name"),
        ("factory_app:create_app(1)", "create_app() takes 0 positional arguments but 1"),
        ("broken_app:app", "cannot import 'broken_app': RuntimeError: DATABASE_URL is not set"),
    ],
)
def test_recommend_bad_target(app: str, message: str) -> None:
    code, output = servers.run_to_exit([CLI, "recommend", app])
    assert code != 0
    assert "safeworkers: " in output
    assert message in output
    assert "Traceback" not in output


@markers.needs_posix  # the app is loaded with gunicorn's loader
def test_recommend_never_prints_threads_with_syncworker() -> None:
    """gunicorn swaps '...SyncWorker' with --threads > 1 for its own gthread."""
    code, output = servers.run_to_exit(
        [CLI, "recommend", "wsgi_plain:app", "--threads", "4"], env={"SAFEWORKERS_BACKEND": "sync"}
    )
    assert code == 0, output
    assert "run: gunicorn -k safeworkers.SyncWorker wsgi_plain:app" in output
    assert "--threads 4 is ignored by the sync worker" in output


FACTORY = """
def create_app(name):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [name.encode()]
    return app
"""


@markers.needs_posix  # the app is loaded with gunicorn's loader
def test_recommend_takes_what_gunicorn_takes(tmp_path: Path) -> None:
    """A factory call with arguments, from --chdir, and a bare module (MODULE:application);
    the printed command runs in a shell as printed."""
    (tmp_path / "fact.py").write_text(FACTORY)
    code, output = servers.run_to_exit(
        [CLI, "recommend", "fact:create_app('y')", "--chdir", str(tmp_path)]
    )
    assert code == 0, output
    assert output.splitlines()[0] == "gunicorn -k safeworkers.SyncWorker"
    [run] = [line for line in output.splitlines() if line.startswith("run: ")]
    assert shlex.split(run.removeprefix("run: ")) == [
        "gunicorn",
        "-k",
        "safeworkers.SyncWorker",
        "--chdir",
        str(tmp_path),
        "fact:create_app('y')",
    ]
    code, output = servers.run_to_exit([CLI, "recommend", "factory_app"])
    assert code == 0, output
    assert output.splitlines()[0] == "gunicorn -k safeworkers.SyncWorker"


@pytest.mark.parametrize("threads", ["0", "-5", "many"])
def test_recommend_refuses_threads_below_one(threads: str) -> None:
    code, output = servers.run_to_exit([CLI, "recommend", "wsgi_plain:app", "--threads", threads])
    assert code == 2
    assert f"argument --threads: {threads!r} is not a whole number >= 1" in output


PATCHING_LIBRARY = "from gevent import monkey\nmonkey.patch_all()\n"
APP_WITH_PATCHING_LIBRARY = """
import patching_lib  # outside the app's project: the scan does not read it


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"""


@markers.needs_posix  # the app is loaded with gunicorn's loader
def test_recommend_agrees_with_autoworker_when_a_library_patches_at_import(
    tmp_path: Path,
) -> None:
    """The process is looked at again after the app is imported, by both."""
    project, lib = tmp_path / "project", tmp_path / "lib"
    project.mkdir()
    lib.mkdir()
    (project / "patched_app.py").write_text(APP_WITH_PATCHING_LIBRARY)
    (lib / "patching_lib.py").write_text(PATCHING_LIBRARY)
    paths = ("--chdir", str(project), "--pythonpath", str(lib))
    code, output = servers.run_to_exit([CLI, "recommend", "patched_app:app", *paths])
    assert code == 0, output
    assert output.splitlines()[0] == "gunicorn -k safeworkers.GeventWorker", output
    with servers.gunicorn("patched_app:app", "-k", "safeworkers.AutoWorker", *paths) as server:
        assert server.fetch("/").text == "ok"
        server.wait_for_log("safeworkers AutoWorker chose safeworkers.GeventWorker")


@pytest.mark.parametrize(
    "argv",
    [
        ["doctor"],
        ["doctor", "--json"],
        ["recommend", "wsgi_plain:app", "--chdir", str(servers.TEST_APPS)],
        ["template", "gunicorn"],
        ["migrate", "wsgi_plain:app", "--chdir", str(servers.TEST_APPS)],
        ["--help"],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_a_reader_that_goes_away_ends_the_command_quietly(argv: list[str]) -> None:
    """`safeworkers doctor | head`: the pipe closes before the command writes; no traceback,
    and the status a shell shows for a tool SIGPIPE ended (141), as Unix tools do."""
    proc = subprocess.Popen(
        [CLI, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=servers._env(None, None),
        cwd=str(servers.ROOT),
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first write
    error = proc.stderr.read().decode()
    code = proc.wait(timeout=60)
    assert error == ""
    # argparse swallows the error of its own help's write on Python >= 3.11 (status 0)
    assert code in ({0, 141} if argv == ["--help"] else {141})

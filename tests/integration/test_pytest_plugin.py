"""The pytest plugin, run in inner pytest sessions (pytester) as users run it.

The inner sessions run in subprocesses: in-process, pytester drops the modules
they imported (httpcore, say) from sys.modules afterwards, and libraries that
cached their classes (httpx maps httpcore's exceptions) break later tests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import servers

pytest_plugins = ["pytester"]

WSGI_APP = """
def app(environ, start_response):
    body = environ["PATH_INFO"].encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]
"""


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    """Every user's pytest session loads it: it must not import servers or green libraries."""
    code = (
        "import sys, json, pytest; before = set(sys.modules);"
        "import safeworkers.pytest_plugin;"
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    added = json.loads(subprocess.check_output([sys.executable, "-c", code], text=True))
    heavy = {"gunicorn", "hypercorn", "gevent", "eventlet", "trio", "httpx", "subprocess"}
    assert not {name.partition(".")[0] for name in added} & heavy, added
    assert "safeworkers.testing" not in added


def test_plugin_is_registered_with_its_marker(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.safeworkers_boots(app, *, worker=None*"])


def test_server_factory_serves_and_stops(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(plain_app=WSGI_APP)
    pytester.makepyfile(
        test_factory="""
        def test_tcp_and_unix(safeworkers_server):
            tcp = safeworkers_server("plain_app:app", worker="safeworkers.ThreadWorker")
            assert tcp.url.startswith("http://127.0.0.1:")
            assert tcp.get("/tcp").text == "/tcp"
            unix = safeworkers_server("plain_app:app", unix=True, args=("-w", "1"))
            assert unix.fetch("/unix").body == b"/unix"
            assert "Booting worker" in unix.log
            with open("pids", "w") as f:
                f.write(f"{tcp.proc.pid} {unix.proc.pid}")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    for pid in (pytester.path / "pids").read_text().split():  # stopped (and reaped) at teardown
        assert not Path(f"/proc/{pid}").exists()


def test_marker_and_helper_report_the_failure_users_would_see(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The marker fails the test with the one-line cause; the helper passes for our worker."""
    # Trio's failure alone: without this, simulated macOS's fork-safety crash comes first
    # (httpx reads the proxy settings before it touches trio; tests/integration/test_forksafety.py).
    monkeypatch.setenv("OBJC_DISABLE_INITIALIZE_FORK_SAFETY", "YES")
    shutil.copy(servers.TEST_APPS / "flask_httpx.py", pytester.path)
    pytester.makepyfile(
        test_boots="""
        import pytest

        @pytest.mark.safeworkers_boots("flask_httpx:app", worker="gevent", simulate="darwin")
        def test_upstream_gevent_on_macos():
            pass

        def test_ours_on_macos(safeworkers_assert_boots):
            response = safeworkers_assert_boots(
                "flask_httpx:app", worker="safeworkers.GeventWorker", simulate="darwin"
            )
            assert response.text == "flask ok"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*flask_httpx:app under gunicorn -k gevent with Trio seeing darwin does not serve: "
            "NotImplementedError: unsupported platform or primitives Trio depends on are "
            "monkey-patched out by gevent*",
            "*FAILED test_boots.py::test_upstream_gevent_on_macos*",
        ]
    )

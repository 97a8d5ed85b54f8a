"""`safeworkers migrate`: the way off eventlet, for the app's own code, run as users run it.

The fixture (tests/fixtures/migrate/eventlet_app) uses the common eventlet API across a
package: spawn/spawn_n/GreenPool/GreenPile, sleep, Timeout, queue, semaphore, event,
green.* imports, wsgi.server, tpool, greendns, and one name gevent has no equivalent for.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from safeworkers.facts import eventlet_api
from tests import servers

CLI = str(servers.BIN / "safeworkers")
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "migrate"


def migrate(*args: str) -> tuple[int, str]:
    return servers.run_to_exit([CLI, "migrate", *args, "--chdir", str(FIXTURE)])


def test_lists_every_eventlet_use_with_its_gevent_equivalent() -> None:
    code, output = migrate("eventlet_app.server:app", "--json")
    assert code == 1, output  # CappedSemaphore has no equivalent
    report = json.loads(output)
    found = {(u["where"], u["eventlet"]): u["gevent"] for u in report["uses"]}
    expected = {
        ("eventlet_app/server.py:3", "eventlet.monkey_patch"): "gevent.monkey.patch_all",
        ("eventlet_app/server.py:28", "eventlet.wsgi.server"): "gevent.pywsgi.WSGIServer",
        ("eventlet_app/server.py:27", "eventlet.listen"): "socket.create_server",
        ("eventlet_app/server.py:6", "eventlet.green.socket"): "socket",
        (
            "eventlet_app/server.py:22",
            "eventlet.green.urllib.request.urlopen",
        ): "urllib.request.urlopen",
        ("eventlet_app/server.py:18", "eventlet.support.greendns.resolve"): (
            "gevent.resolver.dnspython"
        ),
        ("eventlet_app/chat/workers.py:10", "eventlet.GreenPool"): "gevent.pool.Pool",
        ("eventlet_app/chat/workers.py:12", "eventlet.GreenPile"): "gevent.pool.Pool",
        ("eventlet_app/chat/workers.py:15", "eventlet.spawn"): "gevent.spawn",
        ("eventlet_app/chat/workers.py:16", "eventlet.spawn_n"): "gevent.spawn",
        ("eventlet_app/chat/workers.py:17", "eventlet.sleep"): "gevent.sleep",
        ("eventlet_app/chat/workers.py:18", "eventlet.tpool.execute"): (
            "gevent.get_hub().threadpool.apply"
        ),
        ("eventlet_app/chat/rooms.py:4", "eventlet.queue.Queue"): "gevent.queue.Queue",
        ("eventlet_app/chat/rooms.py:5", "eventlet.semaphore.Semaphore"): "gevent.lock.Semaphore",
        ("eventlet_app/chat/rooms.py:6", "eventlet.event.Event"): "gevent.event.AsyncResult",
        ("eventlet_app/chat/rooms.py:11", "eventlet.Timeout"): "gevent.Timeout",
        ("eventlet_app/chat/rooms.py:7", "eventlet.semaphore.CappedSemaphore"): None,
    }
    for key, equivalent in expected.items():
        assert found.get(key, "missing") == equivalent, (key, found.get(key))
    assert report["ok"] is False
    assert report["scope"] == "eventlet_app.server: 5 files read"


def test_the_text_report_says_what_has_no_equivalent() -> None:
    code, output = migrate("eventlet_app.server:app")
    assert code == 1
    lines = output.splitlines()
    assert lines[0] == (
        "safeworkers migrate eventlet_app.server:app: eventlet in the app's code "
        "(eventlet_app.server: 5 files read)"
    )
    row = next(line for line in lines if "rooms.py:7" in line)
    assert "eventlet.semaphore.CappedSemaphore" in row
    assert "-> NO EQUIVALENT" in row
    assert any(
        line.endswith("without: eventlet.semaphore.CappedSemaphore")
        and line.startswith("32 uses of eventlet: 30 with")
        for line in lines
    ), output


def test_an_app_without_eventlet_has_nothing_to_move() -> None:
    code, output = servers.run_to_exit(
        [CLI, "migrate", "wsgi_plain:app", "--chdir", str(servers.TEST_APPS)]
    )
    assert code == 0, output
    assert "no use of eventlet: nothing to move" in output


def test_bad_input_is_one_line() -> None:
    code, output = migrate("no_such_module:app")
    assert code == 1
    assert output.strip().startswith("safeworkers: the source of no_such_module was not found")
    assert "Traceback" not in output


@pytest.mark.parametrize("app", ["::", ":app", "my-app:app"])
def test_an_app_argument_that_is_not_module_app_is_named(app: str) -> None:
    code, output = migrate(app)
    assert code == 1
    assert output.strip() == f"safeworkers: {app!r} is not MODULE:APP (e.g. myproject.wsgi:app)"


def run_in(directory: Path, *args: str) -> tuple[int, str, str]:
    done = subprocess.run(
        [CLI, "migrate", *args, "--chdir", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def test_a_name_the_table_does_not_know_has_no_equivalent(tmp_path: Path) -> None:
    (tmp_path / "legacy.py").write_text(
        "from eventlet.green import MySQLdb\n"
        "from eventlet.lock import Lock\n"
        "import eventlet.zipkin\n"
        "from eventlet.green import BaseHTTPServer\n"
    )
    code, output, _ = run_in(tmp_path, "legacy")
    assert code == 1, output
    rows = {line.split()[1]: line for line in output.splitlines() if "legacy.py:" in line}
    for name in ("eventlet.green.MySQLdb", "eventlet.lock.Lock", "eventlet.zipkin"):
        assert "-> NO EQUIVALENT" in rows[name], output
    assert "not in the table of correspondences" in rows["eventlet.lock.Lock"]
    assert "PyMySQL" in rows["eventlet.green.MySQLdb"]  # the drivers table's cure
    assert (
        "-> http.server  (BaseHTTPServer is Python 2's name"
        in rows["eventlet.green.BaseHTTPServer"]
    )
    assert "-> gevent\n" not in output + "\n"
    assert (
        "4 uses of eventlet: 1 with a gevent or standard library equivalent, 3 without: "
        "eventlet.green.MySQLdb, eventlet.lock.Lock, eventlet.zipkin" in output
    )


def legacy_package(directory: Path) -> Path:
    """An app package whose one module Python 3 cannot parse (Python 2's print)."""
    package = directory / "legacyapp"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "wsgi.py").write_text("from legacyapp import tasks\n\napp = tasks.app\n")
    (package / "tasks.py").write_text("import eventlet\nprint 'spawning'\napp = None\n")
    return package


def test_code_it_could_not_read_is_named_and_the_exit_status_is_2(tmp_path: Path) -> None:
    legacy_package(tmp_path)
    code, output, error = run_in(tmp_path, "legacyapp.wsgi:app")
    assert code == 2, output + error
    assert "nothing to move" not in output
    assert "(legacyapp.wsgi: 2 files read, 1 unreadable)" in output.splitlines()[0]
    assert "  not read: legacyapp/tasks.py: SyntaxError: " in output
    assert error.strip() == (
        "safeworkers: the list of eventlet uses is incomplete: 1 file of the app could not be "
        "read (listed in the report), and what was not read may use eventlet too: make them "
        "Python source this Python parses, or move them out of the app"
    )
    code, output, _ = run_in(tmp_path, "legacyapp.wsgi:app", "--json")
    report = json.loads(output)
    assert code == 2
    assert report["complete"] is False
    assert report["ok"] is False
    assert report["unreadable"][0].startswith("legacyapp/tasks.py: SyntaxError")


def test_a_large_module_is_read_whole(tmp_path: Path) -> None:
    """An offline command: wider bounds than a worker's boot (1 MB a file there)."""
    data = "x" * 2_000_000
    (tmp_path / "bigapp.py").write_text(f'DATA = "{data}"\nimport eventlet\neventlet.sleep(0)\n')
    code, output, error = run_in(tmp_path, "bigapp:app")
    assert code == 0, output + error
    assert "bigapp.py:3  eventlet.sleep  -> gevent.sleep" in output


#: Resolves dotted names (``gevent.get_hub().threadpool.apply``) and prints those missing.
RESOLVE = """
import importlib, sys
missing = []
for name in sys.argv[1:]:
    path = name.replace("().", ".").split(".")
    for cut in range(len(path), 0, -1):
        try:
            obj = importlib.import_module(".".join(path[:cut]))
        except ImportError:
            continue
        try:
            for attr in path[cut:]:
                obj = getattr(obj() if attr == "threadpool" else obj, attr)
        except AttributeError:
            missing.append(name)
        break
    else:
        missing.append(name)
print(missing)
"""


def test_every_gevent_equivalent_exists_in_the_real_gevent() -> None:
    """Each equivalent the table gives resolves, in a process that imports gevent (not here)."""
    rules = [*eventlet_api.TABLE.values(), *eventlet_api.GREEN.values()]
    removed = ("asyncore", "asynchat") if sys.version_info >= (3, 12) else ()
    names = sorted(
        {e.name for e in rules if e.name and not e.name.startswith("zmq") and e.name not in removed}
    )
    done = subprocess.run(
        [sys.executable, "-c", RESOLVE, *names], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr

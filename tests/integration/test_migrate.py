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
    names = sorted(
        {e.name for e in eventlet_api.TABLE.values() if e.name and not e.name.startswith("zmq")}
    )
    done = subprocess.run(
        [sys.executable, "-c", RESOLVE, *names], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr

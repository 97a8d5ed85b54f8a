"""eventlet's API and its gevent equivalents (safeworkers.facts.eventlet_api), checked against
the installed eventlet's own files and this Python's standard library (nothing is imported:
eventlet's import would need a working DNS stack, and patching stays out of this process)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from safeworkers.facts import drivers, eventlet_api

NOT_IN_THE_TABLE = [
    "eventlet.lock.Lock",
    "eventlet.greenio.GreenSocket",
    "eventlet.convenience",
    "eventlet.zipkin",
    "eventlet.coros",
    "eventlet.queue.NoSuchQueue",
    "eventlet.green.no_such_module",
]


@pytest.mark.parametrize("name", NOT_IN_THE_TABLE)
def test_a_name_the_table_does_not_know_is_not_given_an_equivalent(name: str) -> None:
    """Never `eventlet`'s own rule (`-> gevent`) for whatever lies under it."""
    assert eventlet_api.lookup(name) is None
    unknown = eventlet_api.equivalent(name)
    assert unknown.name is None
    assert unknown.note.startswith("not in the table of correspondences")


def test_a_rule_answers_for_the_names_under_it_only_where_it_says_so() -> None:
    assert eventlet_api.lookup("eventlet") == ("eventlet", eventlet_api.Equivalent("gevent"))
    # a module replaced as a whole: every name in it
    assert eventlet_api.equivalent("eventlet.support.greendns.resolve").name == (
        "gevent.resolver.dnspython"
    )
    # a module without an equivalent: nothing in it has one
    pools = eventlet_api.lookup("eventlet.pools.TokenPool")
    assert pools is not None
    assert pools[0] == "eventlet.pools"
    assert pools[1].name is None
    # a module with one: its other names are not guessed
    assert eventlet_api.lookup("eventlet.tpool.set_num_threads") is None


@pytest.mark.parametrize(
    ("name", "becomes"),
    [
        ("eventlet.green.socket", "socket"),
        ("eventlet.green.socket.socket", "socket.socket"),
        ("eventlet.green.urllib.request.urlopen", "urllib.request.urlopen"),
        ("eventlet.green.http.client.HTTPConnection", "http.client.HTTPConnection"),
        ("eventlet.green.zmq.Context", "zmq.green.Context"),
        ("eventlet.green.BaseHTTPServer.HTTPServer", "http.server.HTTPServer"),
        ("eventlet.green.SocketServer", "socketserver"),
        ("eventlet.green.Queue.Queue", "queue.Queue"),
        ("eventlet.green.urllib2.urlopen", "urllib.request.urlopen"),
        ("eventlet.green.httplib", "http.client"),
    ],
)
def test_eventlet_green_names_become_the_standard_librarys(name: str, becomes: str) -> None:
    assert eventlet_api.equivalent(name).name == becomes


@pytest.mark.parametrize(
    "module", ["BaseHTTPServer", "SocketServer", "Queue", "urllib2", "httplib"]
)
def test_python_2_names_say_so(module: str) -> None:
    note = eventlet_api.equivalent(f"eventlet.green.{module}").note
    assert note.startswith(f"{module} is Python 2's name")
    assert importlib.util.find_spec(module) is None  # not a module of this Python


def test_green_mysqldb_and_openssl_have_no_equivalent() -> None:
    """eventlet's green MySQLdb ran mysqlclient in a thread pool; under gevent it blocks the
    hub, and the cure is the blocking-drivers table's."""
    mysql = eventlet_api.equivalent("eventlet.green.MySQLdb")
    assert mysql.name is None
    assert drivers.by_name("mysqlclient").cure in mysql.note
    assert "blocks the hub" in mysql.note
    openssl = eventlet_api.equivalent("eventlet.green.OpenSSL.SSL.Connection")
    assert openssl.name is None
    assert "pyOpenSSL" in openssl.note


def _installed_green_modules() -> list[str]:
    """The modules of the installed eventlet's `eventlet.green`, from its files."""
    spec = importlib.util.find_spec("eventlet")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("eventlet is not installed")
    green = Path(next(iter(spec.submodule_search_locations))) / "green"
    names = []
    for path in sorted(green.rglob("*.py")):
        parts = path.relative_to(green).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts and not any(part.startswith("_") for part in parts):
            names.append(".".join(parts))
    return names


def test_every_module_of_the_installed_eventlet_green_has_a_rule() -> None:
    modules = _installed_green_modules()
    assert {"socket", "MySQLdb", "BaseHTTPServer", "urllib.request"} <= set(modules)
    missing = [m for m in modules if eventlet_api.lookup(f"eventlet.green.{m}") is None]
    assert missing == []


def test_every_standard_library_equivalent_is_a_module_of_this_python() -> None:
    removed = {"asyncore", "asynchat"} if sys.version_info >= (3, 12) else set()
    names = {
        rule.name
        for module, rule in eventlet_api.GREEN.items()
        if rule.name is not None and module != "zmq" and rule.name not in removed
    }
    assert {"socket", "http.server", "socketserver", "queue", "_thread", "builtins"} <= names
    assert [n for n in sorted(names) if importlib.util.find_spec(n) is None] == []

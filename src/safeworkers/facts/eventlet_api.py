"""eventlet's API and what each name becomes under gevent (or the standard library).

The table of correspondences ``safeworkers migrate`` applies to the eventlet
uses an app's code shows (:mod:`safeworkers.facts.appscan`). A name is found
by its own rule, or by the rule of an enclosing name that answers for
everything under it: a module without an equivalent (nothing in it has one),
a module replaced as a whole (``eventlet.support.greendns``), and
``eventlet.green``'s modules (:data:`GREEN`: ``eventlet.green.socket.socket``
is ``socket.socket``). Anything else is not in the table, and
:func:`lookup` says so rather than guess: an unknown name has no known
equivalent. ``None`` as the equivalent: gevent has nothing that does the
same; the note says what to do instead. tests/unit/facts/test_eventlet_api.py
checks the rules against the installed eventlet, and
tests/integration/test_migrate.py imports every gevent name the table gives,
with the real gevent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from safeworkers.facts import drivers


@dataclass(frozen=True)
class Equivalent:
    """What an eventlet name becomes."""

    #: The gevent (or standard library) name, ``None`` when there is none.
    name: str | None
    #: What to know when moving (empty when the name is a drop-in).
    note: str = ""
    #: The rule answers for every name under this one too (a module replaced as a whole).
    whole: bool = False


def _e(name: str | None, note: str = "", *, whole: bool = False) -> Equivalent:
    return Equivalent(name, note, whole)


_SPAWN = "gevent.spawn"
_POOL = "gevent.pool.Pool"
_TIMEOUT = "gevent.Timeout"
_QUEUE = "gevent.queue.Queue"
_SEMAPHORE = "gevent.lock.Semaphore"
_EVENT = "gevent.event.AsyncResult"
_EVENT_NOTE = (
    "eventlet's Event carries a value (send(value), wait() returns it): AsyncResult "
    "(set(value), get()); gevent.event.Event for a bare flag"
)
_GREEN_STDLIB = (
    "the standard library module: the green worker (gevent.monkey.patch_all) makes it cooperative"
)
_NOT_IN_TABLE = (
    "not in the table of correspondences: no known gevent equivalent; look for what it does "
    "in gevent's documentation"
)


def _python2(module: str, python3: str) -> Equivalent:
    return _e(
        python3,
        f"{module} is Python 2's name, which eventlet.green keeps: {python3} in Python 3, "
        "which the green worker (gevent.monkey.patch_all) makes cooperative",
    )


_MYSQLCLIENT = drivers.by_name("mysqlclient")

#: ``eventlet.green``'s modules -> what each becomes; a name under one maps to the same
#: name under its equivalent (``eventlet.green.socket.socket`` -> ``socket.socket``).
#: Only these: a module eventlet.green does not have is not the standard library's.
GREEN: Mapping[str, Equivalent] = MappingProxyType(
    {
        **{
            module: _e(module, _GREEN_STDLIB)
            for module in (
                "ftplib",
                "http",
                "http.client",
                "http.cookiejar",
                "http.cookies",
                "http.server",
                "select",
                "selectors",
                "socket",
                "ssl",
                "subprocess",
                "threading",
                "time",
                "urllib",
                "urllib.error",
                "urllib.parse",
                "urllib.request",
                "urllib.response",
            )
        },
        "os": _e(
            "os",
            "patch_all makes fork() and waitpid() cooperative, not reads and writes: "
            "gevent.os.nb_read / nb_write for pipes that wait",
        ),
        "asyncore": _e(
            "asyncore", "cooperative once patched; removed from the standard library in 3.12"
        ),
        "asynchat": _e(
            "asynchat", "cooperative once patched; removed from the standard library in 3.12"
        ),
        "profile": _e(
            "profile",
            "the standard library's profiler, which does not tell greenlets apart "
            "(eventlet's green profile did)",
        ),
        "builtin": _e(
            "builtins", "open() needs nothing: file I/O never waits on the hub in gevent"
        ),
        # Python 2's names
        "BaseHTTPServer": _python2("BaseHTTPServer", "http.server"),
        "SimpleHTTPServer": _python2("SimpleHTTPServer", "http.server"),
        "CGIHTTPServer": _python2("CGIHTTPServer", "http.server"),
        "SocketServer": _python2("SocketServer", "socketserver"),
        "Queue": _python2("Queue", "queue"),
        "urllib2": _python2("urllib2", "urllib.request"),
        "httplib": _python2("httplib", "http.client"),
        "thread": _python2("thread", "_thread"),
        # not the standard library
        "zmq": _e("zmq.green", "pyzmq's own gevent support"),
        "MySQLdb": _e(
            None,
            "no equivalent: eventlet's green MySQLdb ran mysqlclient in its thread pool; under "
            f"gevent mysqlclient blocks the hub (a blocking C driver): {_MYSQLCLIENT.cure}, or "
            "its calls in gevent.get_hub().threadpool",
        ),
        "OpenSSL": _e(
            None,
            "no equivalent: gevent has no green pyOpenSSL (its connections would raise "
            "WantReadError on a patched socket); the standard library's ssl, cooperative once "
            "patched",
        ),
    }
)

#: eventlet name -> its equivalent. Names are the public ones, and the modules they live in.
TABLE: Mapping[str, Equivalent] = MappingProxyType(
    {
        "eventlet": _e("gevent"),
        # patching
        "eventlet.monkey_patch": _e(
            "gevent.monkey.patch_all",
            "GeventWorker patches before the app is imported: remove the call from the app",
        ),
        "eventlet.patcher.monkey_patch": _e(
            "gevent.monkey.patch_all",
            "GeventWorker patches before the app is imported: remove the call from the app",
        ),
        "eventlet.patcher.is_monkey_patched": _e("gevent.monkey.is_module_patched"),
        "eventlet.patcher.original": _e("gevent.monkey.get_original"),
        "eventlet.patcher.import_patched": _e(
            None, "no equivalent: patch first (the worker does), then import the module normally"
        ),
        "eventlet.patcher": _e("gevent.monkey"),
        # green threads
        "eventlet.spawn": _e(_SPAWN),
        "eventlet.spawn_n": _e(
            _SPAWN, "gevent has no lighter variant with eventlet's semantics; spawn is cheap"
        ),
        "eventlet.spawn_after": _e("gevent.spawn_later"),
        "eventlet.spawn_after_local": _e(
            "gevent.spawn_later",
            "not cancelled when the spawning greenlet exits: kill() it yourself then",
        ),
        "eventlet.sleep": _e("gevent.sleep"),
        "eventlet.kill": _e("gevent.kill"),
        "eventlet.getcurrent": _e("gevent.getcurrent"),
        "eventlet.greenthread.spawn": _e(_SPAWN),
        "eventlet.greenthread.spawn_n": _e(_SPAWN),
        "eventlet.greenthread.spawn_after": _e("gevent.spawn_later"),
        "eventlet.greenthread.sleep": _e("gevent.sleep"),
        "eventlet.greenthread.kill": _e("gevent.kill"),
        "eventlet.greenthread.getcurrent": _e("gevent.getcurrent"),
        "eventlet.greenthread.GreenThread": _e(
            "gevent.Greenlet", "wait() is get(); link() takes the greenlet"
        ),
        "eventlet.greenthread": _e("gevent.greenlet"),
        "eventlet.corolocal.local": _e("gevent.local.local"),
        "eventlet.corolocal": _e("gevent.local"),
        # pools
        "eventlet.GreenPool": _e(_POOL, "spawn_n is spawn; waitall() is join()"),
        "eventlet.greenpool.GreenPool": _e(_POOL, "spawn_n is spawn; waitall() is join()"),
        "eventlet.GreenPile": _e(
            _POOL,
            "no pile: spawn into a Pool and read the greenlets' values in order (or pool.imap)",
        ),
        "eventlet.greenpool.GreenPile": _e(
            _POOL,
            "no pile: spawn into a Pool and read the greenlets' values in order (or pool.imap)",
        ),
        "eventlet.greenpool": _e("gevent.pool"),
        "eventlet.pools.Pool": _e(
            None, "no equivalent: a gevent.queue.Queue of the pooled objects does the same"
        ),
        "eventlet.pools": _e(None, "no equivalent: a gevent.queue.Queue of objects"),
        "eventlet.dagpool": _e(None, "no equivalent: spawn in dependency order and join"),
        "eventlet.db_pool": _e(None, "no equivalent: the driver's or SQLAlchemy's pool"),
        # timeouts
        "eventlet.Timeout": _e(_TIMEOUT, "eventlet.Timeout(s, False) is gevent.Timeout(s, False)"),
        "eventlet.timeout.Timeout": _e(_TIMEOUT),
        "eventlet.with_timeout": _e("gevent.with_timeout"),
        "eventlet.timeout.with_timeout": _e("gevent.with_timeout"),
        "eventlet.timeout": _e("gevent.timeout"),
        # queues
        "eventlet.Queue": _e(_QUEUE),
        "eventlet.queue.Queue": _e(_QUEUE),
        "eventlet.queue.LightQueue": _e(_QUEUE),
        "eventlet.queue.PriorityQueue": _e("gevent.queue.PriorityQueue"),
        "eventlet.queue.LifoQueue": _e("gevent.queue.LifoQueue"),
        "eventlet.queue.Empty": _e("gevent.queue.Empty"),
        "eventlet.queue.Full": _e("gevent.queue.Full"),
        "eventlet.queue": _e("gevent.queue"),
        # synchronisation
        "eventlet.Semaphore": _e(_SEMAPHORE),
        "eventlet.semaphore.Semaphore": _e(_SEMAPHORE),
        "eventlet.BoundedSemaphore": _e("gevent.lock.BoundedSemaphore"),
        "eventlet.semaphore.BoundedSemaphore": _e("gevent.lock.BoundedSemaphore"),
        "eventlet.CappedSemaphore": _e(
            None, "no equivalent: a BoundedSemaphore, if the cap never needs to go below zero"
        ),
        "eventlet.semaphore.CappedSemaphore": _e(
            None, "no equivalent: a BoundedSemaphore, if the cap never needs to go below zero"
        ),
        "eventlet.semaphore": _e("gevent.lock"),
        "eventlet.Event": _e(_EVENT, _EVENT_NOTE),
        "eventlet.event.Event": _e(_EVENT, _EVENT_NOTE),
        "eventlet.event": _e("gevent.event"),
        # networking and serving
        "eventlet.green": _e("gevent.monkey.patch_all", _GREEN_STDLIB),
        "eventlet.listen": _e(
            "socket.create_server", "the standard library's, cooperative once patched"
        ),
        "eventlet.connect": _e(
            "socket.create_connection", "the standard library's, cooperative once patched"
        ),
        "eventlet.serve": _e(
            "gevent.server.StreamServer", "StreamServer(listener, handle).serve_forever()"
        ),
        "eventlet.StopServe": _e(
            "gevent.server.StreamServer.stop", "call server.stop() instead of raising"
        ),
        "eventlet.wrap_ssl": _e(
            "ssl.SSLContext.wrap_socket", "the standard library's, cooperative once patched"
        ),
        "eventlet.wsgi.server": _e(
            "gevent.pywsgi.WSGIServer",
            "WSGIServer(listener, app).serve_forever(); in production, "
            "gunicorn -k safeworkers.GeventWorker",
        ),
        "eventlet.wsgi": _e("gevent.pywsgi"),
        "eventlet.websocket.WebSocketWSGI": _e(
            None,
            "no equivalent in gevent: simple-websocket (simple_websocket.Server) or "
            "gevent-websocket, under GeventWorker",
        ),
        "eventlet.websocket": _e(
            None, "no equivalent in gevent: simple-websocket or gevent-websocket"
        ),
        "eventlet.backdoor": _e("gevent.backdoor.BackdoorServer"),
        # threads, DNS, the hub
        "eventlet.tpool.execute": _e(
            "gevent.get_hub().threadpool.apply", "threadpool.apply(func, args, kwargs)"
        ),
        "eventlet.tpool.Proxy": _e(
            None, "no equivalent: call the object's methods through threadpool.apply"
        ),
        "eventlet.tpool": _e("gevent.threadpool"),
        "eventlet.support.greendns": _e(
            "gevent.resolver.dnspython",
            "GEVENT_RESOLVER=dnspython (gevent's default resolves in a thread pool)",
            whole=True,
        ),
        "eventlet.greendns": _e(
            "gevent.resolver.dnspython",
            "GEVENT_RESOLVER=dnspython (gevent's default resolves in a thread pool)",
            whole=True,
        ),
        "eventlet.hubs.get_hub": _e("gevent.get_hub"),
        "eventlet.hubs.use_hub": _e(
            "gevent.config.loop", "GEVENT_LOOP=libev-cext|libuv (or gevent.config.loop)"
        ),
        "eventlet.hubs.trampoline": _e(
            "gevent.socket.wait", "wait_read(fd) / wait_write(fd), with a timeout"
        ),
        "eventlet.hubs": _e("gevent.hub"),
        "eventlet.debug.hub_blocking_detection": _e(
            "gevent.config.max_blocking_time",
            "or SAFEWORKERS_BLOCKING_WARN=SECONDS in the safeworkers green workers",
        ),
        "eventlet.debug": _e("gevent.util", "gevent.util.print_run_info() for the greenlets"),
        "eventlet.asyncio": _e(None, "no equivalent: asyncio code belongs on an asyncio server"),
    }
)


def lookup(name: str) -> tuple[str, Equivalent] | None:
    """The rule for ``name`` and the name it is the rule of; ``None``: not in the table.

    A name's own rule, else the nearest enclosing name's where that rule
    answers for everything under it (:attr:`Equivalent.whole`, or no
    equivalent at all); ``eventlet.green.X...`` by :data:`GREEN`.
    """
    if name.startswith("eventlet.green."):
        return _green(name)
    parts = name.split(".")
    while parts:
        key = ".".join(parts)
        rule = TABLE.get(key)
        if rule is not None and (key == name or rule.whole or rule.name is None):
            return key, rule
        parts.pop()
    return None


def _green(name: str) -> tuple[str, Equivalent] | None:
    """``eventlet.green.urllib.request.urlopen`` -> ``urllib.request.urlopen``."""
    parts = name.removeprefix("eventlet.green.").split(".")
    for cut in range(len(parts), 0, -1):
        rule = GREEN.get(".".join(parts[:cut]))
        if rule is not None:
            under = "".join(f".{part}" for part in parts[cut:])
            return name, Equivalent(rule.name and rule.name + under, rule.note)
    return None


def equivalent(name: str) -> Equivalent:
    """What ``name`` becomes; a name not in the table has no known equivalent."""
    rule = lookup(name)
    return rule[1] if rule is not None else Equivalent(None, _NOT_IN_TABLE)

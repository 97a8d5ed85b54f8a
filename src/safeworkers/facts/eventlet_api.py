"""eventlet's API and what each name becomes under gevent (or the standard library).

The table of correspondences ``safeworkers migrate`` applies to the eventlet
uses an app's code shows (:mod:`safeworkers.facts.appscan`). A name is looked
up whole, then without its last parts (``eventlet.green.urllib.request`` is
found as ``eventlet.green``'s rule if it has none of its own), so that every
use gets an answer. ``None`` as the equivalent: gevent has nothing that does
the same; the note says what to do instead. tests/unit/facts/test_eventlet_api.py
imports every gevent name the table gives, with the real gevent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Equivalent:
    """What an eventlet name becomes."""

    #: The gevent (or standard library) name, ``None`` when there is none.
    name: str | None
    #: What to know when moving (empty when the name is a drop-in).
    note: str = ""


def _e(name: str | None, note: str = "") -> Equivalent:
    return Equivalent(name, note)


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
        "eventlet.green.zmq": _e("zmq.green", "pyzmq's own gevent support"),
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
        ),
        "eventlet.greendns": _e(
            "gevent.resolver.dnspython",
            "GEVENT_RESOLVER=dnspython (gevent's default resolves in a thread pool)",
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
    """The rule for ``name``: its own, else the nearest enclosing name's; ``None`` if none.

    ``eventlet.green.X`` without a rule of its own is the standard library's ``X``.
    """
    parts = name.split(".")
    while parts:
        key = ".".join(parts)
        if key == "eventlet.green" and name != key:
            stdlib = name.removeprefix("eventlet.green.")
            return name, Equivalent(stdlib, _GREEN_STDLIB)
        if key in TABLE:
            return key, TABLE[key]
        parts.pop()
    return None

"""Facts about the loaded app object: WSGI or ASGI, and whether it runs Trio code.

Read from the object the server loaded (gunicorn's ``app.wsgi()``), never by
calling it; its code is read statically by :mod:`safeworkers.facts.appscan`.
"""

from __future__ import annotations

import functools
import sys
import types
from typing import Literal

#: What kind of app: ``unknown`` when it was not loaded (the hypercorn config, an app that
#: patches the process when imported, whose import waits for the green worker).
AppKind = Literal["wsgi", "asgi", "unknown"]

#: Frameworks whose apps run Trio code and so need a Trio worker.
_TRIO_FRAMEWORKS: tuple[str, ...] = ("quart_trio",)


def _unwrap(app: object) -> object:
    while isinstance(app, functools.partial):
        app = app.func
    return app


def app_kind(app: object) -> AppKind:
    """``asgi`` for an ASGI 3 app, else ``wsgi``.

    An ASGI app is an ``async def`` function, or an object whose
    ``__call__`` is ``async def`` (Starlette, Quart, Django's ASGIHandler).
    A WSGI app is any other callable.
    """
    import inspect

    target = _unwrap(app)
    if inspect.iscoroutinefunction(target):
        return "asgi"
    if not inspect.isroutine(target) and not isinstance(target, type):
        call = getattr(target, "__call__", None)  # noqa: B004 - we need the method itself
        if call is not None and inspect.iscoroutinefunction(call):
            return "asgi"
    return "wsgi"


def app_needs_trio(app: object, module: str | None = None) -> bool:
    """Whether the app runs Trio code itself, judged from where it comes from.

    True for apps of Trio frameworks (quart-trio) and for apps whose module
    imported trio by name: the module that defines the app, or ``module``
    (the one the server loaded it from, as in ``module:app``). An app that
    merely has httpx installed does not count: httpcore imports trio only
    optionally.
    """
    import inspect

    target = _unwrap(app)
    classes = type(target).__mro__ if not inspect.isroutine(target) else ()
    for cls in classes:
        if cls.__module__.partition(".")[0] in _TRIO_FRAMEWORKS:
            return True
    names = {getattr(target, "__module__", None), module} - {None}
    return any(_imports_trio(sys.modules.get(name or "")) for name in names)


def _imports_trio(module: types.ModuleType | None) -> bool:
    return module is not None and any(
        isinstance(value, types.ModuleType) and value.__name__.partition(".")[0] == "trio"
        for value in vars(module).values()
    )

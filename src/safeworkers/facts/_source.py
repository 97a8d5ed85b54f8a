"""What one source file shows, read with :mod:`ast`: the facts :mod:`safeworkers.facts.appscan`
collects over an app's import graph, and the modules the file imports.

The tables say which modules are Trio, asyncio-bound or green; names are
matched on the module and its submodules (``redis.asyncio``, ``trio.lowlevel``).
"""

from __future__ import annotations

import ast
import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from safeworkers.facts import drivers as _drivers
from safeworkers.facts.appfiles import DJANGO_APP_MODULES, DJANGO_SETTINGS_VARIABLE

Library = Literal["gevent", "eventlet"]

#: Modules that are Trio or only run on Trio (matched on the module and its submodules).
TRIO_MODULES: tuple[str, ...] = (
    "trio",
    "quart_trio",
    "trio_websocket",
    "trio_asyncio",  # asyncio code *on* a Trio loop: the loop is Trio's
    "trio_util",
    "triopg",
    "hypercorn.trio",
)

#: Libraries that only run on an asyncio event loop.
ASYNCIO_MODULES: tuple[str, ...] = (
    "uvloop",
    "asyncpg",
    "aiohttp",
    "redis.asyncio",
    "aioredis",
    "motor",
    "aiomysql",
    "aiopg",
    "aiokafka",
    "aio_pika",
    "aiormq",
    "aiobotocore",
    "aioboto3",
    "asyncssh",
    "sqlalchemy.ext.asyncio",
    "grpc.aio",
)

#: ``asyncio`` names that do not need a running asyncio loop.
ASYNCIO_HARMLESS: frozenset[str] = frozenset(
    {
        "iscoroutinefunction",
        "iscoroutine",
        "CancelledError",
        "TimeoutError",
        "InvalidStateError",
        "IncompleteReadError",
        "run",  # a script's own loop, not the server's
    }
)

#: Importing these patches the process (the library does it at import time).
SELF_PATCHING_MODULES: dict[str, Library] = {"grequests": "gevent"}

#: Modules of the green libraries (imported, not necessarily patching).
GREEN_MODULES: dict[str, Library] = {
    "gevent": "gevent",
    "eventlet": "eventlet",
    "psycogreen.gevent": "gevent",
    "psycogreen.eventlet": "eventlet",
    "grequests": "gevent",
}


#: Modules whose import means the app asks for a green library itself (it runs on that
#: library's server objects), not that it patches: gevent-websocket and what builds on it.
ASKING_MODULES: dict[str, Library] = {
    "geventwebsocket": "gevent",
    "flask_sockets": "gevent",
    "eventlet.websocket": "eventlet",
}

#: ``async_mode=`` values of python-socketio / python-engineio / Flask-SocketIO that pick a
#: green library.
ASYNC_MODES: dict[str, Library] = {
    "gevent": "gevent",
    "gevent_uwsgi": "gevent",
    "eventlet": "eventlet",
}

#: Django settings whose strings name modules Django imports: the URLconf, apps, middleware.
DJANGO_MODULE_SETTINGS = ("ROOT_URLCONF", "INSTALLED_APPS", "MIDDLEWARE", "WSGI_APPLICATION")


def _patch_call_library(dotted: str) -> Library | None:
    """The library a call to ``dotted`` monkey-patches with, if it is a patching call."""
    if dotted.startswith("gevent.monkey.patch_"):
        return "gevent"
    if dotted in ("eventlet.monkey_patch", "eventlet.patcher.monkey_patch"):
        return "eventlet"
    return None


@dataclass(frozen=True)
class Use:
    """One place in the app's code that shows a fact."""

    #: What is used: a module (``trio``), or a call (``gevent.monkey.patch_all``).
    what: str
    path: str
    line: int
    #: Inside ``try: ... except ImportError``: the code runs without it.
    optional: bool = False

    def where(self, root: str | None = None) -> str:
        path = self.path
        if root:
            with contextlib.suppress(ValueError):  # another drive (Windows)
                path = os.path.relpath(path, root)
        return f"{path}:{self.line}"

    def describe(self, root: str | None = None) -> str:
        return f"{self.what} at {self.where(root)}"


def _package_of(module: str, file: str) -> str:
    """The package relative imports in ``file`` (module ``module``) resolve against."""
    if os.path.basename(file) == "__init__.py":
        return module
    return module.rpartition(".")[0]


def _absolute(module: str | None, level: int, package: str) -> str | None:
    """The absolute name of ``from <level dots><module> import ...`` inside ``package``."""
    if level == 0:
        return module
    parts = package.split(".") if package else []
    if level - 1 > len(parts):
        return None
    base = parts[: len(parts) - (level - 1)]
    if module:
        base.append(module)
    return ".".join(base) or None


def _matches(name: str, prefixes: Iterable[str]) -> str | None:
    for prefix in prefixes:
        if name == prefix or name.startswith(prefix + "."):
            return prefix
    return None


class Found:
    """What one file shows: facts, and the modules it imports (with optionality).

    Filled in as the file is read. A plain class: a dataclass would compile
    its methods when the scan is imported, on each AutoWorker's boot.
    """

    def __init__(self) -> None:
        self.trio: list[Use] = []
        self.asyncio: list[Use] = []
        self.green: list[Use] = []
        self.patches: list[tuple[Library, Use]] = []
        self.imports: list[tuple[str, bool]] = []
        #: Blocking drivers (:mod:`safeworkers.facts.drivers`): (driver name, where).
        self.drivers: list[tuple[str, Use]] = []
        #: Where the code selects a green library itself (Flask-SocketIO ``async_mode``, ...).
        self.asks: list[tuple[Library, Use]] = []
        #: The Django settings module this file names (``os.environ.setdefault(...)``).
        self.django_settings: str | None = None
        #: Every use of eventlet's API: names imported, called or referenced.
        self.eventlet: list[Use] = []


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    types = handler.type
    names = list(types.elts) if isinstance(types, ast.Tuple) else [types]
    caught = {n.id if isinstance(n, ast.Name) else getattr(n, "attr", "") for n in names}
    return bool(caught & {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


#: A node that runs in a server, whether it sits in an ImportError guard (``optional``),
#: and whether it runs when the module is imported (not inside a function body).
_Node = tuple[ast.AST, bool, bool]


def _walk(tree: ast.AST, module_level: bool = False) -> Iterator[_Node]:
    """Every node that runs in a server: ``(node, optional, at_import)``.

    ``module_level``: only what runs when the module is imported (no function bodies).
    """
    for child in ast.iter_child_nodes(tree):
        yield from _visit(child, False, module_level, True)


def _visit(node: ast.AST, optional: bool, module_level: bool, at_import: bool) -> Iterator[_Node]:
    if isinstance(node, _FUNCTIONS):
        if module_level:
            return
        at_import = False  # its body runs when (if) it is called
    if isinstance(node, ast.If) and (_is_type_checking(node.test) or _is_main_guard(node.test)):
        for stmt in node.orelse:
            yield from _visit(stmt, optional, module_level, at_import)
        return
    if isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
        handlers: list[ast.ExceptHandler] = getattr(node, "handlers", [])
        guarded = optional or any(_catches_import_error(h) for h in handlers)
        for stmt in getattr(node, "body", []):
            yield from _visit(stmt, guarded, module_level, at_import)
        rest: list[ast.AST] = [*handlers, *getattr(node, "orelse", [])]
        for stmt in [*rest, *getattr(node, "finalbody", [])]:
            yield from _visit(stmt, optional, module_level, at_import)
        return
    yield node, optional, at_import
    for child in ast.iter_child_nodes(node):
        yield from _visit(child, optional, module_level, at_import)


def _dotted(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """``a.b.c`` for an attribute chain whose base is an imported name, else ``None``."""
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in aliases:
        return None
    return ".".join([aliases[node.id], *reversed(attrs)])


def read(path: str, module: str, source: str, module_level: bool = False) -> Found:
    tree = ast.parse(source, filename=path)
    package = _package_of(module, path)
    found = Found()
    aliases: dict[str, str] = {}
    nodes = list(_walk(tree, module_level))

    def imported(
        name: str, line: int, optional: bool, at_import: bool, names: Sequence[str] = ()
    ) -> None:
        found.imports.append((name, optional))
        for sub in names:
            found.imports.append((f"{name}.{sub}", optional))  # "from pkg import submodule"
        candidates = [name, *(f"{name}.{sub}" for sub in names)]
        for candidate in candidates:
            if _matches(candidate, TRIO_MODULES):
                found.trio.append(Use(candidate, path, line, optional))
                break
        if name == "asyncio":
            loop_bound = [n for n in names if n not in ASYNCIO_HARMLESS]
            if loop_bound:
                found.asyncio.append(Use(f"asyncio.{loop_bound[0]}", path, line, optional))
        else:
            bound = next((c for c in candidates if _matches(c, ASYNCIO_MODULES)), None)
            if bound is not None:
                found.asyncio.append(Use(bound, path, line, optional))
        green = _matches(name, GREEN_MODULES)
        if green is not None:
            found.green.append(Use(name, path, line, optional))
        for candidate in candidates:
            driver = _drivers.for_module(candidate)
            if driver is not None:
                found.drivers.append((driver.name, Use(candidate, path, line, optional)))
                break
        asking = _matches(name, ASKING_MODULES)
        if asking is not None:
            found.asks.append((ASKING_MODULES[asking], Use(name, path, line, optional)))
        if name == "eventlet" or name.startswith("eventlet."):
            found.eventlet.extend(Use(c, path, line, optional) for c in candidates[1:] or [name])
        self_patching = _matches(name, SELF_PATCHING_MODULES)
        if self_patching is not None and at_import:  # patches only if it runs
            found.patches.append(
                (SELF_PATCHING_MODULES[self_patching], Use(name, path, line, optional))
            )

    # Pass 1: imports (and the names they bind, for pass 2).
    for node, optional, at_import in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                imported(alias.name, node.lineno, optional, at_import)
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    top = alias.name.partition(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom):
            absolute = _absolute(node.module, node.level, package)
            if absolute is None:
                continue
            names = [a.name for a in node.names if a.name != "*"]
            imported(absolute, node.lineno, optional, at_import, names)
            for alias in node.names:
                if alias.name != "*":
                    aliases[alias.asname or alias.name] = f"{absolute}.{alias.name}"
    # Pass 2: calls (dynamic imports, monkey-patching), asyncio attribute uses, the strings
    # that load drivers or Django modules, and eventlet's API.
    eventlet_refs: list[Use] = []
    for node, optional, at_import in nodes:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            driver = _drivers.for_string(node.value)
            if driver is not None:
                found.drivers.append((driver.name, Use(repr(node.value), path, node.lineno)))
            continue
        if isinstance(node, ast.Assign | ast.AnnAssign) and at_import:
            _django_assignment(node, found, optional)
        if isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Load):
            dotted = _dotted(node, aliases)
            if dotted is not None and dotted.startswith("eventlet."):
                eventlet_refs.append(Use(dotted, path, node.lineno, optional))
        if isinstance(node, ast.Call):
            _call_facts(node, aliases, found, path, optional)
            target = _dotted(node.func, aliases) if isinstance(node.func, ast.expr) else None
            if target is None and isinstance(node.func, ast.Name):
                target = node.func.id  # a builtin such as __import__
            if target is None:
                continue
            library = _patch_call_library(target)
            if library is not None:
                # Only a call that runs when the module is imported patches before the
                # choice; one in a function may never run (if it does, AutoWorker sees
                # the patched process after the import).
                if at_import:
                    found.patches.append((library, Use(target, path, node.lineno, optional)))
            elif target in ("importlib.import_module", "__import__") and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    imported(first.value, node.lineno, optional, at_import)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            dotted = _dotted(node, aliases)
            if dotted is not None and dotted.startswith("asyncio."):
                name = dotted.split(".")[1]
                if name not in ASYNCIO_HARMLESS:
                    found.asyncio.append(Use(f"asyncio.{name}", path, node.lineno, optional))
    found.eventlet.extend(_outermost(eventlet_refs))
    return found


def _outermost(uses: list[Use]) -> list[Use]:
    """Each reference once: ``eventlet.green.socket``, not also ``eventlet.green`` on its line."""
    longest = []
    for use in uses:
        others = (u.what for u in uses if u.line == use.line and u is not use)
        if not any(other.startswith(use.what + ".") for other in others):
            longest.append(use)
    return longest


def _strings(node: ast.AST | None) -> list[str]:
    """The string constants of ``"a"``, ``["a", "b"]``, ``("a",)`` (others skipped)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return [
            e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
        ]
    return []


def _module_of_path(dotted: str) -> str:
    """``pkg.mod`` of ``pkg.mod.Class`` (a class path), else the name itself."""
    head, _, last = dotted.rpartition(".")
    return head if head and last[:1].isupper() else dotted


def django_app_modules(entry: str) -> list[str]:
    """The modules Django imports for one ``INSTALLED_APPS`` entry."""
    module = _module_of_path(entry)
    app = module.removesuffix(".apps") if entry != module else module
    return [app, *(f"{app}.{sub}" for sub in DJANGO_APP_MODULES)]


def _django_assignment(node: ast.Assign | ast.AnnAssign, found: Found, optional: bool) -> None:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    for target in targets:
        if isinstance(target, ast.Name) and target.id in DJANGO_MODULE_SETTINGS:
            for value in _strings(node.value):
                if target.id == "INSTALLED_APPS":
                    found.imports.extend((m, optional) for m in django_app_modules(value))
                else:
                    found.imports.append((_module_of_path(value), optional))
        elif (
            isinstance(target, ast.Subscript)
            and _strings(target.slice) == [DJANGO_SETTINGS_VARIABLE]
            and _strings(node.value)
        ):
            found.django_settings = _strings(node.value)[0]


def _call_facts(
    node: ast.Call, aliases: dict[str, str], found: Found, path: str, optional: bool
) -> None:
    """Django's settings module and ``include()``s, and ``async_mode=`` green choices."""
    for keyword in node.keywords:
        if keyword.arg == "async_mode":
            (mode,) = _strings(keyword.value) or [""]
            if mode in ASYNC_MODES:
                use = Use(f"async_mode={mode!r}", path, node.lineno, optional)
                found.asks.append((ASYNC_MODES[mode], use))
    target = _dotted(node.func, aliases) if isinstance(node.func, ast.expr) else None
    if target is None or not node.args:
        return
    first = node.args[0]
    if target == "os.environ.setdefault" and _strings(first) == [DJANGO_SETTINGS_VARIABLE]:
        if len(node.args) > 1 and _strings(node.args[1]):
            found.django_settings = _strings(node.args[1])[0]
    elif target in ("django.urls.include", "django.conf.urls.include"):
        names = _strings(first) or (
            _strings(first.elts[0]) if isinstance(first, ast.Tuple) and first.elts else []
        )
        found.imports.extend((name, optional) for name in names)

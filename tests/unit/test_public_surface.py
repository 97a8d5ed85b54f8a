"""The names users import: they stay where they are, whatever moves inside the package.

Listed here on purpose, as trio's export test does: a name that disappears,
and a new public name that nobody meant to publish, both fail. Everything is
looked up in a child interpreter: resolving ``GeventWorker`` imports gevent
(and installs the guard), and the hypercorn config reads its command line.
The second half reads docs/ and the README for every ``safeworkers.…`` name
and ``from safeworkers… import …`` line they show, and resolves each.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: module -> the names users and docs import from it (its ``__all__`` where it has one).
SURFACE: dict[str, tuple[str, ...]] = {
    "safeworkers": (
        "AutoWorker",
        "EventletWorker",
        "GeventWorker",
        "SyncWorker",
        "ThreadWorker",
        "TrioWorker",
        "__version__",
    ),
    "safeworkers.detect": (
        "NO_BACKEND",
        "PACKAGES",
        "PATCHERS",
        "AppKind",
        "Environment",
        "Finding",
        "Poller",
        "Severity",
        "TrioBackend",
        "app_kind",
        "app_needs_trio",
        "environment",
        "installed_packages",
        "package_version",
        "patch_state",
        "release",
        "trio_backend",
        "trio_unusable_reason",
    ),
    "safeworkers.appscan": (
        "ASYNCIO_HARMLESS",
        "ASYNCIO_MODULES",
        "GREEN_MODULES",
        "MAX_BYTES",
        "MAX_FILES",
        "MAX_SECONDS",
        "SELF_PATCHING_MODULES",
        "TRIO_MODULES",
        "AppScan",
        "Library",
        "Use",
        "find_source",
        "import_path",
        "is_library_dir",
        "library_dirs",
        "scan",
    ),
    "safeworkers.policy": (
        "EVENTLET",
        "GEVENT",
        "GUNICORN_ASGI",
        "SYNC",
        "THREAD",
        "TRIO",
        "UVICORN",
        "AppKind",
        "Choice",
        "PolicyError",
        "Server",
        "app_patchers",
        "fastest_asyncio_worker",
        "recommend",
    ),
    "safeworkers.sockets": (
        "IPPROTO_MPTCP",
        "MPTCPUnavailableError",
        "SocketInfo",
        "carries",
        "classify",
        "enable_keepalive",
        "listen",
        "set_nodelay",
        "tune_connection",
    ),
    "safeworkers.testing": (
        "Fetched",
        "ServeOptions",
        "Server",
        "ServerExited",
        "ServerNotReady",
        "WorkerCrashed",
        "executable",
        "free_port",
        "gunicorn",
        "gunicorn_has_option",
        "gunicorn_version",
        "hypercorn",
        "one_line_cause",
        "start",
    ),
    "safeworkers.gunicorn_config": (
        "bind",
        "control_socket",
        "control_socket_disable",
        "forwarded_allow_ips",
        "graceful_timeout",
        "keepalive",
        "on_starting",
        "post_fork",
        "timeout",
        "worker_class",
        "workers",
    ),
    "safeworkers.hypercorn_config": (
        "bind",
        "graceful_timeout",
        "trio_worker_setup",
        "worker_class",
        "workers",
    ),
}

#: Public names of modules without ``__all__`` (checked to exist, not to be all there is).
ALSO: dict[str, tuple[str, ...]] = {
    "safeworkers.guard": (
        "BackendUnavailable",
        "DEFAULT_MODULES",
        "MODES",
        "guarded_modules",
        "install",
        "installed",
        "uninstall",
    ),
    "safeworkers.settings": (
        "BACKENDS",
        "DEFAULT_GUARD_MODULES",
        "GUARD_MODES",
        "TABLE",
        "VARIABLES",
        "Settings",
        "SettingsError",
        "load",
        "markdown_table",
    ),
    "safeworkers.gunicorn_config": ("bind_from_environment", "restart_with_objc_fork_safety_off"),
    "safeworkers.pytest_plugin": (
        "MARKER",
        "pytest_configure",
        "pytest_runtest_call",
        "safeworkers_assert_boots",
        "safeworkers_server",
    ),
    "safeworkers.cli": ("build_parser", "main"),
    "safeworkers.workers.auto": ("AutoWorker",),
    "safeworkers.workers.sync": ("SyncWorker", "ThreadWorker"),
    "safeworkers.workers.gevent": ("GeventWorker",),
    "safeworkers.workers.eventlet": ("EventletWorker",),
    "safeworkers.workers.trio": ("TrioWorker",),
    "safeworkers._startup": ("install", "hook_path", "VARIABLE", "HOOK_FILE"),
    "safeworkers.simulation": ("CHOICES", "PlatformSimulator", "child_env", "install"),
}

#: Looks names up in a fresh interpreter: name -> what went wrong, or "" when it resolves;
#: and module -> its __all__.
_PROBE = """
import importlib, json, sys
names = json.loads(sys.stdin.read())
found, exported = {}, {}
for dotted in names:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        if cut == len(parts):
            exported[dotted] = getattr(value, "__all__", None)
        break
    else:
        found[dotted] = "no such module"
        continue
    try:
        for attribute in parts[cut:]:
            value = getattr(value, attribute)
        found[dotted] = ""
    except AttributeError as exc:
        found[dotted] = str(exc)
print(json.dumps([found, exported]))
"""


def resolve(names: list[str]) -> tuple[dict[str, str], dict[str, list[str] | None]]:
    # Nothing after "-c": the hypercorn config finds no application and reads no code.
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        input=json.dumps(names),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    found, exported = json.loads(done.stdout.splitlines()[-1])
    return found, exported


def _surface_names() -> list[str]:
    names = [*SURFACE, *ALSO]
    for table in (SURFACE, ALSO):
        names += [f"{module}.{name}" for module, listed in table.items() for name in listed]
    return names


def test_every_public_name_resolves_and_each_all_is_what_is_listed() -> None:
    found, exported = resolve(_surface_names())
    missing = {name: why for name, why in found.items() if why}
    assert not missing, missing
    for module, listed in SURFACE.items():
        assert sorted(exported[module] or ()) == sorted(listed), module


def test_the_console_script_and_the_pytest_plugin_are_where_the_metadata_says() -> None:
    from safeworkers import cli, pytest_plugin

    scripts = metadata.entry_points(group="console_scripts", name="safeworkers")
    assert [entry.value for entry in scripts] == ["safeworkers.cli:main"]
    assert next(iter(scripts)).load() is cli.main
    plugins = metadata.entry_points(group="pytest11", name="safeworkers")
    assert [entry.value for entry in plugins] == ["safeworkers.pytest_plugin"]
    assert next(iter(plugins)).load() is pytest_plugin


def test_the_startup_hook_names_a_module_that_exists() -> None:
    line = (ROOT / "src" / "safeworkers_guard.pth").read_text()
    [module] = re.findall(r'__import__\("([\w.]+)"\)', line)
    found, _ = resolve([f"{module}.install"])
    assert found == {f"{module}.install": ""}


#: ``safeworkers.x.y`` in prose and code (not file names such as safeworkers_guard.pth).
_DOTTED = re.compile(r"(?<![\w/-])safeworkers(?:\.[A-Za-z_]\w*)+(?![\w-])")
_FROM = re.compile(r"^\s*from (safeworkers[\w.]*) import ([\w, ]+?)\s*(?:#.*)?$", re.M)
_IMPORT = re.compile(r"^\s*import (safeworkers[\w.]*)", re.M)


def documented_names() -> list[str]:
    names: set[str] = set()
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text()
        names.update(n for n in _DOTTED.findall(text) if not n.endswith((".pth", ".md", ".py")))
        for module, imported in _FROM.findall(text):
            names.update(f"{module}.{name.strip()}" for name in imported.split(",") if name.strip())
        names.update(_IMPORT.findall(text))
    return sorted(names)


def test_the_docs_show_names_the_reader_finds() -> None:
    names = documented_names()
    assert "safeworkers.policy.recommend" in names  # the pattern sees the docs' names
    assert "safeworkers.sockets.tune_connection" in names  # and their import lines
    found, _ = resolve(names)
    missing = {name: why for name, why in found.items() if why}
    assert not missing, missing


def test_every_module_the_docs_name_is_on_the_surface() -> None:
    """What the docs name is listed above, so that moving it fails here first."""
    listed = {*SURFACE, *ALSO}
    for name in documented_names():
        if name == "safeworkers" or name.split(".")[1][:1].isupper():
            continue  # the package, or a worker class: safeworkers.<Name>
        assert any(name == m or name.startswith(f"{m}.") for m in listed), name

"""The after-patch hook (SAFEWORKERS_AFTER_PATCH, or safeworkers_after_patch in the gunicorn
config) in real gunicorn green workers: called after patching, before the app is imported,
with the worker; a hook that fails stops the boot with its message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import servers

HOOKS = "tests/apps/after_patch_conf.py"

#: worker, extra environment, the module ``socket.socket`` comes from once patched.
GREEN = {
    "GeventWorker": ("GeventWorker", {}, "gevent._socket3"),
    "EventletWorker": ("EventletWorker", {}, "eventlet.greenio.base"),
    "AutoWorker-gevent": ("AutoWorker", {"SAFEWORKERS_BACKEND": "gevent"}, "gevent._socket3"),
    "AutoWorker-eventlet": (
        "AutoWorker",
        {"SAFEWORKERS_BACKEND": "eventlet"},
        "eventlet.greenio.base",
    ),
}


def k(name: str) -> tuple[str, str]:
    return ("-k", f"safeworkers.{name}")


@pytest.mark.parametrize("case", list(GREEN))
def test_hook_sees_the_patched_socket_module_before_the_app_is_imported(case: str) -> None:
    worker, env, patched = GREEN[case]
    env = {**env, "SAFEWORKERS_AFTER_PATCH": "after_patch_hooks:record"}
    with servers.gunicorn("after_patch_app:app", *k(worker), env=env) as server:
        seen = server.get("/").json()
        log = server.log
    chosen = "GeventWorker" if "gevent" in patched else "EventletWorker"
    assert seen == {
        "via": "env",
        "worker": chosen,
        "socket": patched,
        "app_imported": False,
        "calls": 1,
        "socket_at_import": patched,
    }
    assert "calling the after-patch hook (SAFEWORKERS_AFTER_PATCH=after_patch_hooks:record)" in log


def test_autoworker_in_a_process_patched_already_calls_it_before_importing_the_app(
    tmp_path: Path,
) -> None:
    """patch_all() in gunicorn.conf.py: AutoWorker imports the app to decide; the hook first."""
    config = tmp_path / "gunicorn.conf.py"
    config.write_text("from gevent import monkey\nmonkey.patch_all()\n")
    env = {"SAFEWORKERS_AFTER_PATCH": "after_patch_hooks:record"}
    with servers.gunicorn(
        "after_patch_app:app", *k("AutoWorker"), "-c", str(config), env=env
    ) as server:
        seen = server.get("/").json()
        log = server.log
    assert seen["app_imported"] is False, log
    assert seen["calls"] == 1
    assert seen["worker"] == "AutoWorker"
    assert seen["socket"] == seen["socket_at_import"] == "gevent._socket3"
    assert "AutoWorker chose safeworkers.GeventWorker" in log


@pytest.mark.parametrize(
    ("worker", "config"),
    [("GeventWorker", HOOKS), ("EventletWorker", "python:after_patch_conf")],
    ids=["gevent-file", "eventlet-python-module"],
)
def test_hook_defined_in_the_gunicorn_config(worker: str, config: str) -> None:
    with servers.gunicorn("after_patch_app:app", *k(worker), "-c", config) as server:
        seen = server.get("/").json()
        log = server.log
    assert seen["via"] == "config"
    assert seen["worker"] == worker
    assert seen["socket"] == seen["socket_at_import"] != "socket"
    assert seen["app_imported"] is False
    assert "calling the after-patch hook (safeworkers_after_patch in the gunicorn config" in log
    assert "after_patch_conf" in log


def test_the_environment_variable_wins_over_the_config() -> None:
    env = {"SAFEWORKERS_AFTER_PATCH": "after_patch_hooks:Hooks.nested"}
    with servers.gunicorn(
        "after_patch_app:app", *k("GeventWorker"), "-c", HOOKS, env=env
    ) as server:
        seen = server.get("/").json()
    assert seen["via"] == "nested"
    assert seen["calls"] == 1


FAILURES = {
    "raises": (
        "after_patch_hooks:boom",
        "after-patch hook (SAFEWORKERS_AFTER_PATCH=after_patch_hooks:boom) raised "
        "RuntimeError: grpc could not switch to gevent",
    ),
    "no-module": (
        "no_such_hooks_module:setup",
        "SAFEWORKERS_AFTER_PATCH=no_such_hooks_module:setup: cannot import "
        "'no_such_hooks_module': ModuleNotFoundError",
    ),
    "no-attribute": (
        "after_patch_hooks:missing",
        "SAFEWORKERS_AFTER_PATCH=after_patch_hooks:missing: 'after_patch_hooks' has no 'missing'",
    ),
    "not-callable": (
        "after_patch_hooks:not_a_function",
        "'not_a_function' is not a function: it is int",
    ),
    "malformed": (
        "not a hook",
        "SAFEWORKERS_AFTER_PATCH='not a hook' is not valid: accepted values are",
    ),
    "signature": (
        "after_patch_hooks:takes_two",
        "after-patch hook: SAFEWORKERS_AFTER_PATCH=after_patch_hooks:takes_two takes "
        "(worker, extra): an after-patch hook is called as hook() or hook(worker)",
    ),
}


@pytest.mark.parametrize(
    ("worker", "case"),
    [("GeventWorker", case) for case in FAILURES] + [("EventletWorker", "raises")],
)
def test_a_failing_hook_is_a_boot_failure_with_its_message(worker: str, case: str) -> None:
    hook, message = FAILURES[case]
    env = {"SAFEWORKERS_AFTER_PATCH": hook}
    with servers.gunicorn("after_patch_app:app", *k(worker), env=env, wait=False) as server:
        assert server.wait(timeout=30) != 0
        log = server.log
    assert message in log, log
    assert "Worker failed to boot" in log
    assert "Traceback" not in log


def test_workers_that_do_not_patch_say_they_do_not_call_it() -> None:
    env = {"SAFEWORKERS_AFTER_PATCH": "after_patch_hooks:record"}
    with servers.gunicorn("after_patch_app:app", *k("SyncWorker"), env=env) as server:
        seen = server.get("/").json()
        log = server.log
    assert "via" not in seen
    assert (
        "SAFEWORKERS_AFTER_PATCH=after_patch_hooks:record is not called: this worker does not "
        "monkey-patch" in log
    )


def write_recipes(directory: Path) -> str:
    """The recipe module of docs/green-processes.md, written out as the page names it."""
    page = (servers.ROOT / "docs" / "green-processes.md").read_text()
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", page, re.S) if "def after_patch" in b]
    relative = block.splitlines()[0].removeprefix("# ").strip()  # "myproject/green.py"
    path = directory / relative
    path.parent.mkdir(parents=True)
    (path.parent / "__init__.py").write_text("")
    path.write_text(block)
    return relative.removesuffix(".py").replace("/", ".")


@pytest.mark.parametrize(
    ("worker", "function", "expected"),
    [
        ("GeventWorker", "after_patch", {"psycopg_wait": "psycogreen.gevent", "grpc_gevent": True}),
        (
            "EventletWorker",
            "init_psycopg",
            {"psycopg_wait": "psycogreen.eventlet", "grpc_gevent": None},
        ),
    ],
)
def test_the_documented_recipes(
    worker: str, function: str, expected: dict[str, object], tmp_path: Path
) -> None:
    module = write_recipes(tmp_path)
    env = {"SAFEWORKERS_AFTER_PATCH": f"{module}:{function}"}
    with servers.gunicorn(
        "recipes_app:app", *k(worker), "--pythonpath", str(tmp_path), env=env
    ) as server:
        assert server.get("/").json() == expected


@pytest.mark.parametrize("worker", ["GeventWorker", "AutoWorker"])
def test_the_integrations_own_functions_need_no_wrapper(worker: str) -> None:
    """What the README names for the hook, named directly: both take no argument."""
    env = {
        "SAFEWORKERS_AFTER_PATCH": "psycogreen.gevent:patch_psycopg,"
        "grpc.experimental.gevent:init_gevent",
        "SAFEWORKERS_BACKEND": "gevent",
        # The hook, not the workers' own cure of the drivers, must be what switches them on.
        "SAFEWORKERS_GREEN_DRIVERS": "0",
    }
    with servers.gunicorn("recipes_app:app", *k(worker), env=env) as server:
        assert server.get("/").json() == {"psycopg_wait": "psycogreen.gevent", "grpc_gevent": True}
        log = server.log
    assert (
        "calling the after-patch hook (SAFEWORKERS_AFTER_PATCH=psycogreen.gevent:patch_psycopg)"
        in log
    )
    assert "(SAFEWORKERS_AFTER_PATCH=grpc.experimental.gevent:init_gevent)" in log
    assert "psycopg2 (at recipes_app.py:10) waits on gevent's hub already" in log
    assert "grpcio (at recipes_app.py:17) waits on gevent's hub already" in log


def test_several_hooks_run_in_order_each_as_it_is_written() -> None:
    env = {"SAFEWORKERS_AFTER_PATCH": " after_patch_hooks:first , after_patch_hooks:second"}
    with servers.gunicorn("after_patch_app:app", *k("EventletWorker"), env=env) as server:
        assert server.get("/").json()["order"] == ["first", "second"]

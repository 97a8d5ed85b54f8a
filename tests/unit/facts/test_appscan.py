"""safeworkers.facts.appscan on source trees under tests/fixtures/appscan (read, never imported)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from safeworkers.facts import appscan

TREES = Path(__file__).resolve().parents[2] / "fixtures" / "appscan"


def scan(tree: str, module: str, **kwargs: object) -> appscan.AppScan:
    return appscan.scan(module, [str(TREES / tree)], **kwargs)  # type: ignore[arg-type]


def names(uses: tuple[appscan.Use, ...]) -> set[str]:
    return {use.what for use in uses}


def test_from_import_of_trio_is_trio_use() -> None:
    found = scan("plain", "from_import")
    assert found.found
    assert found.needs_trio
    assert [u.describe(found.root) for u in found.trio] == ["trio at from_import.py:3"]
    assert not found.uses_asyncio
    assert not found.patches


def test_plain_app_has_no_facts() -> None:
    found = scan("plain", "nothing")
    assert (found.trio, found.asyncio, found.green, found.patches) == ((), (), (), ())
    assert found.files == (str(TREES / "plain" / "nothing.py"),)
    assert "no Trio, asyncio-bound or green code" in found.summary()


def test_trio_used_only_in_a_submodule_of_the_apps_package() -> None:
    found = scan("submodule", "myapp.main")
    assert found.needs_trio
    assert names(found.trio) == {"trio_websocket"}
    assert found.trio[0].where(found.root) == "myapp/routes/live.py:1"
    read = {Path(f).relative_to(TREES / "submodule").as_posix() for f in found.files}
    # The package __init__ files run first; the graph reaches settings through `..`.
    assert read == {
        "myapp/__init__.py",
        "myapp/main.py",
        "myapp/routes/__init__.py",
        "myapp/routes/live.py",
        "myapp/routes/static.py",
        "myapp/settings.py",
    }
    # Third-party imports are facts, not files to read; unimported modules are not read.
    assert "myapp/unused.py" not in read
    assert not found.green


def test_optional_imports_do_not_make_the_app_need_trio() -> None:
    found = scan("optional", "app")
    assert found.trio
    assert all(use.optional for use in found.trio)
    assert not found.needs_trio
    # Reached only through an optional import: optional as well.
    assert "fast_backend.py:3" in {u.where(found.root) for u in found.trio}
    assert "imports Trio optionally" in found.summary()


def test_asyncio_bound_code() -> None:
    found = scan("asyncio_app", "app")
    assert found.uses_asyncio
    assert names(found.asyncio) == {"asyncio.sleep", "redis.asyncio"}
    aliased = scan("asyncio_app", "aliased")
    assert names(aliased.asyncio) == {"asyncio.Lock", "asyncpg"}


def test_asyncio_names_that_need_no_loop_do_not_count() -> None:
    assert not scan("asyncio_app", "harmless").asyncio


@pytest.mark.parametrize("module", ["a", "b", "c", "d", "e"])
def test_gevent_self_patching_in_every_form(module: str) -> None:
    found = scan("selfpatch/gevent_forms", module)
    assert found.patchers == ("gevent",)
    assert "monkey-patches with gevent" in found.summary()


@pytest.mark.parametrize("module", ["a", "b", "c"])
def test_eventlet_self_patching_in_every_form(module: str) -> None:
    assert scan("selfpatch/eventlet_forms", module).patchers == ("eventlet",)


def test_only_patch_calls_that_run_at_import_count() -> None:
    found = scan("selfpatch/gevent_forms", "in_function")
    assert not found.patches
    assert not found.patchers
    assert names(found.green) == {"gevent", "grequests"}


def test_patch_calls_in_if_try_and_class_blocks_run_at_import() -> None:
    found = scan("selfpatch/gevent_forms", "in_blocks")
    assert found.patchers == ("gevent",)
    assert [u.line for _, u in found.patches] == [8, 10, 16]


def test_an_optional_patch_is_shown_as_evidence() -> None:
    found = scan("selfpatch/gevent_forms", "optional")
    assert found.patchers == ("gevent",)
    assert [u.optional for _, u in found.patches] == [True]
    assert found.patch_evidence() == "gevent.monkey.patch_all at optional.py:6"
    assert found.summary().endswith(
        "monkey-patches with gevent: gevent.monkey.patch_all at optional.py:6"
    )


def test_a_local_function_named_patch_all_is_not_patching() -> None:
    found = scan("selfpatch/gevent_forms", "not_patching")
    assert not found.patches
    assert names(found.green) == {"gevent"}


def test_type_checking_and_main_blocks_never_run_in_a_server() -> None:
    found = scan("skipped", "app")
    assert (found.trio, found.patches, found.green) == ((), (), ())


def test_dynamic_imports_with_constant_names() -> None:
    found = scan("dynamic", "app")
    assert names(found.trio) == {"quart_trio"}
    # __import__("helpers") is followed into the project.
    assert names(found.asyncio) == {"asyncio.get_event_loop"}


def test_in_an_installed_package_only_the_package_itself_is_read() -> None:
    root = str(TREES / "installed")
    found = appscan.scan("shop", [root], libraries=frozenset({root}))
    assert names(found.trio) == {"trio"}
    assert {Path(f).name for f in found.files} == {"__init__.py", "api.py", "views.py"}
    assert all("other" not in Path(f).parts for f in found.files)
    # The same tree as a project directory: the sibling top-level package is read too.
    project = appscan.scan("shop", [root], libraries=frozenset())
    assert any("other" in Path(f).parts for f in project.files)


def test_python_resolution_order_decides_which_file_is_read() -> None:
    first, second = str(TREES / "optional"), str(TREES / "plain")
    found = appscan.scan("shadow", [second], libraries=frozenset())
    assert found.needs_trio  # plain/helper.py imports trio
    # With optional/ first on the path, `import helper` is optional/helper.py, elsewhere:
    shadowed = appscan.scan("shadow", [first, second], libraries=frozenset())
    assert not shadowed.trio


def test_unreadable_files_are_reported_and_the_scan_goes_on(tmp_path: Path) -> None:
    tree = tmp_path / "broken"
    shutil.copytree(TREES / "broken", tree)
    (tree / "bad.py").write_text("def broken(:\n")
    found = appscan.scan("app", [str(tree)], libraries=frozenset())
    assert found.needs_trio  # good.py was read
    assert len(found.unreadable) == 1
    assert "bad.py: SyntaxError" in found.unreadable[0]


def test_bounded_in_files() -> None:
    found = scan("submodule", "myapp.main", max_files=2)
    assert len(found.files) == 2
    assert found.stopped == "more than 2 files"
    assert "stopped early: more than 2 files" in found.summary()


def test_bounded_in_time() -> None:
    ticks = iter(range(100))
    found = scan("submodule", "myapp.main", max_seconds=2.5, clock=lambda: float(next(ticks)))
    assert found.stopped == "over 2.5s"
    assert 0 < len(found.files) < 6


def test_bounded_in_bytes(tmp_path: Path) -> None:
    (tmp_path / "big.py").write_text("import trio\n" + "x = 1\n" * 1000)
    found = appscan.scan("big", [str(tmp_path)], max_bytes=100, libraries=frozenset())
    assert not found.trio
    assert "larger than 100 bytes" in found.unreadable[0]


def test_a_module_without_source_is_unknown() -> None:
    found = appscan.scan("no_such_module_here", [str(TREES / "plain")])
    assert not found.found
    assert not found.needs_trio
    assert "was not found" in found.summary()
    # Built-in and extension modules have no source to read either.
    assert not appscan.scan("sys", sys.path).found


def test_the_scan_imports_nothing() -> None:
    before = set(sys.modules)
    scan("submodule", "myapp.main")
    scan("selfpatch/gevent_forms", "a")
    assert not {m for m in set(sys.modules) - before if m.startswith(("myapp", "gevent", "a"))}


# --- a green library asked for, blocking drivers, Django (issue 17) -------------------------


def test_async_mode_and_gevent_websocket_ask_for_a_green_library() -> None:
    found = scan("asks", "socketio_app")
    assert found.asked_for == ("gevent",)
    assert [u.describe(found.root) for _, u in found.asks] == [
        "async_mode='gevent' at socketio_app.py:6"
    ]  # async_mode="threading" asks for nothing
    assert not found.patches
    assert "asks for gevent: async_mode='gevent' at socketio_app.py:6" in found.summary()
    ws = scan("asks", "ws_app")
    assert ws.asked_for == ("gevent",)  # eventlet.websocket is optional there
    assert {(library, u.what, u.optional) for library, u in ws.asks} == {
        ("gevent", "geventwebsocket.handler", False),
        ("eventlet", "eventlet.websocket", True),
    }


def test_drivers_from_imports_database_urls_and_django_engines() -> None:
    found = scan("drivers", "app")
    assert sorted(found.driver_places()) == [
        ("grpcio", "app.py:1"),
        ("mysqlclient", "drivers_helpers/settings.py:1"),
        ("psycopg2", "app.py:6"),
    ]
    assert "blocking drivers: " in found.summary()


def test_django_project_is_read_as_django_reaches_it() -> None:
    found = scan("django", "mysite.wsgi", environ={})
    read = {Path(f).relative_to(TREES / "django").as_posix() for f in found.files}
    assert read == {
        "mysite/__init__.py",
        "mysite/wsgi.py",
        "mysite/settings.py",
        "mysite/middleware.py",
        "mysite/urls.py",
        "polls/__init__.py",
        "polls/apps.py",
        "polls/models.py",
        "polls/urls.py",
        "polls/views.py",
        "polls/api.py",
    }
    assert found.django_settings == "mysite.settings"
    assert found.patchers == ("gevent",)
    assert found.needs_trio  # polls/api.py, reached through include(("polls.api", "api"))
    assert found.driver_places() == [("psycopg2", "polls/models.py:1")]
    assert "(11 files read, Django settings mysite.settings)" in found.summary()


def test_django_settings_module_from_the_environment_wins_over_setdefault() -> None:
    found = scan("django", "mysite.wsgi", environ={"DJANGO_SETTINGS_MODULE": "other_settings.prod"})
    assert found.django_settings == "other_settings.prod"
    assert found.uses_asyncio  # other_settings/urls.py
    assert not found.patches  # mysite.settings and the polls app were never reached


def test_a_bound_is_said_in_the_summary() -> None:
    found = scan("django", "mysite.wsgi", environ={}, max_files=4)
    assert found.stopped == "more than 4 files"
    assert found.summary().endswith("; stopped early: more than 4 files")
    assert "(4 files read, Django settings mysite.settings)" in found.summary()


def test_eventlet_api_uses_are_listed_with_their_lines() -> None:
    migrate = Path(__file__).resolve().parents[2] / "fixtures" / "migrate"
    found = appscan.scan("eventlet_app.server", [str(migrate)])
    assert {(u.what, u.where(found.root)) for u in found.eventlet_api} >= {
        ("eventlet.monkey_patch", "eventlet_app/server.py:3"),
        ("eventlet.spawn_n", "eventlet_app/chat/workers.py:16"),
        ("eventlet.semaphore.CappedSemaphore", "eventlet_app/chat/rooms.py:7"),
    }

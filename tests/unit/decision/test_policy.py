"""Every row of the decision tables (docs/choosing.md), as a pure function.

Each case names the table row it checks; the tests at the end keep the
tables and these cases in step: every documented row is tested, every tested
row is documented, and the worker a row names is the worker chosen.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from safeworkers.decision import policy
from safeworkers.facts import appscan
from safeworkers.facts import process as detect
from safeworkers.facts.freethreading import GilState

BASE_PACKAGES = {name: None for name in detect.PACKAGES}
DOC = Path(__file__).resolve().parents[3] / "docs" / "choosing.md"


def env(
    *,
    platform: str = "linux",
    packages: dict[str, str | None] | None = None,
    patched: dict[str, str] | None = None,
    trio_usable: bool = True,
    reason: str | None = None,
    gil: GilState | None = None,
) -> detect.Environment:
    pkgs: dict[str, str | None] = dict(BASE_PACKAGES)
    # TrioWorker's [trio] extra: trio, hypercorn and httptools.
    pkgs.update({"gunicorn": "27.0.1", "trio": "0.35.0", "hypercorn": "0.18.0"})
    pkgs.update({"httptools": "0.9.0"})
    pkgs.update(packages or {})
    return detect.Environment(
        platform=platform,
        system="Linux",
        machine="x86_64",
        python_implementation="CPython",
        python_version="3.11.7",
        trio_backend="epoll",
        trio_usable=trio_usable,
        trio_unusable_reason=reason,
        packages=MappingProxyType(pkgs),
        patched=MappingProxyType(patched or {}),
        trio_imported=False,
        gil=gil or GilState(free_threaded=False, enabled=True),
    )


def code(
    *,
    trio: bool | str = False,
    asyncio: bool = False,
    patches: str | None = None,
    optional: bool = False,
    optional_patch: bool = False,
    asks: str | None = None,
    drivers: tuple[str, ...] = (),
) -> appscan.AppScan:
    """What a scan of an app module would report (``trio``: True, or the Trio module)."""
    uses = appscan.Use
    trio_module = trio if isinstance(trio, str) else "trio"
    patch = uses(f"{patches}.monkey", "/srv/app.py", 1, optional_patch)
    return appscan.AppScan(
        module="app",
        found=True,
        root="/srv",
        files=("/srv/app.py",),
        trio=(uses(trio_module, "/srv/app.py", 3, optional),) if trio else (),
        asyncio=(uses("asyncpg", "/srv/app.py", 4),) if asyncio else (),
        patches=((patches, patch),) if patches else (),  # type: ignore[arg-type]
        asks=((asks, uses(f"async_mode={asks!r}", "/srv/app.py", 5)),) if asks else (),  # type: ignore[arg-type]
        drivers=tuple((name, uses(name, "/srv/app.py", 6)) for name in drivers),
    )


NO_TRIO = {"trio": None, "hypercorn": None}
OLD_GUNICORN = {"gunicorn": "23.0.0"}
FAST = {"uvicorn-worker": "0.4.0", "httptools": "0.9.0"}
GEVENT = {"gevent": "26.9.0"}
EVENTLET = {"eventlet": "0.41.3"}
PATCHED_GEVENT = env(
    packages=GEVENT,
    patched={"socket": "gevent", "select": "gevent"},
    trio_usable=False,
    reason="select.epoll was removed by gevent's monkey-patching",
)
PATCHED_EVENTLET = env(packages=EVENTLET, patched={"socket": "eventlet"}, trio_usable=False)
UNUSABLE = env(trio_usable=False, reason="select.epoll is missing from this process")
ASGI = {"app_kind": "asgi"}
HYPERCORN = {"server": "hypercorn"}
#: Free-threaded Python (3.13t, 3.14t), simulated: nothing here runs one.
GIL_OFF = GilState(free_threaded=True, enabled=False)
GIL_REENABLED = GilState(free_threaded=True, enabled=True, reenabled_by="greenlet._greenlet")

PSYCOPG2 = {"psycopg2-binary": "2.9.13"}
PSYCOGREEN = {"psycogreen": "1.0.2"}

# (row, id, environment, recommend() keyword arguments, server, worker_class, a reason fragment)
ROWS: list[tuple[str, str, detect.Environment, dict[str, Any], str, str, str]] = [
    (
        "8",
        "self-patching-app-with-a-cured-driver",
        env(packages={**GEVENT, **PSYCOPG2, **PSYCOGREEN}),
        {"app_kind": "unknown", "code": code(patches="gevent", drivers=("psycopg2",))},
        "gunicorn",
        policy.GEVENT,
        "serves green I/O concurrently (a sync worker would serve it one request at a time); "
        "psycopg2 (app.py:6) is made green at boot (psycogreen.gevent:patch_psycopg)",
    ),
    (
        "8",
        "self-patching-app-with-a-blocking-driver",
        env(packages={**GEVENT, **PSYCOPG2}),
        {"app_kind": "unknown", "code": code(patches="gevent", drivers=("psycopg2",))},
        "gunicorn",
        policy.GEVENT,
        "but psycopg2 (app.py:6; cure: psycogreen's wait callback",
    ),
    (
        "8",
        "self-patching-app-with-its-cure-switched-off",
        env(packages={**GEVENT, **PSYCOPG2, **PSYCOGREEN}),
        {
            "app_kind": "unknown",
            "code": code(patches="gevent", drivers=("psycopg2",)),
            "green_drivers": False,
        },
        "gunicorn",
        policy.GEVENT,
        "blocks gevent's hub: while it waits the worker serves one request at a time",
    ),
    (
        "8a",
        "asks-for-gevent",
        env(packages=GEVENT),
        {"app_kind": "unknown", "code": code(asks="gevent")},
        "gunicorn",
        policy.GEVENT,
        "the app asks for gevent itself (async_mode='gevent' at app.py:5): only gevent's hub",
    ),
    (
        "8a",
        "asks-for-eventlet",
        env(packages=EVENTLET),
        {"app_kind": "wsgi", "code": code(asks="eventlet"), "threads": 4},
        "gunicorn",
        policy.EVENTLET,
        "the app asks for eventlet itself",
    ),
    (
        "F3",
        "asks-and-backend-agree",
        env(packages=GEVENT),
        {"backend": "gevent", "code": code(asks="gevent")},
        "gunicorn",
        policy.GEVENT,
        "SAFEWORKERS_BACKEND=gevent asked for it",
    ),
    ("1", "windows-wsgi", env(platform="win32"), {}, "hypercorn", "asyncio", "not run on Windows"),
    (
        "1",
        "windows-trio",
        env(platform="win32"),
        {**ASGI, "needs_trio": True},
        "hypercorn",
        "trio",
        "gunicorn does not run on Windows",
    ),
    (
        "7",
        "patched-asgi",
        PATCHED_GEVENT,
        ASGI,
        "gunicorn",
        policy.GUNICORN_ASGI,
        "the asyncio worker serves it on the patched stdlib",
    ),
    (
        "8",
        "patched-gevent-wsgi",
        PATCHED_GEVENT,
        {},
        "gunicorn",
        policy.GEVENT,
        "already monkey-patched by gevent",
    ),
    (
        "8",
        "patched-gevent-free-threaded",
        env(
            packages=GEVENT,
            patched={"socket": "gevent"},
            trio_usable=False,
            gil=GIL_REENABLED,
        ),
        {},
        "gunicorn",
        policy.GEVENT,
        "(free-threaded build, GIL on: greenlet._greenlet re-enabled it) a green worker",
    ),
    (
        "8",
        "patched-eventlet-wsgi",
        PATCHED_EVENTLET,
        {"threads": 4},
        "gunicorn",
        policy.EVENTLET,
        "Trio import guard goes in first",
    ),
    (
        "8",
        "self-patching-app",
        env(packages=GEVENT),
        {"app_kind": "unknown", "code": code(patches="gevent")},
        "gunicorn",
        policy.GEVENT,
        "the app monkey-patches with gevent when imported (gevent.monkey at app.py:1)",
    ),
    (
        "8",
        "optional-self-patching-gevent-installed",
        env(packages=GEVENT),
        {"app_kind": "unknown", "code": code(patches="gevent", optional_patch=True)},
        "gunicorn",
        policy.GEVENT,
        "the app monkey-patches with gevent when imported (gevent.monkey at app.py:1)",
    ),
    (
        "9",
        "hypercorn-trio-app",
        env(),
        {**HYPERCORN, "app_kind": "unknown", "code": code(trio=True)},
        "hypercorn",
        "trio",
        "the app runs Trio code (trio at app.py:3)",
    ),
    (
        "12",
        "hypercorn-unknown",
        env(),
        {**HYPERCORN, "app_kind": "unknown", "code": code()},
        "hypercorn",
        "asyncio",
        "nothing in the app's code uses Trio",
    ),
    (
        "12",
        "hypercorn-source-not-found",
        env(packages={"uvloop": "0.23.0"}),
        {**HYPERCORN, "app_kind": "unknown"},
        "hypercorn",
        "uvloop",
        "taken as an asyncio app",
    ),
    (
        "12",
        "hypercorn-wsgi",
        env(),
        {**HYPERCORN, "app_kind": "wsgi"},
        "hypercorn",
        "asyncio",
        "WSGI adapter",
    ),
    (
        "12",
        "hypercorn-asyncio-app",
        env(),
        {**HYPERCORN, **ASGI, "code": code(asyncio=True)},
        "hypercorn",
        "asyncio",
        "the app uses asyncio (asyncpg at app.py:4)",
    ),
    (
        "12",
        "hypercorn-optional-trio",
        env(),
        {**HYPERCORN, **ASGI, "code": code(trio=True, optional=True)},
        "hypercorn",
        "asyncio",
        "nothing in the app's code uses Trio",
    ),
    (
        "11",
        "hypercorn-prefer-trio",
        env(),
        {**HYPERCORN, **ASGI, "prefer_trio": True},
        "hypercorn",
        "trio",
        "Trio preferred and usable",
    ),
    ("13", "wsgi-threads", env(), {"threads": 4}, "gunicorn", policy.THREAD, "--threads 4"),
    (
        "13",
        "wsgi-free-threaded-gil-off",
        env(gil=GIL_OFF),
        {},
        "gunicorn",
        policy.THREAD,
        "free-threaded Python with the GIL off: gunicorn's gthread worker runs its threads in "
        "parallel",
    ),
    (
        "13",
        "wsgi-threads-free-threaded-gil-off",
        env(gil=GIL_OFF),
        {"threads": 8},
        "gunicorn",
        policy.THREAD,
        "whose threads run in parallel",
    ),
    ("14", "wsgi", env(), {}, "gunicorn", policy.SYNC, "sync worker"),
    (
        "14",
        "wsgi-free-threaded-gil-reenabled",
        env(gil=GIL_REENABLED),
        {},
        "gunicorn",
        policy.SYNC,
        "threads would not run in parallel here (free-threaded build, GIL on: "
        "greenlet._greenlet re-enabled it)",
    ),
    (
        "14",
        "wsgi-that-imports-trio",
        env(),
        {"code": code(trio=True)},
        "gunicorn",
        policy.SYNC,
        "sync worker",
    ),
    (
        "14",
        "wsgi-optional-patch-gevent-missing",
        env(),
        {"code": code(patches="gevent", optional_patch=True)},
        "gunicorn",
        policy.SYNC,
        "sync worker",
    ),
    (
        "14",
        "wsgi-trio-and-asyncio",
        env(),
        {"code": code(trio=True, asyncio=True)},
        "gunicorn",
        policy.SYNC,
        "sync worker",
    ),
    (
        "15",
        "asgi-trio-asyncio-hosts-asyncio",
        env(),
        {**ASGI, "code": code(trio="trio_asyncio", asyncio=True)},
        "gunicorn",
        policy.TRIO,
        "runs Trio code (trio_asyncio at app.py:3)",
    ),
    (
        "15",
        "asgi-trio-app",
        env(),
        {**ASGI, "needs_trio": True},
        "gunicorn",
        policy.TRIO,
        "runs Trio code (the loaded app",
    ),
    (
        "15",
        "asgi-trio-in-code",
        env(),
        {**ASGI, "code": code(trio=True)},
        "gunicorn",
        policy.TRIO,
        "runs Trio code (trio at app.py:3)",
    ),
    (
        "17",
        "asgi-prefer-trio",
        env(),
        {**ASGI, "prefer_trio": True},
        "gunicorn",
        policy.TRIO,
        "Trio preferred and usable",
    ),
    (
        "18",
        "asgi-uvicorn-httptools",
        env(packages=FAST),
        ASGI,
        "gunicorn",
        policy.UVICORN,
        "uvicorn-worker with httptools",
    ),
    ("19", "asgi", env(), ASGI, "gunicorn", policy.GUNICORN_ASGI, "-k asgi"),
    (
        "19",
        "asgi-uvicorn-without-httptools",
        env(packages={"uvicorn-worker": "0.4.0", "uvloop": "0.23.0", "httptools": None}),
        ASGI,
        "gunicorn",
        policy.GUNICORN_ASGI,
        "faster than uvicorn-worker without httptools",
    ),
    (
        "19",
        "asgi-optional-trio",
        env(),
        {**ASGI, "code": code(trio=True, optional=True)},
        "gunicorn",
        policy.GUNICORN_ASGI,
        "does not use Trio",
    ),
    (
        "19",
        "asgi-prefer-trio-unusable",
        UNUSABLE,
        {**ASGI, "prefer_trio": True},
        "gunicorn",
        policy.GUNICORN_ASGI,
        "does not use Trio",
    ),
    (
        "20",
        "asgi-old-gunicorn-uvicorn",
        env(packages={**OLD_GUNICORN, "uvicorn-worker": "0.3.0", "httptools": None}),
        ASGI,
        "gunicorn",
        policy.UVICORN,
        "uvicorn-worker is installed",
    ),
    (
        "21",
        "asgi-old-gunicorn-hypercorn",
        env(packages=OLD_GUNICORN),
        ASGI,
        "hypercorn",
        "asyncio",
        "hypercorn serves it",
    ),
    # --- SAFEWORKERS_BACKEND ------------------------------------------------
    ("F1", "sync", env(), {"backend": "sync", "threads": 4}, "gunicorn", policy.SYNC, "ignored"),
    ("F1", "gthread", env(), {"backend": "gthread"}, "gunicorn", policy.THREAD, "asked for it"),
    (
        "F3",
        "gevent",
        env(packages=GEVENT),
        {"backend": "gevent", "app_kind": "unknown"},
        "gunicorn",
        policy.GEVENT,
        "guard",
    ),
    (
        "F3",
        "eventlet",
        env(packages=EVENTLET),
        {"backend": "eventlet"},
        "gunicorn",
        policy.EVENTLET,
        "guard",
    ),
    (
        "F3",
        "gevent-free-threaded",
        env(packages=GEVENT, gil=GIL_OFF),
        {"backend": "gevent"},
        "gunicorn",
        policy.GEVENT,
        "a green worker still serves on one OS thread: it gains nothing from free-threading",
    ),
    (
        "F3",
        "gevent-in-gevent-process",
        PATCHED_GEVENT,
        {"backend": "gevent"},
        "gunicorn",
        policy.GEVENT,
        "asked for it",
    ),
    ("F7", "trio", env(), {"backend": "trio", **ASGI}, "gunicorn", policy.TRIO, "asked for it"),
    (
        "F7",
        "trio-wsgi",
        env(),
        {"backend": "trio"},
        "gunicorn",
        policy.TRIO,
        "through hypercorn's WSGI adapter",
    ),
    (
        "F7",
        "trio-hypercorn",
        env(),
        {"backend": "trio", **ASGI, **HYPERCORN},
        "hypercorn",
        "trio",
        "asked for it",
    ),
    (
        "F7",
        "trio-wsgi-that-uses-asyncio",
        env(),
        {"backend": "trio", "code": code(asyncio=True)},
        "gunicorn",
        policy.TRIO,
        "through hypercorn's WSGI adapter",
    ),
    ("F10", "asgi", env(), {"backend": "asgi", **ASGI}, "gunicorn", policy.GUNICORN_ASGI, "asked"),
    (
        "F10",
        "asgi-fastest",
        env(packages=FAST),
        {"backend": "asgi", **ASGI},
        "gunicorn",
        policy.UVICORN,
        "uvicorn-worker with httptools",
    ),
    (
        "F10",
        "asgi-hypercorn-wsgi",
        env(),
        {"backend": "asgi", **HYPERCORN},
        "hypercorn",
        "asyncio",
        "asked for it",
    ),
    (
        "F10",
        "asgi-patched",
        PATCHED_GEVENT,
        {"backend": "asgi", **ASGI},
        "gunicorn",
        policy.GUNICORN_ASGI,
        "the asyncio worker runs on the patched stdlib",
    ),
]


@pytest.mark.parametrize(
    ("environment", "kwargs", "server", "worker", "reason"),
    [pytest.param(*row[2:], id=f"{row[0]}-{row[1]}") for row in ROWS],
)
def test_row(
    environment: detect.Environment, kwargs: dict[str, Any], server: str, worker: str, reason: str
) -> None:
    choice = policy.recommend(environment, **kwargs)
    assert (choice.server, choice.worker_class) == (server, worker), choice
    assert any(reason in r for r in choice.reasons), choice.reasons


# (row, id, environment, recommend() keyword arguments, a message fragment)
ERRORS: list[tuple[str, str, detect.Environment, dict[str, Any], str]] = [
    (
        "2",
        "two-patchers",
        env(patched={"socket": "gevent", "select": "eventlet"}),
        {},
        "monkey-patched by both eventlet and gevent",
    ),
    (
        "2",
        "app-patches-with-the-other",
        PATCHED_GEVENT,
        {"code": code(patches="eventlet")},
        "the app patches with eventlet: eventlet.monkey at app.py:1",
    ),
    (
        "4",
        "trio-and-asyncio",
        env(),
        {**ASGI, "code": code(trio=True, asyncio=True)},
        "uses both Trio (trio at app.py:3) and asyncio-bound code (asyncpg at app.py:4)",
    ),
    (
        "4",
        "trio-and-asyncio-not-loaded",
        env(),
        {**HYPERCORN, "app_kind": "unknown", "code": code(trio=True, asyncio=True)},
        "no worker runs both loops",
    ),
    (
        "5",
        "patched-trio-app",
        PATCHED_GEVENT,
        {**ASGI, "needs_trio": True},
        "but Trio cannot run here: this process is already monkey-patched by gevent",
    ),
    (
        "5",
        "self-patching-trio-app",
        env(packages=GEVENT),
        {"app_kind": "unknown", "code": code(trio=True, patches="gevent")},
        "the app monkey-patches with gevent when imported",
    ),
    (
        "6",
        "hypercorn-self-patching",
        env(packages=GEVENT),
        {**HYPERCORN, "app_kind": "unknown", "code": code(patches="gevent")},
        "hypercorn cannot serve green code: serve it with gunicorn -k safeworkers.GeventWorker",
    ),
    (
        "10",
        "hypercorn-trio-unusable",
        UNUSABLE,
        {**HYPERCORN, "app_kind": "unknown", "code": code(trio=True)},
        "Trio cannot run here: select.epoll is missing from this process",
    ),
    (
        "16",
        "asgi-trio-app-unusable",
        UNUSABLE,
        {**ASGI, "needs_trio": True},
        "the app runs Trio code (the loaded app: a Trio framework's app, or its module holds "
        "trio), but Trio cannot run here: select.epoll is missing",
    ),
    (
        "16",
        "trio-app-not-loaded-yet",
        UNUSABLE,
        {"app_kind": "unknown", "code": code(trio=True)},
        "the app runs Trio code (trio at app.py:3), but Trio cannot run here",
    ),
    (
        "16",
        "asgi-trio-app-trio-missing",
        env(packages={"hypercorn": None}),
        {**ASGI, "code": code(trio=True)},
        "hypercorn not installed (pip install 'safeworkers[trio]')",
    ),
    (
        "22",
        "asgi-with-nothing",
        env(packages={**OLD_GUNICORN, **NO_TRIO}),
        ASGI,
        "no ASGI server is available",
    ),
    ("F2", "gevent-for-asgi", env(packages=GEVENT), {"backend": "gevent", **ASGI}, "app is ASGI"),
    ("F2", "sync-for-asgi", env(), {"backend": "sync", **ASGI}, "serves WSGI apps"),
    ("F4", "gevent-missing", env(), {"backend": "gevent"}, "pip install 'safeworkers[gevent]'"),
    (
        "F4",
        "eventlet-missing",
        env(),
        {"backend": "eventlet"},
        "pip install 'safeworkers[eventlet]'",
    ),
    (
        "F5",
        "eventlet-in-gevent-process",
        PATCHED_GEVENT,
        {"backend": "eventlet"},
        "eventlet would patch it a second time, with another library. Use "
        "SAFEWORKERS_BACKEND=gevent or auto",
    ),
    (
        "F5",
        "sync-in-patched-process",
        PATCHED_GEVENT,
        {"backend": "sync"},
        "the sync worker would serve green code one request at a time",
    ),
    (
        "F5",
        "sync-for-self-patching-app",
        env(packages=GEVENT),
        {"backend": "gthread", "code": code(patches="gevent")},
        "the app monkey-patches with gevent when imported",
    ),
    (
        "F5",
        "asgi-for-self-patching-app",
        env(packages=GEVENT),
        {"backend": "asgi", "app_kind": "unknown", "code": code(patches="gevent")},
        "SAFEWORKERS_BACKEND=asgi does not fit: the asgi worker would serve green code",
    ),
    (
        "F5",
        "trio-in-patched-process",
        PATCHED_EVENTLET,
        {"backend": "trio", **ASGI},
        "Trio cannot run in a patched process",
    ),
    (
        "F6",
        "asgi-for-trio-app",
        env(),
        {"backend": "asgi", **ASGI, "needs_trio": True},
        "SAFEWORKERS_BACKEND=asgi cannot run it (those routes would answer 500)",
    ),
    (
        "F6",
        "gevent-for-trio-app",
        env(packages=GEVENT),
        {"backend": "gevent", "app_kind": "unknown", "code": code(trio=True)},
        "the app runs Trio code (trio at app.py:3); SAFEWORKERS_BACKEND=gevent cannot run it",
    ),
    (
        "F8",
        "trio-for-asyncio-app",
        env(),
        {"backend": "trio", **ASGI, "code": code(asyncio=True)},
        "the app uses asyncio-bound code (asyncpg at app.py:4); on Trio's loop",
    ),
    (
        "F9",
        "trio-missing",
        env(packages=NO_TRIO),
        {"backend": "trio", **ASGI},
        "pip install 'safeworkers[trio]'",
    ),
    (
        "F9",
        "trio-unusable",
        UNUSABLE,
        {"backend": "trio", **ASGI},
        "Trio cannot run here: select.epoll is missing",
    ),
    ("F11", "asgi-for-wsgi", env(), {"backend": "asgi"}, "this app is WSGI"),
    (
        "8b",
        "asks-under-hypercorn",
        env(packages=GEVENT),
        {"code": code(asks="gevent"), **HYPERCORN},
        "hypercorn cannot serve green code: serve it with gunicorn -k safeworkers.GeventWorker",
    ),
    (
        "8b",
        "asks-asgi",
        env(packages=GEVENT),
        {"code": code(asks="gevent"), **ASGI},
        "it is an ASGI app and the green workers serve WSGI apps",
    ),
    (
        "8b",
        "asks-not-installed",
        env(),
        {"code": code(asks="gevent")},
        "needs gevent, which is not installed: pip install 'safeworkers[gevent]'",
    ),
    (
        "8b",
        "asks-in-a-process-the-other-patched",
        PATCHED_EVENTLET,
        {"code": code(asks="gevent")},
        "monkey-patched by eventlet: two green libraries in one process break each other",
    ),
    (
        "F13",
        "sync-for-an-app-asking-for-gevent",
        env(packages=GEVENT),
        {"backend": "sync", "code": code(asks="gevent")},
        "SAFEWORKERS_BACKEND=sync does not fit",
    ),
    ("F12", "sync-on-hypercorn", env(), {"backend": "sync", **HYPERCORN}, "no sync worker"),
]


@pytest.mark.parametrize(
    ("environment", "kwargs", "message"),
    [pytest.param(*row[2:], id=f"{row[0]}-{row[1]}") for row in ERRORS],
)
def test_errors(environment: detect.Environment, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(policy.PolicyError) as info:
        policy.recommend(environment, **kwargs)
    assert message in str(info.value)


def _doc_rows() -> dict[str, str]:
    """Row label -> the row's text, from the two tables in docs/choosing.md."""
    return {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| (F?\d+[a-z]?) \|(.*)$", DOC.read_text(), re.M)
    }


def test_every_documented_row_is_tested_and_every_tested_row_documented() -> None:
    documented = set(_doc_rows())
    tested = {row[0] for row in ROWS} | {row[0] for row in ERRORS} | {"3"}  # 3: the F table
    assert documented == tested


def test_free_threading_changes_only_the_wsgi_thread_choice() -> None:
    """With the GIL off, a WSGI app gets the thread worker; nothing else moves."""
    for kind in ("asgi", "unknown"):
        for threads in (1, 8):
            kwargs: dict[str, Any] = {"app_kind": kind, "threads": threads, "server": "hypercorn"}
            assert policy.recommend(env(gil=GIL_OFF), **kwargs) == policy.recommend(env(), **kwargs)
    asgi = policy.recommend(env(gil=GIL_OFF), app_kind="asgi")
    assert asgi.worker_class == policy.recommend(env(), app_kind="asgi").worker_class
    # The GIL back on (an extension re-enabled it): the sync worker again, saying why.
    assert policy.recommend(env(gil=GIL_REENABLED)).worker_class == policy.SYNC


def test_each_documented_row_names_the_worker_it_chooses() -> None:
    rows = _doc_rows()
    for label, _, _, _, server, worker, _ in ROWS:
        if label == "1":  # Windows: "the hypercorn rows below"
            continue
        assert f"`{worker}`" in rows[label] or "rows " in rows[label], (label, worker)
        assert server in rows[label] or "rows " in rows[label], (label, server)
    for label, *_ in ERRORS:
        assert "error" in rows[label], label


def test_never_chooses_a_green_worker_unless_asked_or_patched() -> None:
    everything = env(packages={**GEVENT, **EVENTLET, "uvicorn-worker": "0.3"})
    for kind in ("wsgi", "asgi"):
        for threads in (1, 8):
            for needs_trio in (False, True):
                choice = policy.recommend(
                    everything, app_kind=kind, threads=threads, needs_trio=needs_trio
                )
                assert choice.worker_class not in (policy.GEVENT, policy.EVENTLET)


def test_hypercorn_choice_does_not_depend_on_whether_the_app_was_loaded() -> None:
    """The hypercorn config cannot load the app; `recommend --server hypercorn` does."""
    for facts in (code(), code(trio=True), code(asyncio=True), code(trio=True, optional=True)):
        choices = {
            policy.recommend(env(), app_kind=kind, server="hypercorn", code=facts).worker_class
            for kind in ("unknown", "asgi")
        }
        assert len(choices) == 1, (facts, choices)


def test_choice_str_names_server_worker_and_reasons() -> None:
    text = str(policy.recommend(env(), threads=2))
    assert text.startswith("gunicorn -k safeworkers.ThreadWorker: WSGI app with --threads 2")


def test_the_green_reason_never_claims_concurrency_a_driver_takes_away() -> None:
    """Row 8 with each driver the table knows, installed without its cure."""
    from safeworkers.facts import drivers

    for driver in drivers.DRIVERS:
        packages = {**GEVENT, driver.distributions[0]: "1.0"}
        facts = code(patches="gevent", drivers=(driver.name,))
        choice = policy.recommend(env(packages=packages), app_kind="unknown", code=facts)
        reasons = "; ".join(choice.reasons)
        if driver.auto_cure("gevent") and driver.cure_distribution in packages:
            assert "is made green at boot" in reasons, (driver.name, reasons)
        else:
            assert "serves one request at a time" in reasons, (driver.name, reasons)
            assert "serves green I/O concurrently" not in reasons, (driver.name, reasons)


def test_refusals_for_a_self_patching_app() -> None:
    from safeworkers.decision import registry

    where = "gevent.monkey.patch_all at app.py:1"
    for worker in registry.WORKERS:
        refusal = policy.refusal(worker, "gevent", where)
        if worker.threads or worker.patches == "eventlet":
            assert refusal is not None, worker
            assert "-k safeworkers.GeventWorker" in refusal, worker
        else:
            assert refusal is None, worker


def test_refusals_for_an_app_that_asks_for_a_green_library() -> None:
    """Every worker but the asked library's own (and AutoWorker, which picks it) is refused:
    without that hub, its WebSockets and long polls wait for ever."""
    from safeworkers.decision import registry

    where = "async_mode='gevent' at app.py:5"
    for worker in registry.WORKERS:
        refusal = policy.asked_refusal(worker, "gevent", where)
        if worker.patches == "gevent" or worker is registry.AUTO:
            assert refusal is None, worker
            continue
        assert refusal is not None, worker
        assert refusal.startswith(f"the app asks for gevent itself ({where}), and this worker ")
        assert refusal.endswith("Use -k safeworkers.GeventWorker"), worker
        if worker.patches == "eventlet":
            assert "two green libraries in one process break each other" in refusal
    eventlet = policy.asked_refusal(registry.GEVENT, "eventlet", "eventlet.websocket at a.py:1")
    assert eventlet is not None
    assert eventlet.endswith("Use -k safeworkers.EventletWorker")


def test_the_thread_worker_is_chosen_only_where_autoworker_imports_it_first() -> None:
    """AutoWorker imports the thread worker's module before it drops privileges only where
    ``may_choose_threads`` says: every choice of it, in every case here, is one of those."""
    from itertools import product

    from safeworkers.settings import BACKENDS

    gils = (GilState(free_threaded=False, enabled=True), GIL_OFF, GIL_REENABLED)
    codes = (
        code(),
        code(trio=True),
        code(asyncio=True),
        code(patches="gevent"),
        code(asks="gevent"),
    )
    chosen = 0
    for threads, backend, gil, kind, app_code in product(
        (1, 4), BACKENDS, gils, ("wsgi", "asgi", "unknown"), codes
    ):
        environment = env(packages={**GEVENT, **EVENTLET, **FAST}, gil=gil)
        try:
            choice = policy.recommend(
                environment, app_kind=kind, threads=threads, backend=backend, code=app_code
            )
        except policy.PolicyError:
            continue
        if choice.worker_class == policy.THREAD:
            chosen += 1
            assert policy.may_choose_threads(threads, backend, gil.free_threaded), (
                threads,
                backend,
                gil,
                kind,
            )
    assert chosen  # the cases reach the thread worker
    assert not policy.may_choose_threads(1, "auto", False)

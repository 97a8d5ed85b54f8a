"""Every row of the decision table (docs/choosing.md), as a pure function."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

from safeworkers import detect, policy

BASE_PACKAGES = {name: None for name in detect.PACKAGES}


def env(
    *,
    platform: str = "linux",
    packages: dict[str, str] | None = None,
    patched: dict[str, str] | None = None,
    trio_usable: bool = True,
    reason: str | None = None,
) -> detect.Environment:
    pkgs: dict[str, str | None] = dict(BASE_PACKAGES)
    pkgs.update({"gunicorn": "27.0.1", "trio": "0.35.0", "hypercorn": "0.18.0"})
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
    )


NO_TRIO = {"trio": None, "hypercorn": None}  # type: ignore[dict-item]
OLD_GUNICORN = {"gunicorn": "23.0.0"}

# (id, environment, recommend() keyword arguments, server, worker_class, a reason fragment)
ROWS: list[tuple[str, detect.Environment, dict[str, Any], str, str, str]] = [
    ("wsgi", env(), {}, "gunicorn", policy.SYNC, "sync worker"),
    ("wsgi-threads", env(), {"threads": 4}, "gunicorn", policy.THREAD, "--threads 4"),
    ("wsgi-hypercorn", env(), {"server": "hypercorn"}, "hypercorn", "asyncio", "WSGI adapter"),
    (
        "asgi-trio-app",
        env(),
        {"app_kind": "asgi", "needs_trio": True},
        "gunicorn",
        policy.TRIO,
        "runs Trio code",
    ),
    (
        "asgi-trio-app-hypercorn",
        env(),
        {"app_kind": "asgi", "needs_trio": True, "server": "hypercorn"},
        "hypercorn",
        "trio",
        "runs Trio code",
    ),
    (
        "asgi-trio-app-patched",
        env(patched={"select": "gevent"}, trio_usable=False, reason="select.epoll was removed"),
        {"app_kind": "asgi", "needs_trio": True},
        "gunicorn",
        policy.GUNICORN_ASGI,
        "Trio cannot be used: select.epoll was removed",
    ),
    (
        "asgi-trio-app-trio-missing",
        env(packages=NO_TRIO),
        {"app_kind": "asgi", "needs_trio": True},
        "gunicorn",
        policy.GUNICORN_ASGI,
        "not both installed",
    ),
    ("asgi", env(), {"app_kind": "asgi"}, "gunicorn", policy.GUNICORN_ASGI, "-k asgi"),
    (
        "asgi-prefer-trio-hypercorn",
        env(),
        {"app_kind": "asgi", "prefer_trio": True, "server": "hypercorn"},
        "hypercorn",
        "trio",
        "preferred",
    ),
    (
        "asgi-prefer-trio-unusable",
        env(patched={"select": "unknown"}, trio_usable=False, reason="select.epoll was removed"),
        {"app_kind": "asgi", "prefer_trio": True, "server": "hypercorn"},
        "hypercorn",
        "asyncio",
        "Trio cannot be used: select.epoll was removed",
    ),
    (
        "asgi-old-gunicorn-uvicorn",
        env(packages={**OLD_GUNICORN, "uvicorn-worker": "0.3.0"}),
        {"app_kind": "asgi"},
        "gunicorn",
        policy.UVICORN,
        "uvicorn-worker is installed",
    ),
    (
        "asgi-old-gunicorn-hypercorn",
        env(packages=OLD_GUNICORN),
        {"app_kind": "asgi"},
        "hypercorn",
        "asyncio",
        "hypercorn serves it",
    ),
    (
        "asgi-hypercorn-uvloop",
        env(packages={"uvloop": "0.21.0"}),
        {"app_kind": "asgi", "server": "hypercorn"},
        "hypercorn",
        "uvloop",
        "uvloop worker",
    ),
    (
        "windows-wsgi",
        env(platform="win32"),
        {},
        "hypercorn",
        "asyncio",
        "gunicorn does not run on Windows",
    ),
    (
        "windows-asgi-trio",
        env(platform="win32"),
        {"app_kind": "asgi", "needs_trio": True},
        "hypercorn",
        "trio",
        "gunicorn does not run on Windows",
    ),
    ("forced-sync", env(), {"backend": "sync", "threads": 4}, "gunicorn", policy.SYNC, "ignored"),
    ("forced-gthread", env(), {"backend": "gthread"}, "gunicorn", policy.THREAD, "asked for it"),
    (
        "forced-gevent",
        env(packages={"gevent": "26.9.0"}),
        {"backend": "gevent"},
        "gunicorn",
        policy.GEVENT,
        "guard",
    ),
    (
        "forced-eventlet",
        env(packages={"eventlet": "0.41.3"}),
        {"backend": "eventlet"},
        "gunicorn",
        policy.EVENTLET,
        "guard",
    ),
    (
        "forced-trio",
        env(),
        {"backend": "trio", "app_kind": "asgi"},
        "gunicorn",
        policy.TRIO,
        "asked for it",
    ),
    (
        "forced-asgi",
        env(),
        {"backend": "asgi", "app_kind": "asgi", "needs_trio": True},
        "gunicorn",
        policy.GUNICORN_ASGI,
        "asked for it",
    ),
    (
        "forced-trio-hypercorn",
        env(),
        {"backend": "trio", "app_kind": "asgi", "server": "hypercorn"},
        "hypercorn",
        "trio",
        "asked for it",
    ),
]


@pytest.mark.parametrize(
    ("environment", "kwargs", "server", "worker", "reason"),
    [pytest.param(*row[1:], id=row[0]) for row in ROWS],
)
def test_row(
    environment: detect.Environment, kwargs: dict[str, Any], server: str, worker: str, reason: str
) -> None:
    choice = policy.recommend(environment, **kwargs)
    assert (choice.server, choice.worker_class) == (server, worker)
    assert any(reason in r for r in choice.reasons), choice.reasons


ERRORS: list[tuple[str, detect.Environment, dict[str, Any], str]] = [
    ("gevent-missing", env(), {"backend": "gevent"}, "pip install 'safeworkers[gevent]'"),
    ("eventlet-missing", env(), {"backend": "eventlet"}, "pip install 'safeworkers[eventlet]'"),
    (
        "trio-missing",
        env(packages=NO_TRIO),
        {"backend": "trio", "app_kind": "asgi"},
        "pip install 'safeworkers[trio]'",
    ),
    (
        "trio-unusable",
        env(trio_usable=False, reason="select.epoll was removed by gevent"),
        {"backend": "trio", "app_kind": "asgi"},
        "Trio cannot run here: select.epoll was removed by gevent",
    ),
    ("gevent-for-asgi", env(), {"backend": "gevent", "app_kind": "asgi"}, "this app is ASGI"),
    ("trio-for-wsgi", env(), {"backend": "trio"}, "this app is WSGI"),
    (
        "sync-on-hypercorn",
        env(),
        {"backend": "sync", "server": "hypercorn"},
        "hypercorn has no sync worker",
    ),
    (
        "asgi-with-nothing",
        env(packages={**OLD_GUNICORN, **NO_TRIO}),
        {"app_kind": "asgi"},
        "no ASGI server is available",
    ),
]


@pytest.mark.parametrize(
    ("environment", "kwargs", "message"), [pytest.param(*row[1:], id=row[0]) for row in ERRORS]
)
def test_errors(environment: detect.Environment, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(policy.PolicyError, match=None) as info:
        policy.recommend(environment, **kwargs)
    assert message in str(info.value)


def test_never_chooses_a_green_worker_unless_asked() -> None:
    everything = env(packages={"gevent": "26.9.0", "eventlet": "0.41.3", "uvicorn-worker": "0.3"})
    for kind in ("wsgi", "asgi"):
        for threads in (1, 8):
            for needs_trio in (False, True):
                choice = policy.recommend(
                    everything, app_kind=kind, threads=threads, needs_trio=needs_trio
                )
                assert choice.worker_class not in (policy.GEVENT, policy.EVENTLET)


def test_choice_str_names_server_worker_and_reasons() -> None:
    text = str(policy.recommend(env(), threads=2))
    assert text.startswith("gunicorn -k safeworkers.ThreadWorker: WSGI app with --threads 2")

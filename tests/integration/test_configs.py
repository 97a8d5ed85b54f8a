"""safeworkers.gunicorn_config and safeworkers.hypercorn_config under real servers."""

from __future__ import annotations

import time

from tests import markers, servers

GUNICORN_CONFIG = ("-c", "python:safeworkers.gunicorn_config")
HYPERCORN_CONFIG = ("--config", "python:safeworkers.hypercorn_config")


@markers.needs_posix
def test_gunicorn_config_serves_with_autoworker() -> None:
    """The printed line shows what is in force: -w on the command line beats WEB_CONCURRENCY."""
    env = {"WEB_CONCURRENCY": "3"}
    with servers.gunicorn(
        "wsgi_plain:app", *GUNICORN_CONFIG, "-w", "2", env=env, bind_via_env=True
    ) as server:
        assert server.get("/").status_code == 200
        server.wait_for_log("safeworkers AutoWorker chose safeworkers.SyncWorker")
        deadline = time.monotonic() + 10
        while len(server.worker_pids()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(server.worker_pids()) == 2
        port = server.url.rpartition(":")[2]
        assert (
            f"gunicorn config: worker_class=safeworkers.AutoWorker bind=127.0.0.1:{port} workers=2"
        ) in server.log
        assert "workers=3" not in server.log


@markers.needs_posix
def test_gunicorn_config_bad_port_is_one_clear_line() -> None:
    # (A bad WEB_CONCURRENCY never reaches us: gunicorn itself int()s it on import.)
    code, output = servers.run_to_exit(
        [str(servers.BIN / "gunicorn"), *GUNICORN_CONFIG, "--check-config", "wsgi_plain:app"],
        env={"PORT": "http"},
    )
    assert code != 0
    assert "safeworkers: PORT='http' is not valid: accepted values are integers 1-65535" in output
    assert "Traceback" not in output


def test_hypercorn_config_bad_web_concurrency_is_one_clear_line() -> None:
    code, output = servers.run_to_exit(
        [str(servers.BIN / "hypercorn"), *HYPERCORN_CONFIG, "asgi_plain:app"],
        env={"WEB_CONCURRENCY": "lots"},
    )
    assert code != 0
    assert (
        "safeworkers: WEB_CONCURRENCY='lots' is not valid: accepted values are integers >= 1"
        in (output)
    )
    assert "Traceback" not in output


@markers.needs_posix
def test_gunicorn_config_guards_upstream_gevent_workers() -> None:
    """`-k gevent` from the command line overrides the config; the hook still guards it."""
    with servers.gunicorn(
        "flask_httpx:app",
        *GUNICORN_CONFIG,
        "-k",
        "gevent",
        "-w",
        "1",
        fake_platform="darwin",
        env={"UPSTREAM_URL": "http://127.0.0.1:9"},
        bind_via_env=True,
    ) as server:
        assert server.get("/").text == "flask ok"
        server.wait_for_log("safeworkers: import guard installed for GeventWorker")


def test_hypercorn_config_picks_trio_for_a_trio_only_app() -> None:
    with servers.hypercorn("asgi_trio_only:app", *HYPERCORN_CONFIG, bind_via_env=True) as server:
        assert server.get("/").text.startswith("trio task")
        assert (
            "hypercorn worker_class=trio: the app runs Trio code (trio at asgi_trio_only.py:7) "
            "[asgi_trio_only: 1 file read]"
        ) in server.log


def test_hypercorn_config_takes_asyncio_where_trio_cannot_run() -> None:
    """Nothing in the app uses Trio: asyncio whether or not Trio could run."""
    env = {"SWTEST_REMOVE_EPOLL": "1"}
    with servers.hypercorn(
        "asgi_plain:app", *HYPERCORN_CONFIG, env=env, bind_via_env=True
    ) as server:
        assert server.get("/").text == "asgi /"
        assert "worker_class=uvloop: nothing in the app's code uses Trio" in server.log


def test_hypercorn_config_refuses_a_gunicorn_backend() -> None:
    code, output = servers.run_to_exit(
        [str(servers.BIN / "hypercorn"), *HYPERCORN_CONFIG, "asgi_plain:app"],
        env={"SAFEWORKERS_BACKEND": "gevent"},
    )
    assert code != 0
    assert "SAFEWORKERS_BACKEND=gevent names a gunicorn worker" in output

"""How AutoWorker, the hypercorn config and `safeworkers recommend` decide, under real servers.

The facts come from the app's code (any import form, any module of its
package), the process (monkey-patched already?) and the loaded app; the three
entry points use the same facts and agree; a choice that would boot and then
answer 500 is a boot error that says why and what to do.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import safeworkers
from tests import servers
from tests.expect import FASTEST, HYPERCORN_ASYNCIO, installed

CLI = str(servers.BIN / "safeworkers")
HYPERCORN_CONFIG = ("--config", "python:safeworkers.hypercorn_config")
TRIO = "safeworkers.TrioWorker"
GEVENT_CONF = "from gevent import monkey\nmonkey.patch_all()\n"
# `import eventlet` needs the guard first where dnspython's DNS-over-HTTPS chain imports
# trio (see test_eventlet_import_needs_the_guard_here): the cure doctor gives.
EVENTLET_CONF = (
    "import safeworkers.guard\nsafeworkers.guard.install()\n"
    "import eventlet\neventlet.monkey_patch()\n"
)


def k(name: str) -> tuple[str, str]:
    return ("-k", f"safeworkers.{name}")


def chosen(server: servers.Server) -> str:
    server.wait_for_log("safeworkers AutoWorker chose ")
    match = re.search(r"safeworkers AutoWorker chose (\S+): (.*)", server.log)
    assert match is not None, server.log
    return match.group(1)


def recommended(app: str, *args: str) -> tuple[str, str]:
    """(server, worker) from `safeworkers recommend`, as a user runs it."""
    code, output = servers.run_to_exit([CLI, "recommend", app, *args])
    assert code == 0, output
    server, _, worker = output.splitlines()[0].partition(" -k ")
    return server, worker


def concurrently(server: servers.Server, path: str, n: int) -> list[str]:
    def get(_: int) -> str:
        return server.client(timeout=30).get(path).text

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(get, range(n)))


#: Our package's directory, as tracebacks name its files.
OURS = Path(safeworkers.__file__).parent


def conf(tmp_path: Path, text: str) -> tuple[str, str]:
    path = tmp_path / "gunicorn.conf.py"
    path.write_text(text)
    return ("-c", str(path))


def boot_failure(
    app: str, *args: str, env: dict[str, str] | None = None, others_tracebacks: bool = False
) -> str:
    """Run gunicorn on an app that must not boot; its log, with no traceback of ours."""
    # gunicorn 23's master, patched by a config, raises HaltServer inside a gevent greenlet,
    # which prints it and hangs (upstream): only our part is checked there.
    old_gunicorn = servers.gunicorn_version() < (25,)
    with servers.gunicorn(app, *args, env=env, wait=False) as server:
        server.wait_for_log("Worker failed to boot", timeout=30)
        if not old_gunicorn:
            assert server.wait(timeout=30) != 0
        log = server.log
    # A frame of ours names a file in our package's directory (matching "safeworkers/" alone
    # would also match a checkout cloned into a folder of that name, as the README does).
    assert f"{OURS}{os.sep}" not in log, log
    if not (others_tracebacks or old_gunicorn):  # eventlet.monkey_patch() in a config logs some
        assert "Traceback" not in log
    return log


@pytest.fixture(scope="module")
def upstream() -> Iterator[servers.Server]:
    with servers.gunicorn("wsgi_plain:app", "-k", "sync", "-w", "2") as server:
        yield server


# --- Trio use in any import form, in any module of the app's package (issue 8, #2) ----------


@pytest.mark.parametrize("app", ["trio_from_import:app", "trio_pkg.app:app"])
def test_autoworker_finds_trio_however_it_is_imported(app: str) -> None:
    with servers.gunicorn(app, *k("AutoWorker")) as server:
        response = server.get("/")
        assert response.status_code == 200, server.log
        assert response.text.startswith("trio task")
        assert chosen(server) == TRIO
    assert recommended(app) == ("gunicorn", TRIO)


# --- the hypercorn config decides from the app on its command line (#1) --------------------


@pytest.mark.parametrize(
    ("app", "worker", "body"),
    [
        ("starlette_asyncio:app", HYPERCORN_ASYNCIO, "asyncio loop"),
        ("asgi_plain:no_lifespan", HYPERCORN_ASYNCIO, "asgi /"),
        ("wsgi_plain:app", HYPERCORN_ASYNCIO, "GET / pid="),
        ("trio_pkg.app:app", "trio", "trio task"),
        ("trio_raw:no_lifespan", "trio", '"trio_task"'),
    ],
    ids=[
        "asyncio-app",
        "asgi-returns-on-lifespan",
        "wsgi",
        "trio-in-submodule",
        "trio-no-lifespan",
    ],
)
def test_hypercorn_config_decides_from_the_app(app: str, worker: str, body: str) -> None:
    with servers.hypercorn(app, *HYPERCORN_CONFIG, bind_via_env=True) as server:
        response = server.get("/")
        assert response.status_code == 200, server.log
        assert body in response.text
        log = server.log
    line = next(li for li in log.splitlines() if li.startswith("[safeworkers] hypercorn"))
    assert line.startswith(f"[safeworkers] hypercorn worker_class={worker}: "), line
    assert f"[{app.partition(':')[0]}: " in line  # what was read
    assert "ClosedResourceError" not in log
    assert recommended(app, "--server", "hypercorn") == ("hypercorn", worker)


def test_hypercorn_command_line_worker_class_wins_and_is_said() -> None:
    """-k trio on an app that returns on lifespan: served (hypercorn alone exits 0)."""
    with servers.hypercorn(
        "asgi_plain:no_lifespan", *HYPERCORN_CONFIG, "-k", "trio", bind_via_env=True
    ) as server:
        assert server.get("/").text == "asgi /"
        log = server.log
    assert (
        "hypercorn worker_class=trio, from the command line; safeworkers would choose "
        f"{HYPERCORN_ASYNCIO}: nothing in the app's code uses Trio"
    ) in log


def test_hypercorn_config_refuses_a_self_patching_app() -> None:
    code, output = servers.run_to_exit(
        [str(servers.BIN / "hypercorn"), *HYPERCORN_CONFIG, "flask_selfpatch:app"],
        env={"BIND": f"127.0.0.1:{servers.free_port()}"},
    )
    assert code != 0
    assert (
        "the app monkey-patches with gevent when imported (gevent.monkey.patch_all at "
        "flask_selfpatch.py:12); hypercorn cannot serve green code: serve it with gunicorn -k "
        "safeworkers.GeventWorker"
    ) in output
    assert "Traceback" not in output


def test_hypercorn_config_refuses_a_trio_app_where_trio_cannot_run() -> None:
    code, output = servers.run_to_exit(
        [str(servers.BIN / "hypercorn"), *HYPERCORN_CONFIG, "quart_trio_app:app"],
        env={"SWTEST_REMOVE_EPOLL": "1", "BIND": f"127.0.0.1:{servers.free_port()}"},
    )
    assert code != 0
    assert "the app runs Trio code (trio at quart_trio_app.py:7" in output
    assert "but Trio cannot run here: select.epoll is missing from this process" in output


# --- a process that is monkey-patched already (#3) --------------------------------------


@pytest.mark.parametrize(
    ("text", "worker", "patcher"),
    [(GEVENT_CONF, "GeventWorker", "gevent"), (EVENTLET_CONF, "EventletWorker", "eventlet")],
    ids=["gevent", "eventlet"],
)
def test_autoworker_in_a_patched_process_takes_the_guarded_green_worker(
    tmp_path: Path, text: str, worker: str, patcher: str
) -> None:
    with servers.gunicorn("barrier:app", *conf(tmp_path, text), *k("AutoWorker")) as server:
        assert concurrently(server, "/barrier?n=6", 6) == ["met"] * 6, server.log
        assert chosen(server) == f"safeworkers.{worker}"
        log = server.log
    assert f"this process is already monkey-patched by {patcher}" in log
    assert "the Trio import guard goes in first" in log


def test_autoworker_in_a_patched_process_on_macos_like_platform(tmp_path: Path) -> None:
    """Without the guard first, `httpx.Client()` dies with the raw NotImplementedError."""
    env = {"UPSTREAM_URL": "http://127.0.0.1:9"}
    with servers.gunicorn(
        "flask_httpx:app",
        *conf(tmp_path, GEVENT_CONF),
        *k("AutoWorker"),
        fake_platform="darwin",
        env=env,
    ) as server:
        assert server.get("/").text == "flask ok"
        assert chosen(server) == "safeworkers.GeventWorker"
        assert "NotImplementedError" not in server.log


def test_self_patching_flask_app_with_httpx_and_httpx2_on_macos_like_platform(
    upstream: servers.Server,
) -> None:
    env = {"UPSTREAM_URL": upstream.url}
    with servers.gunicorn(
        "flask_selfpatch:app", *k("AutoWorker"), fake_platform="darwin", env=env
    ) as server:
        assert concurrently(server, "/barrier?n=4", 4) == ["met"] * 4, server.log
        expected = "[200, 200]" if installed("httpx2") else "[200]"
        assert server.get("/proxy").text == f"proxied: {expected}"
        assert chosen(server) == "safeworkers.GeventWorker"
        log = server.log
    assert "the app monkey-patches with gevent when imported" in log
    # recommend reads the same code and does not import it (it would patch itself).
    assert recommended("flask_selfpatch:app") == ("gunicorn", "safeworkers.GeventWorker")


# --- apps the decision must not refuse or patch (review of issue 8) -----------------------


@pytest.mark.parametrize(
    ("app", "env", "worker", "body"),
    [
        ("wsgi_two_loops:app", {}, "SyncWorker", "asyncio and trio"),
        ("asgi_trio_asyncio:app", {}, "TrioWorker", "asyncio on trio: TrioEventLoop"),
        ("patch_in_function:app", {}, "SyncWorker", "socket from socket"),
        (
            "optional_gevent_patch:app",
            {"SWTEST_HIDE_DISTS": "gevent", "SWTEST_BLOCK_IMPORTS": "gevent"},
            "SyncWorker",
            "socket from socket",
        ),
    ],
    ids=[
        "wsgi-runs-both-loops",
        "trio-asyncio",
        "patch-in-an-uncalled-function",
        "optional-patch-without-gevent",
    ],
)
def test_autoworker_serves_what_it_once_refused_or_patched(
    app: str, env: dict[str, str], worker: str, body: str
) -> None:
    with servers.gunicorn(app, *k("AutoWorker"), env=env) as server:
        response = server.get("/")
        assert (response.status_code, response.text) == (200, body), server.log
        assert chosen(server) == f"safeworkers.{worker}"
    code, output = servers.run_to_exit([CLI, "recommend", app], env=env)
    assert code == 0, output
    assert output.splitlines()[0] == f"gunicorn -k safeworkers.{worker}", output


# --- forced backends (#4) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("worker", "env", "message"),
    [
        ("AutoWorker", {"SAFEWORKERS_BACKEND": "gevent"}, "SAFEWORKERS_BACKEND=gevent serves WSGI"),
        (
            "AutoWorker",
            {"SAFEWORKERS_BACKEND": "eventlet"},
            "SAFEWORKERS_BACKEND=eventlet serves WSGI apps, but this app is ASGI",
        ),
        ("GeventWorker", {}, "safeworkers.GeventWorker serves WSGI apps, but this app is ASGI"),
    ],
    ids=["auto-gevent", "auto-eventlet", "gevent-worker"],
)
def test_green_worker_refuses_an_asgi_app_at_boot(
    worker: str, env: dict[str, str], message: str
) -> None:
    log = boot_failure("asgi_plain:app", *k(worker), env=env)
    assert message in log


@pytest.mark.parametrize("worker", ["AutoWorker", "GeventWorker"])
def test_self_patching_asgi_app_is_told_to_drop_the_patching(worker: str) -> None:
    """Not "serve it with AutoWorker": AutoWorker is what chose the green worker."""
    log = boot_failure("asgi_selfpatch:app", *k(worker))
    assert (
        "this ASGI app monkey-patches the process when imported (gevent.monkey.patch_all at "
        "asgi_selfpatch.py:10), and safeworkers.GeventWorker serves WSGI apps only"
    ) in log
    assert "Remove the monkey-patching call from the app's code" in log
    assert "-k safeworkers.AutoWorker" not in log


def test_trio_backend_serves_a_wsgi_app() -> None:
    env = {"SAFEWORKERS_BACKEND": "trio"}
    with servers.gunicorn("wsgi_plain:app", *k("AutoWorker"), env=env) as server:
        assert server.get("/hello").text.startswith("GET /hello pid=")
        assert chosen(server) == TRIO


# --- Trio where Trio cannot run; two patchers (#5) ----------------------------------------


def test_trio_app_in_a_gevent_patched_process_is_a_boot_error(tmp_path: Path) -> None:
    log = boot_failure("quart_trio_app:app", *conf(tmp_path, GEVENT_CONF), *k("AutoWorker"))
    assert "the app runs Trio code (trio at quart_trio_app.py:7" in log
    assert "but Trio cannot run here: this process is already monkey-patched by gevent" in log
    assert "AutoWorker chose" not in log


@pytest.mark.parametrize(
    ("text", "worker", "other"),
    [(GEVENT_CONF, "EventletWorker", "gevent"), (EVENTLET_CONF, "GeventWorker", "eventlet")],
    ids=["eventlet-in-gevent", "gevent-in-eventlet"],
)
def test_green_worker_refuses_a_process_patched_by_the_other(
    tmp_path: Path, text: str, worker: str, other: str
) -> None:
    log = boot_failure(
        "wsgi_plain:app", *conf(tmp_path, text), *k(worker), others_tracebacks=other == "eventlet"
    )
    assert (
        f"safeworkers.{worker} cannot start: this process is already monkey-patched by {other}"
    ) in log
    assert "two patchers in one process break each other. Serve it with -k safeworkers." in log


# --- the fastest installed asyncio worker (#6) --------------------------------------------


def test_asgi_app_gets_the_fastest_installed_asyncio_worker() -> None:
    if FASTEST == "asgi" and servers.gunicorn_version() < (24,):
        pytest.skip("no asyncio worker in this gunicorn and no uvicorn-worker here")
    with servers.gunicorn("starlette_asyncio:app", *k("AutoWorker")) as server:
        assert server.get("/").text.startswith("asyncio loop")
        assert chosen(server) == FASTEST
    assert recommended("starlette_asyncio:app") == ("gunicorn", FASTEST)


def test_without_httptools_gunicorns_own_asgi_worker_is_chosen() -> None:
    if servers.gunicorn_version() < (24,):
        pytest.skip("gunicorn < 24 has no asgi worker")
    env = {"SWTEST_HIDE_DISTS": "httptools", "SWTEST_BLOCK_IMPORTS": "httptools"}
    with servers.gunicorn("asgi_plain:app", *k("AutoWorker"), env=env) as server:
        assert server.get("/").text == "asgi /"
        assert chosen(server) == "asgi"


# --- messages (#7) -------------------------------------------------------------------------


def test_eventlet_worker_does_not_blame_preload_it_was_not_given() -> None:
    with servers.gunicorn("wsgi_plain:app", *k("EventletWorker")) as server:
        assert server.get("/").status_code == 200
        log = server.log
    assert "the app was imported before eventlet patched" not in log


def test_start_line_says_when_the_guard_is_off() -> None:
    env = {"SAFEWORKERS_GUARD": "off"}
    with servers.gunicorn("wsgi_plain:app", *k("GeventWorker"), env=env) as server:
        server.wait_for_log("safeworkers GeventWorker (pid")
        log = server.log
    assert "guard=off: no Trio import guard (SAFEWORKERS_GUARD=off)" in log
    assert "with the Trio import guard" not in log


# --- doctor (#8) ---------------------------------------------------------------------------


def test_eventlet_import_needs_the_guard_here() -> None:
    """The hazard doctor reports is real in this environment, and so is its cure."""
    plain = subprocess.run(
        [sys.executable, "-c", "import eventlet"], capture_output=True, text=True, check=False
    )
    guarded = subprocess.run(
        [sys.executable, "-c", "import safeworkers.guard as g; g.install(); import eventlet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert guarded.returncode == 0, guarded.stderr
    code, output = servers.run_to_exit([CLI, "doctor"])
    assert code == 0
    if plain.returncode == 0:
        assert "eventlet-import-imports-trio" not in output
        return
    assert "GreenSocket' has no attribute 'sendmsg'" in plain.stderr
    assert (
        "[warning] eventlet-import-imports-trio: `import eventlet` fails in this environment"
        in (output)
    )
    assert (
        "fix: serve with -k safeworkers.EventletWorker, which installs the Trio import guard"
        in (output)
    )


def test_doctor_lists_trio_importers_and_never_suggests_installing_what_is_installed() -> None:
    code, output = servers.run_to_exit([CLI, "doctor"])
    assert code == 0
    section = output.split("trio importers", 1)[1].split("findings", 1)[0]
    importers = dict(line.split(None, 1) for line in section.strip().splitlines())
    assert importers["httpcore"] == "imports trio"
    assert importers["httpx"] == "through httpcore"
    assert importers["quart-trio"] == "imports trio"
    if installed("httpx2"):
        assert importers["httpcore2"] == "imports trio"
        assert importers["httpx2"] == "through httpcore2"
    assert "anyio" not in importers  # it imports trio only when its trio backend runs
    assert "pip install 'safeworkers[eventlet]'" not in output  # eventlet is installed


def test_nothing_of_ours_imports_gevent_before_the_guard() -> None:
    """gunicorn imports GeventWorker's module in the master: the guard goes in first."""
    code = (
        "import sys\n"
        "from safeworkers import guard\n"
        "real = guard.install\n"
        "def install(*args, **kwargs):\n"
        "    print('gevent imported before the guard:', 'gevent' in sys.modules)\n"
        "    return real(*args, **kwargs)\n"
        "guard.install = install\n"
        "import safeworkers.workers.gevent\n"
        "print('gevent imported:', 'gevent' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [
        "gevent imported before the guard: False",
        "gevent imported: True",
    ]

"""Sync, Thread, Gevent and Auto workers under real gunicorn processes (issue #3)."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import safeworkers
from tests import markers, servers
from tests.expect import FASTEST

WORKERS = ["SyncWorker", "ThreadWorker", "GeventWorker", "AutoWorker"]


@pytest.fixture(scope="module")
def upstream() -> Iterator[servers.Server]:
    """A second local HTTP server for apps that make outbound calls."""
    with servers.gunicorn("wsgi_plain:app", "-k", "sync") as server:
        yield server


def k(name: str) -> tuple[str, str]:
    return ("-k", f"safeworkers.{name}")


def assert_clean_log(log: str) -> None:
    assert "[ERROR]" not in log, log
    assert "Traceback" not in log, log


@markers.real_platform
@pytest.mark.parametrize("unix", [False, True], ids=["tcp", "unix"])
@pytest.mark.parametrize("worker", WORKERS)
def test_serves_plain_wsgi(worker: str, unix: bool) -> None:
    with servers.gunicorn("wsgi_plain:app", *k(worker), unix=unix) as server:
        client = server.client()
        assert client.get("/hello").text.startswith("GET /hello")
        assert "body=5" in client.post("/echo", content=b"12345").text
        server.wait_for_log("safeworkers ")
        assert_clean_log(server.log)


@markers.real_platform
@pytest.mark.parametrize("worker", WORKERS)
def test_flask_app_with_module_level_httpx_client_calls_out(
    worker: str, upstream: servers.Server
) -> None:
    env = {"UPSTREAM_URL": upstream.url}
    with servers.gunicorn("flask_httpx:app", *k(worker), env=env) as server:
        response = server.get("/proxy")
        assert response.status_code == 200, server.log
        assert response.text.startswith("proxied: 200 GET /upstream")


@markers.real_platform
def test_field_failure_side_by_side_gevent_on_macos_like_platform(
    upstream: servers.Server,
) -> None:
    """Upstream `-k gevent` cannot boot the app; safeworkers.GeventWorker serves it."""
    # Trio's failure alone: the Objective-C fork-safety check off (else simulated macOS's
    # fork-safety crash comes first: test_forksafety.py).
    env = {"UPSTREAM_URL": upstream.url, "OBJC_DISABLE_INITIALIZE_FORK_SAFETY": "YES"}
    with servers.gunicorn(
        "flask_httpx:app", "-k", "gevent", fake_platform="darwin", env=env, wait=False
    ) as broken:
        assert broken.wait(timeout=30) != 0
        assert "NotImplementedError" in broken.log
        assert "monkey-patched out by gevent" in broken.log
        assert "Worker failed to boot" in broken.log
    with servers.gunicorn(
        "flask_httpx:app", *k("GeventWorker"), fake_platform="darwin", env=env
    ) as fixed:
        assert fixed.get("/proxy").text.startswith("proxied: 200")


# --- AutoWorker's decisions -------------------------------------------------


@pytest.mark.parametrize(
    ("app", "args", "env", "chosen"),
    [
        ("wsgi_plain:app", (), {}, "safeworkers.SyncWorker"),
        ("wsgi_plain:app", ("--threads", "4"), {}, "safeworkers.ThreadWorker"),
        ("asgi_plain:app", (), {}, FASTEST),
        ("wsgi_plain:app", (), {"SAFEWORKERS_BACKEND": "auto"}, "safeworkers.SyncWorker"),
        ("wsgi_plain:app", (), {"SAFEWORKERS_BACKEND": "sync"}, "safeworkers.SyncWorker"),
        ("wsgi_plain:app", (), {"SAFEWORKERS_BACKEND": "gthread"}, "safeworkers.ThreadWorker"),
        ("wsgi_plain:app", (), {"SAFEWORKERS_BACKEND": "gevent"}, "safeworkers.GeventWorker"),
        ("asgi_plain:app", (), {"SAFEWORKERS_BACKEND": "asgi"}, FASTEST),
        ("wsgi_plain:app", (), {"SAFEWORKERS_BACKEND": "eventlet"}, "safeworkers.EventletWorker"),
        ("asgi_plain:app", (), {"SAFEWORKERS_BACKEND": "trio"}, "safeworkers.TrioWorker"),
        ("trio_raw:app", (), {}, "safeworkers.TrioWorker"),
        ("quart_trio_app:app", (), {}, "safeworkers.TrioWorker"),
        ("starlette_app:app", (), {}, FASTEST),
        ("flask_httpx:app", (), {"UPSTREAM_URL": "http://127.0.0.1:9"}, "safeworkers.SyncWorker"),
    ],
    ids=[
        "wsgi",
        "wsgi-threads",
        "asgi",
        "auto",
        "sync",
        "gthread",
        "gevent",
        "asgi-forced",
        "eventlet",
        "trio-forced",
        "trio-app",
        "quart-trio-app",
        "starlette-app",
        "httpx-is-not-trio",
    ],
)
def test_autoworker_choice(
    app: str, args: tuple[str, ...], env: dict[str, str], chosen: str
) -> None:
    if chosen == "asgi" and servers.gunicorn_version() < (24,):
        # No asyncio ASGI worker in this gunicorn, and no uvicorn-worker here.
        with servers.gunicorn(app, *k("AutoWorker"), *args, env=env, wait=False) as server:
            assert server.wait(timeout=30) != 0
            assert "has no asyncio ASGI worker" in server.log
            assert "pip install uvicorn-worker" in server.log
        return
    with servers.gunicorn(app, *k("AutoWorker"), *args, env=env) as server:
        assert server.get("/__ready__").status_code == 200
        server.wait_for_log(f"safeworkers AutoWorker chose {chosen}:")
        assert_clean_log(server.log)


def test_autoworker_keeps_sockets_the_arbiter_made_in_the_child() -> None:
    """With --reuse-port (gunicorn >= 25) each worker binds its own listener."""
    with servers.gunicorn("wsgi_plain:app", *k("AutoWorker"), "--reuse-port", "-w", "2") as server:
        for _ in range(3):
            assert server.get("/").status_code == 200


def test_autoworker_keeps_a_stop_that_arrives_while_the_app_imports() -> None:
    with servers.gunicorn("slow_import_app:app", *k("AutoWorker"), wait=False) as server:
        server.wait_for_log("Booting worker")
        time.sleep(0.5)  # the worker is inside the 2 s import now
        server.signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        assert "SIGKILL" not in server.log  # not left to die after the graceful timeout


def _readable_by_others(path: Path) -> bool:
    """Whether a user with no special rights can reach and read ``path``."""
    for part in [path, *path.parents]:
        mode = part.stat().st_mode
        needed = stat.S_IXOTH | (stat.S_IROTH if part == path else 0)
        if mode & needed != needed:
            return False
    return True


def _readable_copy(source: Path, target: Path, *, link: bool) -> Path:
    """``source`` at ``target``, readable by everyone: hard links (no copy, and the same
    files) where ``link`` and the files already are, else a copy made readable."""
    sample = next((p for p in source.rglob("*.py") if p.is_file()), source)
    if link and sample.stat().st_mode & stat.S_IROTH:
        done = subprocess.run(["cp", "-al", str(source), str(target)], check=False)
        if done.returncode == 0:
            return target
        shutil.rmtree(target, ignore_errors=True)  # another filesystem: copy instead
    shutil.copytree(source, target, symlinks=True)
    subprocess.run(["chmod", "-R", "a+rX", str(target)], check=True)
    return target


@dataclass(frozen=True)
class NobodysView:
    """A gunicorn, the paths its servers import from and the directory they run in, all
    readable by user ``nobody``."""

    gunicorn: str
    pythonpath: tuple[Path, ...] = servers.PYTHONPATH
    cwd: Path = servers.ROOT


@pytest.fixture(scope="module")
def readable_by_nobody() -> Iterator[NobodysView]:
    """What user ``nobody`` must read, where it can read it, as in any deployment.

    A worker that dropped privileges still imports after the drop: the app (the point of
    the test), the modules our workers import lazily, the standard library's (Python
    3.13's ``random.seed`` imports ``_sha2``). A checkout often is not readable by other
    users: pyenv's interpreters under /root (mode 0700), a clone in a home directory of
    mode 0700 (with this venv in it). What is not readable goes, linked or copied, into a
    readable temporary directory: the interpreter, the venv's packages in a venv there,
    this package and the test app first on the servers' path.
    """
    if os.environ.get("SAFEWORKERS_TEST_GUNICORN_BIN"):
        yield NobodysView(servers.gunicorn_exe())
        return
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    packages = Path(sysconfig.get_paths()["purelib"])
    ours = Path(safeworkers.__file__).resolve().parent
    paths = (stdlib, packages, ours, servers.TEST_APPS)
    if all(_readable_by_others(path) for path in paths):
        yield NobodysView(servers.gunicorn_exe())
        return
    top = Path(tempfile.mkdtemp(prefix="sw-nobody-"))
    try:
        top.chmod(0o755)
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        try:
            home = Path(sys.base_prefix)
            if not _readable_by_others(stdlib):
                home = _readable_copy(home, top / "python", link=True)
            if not _readable_by_others(packages):
                packages = _readable_copy(packages, top / "site-packages", link=True)
            pythonpath = [top / "apps"]
            shutil.copytree(servers.TEST_APPS, top / "apps", symlinks=True)
            if not _readable_by_others(ours):
                _readable_copy(ours, top / "src" / ours.name, link=False)
                pythonpath.insert(0, top / "src")  # before the venv's path to the checkout
            subprocess.run(["chmod", "-R", "a+rX", str(top / "apps")], check=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            pytest.skip(f"cannot make a copy of what user nobody must read: {exc}")
        env = top / "venv"
        (env / "bin").mkdir(parents=True)
        (env / "lib" / version).mkdir(parents=True)
        (env / "lib" / version / "site-packages").symlink_to(packages)
        (env / "pyvenv.cfg").write_text(f"home = {home / 'bin'}\n")
        python = env / "bin" / "python"
        python.symlink_to(home / "bin" / version)
        script = env / "bin" / "gunicorn"
        script.write_text(f"#!{python}\nfrom gunicorn.app.wsgiapp import run\nrun()\n")
        script.chmod(0o755)
        yield NobodysView(str(script), (servers.SITE, *pythonpath), top)
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
@pytest.mark.parametrize("initgroups", [False, True], ids=["plain", "initgroups"])
@pytest.mark.parametrize("worker", ["AutoWorker", "SyncWorker"])
def test_app_is_imported_after_privileges_are_dropped(
    worker: str, initgroups: bool, readable_by_nobody: NobodysView
) -> None:
    try:
        nobody = pwd.getpwnam("nobody")
        group = grp.getgrgid(nobody.pw_gid).gr_name
    except KeyError:
        pytest.skip("no 'nobody' user here")
    args = ["--user", "nobody", "--group", group] + (["--initgroups"] if initgroups else [])
    with servers.gunicorn(
        "uid_app:app",
        *k(worker),
        *args,
        gunicorn_bin=readable_by_nobody.gunicorn,
        pythonpath=readable_by_nobody.pythonpath,
        cwd=readable_by_nobody.cwd,
    ) as server:
        text = server.get("/").text
    assert text.startswith(f"import={nobody.pw_uid} now={nobody.pw_uid}"), text


#: What the privilege-drop cases need besides the package, and how pytest selects them.
TOOLS = ("pytest", "pytest-timeout", "httpx")
CASES = "test_app_is_imported_after_privileges_are_dropped"


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_privilege_drop_cases_pass_from_a_private_checkout(tmp_path: Path) -> None:
    """The four cases above, from this checkout copied into a directory of mode 0700 (as
    home directories are on many distributions) with a venv of its own inside: nothing
    there is readable by user nobody, whom the servers run the app as."""
    uv = servers.BIN / "uv"
    if not uv.exists():
        pytest.skip("uv (the dev extra) makes the private checkout's venv")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        cwd=servers.ROOT,
        check=False,
    )
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout: {listed.stderr.decode().strip()}")
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    checkout = home / "safeworkers"
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = servers.ROOT / name
        if source.is_file():  # not deleted in the working tree
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, checkout / name)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    python = checkout / ".venv" / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    for argv in (
        [str(uv), "venv", "-q", "--python", sys.executable, str(python.parent.parent)],
        [str(uv), "pip", "install", "-q", "--python", str(python), "-e", str(checkout), *TOOLS],
    ):
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    this_module = str(Path(__file__).relative_to(servers.ROOT))
    ran = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", this_module, "-k", CASES],
        capture_output=True,
        text=True,
        cwd=checkout,
        env=env,
        timeout=300,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "4 passed" in ran.stdout, ran.stdout
    assert "skipped" not in ran.stdout, ran.stdout


def test_autoworker_loads_the_app_once() -> None:
    with servers.gunicorn("counting_app:app", *k("AutoWorker")) as server:
        assert server.get("/").text == "imports=1"


@pytest.mark.parametrize(
    ("variable", "value", "accepted"),
    [
        ("SAFEWORKERS_BACKEND", "geventt", "auto, sync, gthread, gevent, eventlet, trio, asgi"),
        ("SAFEWORKERS_TCP_KEEPALIVE", "60,15", "idle and interval 1-32767 s, count 1-127"),
        ("SAFEWORKERS_GUARD", "maybe", "guard, preimport, off"),
    ],
)
@pytest.mark.parametrize("worker", ["AutoWorker", "GeventWorker", "SyncWorker"])
def test_bad_setting_stops_the_worker_with_a_clear_message(
    worker: str, variable: str, value: str, accepted: str
) -> None:
    with servers.gunicorn(
        "wsgi_plain:app", *k(worker), env={variable: value}, wait=False
    ) as server:
        assert server.wait(timeout=30) != 0
        log = server.log
        assert f"safeworkers: {variable}={value!r} is not valid: accepted values are" in log
        assert accepted in log
        assert "Worker failed to boot" in log
        assert "Traceback" not in log


def test_backend_for_the_wrong_app_kind_is_a_clear_error() -> None:
    env = {"SAFEWORKERS_BACKEND": "gthread"}
    with servers.gunicorn("asgi_plain:app", *k("AutoWorker"), env=env, wait=False) as server:
        assert server.wait(timeout=30) != 0
        assert "SAFEWORKERS_BACKEND=gthread serves WSGI apps, but this app is ASGI" in server.log


@pytest.mark.parametrize("worker", ["GeventWorker", "AutoWorker"])
def test_missing_extra_names_the_install_command(worker: str) -> None:
    env = {
        "SWTEST_BLOCK_IMPORTS": "gevent,greenlet",
        "SAFEWORKERS_BACKEND": "gevent",
    }
    with servers.gunicorn("wsgi_plain:app", *k(worker), env=env, wait=False) as server:
        assert server.wait(timeout=30) != 0
        log = server.log
        assert "pip install 'safeworkers[gevent]'" in log
        assert "Worker failed to boot" in log
        assert "Traceback" not in log


@pytest.mark.parametrize("worker", ["AutoWorker", "SyncWorker", "ThreadWorker"])
def test_gunicorn_is_the_only_runtime_dependency(worker: str) -> None:
    """gunicorn >= 27 no longer brings `packaging`: nothing of ours may need it."""
    env = {"SWTEST_BLOCK_IMPORTS": "packaging"}
    with servers.gunicorn("wsgi_plain:app", *k(worker), env=env) as server:
        assert server.get("/").status_code == 200


def test_gevent_worker_without_gunicorns_gevent_extra_says_what_to_install() -> None:
    """gunicorn 27's gevent module needs packaging (its [gevent] extra); say so."""
    if servers.gunicorn_version() < (27,):
        pytest.skip("only gunicorn >= 27's gevent worker imports packaging")
    env = {"SWTEST_BLOCK_IMPORTS": "packaging"}
    with servers.gunicorn("wsgi_plain:app", *k("GeventWorker"), env=env, wait=False) as server:
        assert server.wait(timeout=30) != 0
        assert "safeworkers.GeventWorker needs packaging" in server.log
        assert "pip install 'safeworkers[gevent]'" in server.log
        assert "Traceback" not in server.log


# --- gunicorn behaviours through our workers --------------------------------

BEHAVIOUR_WORKERS = ["SyncWorker", "ThreadWorker", "GeventWorker"]


@pytest.mark.parametrize("worker", BEHAVIOUR_WORKERS)
def test_max_requests_with_jitter_recycles_workers(worker: str) -> None:
    if worker == "ThreadWorker" and servers.gunicorn_version() < (24,):
        pytest.xfail(
            "gunicorn 23's gthread drops connections it accepted but had not served when it "
            "recycles; upstream -k gthread drops as many (about 1 in 7 here); fixed in 24+"
        )
    args = ("--max-requests", "5", "--max-requests-jitter", "2")
    with servers.gunicorn("wsgi_plain:app", *k(worker), *args) as server:
        pids: set[str] = set()
        # Green workers notice max_requests on their ~1 s loop tick (upstream
        # behaves the same), so pace the requests; bounded in count and time.
        deadline = time.monotonic() + 20
        for _ in range(200):
            # A fresh connection each time, so recycling is not hidden by keep-alive.
            with httpx.Client(base_url=server.url, timeout=10) as client:
                response = client.get("/", headers={"Connection": "close"})
            assert response.status_code == 200
            pids.add(response.text.split("pid=")[1].split()[0])
            if len(pids) >= 3 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(pids) >= 3, pids
        assert "Autorestarting worker after current request" in server.log


@pytest.mark.parametrize("worker", BEHAVIOUR_WORKERS)
def test_sighup_reloads_workers(worker: str) -> None:
    with servers.gunicorn("wsgi_plain:app", *k(worker)) as server:
        before = server.worker_pids()
        server.signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            after = server.worker_pids()
            if after and not (after & before):
                break
            time.sleep(0.1)
        assert after, (before, after)
        assert not (after & before), (before, after)
        with httpx.Client(base_url=server.url, timeout=10) as client:
            assert client.get("/").status_code == 200


@pytest.mark.parametrize("worker", BEHAVIOUR_WORKERS)
def test_sigterm_drains_an_in_flight_request(worker: str) -> None:
    with servers.gunicorn("wsgi_plain:app", *k(worker)) as server:
        result: dict[str, object] = {}

        def slow() -> None:
            with httpx.Client(base_url=server.url, timeout=15) as client:
                try:
                    result["response"] = client.get("/slow", params={"s": "1"})
                except httpx.HTTPError as exc:
                    result["error"] = exc

        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(0.4)  # the request is in the app now
        server.signal(signal.SIGTERM)
        thread.join(timeout=15)
        response = result.get("response")
        assert isinstance(response, httpx.Response), result
        assert response.status_code == 200
        assert response.text.startswith("GET /slow")
        assert server.wait(timeout=15) == 0


@pytest.mark.parametrize("worker", BEHAVIOUR_WORKERS)
def test_preload(worker: str) -> None:
    with servers.gunicorn("wsgi_plain:app", *k(worker), "--preload") as server:
        assert server.get("/").status_code == 200


def test_gevent_does_not_warn_about_an_httpx_app_preloaded(upstream: servers.Server) -> None:
    """httpcore imported trio in the master: nothing is broken, and nothing to warn about."""
    env = {"UPSTREAM_URL": upstream.url}
    with servers.gunicorn("flask_httpx:app", *k("GeventWorker"), "--preload", env=env) as server:
        assert server.get("/proxy").status_code == 200
        assert "[WARNING]" not in server.log


@pytest.mark.parametrize("worker", BEHAVIOUR_WORKERS)
def test_live_worker_is_not_killed_by_the_timeout(worker: str) -> None:
    with servers.gunicorn("wsgi_plain:app", *k(worker), "--timeout", "2") as server:
        first = server.worker_pids()
        deadline = time.monotonic() + 4.5
        with httpx.Client(base_url=server.url, timeout=10) as client:
            while time.monotonic() < deadline:
                assert client.get("/").status_code == 200
                time.sleep(0.5)
        assert server.worker_pids() == first
        assert "WORKER TIMEOUT" not in server.log


@pytest.mark.parametrize("worker", BEHAVIOUR_WORKERS)
def test_two_workers(worker: str) -> None:
    with servers.gunicorn("wsgi_plain:app", *k(worker), "-w", "2") as server:
        deadline = time.monotonic() + 10
        while len(server.worker_pids()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(server.worker_pids()) == 2
        assert server.get("/").status_code == 200

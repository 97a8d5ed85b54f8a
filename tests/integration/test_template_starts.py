"""Every template that runs gunicorn, started as its rendered files say, by a service that
cannot write its home; and the docker and kubernetes health checks against a Django app.

- gunicorn.conf.py, the Dockerfile (with compose.yaml's environment), the Kubernetes
  Deployment, the supervisord program and the Procfile: their command, environment and
  working directory, with ``HOME`` a file (nothing can be made in it, as with a read-only
  root filesystem or a service user without a home) and no ``XDG_RUNTIME_DIR``. Each
  serves, logs no error line, and gunicorn's control socket (>= 25.1) is in the runtime
  directory the files name (a volume, made here in a temporary directory), or off. The
  systemd units, started as systemd does, are in test_deploy_e2e.py.
- A real ``django-admin startproject`` app behind gunicorn as the docker and kubernetes
  templates start it: Docker's HEALTHCHECK command, run as Docker runs it, and the
  kubelet's probes (the path and headers the files give; the pod's address as the Host
  where they give none) get 200, with Django's DEBUG on and, with ``--health-path`` and
  the ALLOWED_HOSTS the files' comments ask for, off.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from safeworkers import testing
from tests import servers
from tests.integration import deploy
from tests.integration.deploy import PIP, need

#: The Host header the kubelet sends when a probe names none: the pod's IP and port
#: (a documentation address: only the header carries it, nothing connects to it).
POD_IP = "192.0.2.10"


@dataclass
class Launch:
    """A gunicorn start as a rendered file describes it."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    port: int
    #: Where the control socket must listen; None: nowhere (off).
    control_socket: Path | None = None


def _gunicorn(argv: list[str]) -> list[str]:
    """The file's command with the gunicorn under test (``make test-gunicorn`` names another)."""
    assert Path(argv[0]).name == "gunicorn", argv
    return [servers.gunicorn_exe(), *argv[1:]]


def _runtime_directory(env: dict[str, str], root: Path) -> Path | None:
    """The file's RUNTIME_DIRECTORY made under ``root`` (the volume a container mounts there);
    the control socket's path in it, or None where the file names no runtime directory."""
    if "RUNTIME_DIRECTORY" not in env:
        return None
    directory = root / env["RUNTIME_DIRECTORY"].lstrip("/")
    directory.mkdir(parents=True)
    env["RUNTIME_DIRECTORY"] = str(directory)
    return directory / "gunicorn.ctl"


def dockerfile(text: str) -> dict[str, Any]:
    """A Dockerfile's ENV (as a dict), CMD and HEALTHCHECK CMD (exec forms, as lists)."""
    found: dict[str, Any] = {"ENV": {}}
    for line in text.replace("\\\n", " ").splitlines():
        instruction, _, rest = line.partition(" ")
        if instruction == "ENV":
            found["ENV"].update(item.split("=", 1) for item in shlex.split(rest))
        elif instruction == "CMD":
            found["CMD"] = json.loads(rest)
        elif instruction == "HEALTHCHECK":
            found["HEALTHCHECK"] = json.loads(rest.partition(" CMD ")[2])
    return found


def container(deployment: str) -> dict[str, Any]:
    """The Deployment's one container."""
    [web] = yaml.safe_load(deployment)["spec"]["template"]["spec"]["containers"]
    assert isinstance(web, dict)
    return web


def launch(template: str, tmp: Path, app: str = "demo_wsgi:app", *options: str) -> Launch:
    """Render ``template`` for ``app`` on a free loopback port; how its files start gunicorn."""
    port = testing.free_port()
    args = ["--app", app, "--bind", f"127.0.0.1:{port}", *options]
    cwd = servers.APPS
    env: dict[str, str] = {}
    if template == "gunicorn":
        out = deploy.render("gunicorn", tmp / "conf", *args)
        argv = ["gunicorn", "-c", str(out / "gunicorn.conf.py"), app]  # as its docstring says
    elif template == "docker":
        out = deploy.render("docker", tmp / "image", *args)
        image = dockerfile((out / "Dockerfile").read_text())
        compose = yaml.safe_load((out / "compose.yaml").read_text())
        argv, env = image["CMD"], {**image["ENV"], **compose["services"]["web"]["environment"]}
    elif template == "kubernetes":
        out = deploy.render("kubernetes", tmp / "manifests", *args)
        web = container((out / "deployment.yaml").read_text())
        argv, env = web["command"], {item["name"]: item["value"] for item in web["env"]}
    elif template == "supervisord":
        from supervisor.options import ServerOptions

        prefix = deploy.prefix_with_this_venv(tmp / "srv", "demo_wsgi")
        more = ("--prefix", str(prefix), "--user", "nobody")  # a user supervisord knows
        out = deploy.render("supervisord", tmp / "conf.d", *args, *more)
        main = tmp / "supervisord.conf"
        main.write_text(f"[supervisord]\n[include]\nfiles = {out / 'webapp.conf'}\n")
        options = ServerOptions()
        options.realize(args=["-c", str(main)])
        [process] = options.process_group_configs[0].process_configs
        argv, env, cwd = shlex.split(process.command), dict(process.environment), prefix
    elif template == "procfile":
        out = deploy.render("procfile", tmp / "app", *args)
        [web] = [line for line in (out / "Procfile").read_text().splitlines() if line[:4] == "web:"]
        # The platform sets PORT, which means 0.0.0.0: BIND keeps the test on loopback.
        argv, env = shlex.split(web[4:]), {"PORT": str(port), "BIND": f"127.0.0.1:{port}"}
        while "=" in argv[0]:  # leading NAME=value words: the shell puts them in the environment
            name, _, value = argv.pop(0).partition("=")
            env[name] = value
    else:
        raise AssertionError(template)
    control_socket = _runtime_directory(env, tmp)
    return Launch(_gunicorn(argv), env, cwd, port, control_socket)


@contextlib.contextmanager
def started(how: Launch, tmp: Path) -> Iterator[testing.Server]:
    """gunicorn started as ``how`` says, with a home it cannot write, until the block ends."""
    env = {
        **{k: v for k, v in deploy.service_env().items() if k not in ("BIND", "PORT")},
        "WEB_CONCURRENCY": "1",  # unless the file says: platforms set it
        **deploy.unwritable_home(tmp),
        **how.env,
    }
    log_path = tmp / "gunicorn.log"
    # Debug: gunicorn says "Control socket disabled" at that level only.
    argv = [*how.argv[:-1], "--log-level", "debug", how.argv[-1]]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=how.cwd)
    server = testing.Server(proc, log_path, f"http://127.0.0.1:{how.port}", argv=tuple(argv))
    try:
        server.wait_ready(timeout=30)
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize(
    "template", ["gunicorn", "docker", "kubernetes", "supervisord", "procfile"]
)
def test_starts_clean_where_the_home_is_not_writable(template: str, tmp_path: Path) -> None:
    how = launch(template, tmp_path)
    with started(how, tmp_path) as server:
        response = server.fetch("/")
        assert response.status == 200, server.log
        assert json.loads(response.body)["worker"] == "safeworkers.SyncWorker"
        deploy.assert_control_socket(server, how.control_socket)
    deploy.assert_no_error(server.log)
    # The files that name a runtime directory (a container's volume, supervisord's socket
    # directory) put the control socket there; the others leave it off.
    assert (how.control_socket is None) == (template in ("gunicorn", "procfile"))


def test_gunicorn_config_alone_starts_clean_where_the_home_is_not_writable(tmp_path: Path) -> None:
    """``-c python:safeworkers.gunicorn_config`` with no runtime directory: the control socket
    is off, and the line that says what is in force says so."""
    port = testing.free_port()
    argv = ["gunicorn", "-c", "python:safeworkers.gunicorn_config", "demo_wsgi:app"]
    how = Launch(_gunicorn(argv), {"BIND": f"127.0.0.1:{port}"}, servers.APPS, port)
    with started(how, tmp_path) as server:
        assert server.fetch("/").status == 200
        deploy.assert_control_socket(server, None)
        if testing.gunicorn_has_option("--no-control-socket"):
            server.wait_for_log(f"bind=127.0.0.1:{port} workers=1 control_socket=off")
    deploy.assert_no_error(server.log)


# --- a Django app's health checks ----------------------------------------------------


@pytest.fixture
def django_site(tmp_path: Path) -> Path:
    """``django-admin startproject mysite``, as it comes (DEBUG on, ALLOWED_HOSTS empty)."""
    site = tmp_path / "site"
    site.mkdir()
    deploy.run([need("django-admin", PIP), "startproject", "mysite", str(site)])
    return site


def _production(site: Path) -> None:
    """DEBUG off and the one host the templates' health checks send, as their comments ask."""
    settings = site / "mysite" / "settings.py"
    text = settings.read_text()
    assert "\nDEBUG = True\n" in text
    assert "\nALLOWED_HOSTS = []\n" in text
    text = text.replace("\nDEBUG = True\n", "\nDEBUG = False\n")
    settings.write_text(text.replace("\nALLOWED_HOSTS = []\n", '\nALLOWED_HOSTS = ["localhost"]\n'))


def _docker_health_check(site: Path, tmp: Path, options: tuple[str, ...]) -> None:
    """Docker runs the HEALTHCHECK command in the container: exit status 0 is healthy."""
    how = launch("docker", tmp, "mysite.wsgi:application", *options)
    how.cwd = site  # the image's WORKDIR holds the project
    out = tmp / "image"
    check = dockerfile((out / "Dockerfile").read_text())["HEALTHCHECK"]
    assert check[0] == "python"
    with started(how, tmp) as server:
        done = subprocess.run(
            [sys.executable, *check[1:]], capture_output=True, text=True, timeout=30, check=False
        )
        assert done.returncode == 0, f"{done.stderr}\n{server.log}"
    deploy.assert_no_error(server.log)


def _kubelet_probes(site: Path, tmp: Path, options: tuple[str, ...]) -> None:
    """The kubelet's GET: the probe's path and headers; Host is the pod's address unless a
    header names one; 200-399 is a success (200 here: no redirect is expected)."""
    how = launch("kubernetes", tmp, "mysite.wsgi:application", *options)
    how.cwd = site
    web = container((tmp / "manifests" / "deployment.yaml").read_text())
    ports = {port["name"]: port["containerPort"] for port in web["ports"]}
    with started(how, tmp) as server:
        for kind in ("readinessProbe", "livenessProbe"):
            probe = web[kind]["httpGet"]
            port = ports.get(probe["port"], probe["port"])
            headers = {h["name"]: h["value"] for h in probe.get("httpHeaders", [])}
            headers.setdefault("Host", f"{POD_IP}:{port}")
            response = server.fetch(probe["path"], headers=headers)
            assert response.status == 200, (kind, response.status, response.text[:300])
    deploy.assert_no_error(server.log)


@pytest.mark.parametrize("check", [_docker_health_check, _kubelet_probes], ids=["docker", "k8s"])
@pytest.mark.parametrize("mode", ["debug", "production"])
def test_django_answers_the_rendered_health_checks(
    check: Any, mode: str, django_site: Path, tmp_path: Path
) -> None:
    options: tuple[str, ...] = ()
    if mode == "production":
        _production(django_site)
        options = ("--health-path", "/admin/login/")  # no view answers / with DEBUG off
    check(django_site, tmp_path, options)


@pytest.mark.skipif(
    not testing.gunicorn_has_option("--no-control-socket"),
    reason="gunicorn < 25.1: no control socket",
)
def test_a_control_socket_placed_on_the_command_line_is_on(tmp_path: Path) -> None:
    """safeworkers.gunicorn_config turns the socket off without a runtime directory, but a
    --control-socket PATH given on the command line says where the user wants it."""
    place = tmp_path / "mine.ctl"
    args = ("-c", "python:safeworkers.gunicorn_config", "--control-socket", str(place))
    with servers.gunicorn("demo_wsgi:app", *args, env={"RUNTIME_DIRECTORY": ""}) as server:
        deploy.assert_control_socket(server, place)
        assert f"control_socket={place}" in server.log

"""`safeworkers template`: what it renders, the rules every template keeps, examples/configs.

The files' real validators (gunicorn, systemd-analyze, nginx -t, hadolint,
kubernetes-validate, yamllint, supervisord, honcho) run in
tests/integration/test_template_tools.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from safeworkers.cli import template as _template
from safeworkers.cli.template import TEMPLATES, Params, TemplateError, render

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = ROOT / "examples" / "configs"
CLI = [sys.executable, "-m", "safeworkers.cli"]
#: The app each folder of examples/configs is rendered for (`make configs`).
EXAMPLE_APPS = {name: "demo_wsgi:app" for name in TEMPLATES} | {"hypercorn": "demo_asgi:app"}


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, cwd=cwd, check=False, timeout=60
    )


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_examples_configs_are_what_the_command_renders(name: str) -> None:
    """examples/configs/NAME holds exactly the rendered files (run `make configs` to update)."""
    rendered = render(name, Params(app=EXAMPLE_APPS[name]))
    folder = CONFIGS / name
    # __pycache__: gunicorn -c compiles gunicorn.conf.py where bytecode is written
    found = sorted(p.name for p in folder.iterdir() if p.name != "__pycache__")
    assert found == sorted(rendered)
    for file_name, text in rendered.items():
        assert (folder / file_name).read_text() == text, f"{name}/{file_name}: run make configs"


WORKER_CASES = [
    (name, worker)
    for name, spec in sorted(TEMPLATES.items())
    for worker in (None, "trio" if spec.server == "hypercorn" else "safeworkers.GeventWorker")
]


def _number(pattern: str, text: str) -> int:
    match = re.search(pattern, text, re.M)
    assert match is not None, pattern
    return int(match[1])


@pytest.mark.parametrize(("name", "worker"), WORKER_CASES)
def test_every_file_names_its_worker_and_says_why(name: str, worker: str | None) -> None:
    params = Params(worker=worker)
    chosen = _template.context(name, params)["worker"]
    why_start = _template.WHY[chosen].split()[0]
    for file_name, text in render(name, params).items():
        assert "{{" not in text, file_name
        assert "}}" not in text, file_name
        if file_name == "hypercorn_config.py":
            # the worker is chosen at start, and the file says how
            assert "worker_class: chosen when hypercorn starts" in text
            continue
        assert chosen in text, file_name
        # their companion (the .service, deployment.yaml) says why
        if file_name not in ("webapp.socket", "service.yaml", "pdb.yaml", "hpa.yaml"):
            assert f"Worker: {chosen}, because" in text, file_name
            assert why_start in text, file_name


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_no_wildcard_forwarded_allow_ips_and_comment_lines_fit(name: str) -> None:
    for file_name, text in render(name).items():
        assert not re.search(r"forwarded.allow.ips\W+\*", text, re.I), file_name
        assert "FORWARDED_ALLOW_IPS=*" not in text
        for line in text.splitlines():
            if line.lstrip().startswith(("#", ";")):
                assert len(line) <= 100, (file_name, line)


def test_timeouts_agree_with_gunicorn_config() -> None:
    """Stop timeouts sit above graceful_timeout; Kubernetes' grace covers preStop + graceful."""
    import safeworkers.gunicorn_config as config

    assert config.graceful_timeout == _template.GRACEFUL_TIMEOUT
    service = render("systemd")["webapp.service"]
    assert _number(r"^TimeoutStopSec=(\d+)$", service) > config.graceful_timeout
    compose = render("docker")["compose.yaml"]
    assert _number(r"stop_grace_period: (\d+)s", compose) > config.graceful_timeout
    program = render("supervisord")["webapp.conf"]
    assert _number(r"^stopwaitsecs=(\d+)$", program) > config.graceful_timeout
    deployment = render("kubernetes")["deployment.yaml"]
    grace = _number(r"terminationGracePeriodSeconds: (\d+)", deployment)
    sleep = _number(r'command: \["sleep", "(\d+)"\]', deployment)
    assert sleep > 0
    assert grace > sleep + config.graceful_timeout


def test_systemd_unit_has_the_required_settings() -> None:
    files = render("systemd")
    service, socket_unit = files["webapp.service"], files["webapp.socket"]
    for line in (
        "Type=notify",
        "KillMode=mixed",
        "ExecReload=/bin/kill -s HUP $MAINPID",
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "Requires=webapp.socket",
    ):
        assert f"\n{line}\n" in service, line
    assert "\nListenStream=/run/webapp/gunicorn.sock\n" in socket_unit
    assert "\nSocketMode=0660\n" in socket_unit
    # The rendered gunicorn.conf.py is what runs (its settings apply under systemd), and
    # the control socket gets a runtime directory beside, not over, the socket's.
    assert (
        "\nExecStart=/srv/webapp/.venv/bin/gunicorn --config /srv/webapp/gunicorn.conf.py "
        "myproject.wsgi:app\n"
    ) in service
    assert "\nRuntimeDirectory=webapp/control\n" in service
    assert files["gunicorn.conf.py"] == render("gunicorn")["gunicorn.conf.py"]
    named = render("systemd", Params(user="www-app"))["webapp.service"]
    assert "\nUser=www-app\n" in named
    assert "DynamicUser" not in named


def test_nginx_buffers_for_sync_workers_and_streams_for_the_others() -> None:
    for worker in ("safeworkers.AutoWorker", "safeworkers.SyncWorker", "sync", "gthread"):
        assert "proxy_buffering on;" in render("nginx", Params(worker=worker))["webapp.conf"]
    for worker in (
        "safeworkers.GeventWorker",
        "safeworkers.EventletWorker",
        "safeworkers.TrioWorker",
    ):
        assert "proxy_buffering off;" in render("nginx", Params(worker=worker))["webapp.conf"]


def test_names_with_dashes_make_valid_nginx_variables() -> None:
    conf = render("nginx", Params(name="my-app"))["my-app.conf"]
    assert "upstream my_app_app {" in conf
    assert "$my_app_connection" in conf
    assert "unix:/run/my-app/gunicorn.sock" in conf


@pytest.mark.parametrize(
    ("template", "params", "message"),
    [
        ("gunicorn", Params(name="Web App"), "--name 'Web App': use lower-case letters"),
        ("gunicorn", Params(app="app:create('x')"), "is not MODULE:APP, MODULE:FACTORY() or"),
        ("gunicorn", Params(app="app:app; rm -rf /"), "is not MODULE:APP"),
        ("hypercorn", Params(worker="safeworkers.GeventWorker"), "hypercorn's workers are"),
        ("gunicorn", Params(worker="trio"), "is a hypercorn worker"),
        ("docker", Params(bind="unix:/run/x.sock"), "needs a TCP --bind"),
        ("nginx", Params(bind="127.0.0.1:8000"), "proxies to a Unix socket"),
        ("gunicorn", Params(bind="localhost"), "neither unix:PATH nor HOST:PORT"),
        ("systemd", Params(prefix="srv/app"), "--prefix 'srv/app': use an absolute path"),
        ("systemd", Params(prefix="/srv/my app"), "--prefix '/srv/my app': use an absolute path"),
        ("supervisord", Params(prefix="/srv/a;b"), "(no spaces, quotes, ;, $, % or newlines"),
        ("systemd", Params(prefix="/srv/a\nExecStartPre=/bin/sh"), "--prefix '/srv/a\\nExec"),
        ("nginx", Params(bind="unix:/tmp/a;b"), "--bind unix:PATH '/tmp/a;b': use an absolute"),
        ("nginx", Params(bind="unix:run/x.sock"), "--bind unix:PATH 'run/x.sock'"),
        ("gunicorn", Params(bind="evil host:80"), "neither unix:PATH nor HOST:PORT"),
        ("systemd", Params(user="root"), "--user 'root' is root: name an unprivileged user"),
        ("supervisord", Params(user="root"), "--user 'root' is root"),
        ("gunicorn", Params(worker='x" rm'), "is not a worker class name"),
        ("docker", Params(health_path="healthz"), "--health-path 'healthz': use a path that"),
        ("kubernetes", Params(health_path="/h'x"), '--health-path "/h\'x": use a path that'),
        ("kubernetes", Params(health_path="/a b"), "starts with / (e.g. /healthz)"),
        ("nope", Params(), "no template 'nope'"),
    ],
)
def test_bad_parameters_are_one_clear_error(template: str, params: Params, message: str) -> None:
    with pytest.raises(TemplateError, match=re.escape(message)):
        render(template, params)


def test_command_prints_writes_and_refuses_to_overwrite(tmp_path: Path) -> None:
    printed = _cli("template", "gunicorn", "--app", "demo_wsgi:app")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == render("gunicorn", Params(app="demo_wsgi:app"))["gunicorn.conf.py"]
    several = _cli("template", "systemd")
    assert "==> webapp.service <==" in several.stdout
    assert "==> webapp.socket <==" in several.stdout

    written = _cli("template", "nginx", "-o", str(tmp_path), "--worker", "safeworkers.GeventWorker")
    assert written.returncode == 0, written.stderr
    conf = tmp_path / "webapp.conf"
    assert "proxy_buffering off;" in conf.read_text()
    again = _cli("template", "nginx", "-o", str(tmp_path))  # differs: buffering on
    assert again.returncode != 0
    assert "exists and differs: use --force to replace it" in again.stderr
    assert "Traceback" not in again.stderr
    forced = _cli("template", "nginx", "-o", str(tmp_path), "--force")
    assert forced.returncode == 0
    assert "proxy_buffering on;" in conf.read_text()


def test_command_all_and_its_errors(tmp_path: Path) -> None:
    done = _cli("template", "all", "-o", str(tmp_path), "--worker", "safeworkers.GeventWorker")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(TEMPLATES)
    # myproject's code is not here: asyncio, as the hypercorn config takes it
    assert 'worker_class = "asyncio"' in (tmp_path / "hypercorn" / "hypercorn.toml").read_text()
    assert "GeventWorker" in (tmp_path / "docker" / "Dockerfile").read_text()
    for args, message in [
        (["all"], "'all' writes a folder per template: give -o DIR"),
        (["all", "-o", str(tmp_path), "--bind", "unix:/x"], "--bind per template"),
        (["docker", "--bind", "unix:/x.sock"], "needs a TCP --bind"),
    ]:
        failed = _cli("template", *args)
        assert failed.returncode != 0
        assert f"safeworkers: {message}" in failed.stderr or message in failed.stderr
        assert "Traceback" not in failed.stderr


def test_docker_uses_user_and_templates_that_do_not_say_so() -> None:
    dockerfile = render("docker", Params(user="svc"))["Dockerfile"]
    assert "--shell /usr/sbin/nologin svc \\\n" in dockerfile
    noted = _cli("template", "kubernetes", "--user", "svc")
    assert noted.returncode == 0, noted.stderr
    assert (
        "safeworkers: note: the kubernetes template does not use --user (it is used by: "
        "systemd, docker, supervisord)"
    ) in noted.stderr
    assert "note:" not in _cli("template", "systemd", "--user", "svc").stderr


def test_hypercorn_toml_worker_follows_the_apps_code(tmp_path: Path) -> None:
    (tmp_path / "trio_app.py").write_text(
        "import trio\n\nasync def app(scope, receive, send):\n    await trio.sleep(0)\n"
    )
    (tmp_path / "selfpatch.py").write_text("from gevent import monkey\nmonkey.patch_all()\n")
    done = _cli("template", "hypercorn", "--app", "trio_app:app", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert 'worker_class = "trio"' in done.stdout
    assert "Chosen from the app's code" in done.stdout
    given = _cli(
        "template", "hypercorn", "--app", "trio_app:app", "--worker", "asyncio", cwd=tmp_path
    )
    assert 'worker_class = "asyncio"' in given.stdout
    assert "Given with --worker." in given.stdout
    refused = _cli("template", "hypercorn", "--app", "selfpatch:app", cwd=tmp_path)
    assert refused.returncode != 0
    assert "hypercorn cannot serve green code" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.parametrize(
    ("env", "bind"),
    [
        ({}, ["unix:/run/webapp/gunicorn.sock"]),
        ({"BIND": "127.0.0.1:8001, 127.0.0.1:8002"}, ["127.0.0.1:8001", "127.0.0.1:8002"]),
        ({"BIND": "127.0.0.1:8001 [::1]:8001"}, ["127.0.0.1:8001", "[::1]:8001"]),
        ({"PORT": "5000"}, ["0.0.0.0:5000"]),
    ],
)
def test_gunicorn_conf_reads_bind_and_port_as_gunicorn_config_does(
    env: dict[str, str], bind: list[str]
) -> None:
    conf = CONFIGS / "gunicorn" / "gunicorn.conf.py"
    clean = {k: v for k, v in os.environ.items() if k not in ("BIND", "PORT")}
    code = f"import runpy; print(runpy.run_path({str(conf)!r})['bind'])"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**clean, **env},
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == repr(bind)


def test_health_path_goes_into_every_probe_with_a_host_apps_accept() -> None:
    """The HEALTHCHECK and both Kubernetes probes ask for --health-path with Host: localhost."""
    done = _cli("template", "kubernetes", "--health-path", "/healthz?full=1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("path: /healthz?full=1\n") == 2
    assert done.stdout.count("- name: Host\n                  value: localhost\n") == 2
    dockerfile = render("docker", Params(health_path="/-/ready"))["Dockerfile"]
    assert "'http://127.0.0.1:8000/-/ready', headers={'Host': 'localhost'}" in dockerfile
    refused = _cli("template", "docker", "--health-path", "health")
    assert refused.returncode != 0
    assert "safeworkers: --health-path 'health': use a path that starts with /" in refused.stderr
    assert "Traceback" not in refused.stderr

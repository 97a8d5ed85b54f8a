"""Every deployment template checked by its real tool.

examples/configs is what `safeworkers template` renders (tests/unit/cli/test_template.py),
so the tools read those files; units and programs that name paths are
rendered again with a prefix whose .venv is this one, so the paths exist.
"""

from __future__ import annotations

import os
import shlex
import stat
from pathlib import Path

import pytest

from safeworkers import testing
from tests import servers
from tests.integration import deploy
from tests.integration.deploy import APT, CONFIGS, PIP, need


def test_yaml_passes_yamllint_strict() -> None:
    files = sorted(str(p) for p in CONFIGS.rglob("*.yaml"))
    assert len(files) == 5
    deploy.run([need("yamllint", PIP), "--strict", *files])


def test_kubernetes_manifests_pass_kubernetes_validate_strict() -> None:
    files = sorted(str(p) for p in (CONFIGS / "kubernetes").glob("*.yaml"))
    output = deploy.run([need("kubernetes-validate", PIP), "--strict", *files])
    for kind in ("deployment", "service", "poddisruptionbudget", "horizontalpodautoscaler"):
        assert f"passed for resource {kind}/webapp" in output, output


def test_dockerfile_passes_hadolint() -> None:
    deploy.run([need("hadolint", PIP), str(CONFIGS / "docker" / "Dockerfile")])


def test_systemd_units_verify(tmp_path: Path) -> None:
    """systemd-analyze verify (systemdlint where systemd is absent), silent and successful."""
    prefix = deploy.prefix_with_this_venv(tmp_path / "srv", "demo_wsgi")
    units = deploy.render(
        "systemd", tmp_path / "units", "--app", "demo_wsgi:app", "--prefix", str(prefix)
    )
    files = [str(units / "webapp.service"), str(units / "webapp.socket")]
    analyze = deploy.tool("systemd-analyze")
    if analyze is not None:
        output = deploy.run([analyze, "verify", *files], cwd=units)
        assert output.strip() == "", output
        return
    lint = need("systemdlint", PIP)
    findings = deploy.run([lint, "--norootfs", "--nodropins", *files]).splitlines()
    # systemdlint's Security.* findings are hardening advice (Delegate=, PrivateNetwork=, ...)
    # that a network server cannot follow; syntax and value errors fail the test.
    assert [f for f in findings if "[Security." not in f] == []


def test_nginx_site_passes_nginx_t(tmp_path: Path) -> None:
    nginx = need("nginx", APT)
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginx_main_conf(tmp_path, CONFIGS / "nginx" / "webapp.conf"))
    output = deploy.run([nginx, "-t", "-p", str(tmp_path), "-e", "stderr", "-c", str(conf)])
    assert "test is successful" in output


def nginx_main_conf(prefix: Path, site: Path) -> str:
    """A main nginx.conf that includes ``site`` in the http context, all paths under ``prefix``."""
    temp = "\n".join(
        f"    {kind}_temp_path {prefix}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {prefix}/access.log;
{temp}
    include {site};
}}
"""


def test_gunicorn_conf_passes_check_config() -> None:
    config = CONFIGS / "gunicorn" / "gunicorn.conf.py"
    gunicorn = str(servers.BIN / "gunicorn")
    deploy.run([gunicorn, "--check-config", "-c", str(config), "demo_wsgi:app"], cwd=servers.APPS)


def test_supervisord_program_loads_and_its_command_checks(tmp_path: Path) -> None:
    """supervisord's own parser reads the program; its command passes gunicorn --check-config."""
    from supervisor.options import ServerOptions

    prefix = deploy.prefix_with_this_venv(tmp_path / "srv", "demo_wsgi")
    args = ["--app", "demo_wsgi:app", "--prefix", str(prefix), "--user", "nobody"]
    program = deploy.render("supervisord", tmp_path / "conf.d", *args) / "webapp.conf"
    main = tmp_path / "supervisord.conf"
    main.write_text(
        f"[supervisord]\nlogfile={tmp_path}/supervisord.log\npidfile={tmp_path}/s.pid\n"
        f"[include]\nfiles = {program}\n"
    )
    options = ServerOptions()
    options.realize(args=["-c", str(main)])
    [group] = options.process_group_configs
    [process] = group.process_configs
    assert process.name == "webapp"
    assert process.stopwaitsecs > 30
    assert process.killasgroup
    env = {**os.environ, **process.environment}
    deploy.run([*shlex.split(process.command), "--check-config"], cwd=process.directory, env=env)


def test_procfile_passes_honcho_check_and_its_command_checks() -> None:
    procfile = CONFIGS / "procfile" / "Procfile"
    output = deploy.run([need("honcho", PIP), "check", "-f", str(procfile)], cwd=servers.APPS)
    assert "Valid procfile detected (web)" in output
    [command] = [line[4:] for line in procfile.read_text().splitlines() if line.startswith("web:")]
    argv = shlex.split(command)
    # Leading NAME=VALUE words are environment settings, as the platform's shell reads them.
    assignments: dict[str, str] = {}
    while "=" in argv[0] and argv[0].split("=", 1)[0].isidentifier():
        name, value = argv.pop(0).split("=", 1)
        assignments[name] = value
    assert assignments == {"OBJC_DISABLE_INITIALIZE_FORK_SAFETY": "YES"}  # macOS: forked workers
    argv[0] = str(servers.BIN / argv[0])
    env = {**os.environ, **assignments, "PORT": str(testing.free_port())}
    deploy.run([*argv, "--check-config"], cwd=servers.APPS, env=env)


@pytest.mark.parametrize("config", ["hypercorn.toml", "hypercorn_config.py"])
def test_hypercorn_configs_serve(config: str, tmp_path: Path) -> None:
    """hypercorn itself loads both files and serves demo_asgi on a 0660 Unix socket."""
    sock = tmp_path / "hypercorn.sock"
    rendered = deploy.render(
        "hypercorn", tmp_path / "conf", "--app", "demo_asgi:app", "--bind", f"unix:{sock}"
    )
    path = rendered / config
    option = str(path) if config.endswith(".toml") else f"file:{path}"
    with testing.hypercorn(
        "demo_asgi:app",
        "--config",
        option,
        unix=sock,
        bind_by_config=config.endswith(".toml"),
        bind_via_env=not config.endswith(".toml"),
        cwd=servers.APPS,
    ) as server:
        response = server.fetch("/")
        assert response.status == 200, server.log
        # Both decide from the app: demo_asgi uses no Trio.
        assert '"event_loop": "asyncio"' in response.text
        assert stat.S_IMODE(sock.stat().st_mode) == 0o660
        assert server.fetch("/", "HEAD").body == b""


@pytest.mark.parametrize(
    ("app", "worker", "body"),
    [
        ("wsgi_plain:app", "asyncio", "GET / pid="),
        ("starlette_asyncio:app", "asyncio", "asyncio loop"),
    ],
    ids=["wsgi", "asyncio-app"],
)
def test_hypercorn_toml_worker_is_decided_from_the_apps_code(
    app: str, worker: str, body: str, tmp_path: Path
) -> None:
    """Rendered where the app's code is: the toml's worker serves it (trio would not)."""
    sock = tmp_path / "hypercorn.sock"
    args = ("--app", app, "--bind", f"unix:{sock}")
    rendered = deploy.render("hypercorn", tmp_path / "conf", *args, cwd=servers.TEST_APPS)
    toml = (rendered / "hypercorn.toml").read_text()
    assert f'worker_class = "{worker}"' in toml
    assert "serves any ASGI app" not in toml
    with testing.hypercorn(
        app,
        "--config",
        str(rendered / "hypercorn.toml"),
        unix=sock,
        bind_by_config=True,
        cwd=servers.TEST_APPS,
    ) as server:
        response = server.fetch("/")
        assert response.status == 200, server.log
        assert body in response.text


def test_hypercorn_toml_takes_trio_for_a_trio_app(tmp_path: Path) -> None:
    rendered = deploy.render(
        "hypercorn", tmp_path, "--app", "asgi_trio_only:app", cwd=servers.TEST_APPS
    )
    assert 'worker_class = "trio"' in (rendered / "hypercorn.toml").read_text()


def test_hypercorn_config_py_keeps_the_trio_lifespan_fix(tmp_path: Path) -> None:
    """SAFEWORKERS_BACKEND=trio and a WSGI app (which returns on lifespan) through the
    rendered file: hypercorn's spawned workers get the fix too."""
    rendered = deploy.render("hypercorn", tmp_path / "conf", "--app", "wsgi_plain:app")
    with servers.hypercorn(
        "wsgi_plain:app",
        "--config",
        f"file:{rendered / 'hypercorn_config.py'}",
        env={"SAFEWORKERS_BACKEND": "trio"},
        bind_via_env=True,
    ) as server:
        response = server.fetch("/")
        assert response.status == 200, server.log
        assert "ClosedResourceError" not in server.log

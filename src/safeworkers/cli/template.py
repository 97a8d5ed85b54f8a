"""``safeworkers template NAME``: deployment files rendered from package data.

The templates live in ``safeworkers/templates/<NAME>/`` and use ``{{ key }}``
placeholders (nothing else: no logic in the files), filled from a
:class:`Params` and what follows from it (the socket path, the port, whether
nginx buffers, why this worker). ``examples/configs/`` holds every template
rendered for the demo app; tests/unit/cli/test_template.py keeps it identical
to what this module renders, and tests/integration/test_template_tools.py
checks each file with its real tool (gunicorn, hypercorn, systemd-analyze,
hadolint, kubernetes-validate, yamllint, nginx, supervisord, honcho).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import textwrap
from dataclasses import dataclass, replace
from pathlib import Path

from safeworkers.decision import registry
from safeworkers.deploy import target as _target

try:
    import pwd
except ImportError:  # Windows
    pwd = None  # type: ignore[assignment]

#: Shared numbers, so the files agree with each other and with gunicorn_config
#: (GRACEFUL_TIMEOUT is its graceful_timeout; a test keeps them equal).
GRACEFUL_TIMEOUT = 30
STOP_TIMEOUT = GRACEFUL_TIMEOUT + 10  # systemd, docker, supervisord: above graceful_timeout
PRESTOP_SLEEP = 5  # kubernetes: time for endpoints to drop the pod before SIGTERM
TERMINATION_GRACE = PRESTOP_SLEEP + GRACEFUL_TIMEOUT + 10
SOCKET_UMASK = 0o117  # unix sockets 0660: owner and group (nginx's) only
DEFAULT_APP = "myproject.wsgi:app"
DEFAULT_NAME = "webapp"


@dataclass(frozen=True)
class Spec:
    """One template: its files (source -> output name) and defaults.

    A source is a file in ``templates/NAME/``, or ``OTHER/FILE`` for another
    template's file (systemd runs with the gunicorn template's config).
    """

    description: str
    files: tuple[tuple[str, str], ...]
    bind: str  # default --bind; "{name}" is replaced
    worker: str  # "" for the hypercorn template: decided from the app's code
    server: str = "gunicorn"  # which server the --worker values are for
    uses_user: bool = False  # whether --user goes into the files


_UNIX = "unix:/run/{name}/gunicorn.sock"
TEMPLATES: dict[str, Spec] = {
    "gunicorn": Spec(
        "gunicorn.conf.py on top of safeworkers.gunicorn_config",
        (("gunicorn.conf.py.in", "gunicorn.conf.py"),),
        _UNIX,
        registry.AUTO.name,
    ),
    "hypercorn": Spec(
        "hypercorn.toml, and hypercorn_config.py on top of safeworkers.hypercorn_config",
        (("hypercorn.toml", "hypercorn.toml"), ("hypercorn_config.py.in", "hypercorn_config.py")),
        "unix:/run/{name}/hypercorn.sock",
        "",
        server="hypercorn",
    ),
    "systemd": Spec(
        "a socket-activated, hardened service: NAME.service, NAME.socket and the "
        "gunicorn.conf.py it runs with",
        (
            ("unit.service", "{name}.service"),
            ("unit.socket", "{name}.socket"),
            ("gunicorn/gunicorn.conf.py.in", "gunicorn.conf.py"),
        ),
        _UNIX,
        registry.AUTO.name,
        uses_user=True,
    ),
    "docker": Spec(
        "Dockerfile (non-root, STOPSIGNAL, HEALTHCHECK) and compose.yaml",
        (("Dockerfile", "Dockerfile"), ("compose.yaml", "compose.yaml")),
        "0.0.0.0:8000",
        registry.AUTO.name,
        uses_user=True,
    ),
    "kubernetes": Spec(
        "Deployment, Service, PodDisruptionBudget, HorizontalPodAutoscaler",
        (
            ("deployment.yaml", "deployment.yaml"),
            ("service.yaml", "service.yaml"),
            ("pdb.yaml", "pdb.yaml"),
            ("hpa.yaml", "hpa.yaml"),
        ),
        "0.0.0.0:8000",
        registry.AUTO.name,
    ),
    "nginx": Spec(
        "an nginx site proxying to gunicorn's Unix socket",
        (("site.conf", "{name}.conf"),),
        _UNIX,
        registry.AUTO.name,
    ),
    "supervisord": Spec(
        "a supervisord [program] section",
        (("program.conf", "{name}.conf"),),
        _UNIX,
        registry.AUTO.name,
        uses_user=True,
    ),
    "procfile": Spec(
        "a Procfile (Heroku, Dokku, honcho, foreman): the platform sets PORT",
        (("Procfile", "Procfile"),),
        "0.0.0.0:$PORT",
        registry.AUTO.name,
    ),
}

#: Why each worker, in one comment line (or two). Keyed by the ``-k`` value.
WHY: dict[str, str] = {w.name: w.why for w in registry.WORKERS if w.why is not None}

#: Workers that handle one request at a time per thread: nginx buffers for them,
#: so a slow client cannot hold a worker.
_BUFFERED = {w.name for w in registry.WORKERS if w.buffered}
_HYPERCORN_WORKERS = tuple(w.name for w in registry.of("hypercorn"))
#: hypercorn workers whose name, given to gunicorn, is a mistake worth explaining.
_HYPERCORN_ONLY = (registry.HYPERCORN_TRIO.name, registry.HYPERCORN_UVLOOP.name)


class TemplateError(ValueError):
    """Bad template parameters; the message says which and what is accepted."""


@dataclass(frozen=True)
class Params:
    app: str = DEFAULT_APP
    name: str = DEFAULT_NAME
    worker: str | None = None  # None: the template's default
    bind: str | None = None  # None: the template's default
    prefix: str | None = None  # None: /srv/NAME
    user: str | None = None  # None: DynamicUser (systemd), NAME (supervisord)
    health_path: str = "/"  # what the docker and kubernetes health checks ask for


#: What a path may hold to go unquoted into unit files, shell lines and configs.
_SAFE_PATH = re.compile(r"/[\w.@+/-]*")
_SAFE_HOST = re.compile(r"[\w.:\[\]-]*")
#: A URL path (and query) that goes unquoted into YAML and a quoted Python string.
_SAFE_URL_PATH = re.compile(r"/[\w.~@+/%-]*(\?[\w.~@+/%=&-]*)?")


def _check_path(option: str, value: str) -> None:
    if not _SAFE_PATH.fullmatch(value):
        raise TemplateError(
            f"{option} {value!r}: use an absolute path of letters, digits and . _ - @ + / "
            "(no spaces, quotes, ;, $, % or newlines: it goes unquoted into unit files, "
            "command lines and nginx)"
        )


def _check_user(user: str) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", user):
        raise TemplateError(f"--user {user!r} is not a valid user name")
    try:
        uid = pwd.getpwnam(user).pw_uid if pwd is not None else None
    except KeyError:  # not on this machine: it may exist where the files go
        uid = None
    if user == "root" or uid == 0:
        raise TemplateError(
            f"--user {user!r} is root: name an unprivileged user (systemd's default, "
            "DynamicUser=yes, needs none)"
        )


def _check(params: Params, template: str) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,39}", params.name):
        raise TemplateError(
            f"--name {params.name!r}: use lower-case letters, digits and '-', "
            "starting with a letter (it names units, users and Kubernetes objects)"
        )
    if not _target.is_plain(params.app):
        raise TemplateError(
            f"--app {params.app!r} is not MODULE:APP, MODULE:FACTORY() or MODULE "
            "(e.g. myproject.wsgi:app)"
        )
    if params.prefix is not None:
        _check_path("--prefix", params.prefix)
    if params.user is not None:
        _check_user(params.user)
    if not _SAFE_URL_PATH.fullmatch(params.health_path):
        raise TemplateError(
            f"--health-path {params.health_path!r}: use a path that starts with / (e.g. /healthz), "
            "of letters, digits and . _ ~ - @ + / % (a query after ?: also = and &)"
        )
    worker = params.worker
    if worker is None:
        return  # each template's own
    if TEMPLATES[template].server == "hypercorn" and worker not in _HYPERCORN_WORKERS:
        raise TemplateError(
            f"--worker {worker!r}: hypercorn's workers are {', '.join(_HYPERCORN_WORKERS)}"
        )
    if TEMPLATES[template].server == "gunicorn" and worker in _HYPERCORN_ONLY:
        raise TemplateError(
            f"--worker {worker!r} is a hypercorn worker: under gunicorn use "
            "safeworkers.TrioWorker, or the hypercorn template"
        )
    if not re.fullmatch(r"[A-Za-z_][\w.:]*", worker):
        raise TemplateError(f"--worker {worker!r} is not a worker class name")


def _split_bind(bind: str) -> tuple[str | None, str, str]:
    """``(socket path or None, host, port)``."""
    if bind.startswith("unix:"):
        path = bind.removeprefix("unix:")
        _check_path("--bind unix:PATH", path)
        return path, "", ""
    host, sep, port = bind.rpartition(":")
    if not sep or not (port.isdigit() or port == "$PORT") or not _SAFE_HOST.fullmatch(host):
        raise TemplateError(f"--bind {bind!r} is neither unix:PATH nor HOST:PORT")
    return None, host.strip("[]"), port


def hypercorn_worker(app: str) -> str:
    """The hypercorn.toml's worker for ``app``, decided as the hypercorn config decides.

    The app's code is read (from the current directory and ``sys.path``, never
    imported) and the decision asked (:func:`safeworkers.decision.decide.decide`):
    ``trio`` for an app that uses Trio, ``asyncio`` for everything else, the code not found
    included (uvloop is the config's choice only where it runs: a rendered
    file cannot know it is installed there).
    """
    from safeworkers.decision import decide, policy

    try:
        choice = decide.decide(
            _target.module_of(app), server="hypercorn", path_first=[os.getcwd()]
        ).choice
    except policy.PolicyError as exc:
        raise TemplateError(f"--app {app}: {exc} (or name a worker: --worker)") from None
    trio, asyncio = registry.HYPERCORN_TRIO.name, registry.HYPERCORN_ASYNCIO.name
    return trio if choice.worker_class == trio else asyncio


def context(template: str, params: Params) -> dict[str, str]:
    """Every placeholder's value for ``template``."""
    if template not in TEMPLATES:
        raise TemplateError(f"no template {template!r}: choose from {', '.join(TEMPLATES)}")
    _check(params, template)
    spec = TEMPLATES[template]
    name = params.name
    worker = params.worker or spec.worker or hypercorn_worker(params.app)
    bind = params.bind or spec.bind.format(name=name)
    socket_path, host, port = _split_bind(bind)
    needs_tcp = template in ("docker", "kubernetes")
    if needs_tcp and socket_path is not None:
        raise TemplateError(f"the {template} template needs a TCP --bind (e.g. 0.0.0.0:8000)")
    if template == "nginx" and socket_path is None:
        raise TemplateError("the nginx template proxies to a Unix socket: --bind unix:PATH")
    why = WHY.get(worker, "chosen with --worker")
    buffered = worker in _BUFFERED
    prefix = params.prefix or f"/srv/{name}"
    return {
        "app": params.app,
        "name": name,
        "name_var": name.replace("-", "_"),
        "worker": worker,
        "why": why,
        "worker_source": (
            "Given with --worker."
            if params.worker
            else "Chosen from the app's code (read, not imported) when this file was rendered, "
            "as hypercorn_config.py chooses at each start: render it again if the app starts "
            "or stops using Trio."
        ),
        "bind": bind,
        "socket_path": socket_path or "",
        "listen_stream": socket_path or f"{host}:{port}",
        "port": port,
        "prefix": prefix,
        "venv": f"{prefix}/.venv",
        "runtime_dir": f"/run/{name}",
        "health_path": params.health_path,
        "user": params.user or name,
        "systemd_user": f"User={params.user}" if params.user else "DynamicUser=yes",
        "buffering": "on" if buffered else "off",
        "buffering_why": (
            "Buffering on: nginx reads the whole response, so a slow client never holds a worker "
            "that serves one request at a time"
            if buffered
            else "Buffering off: this worker streams (server-sent events, long responses) and can "
            "wait on slow clients itself"
        ),
        "graceful_timeout": str(GRACEFUL_TIMEOUT),
        "stop_timeout": str(STOP_TIMEOUT),
        "prestop_sleep": str(PRESTOP_SLEEP),
        "termination_grace": str(TERMINATION_GRACE),
        "umask": f"0{SOCKET_UMASK:o}",  # gunicorn --umask 0117
        "umask_octal": f"0o{SOCKET_UMASK:o}",  # Python and TOML: 0o117
    }


_PLACEHOLDER = re.compile(r"\{\{ (\w+) \}\}")
#: A comment line that starts with a placeholder: its text is wrapped at 79 columns.
_COMMENT_LINE = re.compile(r"^([ \t]*[#;]+ )\{\{ (\w+) \}\}(.*)$", re.M)


def _fill(text: str, values: dict[str, str]) -> str:
    def comment(match: re.Match[str]) -> str:
        prefix, key, rest = match.groups()
        return textwrap.fill(
            values[key] + rest,
            width=79,
            initial_indent=prefix,
            subsequent_indent=prefix,
            break_on_hyphens=False,
        )

    text = _COMMENT_LINE.sub(comment, text)
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def render(template: str, params: Params | None = None) -> dict[str, str]:
    """``{output file name: content}`` for ``template``."""
    values = context(template, params or Params())
    from importlib import resources  # here: it is slow to import, and only rendering needs it

    root = resources.files("safeworkers") / "templates"
    rendered: dict[str, str] = {}
    for source, target in TEMPLATES[template].files:
        folder, _, file_name = source.rpartition("/")
        text = (root / (folder or template) / file_name).read_text(encoding="utf-8")
        rendered[target.format(name=values["name"])] = _fill(text, values)
    return rendered


def write(files: dict[str, str], directory: Path, *, force: bool) -> list[Path]:
    """Write ``files`` into ``directory``; refuse to replace different files unless ``force``."""
    paths = [directory / name for name in files]
    clashes = [p for p in paths if p.exists() and p.read_text(encoding="utf-8") != files[p.name]]
    if clashes and not force:
        raise TemplateError(
            f"{', '.join(map(str, clashes))} exists and differs: use --force to replace it"
        )
    directory.mkdir(parents=True, exist_ok=True)
    for path in paths:
        path.write_text(files[path.name], encoding="utf-8")
    return paths


def main(args: argparse.Namespace) -> int:
    """The ``template`` sub-command."""
    params = Params(
        app=args.app,
        name=args.name,
        worker=args.worker,
        bind=args.bind,
        prefix=args.prefix,
        user=args.user,
        health_path=args.health_path,
    )
    names = list(TEMPLATES) if args.template == "all" else [args.template]
    if args.user and args.template != "all" and not TEMPLATES[args.template].uses_user:
        print(
            f"safeworkers: note: the {args.template} template does not use --user "
            "(it is used by: "
            f"{', '.join(n for n, spec in TEMPLATES.items() if spec.uses_user)})",
            file=sys.stderr,
        )
    try:
        if args.template == "all" and args.output is None:
            raise TemplateError("'all' writes a folder per template: give -o DIR")
        if args.template == "all" and args.bind:
            raise TemplateError(
                "templates listen on different kinds of address: --bind per template"
            )
        outputs: list[tuple[Path | None, dict[str, str]]] = []
        for name in names:
            if args.template == "all":
                # --worker names a gunicorn worker: hypercorn's template keeps its own.
                server = TEMPLATES[name].server
                params_for = params if server == "gunicorn" else replace(params, worker=None)
                directory: Path | None = Path(args.output) / name
            else:
                params_for = params
                directory = Path(args.output) if args.output else None
            outputs.append((directory, render(name, params_for)))
        for directory, files in outputs:
            if directory is None:
                for file_name, text in files.items():
                    if len(files) > 1:
                        print(f"==> {file_name} <==")
                    sys.stdout.write(text)
            else:
                for path in write(files, directory, force=args.force):
                    print(f"wrote {path}", file=sys.stderr)
    except BrokenPipeError:
        raise  # the reader went away, not a file: the entry point ends quietly
    except (TemplateError, OSError) as exc:
        raise SystemExit(f"safeworkers: {exc}") from None
    return 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``safeworkers template`` on the command's sub-parsers."""
    listing = "; ".join(f"{n}: {s.description}" for n, s in TEMPLATES.items())
    parser = commands.add_parser(
        "template",
        help="render deployment files (gunicorn, systemd, docker, kubernetes, nginx, ...)",
        description=f"Render deployment files. Templates: {listing}.",
    )
    parser.add_argument("template", metavar="NAME", choices=[*TEMPLATES, "all"])
    parser.add_argument("-o", "--output", metavar="DIR", help="write files here (default: print)")
    parser.add_argument("--app", default=DEFAULT_APP, metavar="MODULE:APP")
    parser.add_argument("--name", default=DEFAULT_NAME, help="service name (units, user, labels)")
    parser.add_argument("--worker", help="worker class (default: each template's)")
    parser.add_argument("--bind", help="unix:PATH or HOST:PORT (default: each template's)")
    parser.add_argument("--prefix", help="where the app and its .venv live (default /srv/NAME)")
    parser.add_argument(
        "--user",
        help="run as this unprivileged user (systemd default: DynamicUser; supervisord and "
        "docker default: NAME)",
    )
    parser.add_argument(
        "--health-path",
        default="/",
        metavar="PATH",
        help="what the docker and kubernetes health checks ask for, with 'Host: localhost' "
        "(default /)",
    )
    parser.add_argument("--force", action="store_true", help="replace files that differ")
    parser.set_defaults(func=main)

"""What the hypercorn config reads from hypercorn's command line, without hypercorn."""

from __future__ import annotations

from pathlib import Path

import pytest

from safeworkers.deploy import hypercorn as _hypercorn


@pytest.mark.parametrize(
    ("argv", "application", "worker"),
    [
        (["--config", "python:safeworkers.hypercorn_config", "app:app"], "app:app", None),
        (["app:app", "--config", "python:x"], "app:app", None),
        (["-k", "trio", "--bind", "0.0.0.0:80", "pkg.main:app"], "pkg.main:app", "trio"),
        (["--worker-class=uvloop", "-w", "2", "app"], "app", "uvloop"),
        (["-kasyncio", "--debug", "app:app"], "app:app", "asyncio"),
        (["--reload", "-D", "app:app"], "app:app", None),
        (["--deb", "app:app"], "app:app", None),  # argparse takes unique prefixes
        (["--worker", "trio", "app:app"], "app:app", "trio"),
        (["--", "app:app"], "app:app", None),
        (["--config", "python:x"], None, None),
    ],
)
def test_parse_arguments(argv: list[str], application: str | None, worker: str | None) -> None:
    parsed = _hypercorn.parse_arguments(argv)
    assert (parsed.application, parsed.worker_class) == (application, worker)


def test_application_source_follows_hypercorns_loader(tmp_path: Path) -> None:
    (tmp_path / "service").mkdir()
    (tmp_path / "service" / "web.py").write_text("app = None\n")
    file_form = _hypercorn.application_source(f"{tmp_path}/service/web.py:app")
    assert file_form == ("web", str(tmp_path / "service"), None)
    module, directory, mode = _hypercorn.application_source("pkg.main:app")
    assert (module, directory, mode) == ("pkg.main", str(Path.cwd()), None)
    assert _hypercorn.application_source("wsgi:pkg.main:app")[2] == "wsgi"
    assert _hypercorn.application_source("asgi:app:app")[2] == "asgi"
    assert _hypercorn.application_source("app")[0] == "app"

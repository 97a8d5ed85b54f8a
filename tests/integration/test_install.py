"""Installing from a clone, as the README says: `pip install /path/to/safeworkers`.

A fresh virtualenv, a regular (not editable) install: the package data
(templates, the simulation's sitecustomize) must be in it, and gunicorn must
serve with our worker from it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from safeworkers import testing
from safeworkers.cli import template as _template
from tests import servers


def test_pip_install_from_the_clone_serves_and_renders(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    done = subprocess.run(
        [*pip, str(servers.ROOT)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    site = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import safeworkers; print(safeworkers.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.strip()
    installed = Path(site).parent
    assert installed.is_relative_to(venv), installed  # the copy, not the clone
    assert (installed / "simulation" / "_site" / "sitecustomize.py").exists()

    out = tmp_path / "configs"
    subprocess.run(
        [str(venv / "bin" / "safeworkers"), "template", "all", "-o", str(out)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    for name, spec in _template.TEMPLATES.items():
        for _, target in spec.files:
            assert (out / name / target.format(name="webapp")).exists(), (name, target)

    with testing.gunicorn(
        "demo_wsgi:app",
        worker="safeworkers.SyncWorker",
        gunicorn_bin=venv / "bin" / "gunicorn",
        cwd=servers.APPS,
    ) as server:
        assert '"worker": "safeworkers.SyncWorker"' in server.fetch("/").text

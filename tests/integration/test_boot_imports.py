"""What a worker imports to boot: what its own path needs, nothing for other platforms or apps.

Every boot pays for each module imported on its way (bench/run.py's boot group
measures it). A real gunicorn writes the modules loaded in its master just
before it forks (``pre_fork``) and in the worker once the app is loaded
(``post_worker_init``); no duration is asserted, only what was imported. The
refusals these modules serve are tested where they happen
(test_green_apps.py, test_workers.py, test_decisions.py, test_forksafety.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests import markers, servers

HOOKS = """
import json, os, sys

def _write(name):
    with open(os.path.join({out!r}, name), "w") as out:
        json.dump(sorted(sys.modules), out)

def pre_fork(server, worker):
    _write("master.json")

def post_worker_init(worker):
    _write("worker.json")
"""

#: macOS only: nothing of it off macOS (and off its simulation).
MACOS = {"safeworkers.deploy.forksafety", "safeworkers.facts.forksafety"}
#: The code scan and the policy: what deciding costs, and what a refusal needs.
DECIDING = {
    "safeworkers.facts.appscan",
    "safeworkers.facts._source",
    "safeworkers.facts.drivers",
    "safeworkers.facts.process",
    "safeworkers.decision.policy",
    "safeworkers.decision.decide",
}
#: The green workers' path around the app's import.
GREEN_PATH = {
    "safeworkers.workers._afterpatch",
    "safeworkers.workers._greendrivers",
    "safeworkers.workers._blocking",
}


def boot(worker: str, tmp_path: Path, app: str = "wsgi_plain:app") -> tuple[set[str], set[str]]:
    """The modules loaded in gunicorn's master before the fork, and in the worker."""
    config = tmp_path / "hooks.py"
    config.write_text(HOOKS.format(out=str(tmp_path)))
    with servers.gunicorn(app, "-k", worker, "-c", str(config)) as server:
        assert server.get("/").status_code == 200, server.log
    master = set(json.loads((tmp_path / "master.json").read_text()))
    child = set(json.loads((tmp_path / "worker.json").read_text()))
    return master, child


@markers.needs_posix
@pytest.mark.skipif(sys.platform == "darwin", reason="on macOS the master prepares the fork")
@pytest.mark.parametrize(
    ("worker", "unneeded"),
    [
        # A plain app: no scan (its code cannot show what a refusal is for), no gthread.
        ("SyncWorker", MACOS | DECIDING | GREEN_PATH | {"gunicorn.workers.gthread"}),
        ("ThreadWorker", MACOS | DECIDING | GREEN_PATH),
        # AutoWorker decides (the scan and the policy), then is a SyncWorker.
        ("AutoWorker", MACOS | GREEN_PATH | {"gunicorn.workers.gthread"}),
    ],
)
def test_a_plain_app_boots_without_what_it_does_not_need(
    worker: str, unneeded: set[str], tmp_path: Path
) -> None:
    master, child = boot(f"safeworkers.{worker}", tmp_path)
    assert f"safeworkers.workers.{'gthread' if worker == 'ThreadWorker' else 'sync'}" in master
    assert not (master | child) & unneeded, sorted((master | child) & unneeded)

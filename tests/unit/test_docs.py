"""The docs describe the code: settings table, worker names, decision table rows."""

from __future__ import annotations

import re
from pathlib import Path

import safeworkers
from safeworkers import settings

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_settings_table_lists_every_variable_with_its_accepted_values() -> None:
    text = (DOCS / "workers.md").read_text()
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `(SAFEWORKERS_\w+)` \| ([^|]+)\|", text, re.M)
    }
    assert set(rows) == set(settings.VARIABLES)
    for name, (accepted, _) in settings.VARIABLES.items():
        assert rows[name].strip() == accepted, name


def test_settings_table_is_written_from_the_settings_table() -> None:
    """docs/workers.md holds settings.markdown_table() as it is: paste it there after a change."""
    assert settings.markdown_table() in (DOCS / "workers.md").read_text()


def test_every_public_worker_is_documented() -> None:
    text = (DOCS / "workers.md").read_text()
    for name in safeworkers.__all__:
        if name.endswith("Worker"):
            assert f"| `{name}` |" in text, name


def test_decision_table_has_every_policy_worker() -> None:
    from safeworkers import policy

    text = (DOCS / "choosing.md").read_text()
    for worker in (policy.SYNC, policy.THREAD, policy.TRIO, policy.UVICORN):
        assert f"`{worker}`" in text, worker


def test_docs_site_builds_strictly(tmp_path: Path) -> None:
    """mkdocs --strict fails on broken links between pages and missing nav pages."""
    import shutil
    import subprocess
    import sys

    mkdocs = Path(sys.executable).parent / "mkdocs"
    if not mkdocs.exists():
        mkdocs_path = shutil.which("mkdocs")
        assert mkdocs_path, "mkdocs is part of the dev extra"
        mkdocs = Path(mkdocs_path)
    result = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=DOCS.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr

"""The start-up hook (safeworkers_guard.pth) is installed by every way of installing the
package: a wheel from `pip install /path/to/clone`, the editable install `make venv` does, and
this test environment; and it installs the guard from the copy it was installed with."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from safeworkers import _startup
from tests import servers

SOURCE = servers.ROOT / "src" / _startup.HOOK_FILE

#: Run with ``python -S``: only the directory under test is a site directory.
PROBE = (
    "import site, sys; site.addsitedir(sys.argv[1]); "
    "import safeworkers, safeworkers.guard as g; print(g.installed(), safeworkers.__file__)"
)


def test_the_hook_is_installed_in_this_environment() -> None:
    installed = _startup.hook_path()
    assert installed is not None, _startup.site_directories()
    assert Path(installed).read_text() == SOURCE.read_text()


@pytest.mark.parametrize("editable", [False, True], ids=["wheel", "editable"])
def test_pip_install_puts_a_working_hook_in_site_packages(editable: bool, tmp_path: Path) -> None:
    target = tmp_path / "site-packages"
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    # hatchling and editables come with the test extra, so no build environment is fetched.
    install += ["--no-build-isolation", "--target", str(target)]
    install += ["-e", str(servers.ROOT)] if editable else [str(servers.ROOT)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEWORKERS_")}
    done = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (target / _startup.HOOK_FILE).read_text() == SOURCE.read_text()

    probe = [sys.executable, "-S", "-c", PROBE, str(target)]
    for value, guarded in (("1", "True"), ("0", "False")):
        env["SAFEWORKERS_GUARD_PROCESS"] = value
        out = subprocess.run(probe, capture_output=True, text=True, env=env, check=True).stdout
        installed, module = out.split()
        assert installed == guarded
        # The hook ran the copy it was installed with (the clone's src/ when editable).
        where = servers.ROOT / "src" if editable else target
        assert Path(module).is_relative_to(where), module


def test_the_docs_show_the_hook_as_it_is() -> None:
    page = (servers.ROOT / "docs" / "green-processes.md").read_text()
    (line,) = [x for x in SOURCE.read_text().splitlines() if x.startswith("import ")]
    assert f"```python\n{line}\n```" in page


def test_the_hook_skips_the_false_values_of_the_settings() -> None:
    """The hook decides without importing safeworkers: its false values must be ours."""
    from safeworkers import settings

    line = next(x for x in SOURCE.read_text().splitlines() if x.startswith("import "))
    assert f"not in {settings._FALSE!r}".replace("'", '"') in line


#: Modules that cost more to import than the interpreter's own start: the hook must not
#: import them, since with SAFEWORKERS_GUARD_PROCESS set every Python start runs it.
HEAVY = ("typing", "dataclasses", "importlib.abc", "importlib.metadata", "threading", "re")


def test_the_hook_imports_nothing_heavy() -> None:
    """What every Python start pays with the hook on: the guard, the settings, no more."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEWORKERS_")}
    env["SAFEWORKERS_GUARD_PROCESS"] = "1"
    probe = "import sys, safeworkers.guard as g; print(g.installed(), *sorted(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    ).stdout.split()
    assert out[0] == "True"
    loaded = set(out[1:])
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    ours = {m for m in loaded if m.startswith("safeworkers")}
    assert ours == {"safeworkers", "safeworkers._version", "safeworkers._startup"} | {
        "safeworkers.settings",
        "safeworkers.guard",
    }

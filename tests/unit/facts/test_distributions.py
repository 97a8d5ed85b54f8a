"""safeworkers.facts.distributions on real metadata: a made-up site directory, and this venv."""

from __future__ import annotations

import importlib.metadata
import textwrap
from pathlib import Path

import pytest

from safeworkers.facts import distributions


def dist(site: Path, name: str, requires: list[str], files: dict[str, str]) -> None:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", "Version: 1.0"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n")
    record = []
    for path, text in files.items():
        target = site / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))
        record.append(f"{path},,")
    (info / "RECORD").write_text("\n".join(record) + "\n")


def test_trio_importers_from_metadata_and_code(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    dist(site, "trio", [], {"trio/__init__.py": ""})
    dist(
        site,
        "alpha",
        ["trio; extra == 'trio'"],
        {"alpha/__init__.py": "try:\n    import trio\nexcept ImportError:\n    trio = None\n"},
    )
    # Declares trio, but imports it only when a function runs: not at import time.
    dist(site, "beta", ["trio>=0.2"], {"beta.py": "def run():\n    import trio\n"})
    dist(site, "gamma", ["alpha>=1"], {"gamma/__init__.py": "import alpha\n"})
    dist(site, "delta", ["gamma", "unrelated"], {"delta.py": ""})
    # An extra counts only when everything it brings is installed ...
    dist(site, "eps", ["alpha; extra == 'x'", "missing; extra == 'x'"], {"eps.py": ""})
    dist(site, "zeta", ["alpha; extra == 'full'"], {"zeta.py": ""})
    # ... and only as the last link: chains of optional extras are not followed.
    dist(site, "eta", ["zeta; extra == 'z'"], {"eta.py": ""})
    dist(site, "theta", ["zeta"], {"theta.py": ""})
    dist(site, "safeworkers", ["alpha"], {"safeworkers/__init__.py": ""})
    found = {
        distributions.normalize(d.metadata["Name"]): d
        for d in importlib.metadata.distributions(path=[str(site)])
    }
    assert dict(distributions.trio_importers(found)) == {
        "alpha": "imports trio",
        "delta": "through gamma -> alpha",
        "gamma": "through alpha",
        "theta": "through zeta -> alpha",
        "zeta": "through alpha",
    }


def test_requirement_lines() -> None:
    parse = distributions.parse_requirement
    assert parse("httpcore2>=2.13; extra == 'doh'") == distributions.Requirement("httpcore2", "doh")
    assert parse('Quart_Trio (>=0.11) ; python_version >= "3.9"') == distributions.Requirement(
        "quart-trio", None
    )
    assert parse("") is None


def test_this_environment() -> None:
    found = distributions.trio_importers()
    assert found["httpcore"] == "imports trio"
    assert found["httpx"] == "through httpcore"
    assert found["quart-trio"] == "imports trio"
    # anyio and hypercorn import trio only when their trio backend is used.
    assert "anyio" not in found
    assert "hypercorn" not in found
    assert "safeworkers" not in found
    # gunicorn[gevent] -> gevent[dnspython] -> dnspython[doh]: optional all the way.
    assert "gunicorn" not in found
    assert "gevent" not in found


def test_headers_read_as_importlib_metadata_reads_them() -> None:
    """The header reader against importlib.metadata's e-mail parsing, for every distribution."""
    from safeworkers.facts import versions as _metadata

    for found in importlib.metadata.distributions():
        name, version, requires = _metadata.headers(found)
        assert name == found.metadata["Name"]
        assert version == found.version
        assert list(requires) == list(found.requires or [])


@pytest.mark.parametrize(
    ("text", "imports"),
    [
        ("import trio\n", True),
        ("import os, trio.lowlevel as tl\n", True),
        ("import os, \\\n    trio\n", True),
        ("try:\n    from trio import sleep\nexcept ImportError:\n    pass\n", True),
        ("x = importlib.import_module(\n    'trio'\n)\n", True),
        ("load = __import__; load(r'trio.lowlevel')\n", True),
        ('"""Works with asyncio or trio."""\nBACKENDS = "asyncio", "trio"\n', False),
        ("import hypercorn.trio\nimport _trio\n", False),
        ("from . import trio\n", True),  # more than the scan sees: it only over-approximates
        ("trio = None  # a name, no import\n", False),
    ],
)
def test_text_that_may_import_trio(text: str, imports: bool) -> None:
    assert distributions._text_imports_trio(text) is imports


def test_leads_follow_names_and_packages(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    files = {
        "pkg/__init__.py": "from . import core\n",
        "pkg/core.py": "from .util import helper\n",
        "pkg/util.py": "def helper(): ...\n",
        # imports trio, but nothing names it: an optional backend chosen at run time
        "pkg/_backends/_trio.py": "import trio\n",
        "pkg/_backends/__init__.py": "",
        # inside a package that imports trio: importing it runs that package first
        "pkg/extras/__init__.py": "import trio\n",
        "pkg/extras/tool.py": "",
        "pkg/cli.py": "from pkg.extras import tool\n",
    }
    dist(site, "pkg", ["trio; extra == 'trio'"], files)
    leads = distributions.trio_leads(str(site), "pkg")
    assert leads == {"pkg._backends._trio", "pkg.extras", "pkg.extras.tool", "pkg.cli"}
    (site / "pkg/core.py").write_text("from .util import helper\nfrom . import cli\n")
    leads = distributions.trio_leads(str(site), "pkg")
    assert leads is not None
    assert {"pkg", "pkg.core", "pkg.cli"} <= leads
    # Outside an installed library directory the scan decides alone.
    assert distributions.trio_leads(str(tmp_path), "pkg") is None


def test_the_pre_check_never_changes_an_answer() -> None:
    """Each candidate of this environment: pre-check and narrowed scan == the whole scan."""
    from safeworkers.facts import appscan

    dists = distributions.installed()
    candidates = [
        d
        for name, d in dists.items()
        if any(r.name == "trio" for r in distributions.requirements(name))
    ]
    assert len(candidates) >= 4  # httpcore, httpcore2, quart-trio, anyio, hypercorn, ...
    for found in candidates:
        location = str(found.locate_file(""))
        whole = any(
            distributions._is_trio(use)
            for module in distributions.import_names(found)[:5]
            for use in appscan.scan(module, [location], module_level_only=True, max_files=200).trio
        )
        assert distributions._imports_trio_at_import(found) is whole, found.metadata["Name"]

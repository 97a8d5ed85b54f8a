"""safeworkers.distributions on real metadata: a made-up site directory, and this venv."""

from __future__ import annotations

import importlib.metadata
import textwrap
from pathlib import Path

from safeworkers import distributions


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

"""The adoption docs match the code: templates, check's options, the plugin, the messages."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from safeworkers import cli, pytest_plugin
from safeworkers.cli import template as _template

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

#: The messages users paste, as the issue lists them; each has its entry.
MESSAGES = [
    "Worker failed to boot",
    "unsupported platform or primitives Trio depends on are monkey-patched out",
    "class uri 'eventlet' invalid or not found",
    "GreenSocket' has no attribute 'sendmsg'",
    "module 'select' has no attribute 'epoll'",
    "TCP_KEEPIDLE",
    "TCP_KEEPINTVL",
    "Operation not supported",
]


@pytest.mark.parametrize("message", MESSAGES)
def test_troubleshooting_has_a_heading_with_cause_and_fix(message: str) -> None:
    sections = re.split(r"^## ", (DOCS / "troubleshooting.md").read_text(), flags=re.M)[1:]
    [section] = [s for s in sections if message in s.splitlines()[0]]
    assert "**Cause.**" in section
    assert "**Fix.**" in section


def test_deployment_page_lists_every_template_and_option() -> None:
    text = (DOCS / "deployment.md").read_text()
    for name in _template.TEMPLATES:
        assert f"| `{name}` |" in text, name
    for option in ("--app", "--worker", "--bind", "--name", "--prefix", "--user", "--force"):
        assert f"`{option}" in text, option


def _subcommand(name: str) -> argparse.ArgumentParser:
    parser = cli.build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    sub: argparse.ArgumentParser = commands.choices[name]
    return sub


def test_testing_page_documents_checks_options_and_the_plugin() -> None:
    text = (DOCS / "testing.md").read_text()
    for action in _subcommand("check")._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag != "--help":
                assert flag in text, flag
    fixtures = [n for n in vars(pytest_plugin) if n.startswith("safeworkers_")]
    assert sorted(fixtures) == ["safeworkers_assert_boots", "safeworkers_server"]
    for name in [*fixtures, pytest_plugin.MARKER]:
        assert f"| `{name}` |" in text, name


def test_readme_installs_from_a_clone_and_names_every_template() -> None:
    text = (ROOT / "README.md").read_text()
    assert "pip install '/path/to/safeworkers[gevent]'" in text
    assert "pip install -e '.[all]'" in text
    assert "make run PORT=" in text
    for name in _template.TEMPLATES:
        assert f"`{name}`" in text, name
    for page in ("deployment", "testing", "troubleshooting"):
        assert f"(docs/{page}.md)" in text

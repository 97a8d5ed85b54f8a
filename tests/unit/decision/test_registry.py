"""The table of workers (safeworkers.decision.registry): complete, true, and the one place
worker names are spelled."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import safeworkers
from safeworkers.decision import policy, registry

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "src" / "safeworkers"


def test_names_are_unique_per_server() -> None:
    keys = [(w.server, w.name) for w in registry.WORKERS]
    assert len(keys) == len(set(keys))


def test_every_public_worker_class_is_a_row() -> None:
    classes = sorted(n for n in safeworkers.__all__ if n.endswith("Worker"))
    assert classes == sorted(w.class_name for w in registry.WORKERS if w.ours)
    for name in classes:
        worker = registry.ours(name)
        assert worker is not None
        assert worker.name == f"safeworkers.{name}"
        assert registry.find(worker.name) is worker


def test_our_rows_resolve_to_our_classes() -> None:
    """In a child: resolving GeventWorker imports gevent (and installs the guard)."""
    probe = (
        "import json, safeworkers\n"
        "from safeworkers.decision import registry\n"
        "print(json.dumps({w.name: [registry.resolve(w.name).safeworkers_name,\n"
        "    registry.resolve(w.name) is getattr(safeworkers, w.class_name)]\n"
        "    for w in registry.WORKERS if w.ours}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    found = json.loads(done.stdout)
    for worker in registry.WORKERS:
        if worker.ours:
            assert found[worker.name] == [worker.class_name, True]


def test_upstream_rows_name_modules_that_exist_where_their_server_has_them() -> None:
    import importlib.util

    import gunicorn

    for worker in registry.WORKERS:
        if worker.ours:
            continue
        if worker is registry.GUNICORN_EVENTLET and int(gunicorn.__version__.split(".")[0]) >= 26:
            continue  # removed in gunicorn 26
        assert importlib.util.find_spec(worker.module) is not None, worker


def test_extras_are_the_packages_extras() -> None:
    declared = metadata.metadata("safeworkers").get_all("Provides-Extra") or []
    for worker in registry.WORKERS:
        if worker.extra is not None:
            assert worker.extra in declared, worker


def test_every_worker_the_policy_names_is_a_row() -> None:
    for name in (
        policy.SYNC,
        policy.THREAD,
        policy.GEVENT,
        policy.EVENTLET,
        policy.TRIO,
        policy.GUNICORN_ASGI,
        policy.UVICORN,
    ):
        assert registry.find(name) is not None, name
    for name in ("trio", "asyncio", "uvloop"):
        assert registry.find(name, "hypercorn") is not None, name


def test_resolve_takes_any_dotted_class() -> None:
    assert registry.resolve("asgi").__name__ == "ASGIWorker"
    assert registry.resolve("collections.OrderedDict").__name__ == "OrderedDict"


def _spellings() -> set[str]:
    """The dotted names a module would spell if it did not ask the table."""
    found = set()
    for worker in registry.WORKERS:
        for dotted in (worker.name, worker.path, worker.module, f"{worker.module}."):
            if "." in dotted:
                found.add(dotted)
    return found


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string in the code, docstrings left out (prose may name a worker)."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


@pytest.mark.parametrize(
    "path",
    sorted(p for p in PACKAGE.rglob("*.py") if p.name != "registry.py"),
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_worker_names_are_spelled_only_in_the_registry(path: Path) -> None:
    """A string that is exactly a worker's name or class path means the module should
    ask the registry (messages and docstrings may mention workers in prose)."""
    spellings = _spellings()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    spelled = [(line, text) for line, text in _strings(tree) if text in spellings]
    assert not spelled, f"{path.name} spells worker names; ask safeworkers.decision.registry"

"""The package's shape, read from its source: no import cycles, and layers that import downwards.

The import graph is built from the AST of every module under src/safeworkers,
with every import statement counted: at module level, inside functions (the
lazy imports that keep start-up cheap), and under ``if TYPE_CHECKING:`` (a
type-only cycle still ties two modules together). docs/architecture.md draws
the same layers.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "safeworkers"

#: The layers, lowest first: a module may import from its own layer and the ones below.
#: A module belongs to the first layer with a prefix that names it.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base", ("safeworkers._version", "safeworkers.settings", "safeworkers.deploy.target")),
    ("facts", ("safeworkers.facts",)),
    ("decision", ("safeworkers.decision",)),
    (
        "actions",
        (
            "safeworkers.guard",
            "safeworkers._startup",
            "safeworkers.sockets",
            "safeworkers.deploy",
            "safeworkers.simulation",
        ),
    ),
    ("workers", ("safeworkers.workers",)),
    (
        "entry points",
        (
            "safeworkers.gunicorn_config",
            "safeworkers.hypercorn_config",
            "safeworkers.testing",
            "safeworkers.pytest_plugin",
            "safeworkers.cli",
            "safeworkers.detect",
            "safeworkers.appscan",
            "safeworkers.policy",
            "safeworkers",
        ),
    ),
)

#: Kept at the paths users import; the package's own code imports the real modules.
SHIMS = ("safeworkers.detect", "safeworkers.appscan", "safeworkers.policy")
#: Test support: usable without the command line.
TEST_SUPPORT = ("safeworkers.testing", "safeworkers.pytest_plugin", "safeworkers.simulation")


def module_files() -> dict[str, Path]:
    """Dotted name -> source file, for every module of the package."""
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = module_files()


def _package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _target(name: str) -> str | None:
    """The module of ours that importing ``name`` runs last (``a.b.c`` -> ``a.b.c``, or the
    nearest package of ours that holds it)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(name: str) -> set[str]:
    """The modules of ours that ``name`` imports, anywhere in its source."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _package_of(name, path)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, *([base] if base else [])])
            # "from pkg import mod" imports pkg.mod; "from mod import name" imports mod.
            candidates = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for candidate in candidates:
            target = _target(candidate) if candidate.startswith("safeworkers") else None
            if target is not None and target != name:
                found.add(target)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path that returns to its start) per strongly connected component."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_path_in(graph, sorted(c)) for c in components]


def _path_in(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A cycle through the first module of ``component``, for the failure message."""
    start, members = component[0], set(component)
    paths = [[start]]
    while paths:  # breadth first: the shortest way back
        path = paths.pop(0)
        for nxt in sorted(graph[path[-1]] & members):
            if nxt == start:
                return [*path, start]
            if nxt not in path:
                paths.append([*path, nxt])
    return component


def test_the_graph_sees_lazy_and_type_only_imports() -> None:
    """The graph would be blind without them: both kinds are in the package today."""
    assert "safeworkers.facts.patches" in GRAPH["safeworkers.guard"]  # inside a function
    assert "safeworkers.workers.auto" in GRAPH["safeworkers"]  # under TYPE_CHECKING


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]


def test_no_import_cycles() -> None:
    found = cycles(GRAPH)
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def layer_of(name: str) -> int:
    for rank, (_, prefixes) in enumerate(LAYERS):
        # A prefix names a module and its submodules; the package itself names only
        # safeworkers/__init__.py, so a new module at the top must be placed in a layer.
        if any(name == p or (p != "safeworkers" and name.startswith(p + ".")) for p in prefixes):
            return rank
    raise AssertionError(f"{name} is in no layer: add it to LAYERS and docs/architecture.md")


def _edges() -> Iterator[tuple[str, str]]:
    for name, imported in sorted(GRAPH.items()):
        for other in sorted(imported):
            yield name, other


def test_every_module_is_in_a_layer() -> None:
    for name in MODULES:
        layer_of(name)


def test_layers_import_downwards() -> None:
    upward = [
        f"{name} ({LAYERS[layer_of(name)][0]}) imports {other} ({LAYERS[layer_of(other)][0]})"
        for name, other in _edges()
        if layer_of(other) > layer_of(name)
    ]
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize("shim", SHIMS)
def test_the_package_never_imports_its_own_shims(shim: str) -> None:
    assert shim in MODULES
    importers = sorted(name for name, other in _edges() if other == shim)
    assert not importers, f"{shim} is for users; import the real module in {importers}"


def test_test_support_never_imports_a_command() -> None:
    for name, other in _edges():
        if name.startswith(TEST_SUPPORT):
            assert not other.startswith("safeworkers.cli"), f"{name} imports {other}"


def test_about_a_dozen_loose_modules_at_the_top() -> None:
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(loose) <= 12, loose

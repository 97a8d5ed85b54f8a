"""Facts from the installed distributions' metadata, read without importing them.

Which installed distributions import trio when they are imported is not a
list we keep: it is found here. Candidates are the distributions whose
metadata declares trio (``Requires-Dist``, in any extra); a static scan of
their import packages (:mod:`safeworkers.appscan`, module-level code only)
confirms which really import it at import time, optionally (httpcore,
httpcore2: ``try: import trio``) or not (quart-trio). Every distribution that
depends on one of those imports trio through it (httpx -> httpcore, openai ->
httpx2 -> httpcore2).
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from types import MappingProxyType

from safeworkers import appscan

#: trio itself, and safeworkers (whose extras install backends it imports only in workers).
_NOT_LISTED = frozenset({"trio", "safeworkers"})
_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def normalize(name: str) -> str:
    """PEP 503 form of a distribution name: ``Quart_Trio`` -> ``quart-trio``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Requirement:
    name: str
    #: The extra this requirement belongs to (``None``: always required).
    extra: str | None


def parse_requirement(line: str) -> Requirement | None:
    """The name and extra of one ``Requires-Dist`` line."""
    match = _NAME.match(line)
    if match is None:
        return None
    marker = line.partition(";")[2]
    extra = _EXTRA.search(marker)
    return Requirement(normalize(match.group(1)), extra.group(1) if extra else None)


@functools.lru_cache(maxsize=1)
def installed() -> Mapping[str, importlib.metadata.Distribution]:
    """Normalized name -> distribution, the first found on ``sys.path`` for each name."""
    found: dict[str, importlib.metadata.Distribution] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if name and normalize(name) not in found:
            found[normalize(name)] = dist
    return MappingProxyType(found)


def requirements(name: str) -> tuple[Requirement, ...]:
    dist = installed().get(normalize(name))
    if dist is None:
        return ()
    parsed = (parse_requirement(line) for line in dist.requires or ())
    return tuple(r for r in parsed if r is not None)


def extra_requirements(name: str, extra: str) -> tuple[str, ...]:
    """The distributions ``name[extra]`` adds (e.g. dnspython's ``doh``)."""
    return tuple(r.name for r in requirements(name) if r.extra == extra)


def import_names(dist: importlib.metadata.Distribution) -> tuple[str, ...]:
    """The top-level modules a distribution installs (``top_level.txt``, else its files)."""
    text = dist.read_text("top_level.txt")
    if text:
        return tuple(sorted({line.strip() for line in text.splitlines() if line.strip()}))
    names: set[str] = set()
    for file in dist.files or ():
        parts = PurePosixPath(str(file)).parts
        if not parts or parts[0].endswith((".dist-info", ".data", ".egg-info")):
            continue
        if parts[0] in ("..", "__pycache__"):
            continue
        if len(parts) == 1 and parts[0].endswith(".py"):
            names.add(parts[0][:-3])
        elif len(parts) == 2 and parts[1] == "__init__.py":
            names.add(parts[0])
    return tuple(sorted(n for n in names if n.isidentifier()))


def _imports_trio_at_import(dist: importlib.metadata.Distribution) -> bool:
    """Whether importing the distribution's packages imports trio (read, never imported)."""
    location = str(dist.locate_file(""))
    for module in import_names(dist)[:5]:
        found = appscan.scan(module, [location], module_level_only=True, max_files=200)
        if any(use.what == "trio" or use.what.startswith("trio.") for use in found.trio):
            return True
    return False


def _dependencies(
    dist: importlib.metadata.Distribution, dists: Mapping[str, object]
) -> tuple[set[str], set[str]]:
    """The installed distributions ``dist`` requires: always, and through its *active*
    extras (those whose requirements are all installed, as when it was installed with
    the extra; dnspython's ``doh``: it uses httpx2/httpcore2 when they are there)."""
    parsed = [r for r in map(parse_requirement, dist.requires or ()) if r is not None]
    by_extra: dict[str | None, set[str]] = {}
    for requirement in parsed:
        by_extra.setdefault(requirement.extra, set()).add(requirement.name)
    always = {n for n in by_extra.pop(None, set()) if n in dists}
    optional = set().union(*(names for names in by_extra.values() if names <= set(dists)))
    return always, optional - always


def trio_importers(
    dists: Mapping[str, importlib.metadata.Distribution] | None = None,
) -> Mapping[str, str]:
    """Installed distributions that import trio -> how.

    ``"imports trio"``: importing the distribution imports trio (it declares
    trio in its metadata and its code imports it at import time, ``try``
    included). ``"through X -> ..."``: it requires one of those (the chain is
    the shortest). An active extra counts only as the last link, next to the
    importer (dnspython -> httpcore2, eventlet -> dnspython -> httpcore2);
    chains of optional extras (gunicorn[gevent] -> gevent[dnspython] -> ...)
    are not followed.
    """
    dists = installed() if dists is None else dists
    deps = {name: _dependencies(dist, dists) for name, dist in dists.items()}
    direct = sorted(
        name
        for name, (always, optional) in deps.items()
        if name not in _NOT_LISTED
        and "trio" in always | optional
        and _imports_trio_at_import(dists[name])
    )
    how: dict[str, str] = {name: "imports trio" for name in direct}
    chains: dict[str, list[str]] = {name: [name] for name in direct}
    frontier = list(direct)
    while frontier:  # breadth first: each dependent gets its shortest chain
        reached: list[str] = []
        for name in sorted(deps):
            if name in chains or name in _NOT_LISTED:
                continue
            always, optional = deps[name]
            via = [d for d in frontier if d in always or (d in optional and d in direct)]
            if via:
                dep = sorted(via)[0]
                chains[name] = [name, *chains[dep]]
                how[name] = "through " + " -> ".join(chains[dep])
                reached.append(name)
        frontier = reached
    return MappingProxyType(dict(sorted(how.items())))


def all_installed(names: Iterable[str]) -> bool:
    dists = installed()
    return all(normalize(n) in dists for n in names)

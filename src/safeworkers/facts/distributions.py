"""Facts from the installed distributions' metadata, read without importing them.

Which installed distributions import trio when they are imported is not a
list we keep: it is found here. Candidates are the distributions whose
metadata declares trio (``Requires-Dist``, in any extra); a static scan of
their import packages (:mod:`safeworkers.facts.appscan`, module-level code only)
confirms which really import it at import time, optionally (httpcore,
httpcore2: ``try: import trio``) or not (quart-trio). Every distribution that
depends on one of those imports trio through it (httpx -> httpcore, openai ->
httpx2 -> httpcore2).

It is done cheaply, because ``safeworkers doctor`` does it on every run:
names and requirements come from the metadata headers alone (no e-mail
parsing), only the candidates' code is opened, a textual pre-check rules out
packages where no module that can import trio is reachable from the top
(anyio, whose trio backend is imported only when chosen), and the scan stops
at the first trio import it finds.
"""

from __future__ import annotations

import csv
import functools
import importlib.metadata
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from types import MappingProxyType

from safeworkers.facts import appscan, versions
from safeworkers.facts._source import Use

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
        name = versions.headers(dist)[0]
        if name and normalize(name) not in found:
            found[normalize(name)] = dist
    return MappingProxyType(found)


def requirements(name: str) -> tuple[Requirement, ...]:
    dist = installed().get(normalize(name))
    if dist is None:
        return ()
    parsed = (parse_requirement(line) for line in versions.headers(dist)[2])
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
    for path in _file_paths(dist):
        parts = path.split("/")
        if not parts or parts[0].endswith((".dist-info", ".data", ".egg-info")):
            continue
        if parts[0] in ("..", "__pycache__"):
            continue
        if len(parts) == 1 and parts[0].endswith(".py"):
            names.add(parts[0][:-3])
        elif len(parts) == 2 and parts[1] == "__init__.py":
            names.add(parts[0])
    return tuple(sorted(n for n in names if n.isidentifier()))


def _file_paths(dist: importlib.metadata.Distribution) -> list[str]:
    """The paths in a distribution's RECORD, read as text (``dist.files`` makes an object
    of each, several times slower); other layouts through ``dist.files``."""
    record = dist.read_text("RECORD")
    if record is None:
        return [PurePosixPath(str(file)).as_posix() for file in dist.files or ()]
    paths: list[str] = []
    for line in record.splitlines():
        if line.startswith('"'):  # a quoted path (it holds a comma or a quote)
            paths.extend(row[0] for row in csv.reader([line]) if row)
        elif line:
            paths.append(line.partition(",")[0])
    return paths


def _imports_trio_at_import(dist: importlib.metadata.Distribution) -> bool:
    """Whether importing the distribution's packages imports trio (read, never imported).

    Per top-level package: the textual pre-check (:func:`trio_leads`), then a
    scan of only the modules that may lead to trio, stopping at the first
    trio import.
    """
    location = str(dist.locate_file(""))
    for module in import_names(dist)[:5]:
        leads = trio_leads(location, module)
        if leads is not None and module not in leads:
            continue  # no module that can import trio is reachable from the top
        found = appscan.scan(
            module,
            [location],
            module_level_only=True,
            max_files=200,
            until=_is_trio,
            follow=None if leads is None else leads.__contains__,
        )
        if any(_is_trio(use) for use in found.trio):
            return True
    return False


def _is_trio(use: Use) -> bool:
    return use.what == "trio" or use.what.startswith("trio.")


#: ``trio`` as a top-level name (not ``x.trio``, not ``_trio``).
_TRIO_WORD = re.compile(r"(?<![\w.])trio\b")
_IMPORT_WORD = re.compile(r"\b(?:import|from)\b")
#: A package larger than this is left to the (bounded) scan.
_PRECHECK_MAX_FILES = 400


def _text_imports_trio(text: str) -> bool:
    """Whether ``text`` may import trio: wherever the scan would see it, and more.

    ``trio`` on a logical line holding ``import`` or ``from`` (``import trio``,
    ``import os, trio.lowlevel``, ``from trio import sleep``), or a string
    starting with ``trio`` that is a call's first argument
    (``importlib.import_module("trio")``, under any name).
    """
    if "trio" not in text:
        return False
    for match in _TRIO_WORD.finditer(text):
        start = match.start()
        if text[start - 1 : start] in ('"', "'"):
            before = text[: start - 1].rstrip("rRuU").rstrip()
            if before.endswith("("):
                return True
            continue
        line = text.rfind("\n", 0, start)
        while line > 0 and text[line - 1] == "\\":  # a backslash continuation
            line = text.rfind("\n", 0, line - 1)
        if _IMPORT_WORD.search(text, line + 1, start):
            return True
    return False


def _package_texts(location: str, top: str) -> dict[str, str] | None:
    """Module name -> source of every module of package ``top`` under ``location``."""
    texts: dict[str, str] = {}
    single = os.path.join(location, top + ".py")
    files = [(top, single)] if os.path.isfile(single) else []
    for directory, subdirs, names in os.walk(os.path.join(location, top)):
        package = os.path.relpath(directory, location).replace(os.sep, ".")
        subdirs[:] = [d for d in subdirs if d.isidentifier() and d != "__pycache__"]
        for name in names:
            if name.endswith(".py") and name[:-3].isidentifier():
                module = package if name == "__init__.py" else f"{package}.{name[:-3]}"
                files.append((module, os.path.join(directory, name)))
        if len(files) > _PRECHECK_MAX_FILES:
            return None
    for module, path in files:
        try:
            with open(path, encoding="utf-8", errors="replace") as source:
                texts[module] = source.read()
        except OSError:
            return None
    return texts


def trio_leads(location: str, top: str) -> frozenset[str] | None:
    """The modules of package ``top`` (installed in ``location``) that may lead to trio.

    A cheap textual over-approximation of :func:`safeworkers.facts.appscan.scan`'s
    import graph, run backwards from the modules whose text may import trio:
    a module may lead to one of them if its text names it (the last part of
    its name is a word in it: every import form the scan follows names the
    imported module so, or is relative to a package the module is in) or if
    it is inside one of them (importing a submodule runs its package first).
    So a scan that finds trio reads only modules of this set: where ``top``
    is not in it, no scan can find trio. ``None`` (not known: code outside an
    installed library directory, an unreadable or very large package): the
    scan decides alone.
    """
    if not appscan.is_library_dir(location, appscan.library_dirs()):
        return None
    texts = _package_texts(location, top)
    if texts is None:
        return None
    leads = {name for name, text in texts.items() if _text_imports_trio(text)}
    frontier = set(leads)
    while frontier and top not in leads:
        words = {name.rpartition(".")[2] for name in frontier}
        new = set()
        for name, text in texts.items():
            if name in leads:
                continue
            inside = any(name.startswith(f"{outer}.") for outer in frontier)
            if inside or any(_has_word(text, word) for word in words):
                new.add(name)
        leads |= new
        frontier = new
    return frozenset(leads)


def _has_word(text: str, word: str) -> bool:
    return word in text and re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text) is not None


def _dependencies(
    dist: importlib.metadata.Distribution, dists: Mapping[str, object]
) -> tuple[set[str], set[str]]:
    """The installed distributions ``dist`` requires: always, and through its *active*
    extras (those whose requirements are all installed, as when it was installed with
    the extra; dnspython's ``doh``: it uses httpx2/httpcore2 when they are there)."""
    parsed = [r for r in map(parse_requirement, versions.headers(dist)[2]) if r is not None]
    by_extra: dict[str | None, set[str]] = {}
    for requirement in parsed:
        by_extra.setdefault(requirement.extra, set()).add(requirement.name)
    always = {n for n in by_extra.pop(None, set()) if n in dists}
    optional = set().union(*(names for names in by_extra.values() if names <= dists.keys()))
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
    if dists is None:
        return _installed_importers()
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


@functools.lru_cache(maxsize=1)
def _installed_importers() -> Mapping[str, str]:
    """:func:`trio_importers` of this environment, found once per process."""
    return trio_importers(installed())

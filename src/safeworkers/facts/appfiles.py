"""The app's files: where its modules are, and which of them the code scan may read.

:mod:`safeworkers.facts.appscan` parses every module of the app's project
that the app imports; :func:`find_source` and the library directories say
where those modules are, statically, as Python would find them.

:func:`may_show` is what a worker asks before paying for that scan: whether
the scan could find anything that only a file naming one of a few words
shows (an app that monkey-patches spells ``monkey`` or ``grequests``; one
that asks for gevent spells ``async_mode``, ``geventwebsocket``, ...). It
reads the same files as text, without :mod:`ast`: every module the scan
follows is named, part by part, by words of a file it read before (an
import, a relative import inside the package the file is in, a string
``importlib`` or Django imports), by the start module's name, by
``DJANGO_SETTINGS_MODULE``, or by the modules Django imports of every
installed app. So the files whose names are words of the files read so far,
in the directories the scan searches, are all the scan can read; when none
of them holds one of the words, the scan cannot find what they name. It
reads more than the scan (every word counts, not only imports) and is
cheaper by far: a single-module app costs a directory listing and one read.

This module imports nothing but the standard library's ``os``, ``re`` and
``sys``: a worker asks it on every boot.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence

#: Default bounds, the scan's: enough for any app's own code.
MAX_FILES = 300
MAX_BYTES = 1_000_000

#: What Django imports of each installed app (``apps.populate``, the admin's autodiscover).
DJANGO_APP_MODULES = ("apps", "models", "admin")
DJANGO_SETTINGS_VARIABLE = "DJANGO_SETTINGS_MODULE"

#: A file that shows monkey-patching spells one of these: every patching call the scan
#: knows has ``monkey`` in its name (``gevent.monkey.patch_all``, ``eventlet.monkey_patch``,
#: imported under any name), and a module that patches when imported is named by its name
#: (the keys of ``_source.SELF_PATCHING_MODULES``).
PATCH_WORDS: tuple[str, ...] = ("monkey", "grequests")
#: A file that asks for a green library spells one of these: ``async_mode=`` and the
#: modules of ``_source.ASKING_MODULES`` (``eventlet.websocket`` by ``eventlet``).
ASK_WORDS: tuple[str, ...] = ("async_mode", "geventwebsocket", "flask_sockets", "eventlet")

_WORD = re.compile(r"\w+")


# ----------------------------------------------------------------------------- where modules are


def import_path() -> list[str]:
    """``sys.path`` as the scan takes it: an empty entry (the current directory
    to the import system) spelled out, since the scan skips empty entries."""
    return [p or os.getcwd() for p in sys.path]


@functools.lru_cache(maxsize=1)
def library_dirs() -> frozenset[str]:
    """Directories of installed code (stdlib, site-packages): never part of an app's project."""
    import sysconfig  # about 1.5 ms with the paths: only when a directory may be one

    paths = sysconfig.get_paths()
    names = ("stdlib", "platstdlib", "purelib", "platlib")
    return frozenset(os.path.realpath(paths[n]) for n in names if n in paths)


def _under_prefixes(real: str) -> bool:
    """Whether ``real`` is inside one of this interpreter's prefixes, where every one of
    :func:`library_dirs` is (sysconfig builds them from those prefixes)."""
    for prefix in {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}:
        top = os.path.realpath(prefix)
        if real == top or real.startswith(top.rstrip(os.sep) + os.sep):
            return True
    return False


def is_library_dir(directory: str, libraries: frozenset[str] | None = None) -> bool:
    """Whether ``directory`` holds installed code: one of ``libraries`` (default: this
    interpreter's :func:`library_dirs`, read only for a directory inside its prefixes),
    or any ``site-packages`` or ``dist-packages``."""
    real = os.path.realpath(directory)
    if os.path.basename(real) in ("site-packages", "dist-packages"):
        return True
    if libraries is None:
        if not _under_prefixes(real):
            return False
        libraries = library_dirs()
    return real in libraries


def find_source(module: str, path: Sequence[str]) -> tuple[str, str] | None:
    """``(file, root)`` of ``module``'s source in the directories of ``path``, statically.

    Follows Python's order: the first directory holding the top-level package
    or module wins, and submodules are looked up inside it. Namespace
    packages (directories without ``__init__.py``) are descended into.
    Returns ``None`` for modules without Python source here (built-ins,
    extension modules, zip files, not installed).
    """
    parts = module.split(".")
    if not all(part.isidentifier() for part in parts):
        return None
    for root in path:
        if not root or not os.path.isdir(root):
            continue
        base = root
        for part in parts[:-1]:
            base = os.path.join(base, part)
            if not os.path.isdir(base):
                break
        else:
            last = os.path.join(base, parts[-1])
            for candidate in (os.path.join(last, "__init__.py"), last + ".py"):
                if os.path.isfile(candidate):
                    return candidate, root
            if len(parts) > 1 and os.path.isdir(os.path.join(root, parts[0])):
                # The top-level package lives here: its submodules are here or nowhere.
                return None
    return None


# ----------------------------------------------------------------------------- the pre-check


def may_show(
    module: str,
    path: Sequence[str],
    words: Iterable[str],
    *,
    libraries: frozenset[str] | None = None,
    environ: Mapping[str, str] | None = None,
    max_files: int = MAX_FILES,
    max_bytes: int = MAX_BYTES,
) -> bool:
    """Whether ``appscan.scan(module, path)`` may read a file that holds one of ``words``.

    ``False`` is certain: no file the scan can read names any of them (nor
    the module path of one: a relative import spells only the rest). ``True``
    means "perhaps": one does, or more than ``max_files`` files would have to
    be read to tell; the caller scans. ``libraries`` and ``environ`` as for
    the scan (``DJANGO_SETTINGS_MODULE`` leads to the settings module).
    """
    located = find_source(module, path)
    if located is None:
        return False  # no source: the scan shows nothing
    first, root = located
    words = tuple(words)
    environ = os.environ if environ is None else environ
    vocabulary = {*DJANGO_APP_MODULES, *module.split(".")}
    vocabulary.update(_WORD.findall(environ.get(DJANGO_SETTINGS_VARIABLE, "")))
    # In a library directory the scan follows the app's own top-level package only.
    only = module.partition(".")[0] if is_library_dir(root, libraries) else None
    listings: dict[str, list[tuple[str, bool]]] = {}  # directory -> (module name, package?)
    read: set[str] = set()
    pending = [first]
    while pending:
        for file in pending:
            read.add(file)
            if len(read) > max_files:
                return True
            text = _text(file, max_bytes)
            place = os.path.relpath(file, root)
            if any(word in text or word in place for word in words):
                return True
            vocabulary.update(_WORD.findall(text))
        reachable = _reachable(root, vocabulary, only, listings)
        pending = [file for file in reachable if file not in read]
    return False


def _reachable(
    root: str,
    vocabulary: set[str],
    only: str | None,
    listings: dict[str, list[tuple[str, bool]]],
) -> list[str]:
    """The files under ``root`` whose module names are words of ``vocabulary``, part by part
    (``only``: at the top, that name alone)."""
    files: list[str] = []
    directories = [root]
    while directories:
        directory = directories.pop()
        for name, package in _listing(directory, listings):
            if name not in vocabulary or (directory == root and only not in (None, name)):
                continue
            where = os.path.join(directory, name)
            if not package:
                files.append(where + ".py")
                continue
            directories.append(where)
            init = os.path.join(where, "__init__.py")
            if os.path.isfile(init):
                files.append(init)
    return files


def _text(file: str, max_bytes: int) -> str:
    """The file's text, as the scan reads it; "" when the scan would not read it either."""
    try:
        if os.path.getsize(file) > max_bytes:
            return ""
        with open(file, encoding="utf-8", errors="replace") as source:
            return source.read()
    except OSError:
        return ""


def _listing(directory: str, cache: dict[str, list[tuple[str, bool]]]) -> list[tuple[str, bool]]:
    """The modules and packages directly in ``directory``: (name, is a package)."""
    if directory not in cache:
        found: list[tuple[str, bool]] = []
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    name = entry.name
                    if entry.is_dir():
                        if name.isidentifier():
                            found.append((name, True))
                    elif name.endswith(".py") and name[:-3].isidentifier():
                        found.append((name[:-3], False))
        except OSError:
            pass
        cache[directory] = found
    return cache[directory]

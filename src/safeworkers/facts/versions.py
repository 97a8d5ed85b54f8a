"""Installed versions: a distribution's metadata headers (name, version, requirements),
read as text, and the numeric release of a version string (:func:`release`).

``Distribution.metadata``, ``.version`` and ``.requires`` parse the whole
METADATA file as an e-mail message each time they are read; for the
distributions AutoWorker asks about in every worker, and for every installed
distribution in ``safeworkers doctor``, that parsing was most of the time
spent. The headers end at the first blank line; the fields read here are
single-line ones, so reading them takes a split and a loop.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re

#: Where a metadata file's headers end (the description follows).
_HEADERS_END = re.compile(r"\r?\n\r?\n")

#: ``(Name, Version, Requires-Dist lines)``; ``None`` where a field is missing.
Headers = tuple["str | None", "str | None", tuple[str, ...]]


def read_headers(dist: importlib.metadata.Distribution) -> Headers:
    """``Name``, ``Version`` and the ``Requires-Dist`` lines of ``dist``.

    Old-style ``.egg-info`` distributions (``PKG-INFO``, requirements in
    ``requires.txt``) get their requirements from ``dist.requires``.
    """
    text = dist.read_text("METADATA")
    legacy = text is None
    if legacy:
        text = dist.read_text("PKG-INFO")
    if text is None:
        return None, None, ()
    name: str | None = None
    version: str | None = None
    requires: list[str] = []
    for line in _HEADERS_END.split(text, maxsplit=1)[0].splitlines():
        key, colon, value = line.partition(":")
        if not colon or key[:1].isspace():  # not a header, or a folded continuation
            continue
        key = key.strip().lower()
        if key == "name" and name is None:
            name = value.strip()
        elif key == "version" and version is None:
            version = value.strip()
        elif key == "requires-dist":
            requires.append(value.strip())
    if legacy and not requires:
        requires = list(dist.requires or ())
    return name, version, tuple(requires)


#: :func:`read_headers`, remembered per distribution object: for the objects
#: ``safeworkers.facts.distributions.installed()`` keeps, whose headers are read
#: more than once. ``Distribution`` objects compare by identity, so one made
#: for a single lookup (:func:`version`) would only fill the cache.
headers = functools.cache(read_headers)


def version(name: str) -> str | None:
    """The installed version of distribution ``name`` (as ``importlib.metadata.version``),
    or ``None`` if it is not installed."""
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    found = read_headers(dist)[1]
    return found if found is not None else dist.version


def release(version: str) -> tuple[int, ...]:
    """The numeric release of a version string: ``"1.0.9"`` -> ``(1, 0, 9)``.

    Enough to compare the versions we gate on (gunicorn 24, httpcore 1.0.6);
    pre/post/dev suffixes end the release (``"26.0.0rc1"`` -> ``(26, 0, 0)``)
    and an epoch is skipped (``"2!1.0"`` -> ``(1, 0)``).
    Hand-written because gunicorn, our only dependency, no longer brings
    ``packaging`` (gunicorn >= 27).
    """
    parts: list[int] = []
    _epoch, _, version = version.rpartition("!")  # "2!1.0": the epoch is not the release
    for piece in version.split("."):
        digits = ""
        for char in piece:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) < len(piece):
            break
    return tuple(parts)

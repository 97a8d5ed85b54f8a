"""Facts about the running process, gathered without side effects, in one snapshot.

:func:`environment` takes the snapshot (:class:`Environment`) the decision,
the workers and ``safeworkers doctor`` read: the platform, installed versions
(from package metadata, each read when first asked for), the patch state and
whether Trio can run (:mod:`safeworkers.facts.patches`), and, when asked, the
known-bad combinations (:mod:`safeworkers.facts.findings`). Nothing here
imports gevent, eventlet, trio or hypercorn.

Everything returned is immutable so it can be cached, logged and compared.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from safeworkers.facts import drivers, patches
from safeworkers.facts.freethreading import GilState, gil_state
from safeworkers.facts.patches import (
    NO_BACKEND,
    PATCHERS,
    TrioBackend,
    patch_state,
    trio_backend,
    trio_unusable_reason,
)

if TYPE_CHECKING:
    from safeworkers.facts.findings import Finding

# The snapshot's parts, importable from here as well.
__all__ = [
    "NO_BACKEND",
    "PACKAGES",
    "PATCHERS",
    "Environment",
    "GilState",
    "TrioBackend",
    "environment",
    "installed_packages",
    "package_version",
    "patch_state",
    "trio_backend",
    "trio_unusable_reason",
]

#: Distributions whose versions ``environment()`` reports.
PACKAGES: tuple[str, ...] = (
    "gunicorn",
    "hypercorn",
    "trio",
    "anyio",
    "sniffio",
    "httpcore",
    "httpx",
    "gevent",
    "eventlet",
    "greenlet",
    "httpcore2",
    "httpx2",
    "dnspython",
    "uvloop",
    "httptools",
    "gunicorn-h1c",
    "uvicorn",
    "uvicorn-worker",
    # the blocking drivers and their cures (facts.drivers)
    *drivers.DISTRIBUTIONS,
)


@dataclass(frozen=True)
class Environment:
    """An immutable snapshot of the facts ``policy`` and ``guard`` decide on."""

    platform: str
    system: str
    machine: str
    python_implementation: str
    python_version: str
    #: The backend Trio would pick with the *original* ``select`` module.
    trio_backend: TrioBackend
    #: Whether Trio could import and run in this process as it is now.
    trio_usable: bool
    #: Why not, when ``trio_usable`` is false.
    trio_unusable_reason: str | None
    #: Distribution name -> installed version (``None`` when not installed).
    packages: Mapping[str, str | None]
    #: Patched stdlib module -> who patched it (``gevent``, ``eventlet`` or ``unknown``).
    patched: Mapping[str, str]
    #: Whether trio was already imported when the snapshot was taken.
    trio_imported: bool
    findings: tuple[Finding, ...] = field(default=())
    #: Installed distributions that import trio at import time -> how
    #: (``safeworkers.facts.distributions.trio_importers``); empty unless findings were asked for.
    trio_importers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: The GIL: a free-threaded build?, on now?, what turned it back on
    #: (:mod:`safeworkers.facts.freethreading`).
    gil: GilState = field(default_factory=lambda: GilState(free_threaded=False, enabled=True))

    @property
    def patchers(self) -> tuple[str, ...]:
        """Who patched this process, in a stable order."""
        return patches.patchers(self.patched)

    @property
    def green_patchers(self) -> tuple[str, ...]:
        """The green libraries (:data:`PATCHERS`) that patched this process, sorted;
        not the "unknown" removals."""
        return patches.green_patchers(self.patched)

    @property
    def is_patched(self) -> bool:
        return bool(self.patched)

    def installed(self, name: str) -> bool:
        return self.packages.get(name) is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "system": self.system,
            "machine": self.machine,
            "python": {
                "implementation": self.python_implementation,
                "version": self.python_version,
                **self.gil.to_dict(),
            },
            "trio": {
                "backend": self.trio_backend,
                "usable": self.trio_usable,
                "unusable_reason": self.trio_unusable_reason,
                "imported": self.trio_imported,
            },
            "packages": dict(self.packages),
            "patched": dict(self.patched),
            "patchers": list(self.patchers),
            "findings": [f.to_dict() for f in self.findings],
            "trio_importers": dict(self.trio_importers),
        }


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or ``None``."""
    from safeworkers.facts import versions

    return versions.version(name)


class _Versions(Mapping[str, "str | None"]):
    """Distribution name -> installed version, each read when first asked for.

    A worker's decision looks at a few of :data:`PACKAGES` (gunicorn, and
    trio or hypercorn or uvicorn-worker depending on the app); reading the
    metadata of all of them in every worker start was a measurable part of
    AutoWorker's boot. Read-only, like the rest of the snapshot.
    """

    def __init__(self, names: tuple[str, ...]) -> None:
        self._names = names
        self._found: dict[str, str | None] = {}

    def __getitem__(self, name: str) -> str | None:
        if name not in self._names:
            raise KeyError(name)
        if name not in self._found:
            self._found[name] = package_version(name)
        return self._found[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return repr(dict(self))


def installed_packages(names: tuple[str, ...] = PACKAGES) -> Mapping[str, str | None]:
    """Name -> installed version (``None``: not installed), read when looked up."""
    return _Versions(names)


def environment(*, findings: bool = True) -> Environment:
    """Take a snapshot of the facts about this process.

    ``findings=False`` skips the known-bad combinations (and the metadata
    scan for trio importers they need): what the workers and config modules
    ask for, since they decide on the other facts only.
    """
    import platform

    packages = installed_packages()
    patched = patch_state()
    backend = trio_backend()
    reason = trio_unusable_reason(backend, patched)
    trio_installed = _importable("trio")
    found: tuple[Finding, ...] = ()
    importers: Mapping[str, str] = MappingProxyType({})
    if findings:
        found, importers = _findings(packages, patched)
    return Environment(
        platform=sys.platform,
        system=platform.system(),
        machine=platform.machine(),
        python_implementation=platform.python_implementation(),
        python_version=platform.python_version(),
        trio_backend=backend,
        trio_usable=reason is None and trio_installed,
        trio_unusable_reason=reason
        if reason is not None or trio_installed
        else "trio is not installed",
        packages=packages,
        patched=patched,
        trio_imported="trio" in sys.modules,
        findings=found,
        trio_importers=importers,
        gil=gil_state(),
    )


def _importable(module: str) -> bool:
    """Whether ``module`` can be found on ``sys.path`` (not imported; cheaper than reading
    its distribution's metadata, which a worker's start need not pay for)."""
    if module in sys.modules:
        return True
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _findings(
    packages: Mapping[str, str | None], patched: Mapping[str, str]
) -> tuple[tuple[Finding, ...], Mapping[str, str]]:
    from safeworkers.facts import distributions, findings, forksafety

    importers = distributions.trio_importers()
    guard_mod = sys.modules.get("safeworkers.guard")
    doh = distributions.extra_requirements("dnspython", "doh")
    found = findings.find(
        packages,
        patched,
        trio_importers=importers,
        trio_imported="trio" in sys.modules,
        guarded=bool(guard_mod is not None and guard_mod.installed()),
        doh_packages=tuple(n for n in doh if n in distributions.installed()),
        fork_safety=forksafety.state(),
        gil=gil_state(),
    )
    return tuple(found), importers

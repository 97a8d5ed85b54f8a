"""Facts about free-threaded Python (PEP 703; supported since 3.14, PEP 779).

A free-threaded build (``python3.13t``, ``python3.14t``) runs threads in
parallel while the GIL is off. An extension module that has not declared it
can run without the GIL turns it back on when it is imported, for the whole
process, with a ``RuntimeWarning`` that most logs drop ("The global
interpreter lock (GIL) has been enabled to load module 'X', which has not
declared that it can run safely without the GIL"). greenlet declared it in
3.3 (older greenlet re-enables the GIL); gevent's compiled modules may not.

What is read: whether the build is free-threaded (``sys.abiflags`` holds
``t``; ``sysconfig``'s ``Py_GIL_DISABLED`` where there are no abiflags),
whether the GIL is on now (``sys._is_gil_enabled()``, 3.13 and later),
whether ``PYTHON_GIL`` or ``-X gil`` forced it, and which module turned it
back on: the warning's text, where the warnings machinery recorded it (a
module's ``__warningregistry__``, kept unless warnings are ignored), else the
third-party extension modules imported so far, one of which did. Nothing is
imported or changed.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any, Literal, NamedTuple

#: CPython's warning when an import re-enables the GIL (Python/import.c, 3.13 and later);
#: compiled when first used (by ``re``'s cache), on a free-threaded build only.
_REENABLED = r"The global interpreter lock \(GIL\) has been enabled to load module '([^']+)'"
_EXTENSION = (".so", ".pyd")


class GilState(NamedTuple):
    """The GIL in this process.

    A named tuple, not a dataclass: every AutoWorker imports it to decide, and
    a dataclass compiles its methods at import.
    """

    #: A free-threaded build (``--disable-gil``): the GIL can be off.
    free_threaded: bool
    #: Whether the GIL is on now (always, on a regular build).
    enabled: bool
    #: ``PYTHON_GIL=0/1`` or ``-X gil=0/1``, if either forced it.
    forced: str | None = None
    #: The module whose import turned the GIL back on (or a list of candidates).
    reenabled_by: str | None = None

    @property
    def parallel_threads(self) -> bool:
        """Whether threads run Python code in parallel here."""
        return self.free_threaded and not self.enabled

    def describe(self) -> str:
        """One phrase for ``doctor`` and the logs."""
        if not self.free_threaded:
            return "regular build (GIL)"
        if not self.enabled:
            return "free-threaded build, GIL off: threads run in parallel"
        if self.forced:
            return f"free-threaded build, GIL on ({self.forced})"
        why = f": {self.reenabled_by} re-enabled it" if self.reenabled_by else ""
        return f"free-threaded build, GIL on{why}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "free_threaded": self.free_threaded,
            "gil_enabled": self.enabled,
            "gil_forced": self.forced,
            "gil_reenabled_by": self.reenabled_by,
        }


def free_threaded_build(abiflags: str | None = None) -> bool:
    """Whether this interpreter was built free-threaded."""
    flags = getattr(sys, "abiflags", None) if abiflags is None else abiflags
    if flags is not None:
        return "t" in flags
    import sysconfig  # Windows has no abiflags

    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def gil_enabled() -> bool:
    """Whether the GIL is on now (``sys._is_gil_enabled``; before 3.13, always)."""
    probe = getattr(sys, "_is_gil_enabled", None)
    return True if probe is None else bool(probe())


def forced(
    environ: Mapping[str, str] | None = None, xoptions: Mapping[str, Any] | None = None
) -> str | None:
    """How the GIL was forced on or off, if it was."""
    environ = os.environ if environ is None else environ
    xoptions = getattr(sys, "_xoptions", {}) if xoptions is None else xoptions
    if "gil" in xoptions:
        return f"-X gil={xoptions['gil']}"
    if environ.get("PYTHON_GIL") in ("0", "1"):
        return f"PYTHON_GIL={environ['PYTHON_GIL']}"
    return None


def reenabled_by(modules: Mapping[str, ModuleType | None] | None = None) -> str | None:
    """Which module's import turned the GIL back on, as far as the process can tell."""
    modules = dict(sys.modules if modules is None else modules)
    named = _from_warnings(modules.values())
    if named:
        return ", ".join(named)
    candidates = sorted(
        name
        for name, module in modules.items()
        if str(getattr(module, "__file__", "") or "").endswith(_EXTENSION)
        and not _stdlib(str(module.__file__))  # type: ignore[union-attr]
    )
    if not candidates:
        return None
    shown = ", ".join(candidates[:6]) + (
        f" and {len(candidates) - 6} more" if len(candidates) > 6 else ""
    )
    return f"one of the extension modules imported ({shown})"


def _from_warnings(modules: Iterable[ModuleType | None]) -> list[str]:
    found: dict[str, None] = {}
    for module in modules:
        registry = getattr(module, "__warningregistry__", None)
        if not isinstance(registry, dict):
            continue
        for key in registry:
            text = key[0] if isinstance(key, tuple) and key else None
            match = re.search(_REENABLED, text) if isinstance(text, str) else None
            if match:
                found[match.group(1)] = None
    return list(found)


def _stdlib(path: str) -> bool:
    import sysconfig

    roots = {sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")}
    return any(root and path.startswith(root + os.sep) for root in roots) and (
        "site-packages" not in path
    )


def gil_state(
    *,
    abiflags: str | None = None,
    enabled: bool | None = None,
    environ: Mapping[str, str] | None = None,
    xoptions: Mapping[str, Any] | None = None,
    modules: Mapping[str, ModuleType | None] | None = None,
) -> GilState:
    """The GIL in this process; the keywords replace what is read (for tests)."""
    build = free_threaded_build(abiflags)
    on = gil_enabled() if enabled is None else enabled
    how = forced(environ, xoptions) if build else None
    culprit = reenabled_by(modules) if build and on and how is None else None
    return GilState(free_threaded=build, enabled=on, forced=how, reenabled_by=culprit)


Level = Literal["info", "warning"]


def worker_note(
    state: GilState, worker: str, *, green: bool, threads: int
) -> tuple[Level, str] | None:
    """What a worker logs at boot about the GIL, or None on a regular build.

    ``green``: a gevent or eventlet worker (all its requests on one OS thread).
    """
    if not state.free_threaded:
        return None
    name = f"safeworkers {worker}"
    if green:
        if not state.enabled:
            cause = "the GIL is off"
        elif state.forced:
            cause = f"the GIL is on: {state.forced}"
        else:
            who = state.reenabled_by or "an imported extension module"
            cause = f"the GIL is on: {who} re-enabled it when imported"
        return (
            "warning",
            f"{name} on a free-threaded Python ({cause}): a green worker serves every "
            "request on one OS thread, so it gains nothing from free-threading and still "
            "pays the free-threaded build's single-thread overhead. Serve green code on a "
            "regular build of Python, or serve this app with safeworkers.ThreadWorker "
            "(--threads N), whose threads run in parallel here while the GIL is off",
        )
    if state.enabled and not state.forced:
        who = state.reenabled_by or "an imported extension module"
        return (
            "warning",
            f"{name}: this free-threaded Python runs with the GIL on: {who} re-enabled it "
            "(it has not declared it can run without the GIL), so threads do not run in "
            "parallel. Upgrade or drop that module, or run with PYTHON_GIL=0 at your own risk",
        )
    if not state.enabled and threads > 1:
        return ("info", f"{name}: free-threaded Python, GIL off: {threads} threads run in parallel")
    return None

"""The simulation's stand-in for macOS's ``_scproxy`` (imported as ``_scproxy``).

On a Mac, ``_scproxy`` asks SystemConfiguration (CoreFoundation) for the
proxy settings. In a process forked without exec from a parent that had
ever started a thread, that first use of Objective-C classes the parent had
not initialised makes the Objective-C runtime print its "may have been in
progress in another thread when fork() was called" lines and abort the
process: SIGABRT, no Python traceback. Unless
``OBJC_DISABLE_INITIALIZE_FORK_SAFETY=YES`` was in the environment when the
interpreter started.

This module does the same: called in a process forked (without exec) from
the one the simulation started in, it writes those lines (marked as the
simulation's) to stderr and calls :func:`os.abort`, unless the variable was
set at interpreter start (:mod:`safeworkers.simulation` records it then, as
the runtime does; setting it later changes nothing here either). Anywhere
else it answers like ``_scproxy``: the settings in
``_SAFEWORKERS_SIMULATE_SYSTEM_PROXIES`` (JSON: ``{"proxies": {...},
"settings": {...}}``), by default no proxy and macOS's default exceptions.

What it does not model (a real Mac shows it): whether the parent really was
multithreaded (the simulation takes it that it was, as gunicorn's master is
once anything in it started a thread, macOS's own libraries included), which
classes the parent had initialised, and CoreFoundation's other ways to crash
a forked child (SIGSEGV, or a trap).
"""

from __future__ import annotations

import json
import os
from typing import Any

from safeworkers import simulation

#: JSON of the simulated system settings: {"proxies": {...}, "settings": {...}}.
SETTINGS_VARIABLE = "_SAFEWORKERS_SIMULATE_SYSTEM_PROXIES"
#: What a Mac answers with no proxy configured.
_DEFAULT: dict[str, Any] = {
    "proxies": {},
    "settings": {"exclude_simple": False, "exceptions": ["*.local", "169.254/16"]},
}
#: The class whose +initialize the runtime names in most reports of this crash.
_CLASS = "__NSCFConstantString"


def _system() -> dict[str, Any]:
    raw = os.environ.get(SETTINGS_VARIABLE)
    return json.loads(raw) if raw else _DEFAULT


def _use_core_foundation() -> None:
    """What the first use of CoreFoundation in this process does."""
    if not simulation.forked_child() or simulation.objc_check_disabled_at_start():
        return
    pid = os.getpid()
    said = (
        f"objc[{pid}]: +[{_CLASS} initialize] may have been in progress in another thread "
        "when fork() was called."
    )
    os.write(
        2,
        (
            f"{said}\n{said} We cannot safely call it or ignore it in the fork() child process. "
            "Crashing instead. Set a breakpoint on objc_initializeAfterForkError to debug.\n"
            "(safeworkers simulation of macOS: the stand-in for _scproxy aborts as the "
            "Objective-C runtime does)\n"
        ).encode(),
    )
    os.abort()


def _get_proxies() -> dict[str, str]:
    _use_core_foundation()
    return dict(_system().get("proxies") or {})


def _get_proxy_settings() -> dict[str, Any]:
    _use_core_foundation()
    settings = dict(_system().get("settings") or {})
    settings["exceptions"] = tuple(settings.get("exceptions") or ())
    settings["exclude_simple"] = bool(settings.get("exclude_simple"))
    return settings

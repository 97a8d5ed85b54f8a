"""Facts about forking on macOS: the Objective-C fork-safety check and the proxy lookup.

gunicorn forks its workers without exec. On macOS (10.13 and later) the
Objective-C runtime refuses, in the child of a parent that had ever started a
thread, to run the ``+initialize`` of a class the parent had not initialised:
it prints ``objc[PID]: +[CLASS initialize] may have been in progress in
another thread when fork() was called`` and aborts the child (SIGABRT).
CoreFoundation state copied from the parent can crash the child too (SIGSEGV,
or a trap). gunicorn then only reports the signal. The check is off when
``OBJC_DISABLE_INITIALIZE_FORK_SAFETY=YES`` was in the environment when the
interpreter started: the runtime reads it once, when it loads, so setting it
later (from Python, in ``gunicorn.conf.py``) changes nothing.

The commonest trigger in a web worker is a proxy lookup:
``urllib.request.getproxies()`` and ``proxy_bypass()`` (which ``requests``,
``httpx`` and many SDKs call per request or per client) ask macOS's
SystemConfiguration through ``_scproxy`` whenever no ``*_proxy`` variable is
set in the environment.

Everything here reads and judges; :mod:`safeworkers.deploy.forksafety` acts
(in gunicorn's master, before it forks). The platform is macOS for real, or
simulated on Linux (:mod:`safeworkers.simulation`), so that the whole chain
runs in the test suite.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Asked first by every macOS-only step (the facts module below it imports nothing).
from safeworkers.facts.macos import SIMULATE_VARIABLE as SIMULATE_VARIABLE
from safeworkers.facts.macos import darwin as darwin
from safeworkers.facts.macos import simulated as simulated

#: Read by the Objective-C runtime once, when the process starts.
OBJC_VARIABLE = "OBJC_DISABLE_INITIALIZE_FORK_SAFETY"
#: Set by the gunicorn master when it handed the system proxy settings to its
#: workers: the names of the variables it set (not a SAFEWORKERS_* setting).
HANDOVER_VARIABLE = "_SAFEWORKERS_PROXY_HANDOVER"
#: The signals a crash in native code ends a process with: the Objective-C
#: check and CoreFoundation abort (SIGABRT), a use of state copied from the
#: parent faults (SIGSEGV, SIGBUS) or traps (SIGTRAP on arm64, SIGILL on x86-64).
CRASH_SIGNALS: tuple[str, ...] = ("SIGABRT", "SIGSEGV", "SIGBUS", "SIGTRAP", "SIGILL")

#: gunicorn's line for a worker that died by a signal: "Worker (pid:N) was sent
#: SIGABRT!" (23 and later; "code N" for a number it cannot name), and "Worker
#: with pid N was terminated due to signal 6" (20 to 22, still in many reports).
_SENT = re.compile(r"Worker \(pid:(\d+)\) was sent (SIG[A-Z0-9]+|code \d+|signal \d+)!")
_TERMINATED = re.compile(r"Worker with pid (\d+) was terminated due to signal (\d+)")


def objc_check_disabled(value: str | None) -> bool:
    """Whether ``OBJC_DISABLE_INITIALIZE_FORK_SAFETY=value`` turns the check off
    (the runtime documents ``YES``)."""
    return value is not None and value.strip().upper() == "YES"


def proxy_variables(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The ``*_proxy`` variables that are set (non-empty), as urllib reads them.

    When there is one, ``urllib.request.getproxies()`` and ``proxy_bypass()``
    read the environment only and never call ``_scproxy``.
    """
    environ = os.environ if environ is None else environ
    return tuple(sorted(k for k, v in environ.items() if v and k.lower().endswith("_proxy")))


@dataclass(frozen=True)
class ForkSafety:
    """What decides whether a forked worker survives CoreFoundation on macOS."""

    #: macOS, real or simulated: nothing below matters elsewhere.
    darwin: bool
    simulated: bool
    #: ``OBJC_DISABLE_INITIALIZE_FORK_SAFETY`` as set now (None: not set).
    objc_value: str | None
    #: The ``*_proxy`` variables set (urllib reads those and never asks macOS).
    proxy_variables: tuple[str, ...]
    #: What the gunicorn master handed over (the variables it set), if it did.
    handed_over: str | None

    @property
    def objc_check_disabled(self) -> bool:
        return objc_check_disabled(self.objc_value)

    @property
    def proxies_from_system(self) -> bool:
        """Whether urllib (and requests, httpx) would ask macOS for the proxy settings."""
        return not self.proxy_variables

    def objc_setting(self) -> str:
        """The variable as set: ``OBJC_DISABLE_INITIALIZE_FORK_SAFETY=YES``, or "... is not set"."""
        if self.objc_value is None:
            return f"{OBJC_VARIABLE} is not set"
        return f"{OBJC_VARIABLE}={self.objc_value}"

    def objc_state(self) -> str:
        """The Objective-C check, in one line."""
        if self.objc_check_disabled:
            return (
                f"off ({self.objc_setting()}; it counts only if it was set when the "
                "interpreter started)"
            )
        return (
            f"on ({self.objc_setting()}): a forked worker that initialises an "
            "Objective-C class the master had not can die with SIGABRT"
        )

    def proxy_state(self) -> str:
        """Where the proxy settings come from, in one line."""
        if self.handed_over:
            return (
                f"handed over by the gunicorn master ({self.handed_over}): workers "
                "never ask macOS for them"
            )
        if self.proxy_variables:
            return (
                f"from the environment ({', '.join(self.proxy_variables)}): "
                "urllib never asks macOS for them"
            )
        return (
            "from macOS's system settings (urllib asks _scproxy): a forked worker that "
            "looks them up can die with SIGABRT; safeworkers' workers have the master "
            "hand them over"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "darwin": self.darwin,
            "simulated": self.simulated,
            "objc_variable": self.objc_value,
            "objc_check_disabled": self.objc_check_disabled,
            "proxy_variables": list(self.proxy_variables),
            "proxies_handed_over": self.handed_over,
        }


def state(environ: Mapping[str, str] | None = None, platform: str | None = None) -> ForkSafety:
    """The fork-safety facts of this process (or of ``environ``)."""
    environ = os.environ if environ is None else environ
    handed = environ.get(HANDOVER_VARIABLE) or None
    return ForkSafety(
        darwin=darwin(platform, environ),
        simulated=simulated(environ),
        objc_value=environ.get(OBJC_VARIABLE),
        proxy_variables=proxy_variables(environ),
        handed_over=handed,
    )


def worker_signal(line: str) -> tuple[int, str] | None:
    """``(pid, signal name)`` when ``line`` is gunicorn's report of a worker killed
    by a signal, in any of its wordings; else None."""
    sent = _SENT.search(line)
    if sent:
        return int(sent.group(1)), sent.group(2)
    terminated = _TERMINATED.search(line)
    if terminated:
        return int(terminated.group(1)), _signal_name(int(terminated.group(2)))
    return None


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def crash_cause(signal_name: str, facts: ForkSafety) -> str | None:
    """The likely cause and the fix for a worker killed by ``signal_name``, on macOS.

    None where it is not a crash signal or not macOS: there the signal says
    nothing about forking.
    """
    if not facts.darwin or signal_name not in CRASH_SIGNALS:
        return None
    if facts.objc_check_disabled:
        return (
            f"{OBJC_VARIABLE}=YES is set, so this is not the Objective-C fork-safety "
            "check: most likely native state the master set up (CoreFoundation, a "
            "--preload app's libraries) that is unsafe in a forked child. Run gunicorn "
            "with PYTHONFAULTHANDLER=1 to see where the worker died, and keep such code "
            "out of the master (no --preload)"
        )
    cause = (
        "on macOS this is most often the Objective-C fork-safety check (the log shows "
        '"objc[PID]: +[... initialize] may have been in progress in another thread when '
        'fork() was called" just before): the worker initialised an Objective-C class '
        "(CoreFoundation, the system proxy lookup of urllib/requests/httpx) after fork(). "
        f"Fix: start gunicorn with {OBJC_VARIABLE}=YES in its environment (read when the "
        f"interpreter starts: `{OBJC_VARIABLE}=YES gunicorn ...`, or `safeworkers run -- "
        "gunicorn ...`)"
    )
    if facts.proxies_from_system and not facts.handed_over:
        cause += ", and set the proxy variables yourself (NO_PROXY=* if you use no proxy)"
    return cause + ' (docs: troubleshooting.md, "terminated due to signal 6")'


def crash_hint(signal_name: str, facts: ForkSafety) -> str | None:
    """:func:`crash_cause` in a few words, for ``safeworkers check``'s matrix."""
    if not facts.darwin or signal_name not in CRASH_SIGNALS:
        return None
    if facts.objc_check_disabled:
        return "native state from the master, unsafe after fork(): keep it out (no --preload)"
    return (
        "macOS's fork-safety check: start gunicorn with "
        f"{OBJC_VARIABLE}=YES, or serve with a safeworkers worker (its master hands the "
        "proxy settings over)"
    )

"""Known-bad (or noteworthy) combinations in an environment, each with its cure.

:func:`find` is pure: it judges the facts it is given (installed versions,
patch state, the distributions that import trio) and reads nothing else, so
every finding is unit-tested from made-up facts. ``safeworkers doctor`` prints
them; :func:`safeworkers.facts.process.environment` attaches them to its snapshot.

A fix never tells the user to install what is installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from safeworkers.facts import drivers
from safeworkers.facts.patches import green_patchers
from safeworkers.facts.versions import release

if TYPE_CHECKING:
    from safeworkers.facts.forksafety import ForkSafety
    from safeworkers.facts.freethreading import GilState

Severity = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class Finding:
    """A known-bad (or noteworthy) combination, with what to do about it."""

    id: str
    severity: Severity
    message: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "severity": self.severity, "message": self.message, "fix": self.fix}


#: The distributions dnspython's DNS-over-HTTPS support imports (its ``doh`` extra),
#: when the metadata cannot be read.
_DOH_FALLBACK = ("httpx2", "httpcore2", "h2")


def _older_than(version: str, minimum: str) -> bool:
    found = release(version)
    return bool(found) and found < release(minimum)


def _listing(importers: Mapping[str, str], limit: int = 6) -> str:
    shown = [f"{name} ({how})" for name, how in list(importers.items())[:limit]]
    more = len(importers) - limit
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def find(
    packages: Mapping[str, str | None],
    patched: Mapping[str, str],
    *,
    trio_importers: Mapping[str, str],
    trio_imported: bool = False,
    guarded: bool = False,
    doh_packages: tuple[str, ...] = _DOH_FALLBACK,
    fork_safety: ForkSafety | None = None,
    gil: GilState | None = None,
) -> list[Finding]:
    """The findings for these facts.

    ``trio_importers``: installed distribution -> how it imports trio
    (:func:`safeworkers.facts.distributions.trio_importers`). ``guarded``: the
    import guard is installed in the process described. ``doh_packages``:
    the installed distributions of dnspython's ``doh`` extra. ``fork_safety``:
    macOS's fork-safety facts (:mod:`safeworkers.facts.forksafety`); ``gil``:
    the GIL (:mod:`safeworkers.facts.freethreading`).
    """
    found: list[Finding] = []
    if fork_safety is not None:
        found.extend(_fork_safety(fork_safety))
    if gil is not None and gil.free_threaded and gil.enabled and not gil.forced:
        who = gil.reenabled_by or "an extension module imported in this process"
        found.append(
            Finding(
                id="gil-reenabled",
                severity="warning",
                message=(
                    f"this free-threaded Python runs with the GIL on: {who} re-enabled it "
                    "(it has not declared it can run without the GIL), so threads do not run "
                    "in parallel"
                ),
                fix="upgrade that module to a release that declares free-threading support "
                "(greenlet >= 3.3 does), drop it, or run with PYTHON_GIL=0 at your own risk",
            )
        )
    patchers = green_patchers(patched)
    trio_installed = bool(packages.get("trio"))
    if patchers and trio_imported:
        found.append(
            Finding(
                id="trio-imported-before-patching",
                severity="info",
                message=(
                    f"trio was imported before this process was monkey-patched by "
                    f"{', '.join(patchers)}. Libraries that only import it (httpx/httpcore, "
                    "anyio, SDKs) are unaffected; Trio's own event loop cannot run in a patched "
                    "process, whenever trio was imported"
                ),
                fix=(
                    "nothing to do unless the app runs Trio code itself; such an app needs an "
                    "unpatched process: safeworkers.TrioWorker (ASGI) instead of a green worker"
                ),
            )
        )
    if patchers and trio_installed and trio_importers and not guarded:
        found.append(
            Finding(
                id="patched-with-trio-importers",
                severity="warning",
                message=(
                    f"this process is patched by {', '.join(patchers)} and trio is installed "
                    f"alongside distributions that import it: {_listing(trio_importers)}; "
                    "without the import guard that import can crash the worker"
                ),
                fix="serve with safeworkers.GeventWorker or EventletWorker (they install the "
                "guard before patching), or call safeworkers.guard.install() before patching",
            )
        )
    eventlet_chain = trio_importers.get("eventlet")
    if packages.get("eventlet") and trio_installed and eventlet_chain:
        chain = eventlet_chain.removeprefix("through ")
        doh = list(doh_packages) or list(_DOH_FALLBACK)
        found.append(
            Finding(
                id="eventlet-import-imports-trio",
                severity="warning",
                message=(
                    f"`import eventlet` fails in this environment: eventlet imports trio "
                    f"through {chain} (eventlet's greendns imports dnspython's dns.query, whose "
                    "DNS-over-HTTPS support imports an httpcore, which imports trio), and trio "
                    "cannot be imported on eventlet's green socket (AttributeError: GreenSocket "
                    "has no sendmsg). gunicorn <= 25's -k eventlet never starts here"
                ),
                fix=(
                    "serve with -k safeworkers.EventletWorker, which installs the Trio import "
                    "guard before it imports eventlet; in your own code call "
                    "safeworkers.guard.install() before `import eventlet`. Without safeworkers: "
                    "remove one link of the chain from this environment if nothing else needs it "
                    f"(trio, or dnspython's DNS-over-HTTPS packages: {', '.join(doh)})"
                ),
            )
        )
    httpcore = packages.get("httpcore")
    if httpcore and _older_than(httpcore, "1.0.6"):
        found.append(
            Finding(
                id="httpcore-too-old",
                severity="warning",
                message=(
                    f"httpcore {httpcore} does not catch NotImplementedError when trio cannot "
                    "pick a backend, so a patched process crashes on `import httpx`"
                ),
                fix="pip install 'httpcore>=1.0.6' (the safeworkers guard covers the rest)",
            )
        )
    found.extend(_blocking_drivers(packages, patchers))
    gunicorn = packages.get("gunicorn")
    if gunicorn and not _older_than(gunicorn, "26"):
        how = (
            "use -k safeworkers.EventletWorker"
            if packages.get("eventlet")
            else "use -k safeworkers.EventletWorker (pip install 'safeworkers[eventlet]')"
        )
        found.append(
            Finding(
                id="gunicorn-without-eventlet",
                severity="info",
                message=f"gunicorn {gunicorn} has no eventlet worker (`-k eventlet` fails)",
                fix=how,
            )
        )
    return found


def _blocking_drivers(
    packages: Mapping[str, str | None], patchers: tuple[str, ...]
) -> list[Finding]:
    """Installed C drivers that block a green worker's hub, each with its cure.

    Information, not a warning: an environment with psycopg2 and no green
    worker is fine. In a patched process the driver blocks now: a warning,
    unless its automatic cure is installed or the patching library greens it.
    The fix says no more than the workers do: a cure that must run before the
    driver's first use is applied for a driver the app's code shows, so for
    one a library imports, the after-patch hook is the way.
    """
    found = []
    for driver in drivers.DRIVERS:
        versions = [packages.get(name) for name in driver.distributions]
        version = next((v for v in versions if v), None)
        if version is None:
            continue
        cure_there = bool(driver.cure_distribution and packages.get(driver.cure_distribution))
        applied = [library for library in driver.auto if cure_there]
        cured = [*driver.green_under, *applied]
        message = (
            f"{driver.name} {version} is installed: a C driver that waits for {driver.server} "
            "without yielding to a green hub; under a green worker that does not cure it, "
            "one request at a time per worker while it waits"
        )
        fixes = [
            f"nothing to do under {library.capitalize()}Worker: {library}'s patching makes "
            "it wait on the hub"
            for library in sorted(driver.green_under)
        ]
        for library in applied:
            cure, worker = driver.auto[library], f"{library.capitalize()}Worker"
            if driver.cures_late:
                fixes.append(
                    f"nothing to do under {worker}: it applies {cure} at boot "
                    "(SAFEWORKERS_GREEN_DRIVERS=0 turns it off)"
                )
            else:  # applied only before the app's import, for a driver its code shows
                fixes.append(
                    f"under {worker}, nothing to do when the app's own code imports "
                    f"{driver.modules[0]}: it applies {cure} at boot "
                    "(SAFEWORKERS_GREEN_DRIVERS=0 turns it off); when only a library imports "
                    f"it, {drivers.hook_cure(driver, library)}"
                )
        others: list[drivers.Library] = [lib for lib in ("gevent", "eventlet") if lib not in cured]
        if not fixes:
            fixes.append(driver.cure)
        else:
            fixes.extend(
                f"under {lib.capitalize()}Worker: {driver.cure_for(lib)}" for lib in others
            )
        fix = "; ".join(fixes)
        patched = bool(patchers) and not (set(patchers) & set(cured))
        found.append(
            Finding(
                id=f"blocking-driver-{driver.modules[0].lower()}",
                severity="warning" if patched else "info",
                message=message,
                fix=fix,
            )
        )
    return found


def _fork_safety(facts: ForkSafety) -> list[Finding]:
    """macOS: what can kill a worker gunicorn forks (docs/troubleshooting.md)."""
    if not facts.darwin:
        return []
    found: list[Finding] = []
    if not facts.objc_check_disabled:
        found.append(
            Finding(
                id="objc-fork-safety-check-on",
                severity="warning",
                message=(
                    f"macOS's Objective-C fork-safety check is on ({facts.objc_setting()}): a "
                    'worker gunicorn forks dies with SIGABRT ("may have been in progress in '
                    'another thread when fork() was called") when it initialises an '
                    "Objective-C class the master had not"
                ),
                fix=(
                    "start gunicorn with OBJC_DISABLE_INITIALIZE_FORK_SAFETY=YES in its "
                    "environment (it is read when the interpreter starts), or with "
                    "`safeworkers run -- gunicorn ...`"
                ),
            )
        )
    if facts.proxies_from_system and not facts.handed_over:
        found.append(
            Finding(
                id="proxies-from-system-settings",
                severity="info",
                message=(
                    "no *_proxy variable is set, so urllib, requests and httpx ask macOS for "
                    "the proxy settings (_scproxy, CoreFoundation): in a worker gunicorn forked, "
                    "that call is the commonest way to die with SIGABRT"
                ),
                fix=(
                    "serve with a safeworkers worker or -c python:safeworkers.gunicorn_config "
                    "(the master reads them before forking and hands them over), or set them "
                    "yourself (NO_PROXY=* if you use no proxy)"
                ),
            )
        )
    return found

"""Blocking drivers in a green worker: the installed cure applied, or a warning that says so.

A C driver that waits for its server without going through the patched
standard library (:mod:`safeworkers.facts.drivers`) turns a green worker
into a one-request-at-a-time worker, in silence. The green workers call this
module at two points of ``load_wsgi``:

- :func:`before_load`, after patching and the after-patch hook, right before
  the app is imported: for each driver the app's code shows, the cure is
  applied where it is automatic and installed (psycogreen for psycopg2,
  gRPC's ``init_gevent``), unless ``SAFEWORKERS_GREEN_DRIVERS=0``, and the
  worker logs that it did;
- :func:`after_load`, once the app is imported: every driver the process
  imported (whether the app's own code or a library imported it) is asked
  whether it now waits on the hub; one that still blocks gets the cure if
  the cure works that late, else a warning naming the driver, the file:line
  that imports it, the effect and the cure. A driver the code names that
  was not imported yet (Django opens its database connection at the first
  request) is warned about the same way.

A cure that fails stops the worker (boot failure), as the after-patch hook
does: serving with a half-applied integration is worse than not serving.
"""

from __future__ import annotations

from typing import Any

from safeworkers.deploy import target as _target
from safeworkers.facts import drivers
from safeworkers.facts.drivers import Library
from safeworkers.workers._base import boot_failure

__all__ = ["Library", "after_load", "before_load"]

#: The worker attribute holding what the app's code showed: driver name -> file:line.
_PLACES = "_sw_driver_places"
#: What a warning says for a driver no file of the app imports.
NOT_IN_CODE = "imported while the app loaded, not by the app's own code"


def _name(worker: Any) -> str:
    return str(getattr(worker, "safeworkers_name", type(worker).__name__))


def _apply(worker: Any, driver: drivers.Driver, library: Library, where: str) -> bool:
    """Apply ``driver``'s automatic cure for ``library``; whether it is green now."""
    cure = driver.auto_cure(library)
    if cure is None or not driver.cure_installed(library):
        return False
    try:
        _target.load_function(cure)()
    except Exception as exc:  # an ImportError of the cure, or the cure itself failing
        boot_failure(
            worker.log,
            f"applying {cure} for {driver.name} ({where}) raised {type(exc).__name__}: {exc}; "
            "set SAFEWORKERS_GREEN_DRIVERS=0 to serve without it (one request at a time while "
            f"{driver.name} waits)",
        )
    worker.log.info(
        "safeworkers %s: applied %s: %s (%s) now waits on %s's hub instead of blocking it "
        "(SAFEWORKERS_GREEN_DRIVERS=0 turns this off)",
        _name(worker),
        cure,
        driver.name,
        drivers.place(where),
        library,
    )
    return True


def before_load(worker: Any, library: Library) -> None:
    """Cure the drivers the app's code shows, before the app is imported."""
    code = worker.safeworkers_code()
    places = dict(code.driver_places())
    setattr(worker, _PLACES, places)
    cure = worker.safeworkers_settings.green_drivers
    for name, where in places.items():
        driver = drivers.by_name(name)
        if driver in drivers.imported() and drivers.state(driver, library) == "green":
            # The after-patch hook did it, or the library itself (eventlet.monkey_patch()
            # makes psycopg2 green when it is installed).
            worker.log.info(
                "safeworkers %s: %s (%s) waits on %s's hub already",
                _name(worker),
                driver.name,
                drivers.place(where),
                library,
            )
            continue
        if cure and drivers.installed(driver):
            _apply(worker, driver, library, where)


def after_load(worker: Any, library: Library) -> None:
    """Check every driver the process imported, and those the code names, once the app is in."""
    places: dict[str, str] = getattr(worker, _PLACES, {})
    cure = worker.safeworkers_settings.green_drivers
    loaded = drivers.imported()
    for driver in loaded:
        if drivers.state(driver, library) == "green":
            continue
        where = places.get(driver.name, NOT_IN_CODE)
        if cure and driver.cures_late and _apply(worker, driver, library, where):
            continue
        _warn(worker, driver, library, where)
    for name, where in places.items():
        driver = drivers.by_name(name)
        if driver not in loaded and drivers.installed(driver):
            _warn(worker, driver, library, where)


def _warn(worker: Any, driver: drivers.Driver, library: Library, where: str) -> None:
    message = drivers.warning(driver, library, where)
    hook = drivers.hook_cure(driver, library)
    if not worker.safeworkers_settings.green_drivers and driver.cure_installed(library):
        message += f" ({driver.auto_cure(library)} is installed, not applied: " + (
            "SAFEWORKERS_GREEN_DRIVERS=0)"
        )
    elif where == NOT_IN_CODE and hook is not None:
        # The worker applies such a cure before the app's import, for the drivers its code
        # shows; a library brought this one in: the after-patch hook runs early enough.
        message += (
            f"; the app's own code does not import it, so this worker did not apply it: set "
            f"{hook} (the hook runs after patching, before the app is imported)"
        )
    worker.log.warning("safeworkers %s: %s", _name(worker), message)

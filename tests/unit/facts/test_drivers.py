"""The blocking drivers' table (safeworkers.facts.drivers) and the findings doctor prints."""

from __future__ import annotations

from types import SimpleNamespace

from safeworkers.facts import drivers, findings


def test_every_driver_names_its_modules_distributions_and_a_cure() -> None:
    names = [d.name for d in drivers.DRIVERS]
    assert len(set(names)) == len(names)
    for driver in drivers.DRIVERS:
        assert driver.modules
        assert driver.distributions
        assert driver.cure
        for library, cure in driver.auto.items():
            assert library in ("gevent", "eventlet")
            assert cure.count(":") == 1
            assert driver.cure_distribution
    assert set(drivers.HINTS.values()) <= set(names)
    assert drivers.for_module("psycopg2.extras") is drivers.by_name("psycopg2")
    assert drivers.for_module("psycopg") is drivers.by_name("psycopg (3)")
    assert drivers.for_module("psycopg2x") is None
    assert drivers.for_string("postgresql+psycopg://u@h/db") is drivers.by_name("psycopg (3)")
    assert drivers.for_string("sqlite:///x.db") is None


def test_state_reads_the_drivers_own_records() -> None:
    psycopg2 = drivers.by_name("psycopg2")
    cured = {"psycopg2.extensions": SimpleNamespace(get_wait_callback=lambda: print)}
    plain = {"psycopg2.extensions": SimpleNamespace(get_wait_callback=lambda: None)}
    assert drivers.state(psycopg2, "gevent", cured) == "green"
    assert drivers.state(psycopg2, "gevent", plain) == "blocks"
    grpc = drivers.by_name("grpcio")
    activated = {"grpc._cython.cygrpc": SimpleNamespace(g_gevent_activated=True)}
    assert drivers.state(grpc, "gevent", activated) == "green"
    assert drivers.state(grpc, "eventlet", activated) == "blocks"
    psycopg = drivers.by_name("psycopg (3)")
    wait_c = object()
    c_waits = {"psycopg.waiting": SimpleNamespace(wait=wait_c, wait_c=wait_c)}
    select_waits = {"psycopg.waiting": SimpleNamespace(wait=print, wait_c=wait_c)}
    assert drivers.state(psycopg, "eventlet", c_waits) == "blocks"
    assert drivers.state(psycopg, "gevent", select_waits) == "green"
    assert drivers.state(drivers.by_name("mysqlclient"), "gevent", {}) == "blocks"


def test_outlook_and_verdict() -> None:
    found = [("psycopg2", "app.py:3"), ("mysqlclient", "db.py:1"), ("pymssql", "x.py:1")]
    installed = {"psycopg2-binary", "psycogreen", "mysqlclient"}.__contains__
    cured, blocking = drivers.outlook(found, "gevent", installed)
    assert cured == ["psycopg2 (app.py:3) is made green at boot (psycogreen.gevent:patch_psycopg)"]
    assert blocking == [f"mysqlclient (db.py:1; cure: {drivers.by_name('mysqlclient').cure})"]
    off = drivers.verdict(found[:1], "gevent", installed, cure=False)
    assert off.startswith("not worth it as things stand: psycopg2 (app.py:3; its cure psycogreen")
    assert drivers.verdict([], "gevent", installed).startswith("nothing in the app's code blocks")


def test_doctor_findings_for_installed_drivers() -> None:
    def find(
        packages: dict[str, str], patched: dict[str, str] | None = None
    ) -> list[findings.Finding]:
        found = findings.find(packages, patched or {}, trio_importers={})
        return [f for f in found if f.id.startswith("blocking-driver-")]

    (cured,) = find({"psycopg2": "2.9.13", "psycogreen": "1.0.2"})
    assert cured.severity == "info"
    assert cured.fix == (
        "nothing to do under EventletWorker: eventlet's patching makes it wait on the hub; "
        "nothing to do under GeventWorker: it applies psycogreen.gevent:patch_psycopg at boot "
        "(SAFEWORKERS_GREEN_DRIVERS=0 turns it off)"
    )
    (bare,) = find({"mysqlclient": "2.2"})
    assert bare.fix == drivers.by_name("mysqlclient").cure
    (now,) = find({"mysqlclient": "2.2"}, {"socket": "gevent"})
    assert now.severity == "warning"  # this process is patched: it blocks now
    assert find({}) == []


def test_psycopg2_is_green_under_eventlet_without_psycogreen() -> None:
    """eventlet.monkey_patch() sets psycopg2's wait callback (its psycopg patch is on by
    default): the table says so, and every reader of it does."""
    (finding,) = [
        f
        for f in findings.find({"psycopg2": "2.9"}, {"socket": "eventlet"}, trio_importers={})
        if f.id == "blocking-driver-psycopg2"
    ]
    assert finding.severity == "info"
    assert finding.fix.startswith("nothing to do under EventletWorker: eventlet's patching")
    assert "under GeventWorker: psycogreen's wait callback (pip install psycogreen" in finding.fix
    found = [("psycopg2", "app.py:3")]
    only_psycopg2 = {"psycopg2"}.__contains__
    for cure in (True, False):
        cured, blocking = drivers.outlook(found, "eventlet", only_psycopg2, cure=cure)
        assert (cured, blocking) == (
            ["psycopg2 (app.py:3) waits on eventlet's hub: eventlet's own patching makes it green"],
            [],
        )
    assert drivers.verdict(found, "gevent", only_psycopg2).startswith("not worth it")


def test_a_cure_that_must_run_first_is_promised_only_for_the_code_that_shows_it() -> None:
    """grpc's init_gevent() runs before the app's import, for a grpc the app's code imports;
    through a library, the after-patch hook is the way, and doctor's fix says both."""
    (finding,) = [
        f for f in findings.find({"grpcio": "1.66"}, {}, trio_importers={}) if "grpc" in f.id
    ]
    assert finding.fix == (
        "under GeventWorker, nothing to do when the app's own code imports grpc: it applies "
        "grpc.experimental.gevent:init_gevent at boot (SAFEWORKERS_GREEN_DRIVERS=0 turns it "
        "off); when only a library imports it, "
        "SAFEWORKERS_AFTER_PATCH=grpc.experimental.gevent:init_gevent; under EventletWorker: "
        "none: gRPC has no eventlet support (serve the app with -k safeworkers.GeventWorker)"
    )
    grpc = drivers.by_name("grpcio")
    assert drivers.hook_cure(grpc, "gevent") == (
        "SAFEWORKERS_AFTER_PATCH=grpc.experimental.gevent:init_gevent"
    )
    assert drivers.hook_cure(grpc, "eventlet") is None  # nothing to call
    assert drivers.hook_cure(drivers.by_name("psycopg2"), "gevent") is None  # cures late


def test_a_workers_warning_speaks_of_its_own_library_only() -> None:
    for driver in drivers.DRIVERS:
        gevent = drivers.warning(driver, "gevent", "app.py:1")
        eventlet = drivers.warning(driver, "eventlet", "app.py:1")
        assert "eventlet" not in gevent.partition("Cure: ")[2], gevent
        assert "gevent" not in eventlet.partition("Cure: ")[2].replace("GeventWorker", ""), eventlet

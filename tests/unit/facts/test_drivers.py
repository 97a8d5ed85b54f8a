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
    assert cured.fix.startswith("nothing to do under GeventWorker and EventletWorker")
    (bare,) = find({"mysqlclient": "2.2"})
    assert bare.fix == drivers.by_name("mysqlclient").cure
    (now,) = find({"mysqlclient": "2.2"}, {"socket": "gevent"})
    assert now.severity == "warning"  # this process is patched: it blocks now
    assert find({}) == []

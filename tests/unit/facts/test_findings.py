"""safeworkers.facts.findings.find: each known-bad combination, from made-up facts."""

from __future__ import annotations

from safeworkers.facts import findings

IMPORTERS = {"httpcore": "imports trio", "httpx": "through httpcore"}


def ids(found: list[findings.Finding]) -> list[str]:
    return [f.id for f in found]


def find(packages: dict[str, str | None], patched: dict[str, str] | None = None, **kw: object):
    kw.setdefault("trio_importers", {})
    return findings.find(packages, patched or {}, **kw)  # type: ignore[arg-type]


def test_old_httpcore() -> None:
    assert ids(find({"httpcore": "1.0.5"})) == ["httpcore-too-old"]
    assert find({"httpcore": "1.0.6"}) == []


def test_gunicorn_without_eventlet_never_suggests_installing_what_is_installed() -> None:
    (missing,) = find({"gunicorn": "26.0.0"})
    assert missing.id == "gunicorn-without-eventlet"
    assert "pip install 'safeworkers[eventlet]'" in missing.fix
    (present,) = find({"gunicorn": "27.0.1", "eventlet": "0.41.3"})
    assert present.fix == "use -k safeworkers.EventletWorker"
    assert find({"gunicorn": "25.1.0"}) == []


def test_patched_with_trio_importers_lists_them_from_the_metadata() -> None:
    packages = {"trio": "0.35.0", "httpcore": "1.0.9", "httpx": "0.28.1"}
    (found,) = find(packages, {"socket": "gevent"}, trio_importers=IMPORTERS)
    assert found.id == "patched-with-trio-importers"
    assert "httpcore (imports trio), httpx (through httpcore)" in found.message
    assert find(packages, {"socket": "gevent"}, trio_importers=IMPORTERS, guarded=True) == []
    assert find(packages, {"select": "unknown"}, trio_importers=IMPORTERS) == []


def test_trio_imported_before_patching_is_information_not_a_preload_scare() -> None:
    (found,) = find({}, {"socket": "gevent"}, trio_imported=True)
    assert found.severity == "info"
    assert "unaffected" in found.message
    assert "preload" not in found.fix


def test_eventlet_import_chain_with_its_cure() -> None:
    importers = {
        "httpcore2": "imports trio",
        "dnspython": "through httpcore2",
        "eventlet": "through dnspython -> httpcore2",
    }
    packages = {"trio": "0.35.0", "eventlet": "0.41.3", "dnspython": "2.9.2"}
    (found,) = find(packages, trio_importers=importers, doh_packages=("httpx2", "httpcore2"))
    assert found.id == "eventlet-import-imports-trio"
    assert found.severity == "warning"
    assert "through dnspython -> httpcore2" in found.message
    assert "GreenSocket has no sendmsg" in found.message
    assert "safeworkers.EventletWorker" in found.fix
    assert "safeworkers.guard.install() before `import eventlet`" in found.fix
    assert "httpx2, httpcore2" in found.fix
    assert "pip install" not in found.fix
    # No chain (dnspython's DNS-over-HTTPS packages absent): nothing to say.
    assert find(packages, trio_importers={"httpcore": "imports trio"}) == []


def test_macos_fork_safety_findings() -> None:
    from safeworkers.facts import forksafety

    mac = forksafety.state({}, platform="darwin")
    assert ids(find({}, fork_safety=mac)) == [
        "objc-fork-safety-check-on",
        "proxies-from-system-settings",
    ]
    (objc, _) = find({}, fork_safety=mac)
    assert objc.severity == "warning"
    assert "OBJC_DISABLE_INITIALIZE_FORK_SAFETY is not set" in objc.message
    assert "may have been in progress in another thread when fork() was called" in objc.message
    ready = forksafety.state({forksafety.OBJC_VARIABLE: "YES", "NO_PROXY": "*"}, platform="darwin")
    assert find({}, fork_safety=ready) == []
    assert find({}, fork_safety=forksafety.state({}, platform="linux")) == []


def test_free_threaded_python_whose_gil_was_reenabled() -> None:
    from safeworkers.facts.freethreading import GilState

    on = GilState(free_threaded=True, enabled=True, reenabled_by="greenlet._greenlet")
    (finding,) = find({}, gil=on)
    assert finding.id == "gil-reenabled"
    assert "greenlet._greenlet re-enabled it" in finding.message
    assert find({}, gil=GilState(free_threaded=True, enabled=False)) == []
    assert find({}, gil=GilState(free_threaded=True, enabled=True, forced="PYTHON_GIL=1")) == []
    assert find({}, gil=GilState(free_threaded=False, enabled=True)) == []

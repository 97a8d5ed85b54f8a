from __future__ import annotations

import dataclasses
import sys

import pytest

from safeworkers.facts import process as detect


def test_snapshot_is_immutable_and_serialisable() -> None:
    env = detect.environment()
    with pytest.raises(dataclasses.FrozenInstanceError):
        env.platform = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        env.packages["gunicorn"] = "0"  # type: ignore[index]
    data = env.to_dict()
    assert data["python"]["version"] == env.python_version
    assert set(data["packages"]) == set(detect.PACKAGES)


def test_missing_package_is_none() -> None:
    assert detect.package_version("surely-not-installed-safeworkers-probe") is None


def test_trio_backend_reason_mirrors_trios_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off Linux, Trio takes epoll or kqueue, whichever select has; on Linux only epoll."""
    import select

    monkeypatch.setattr(detect, "_current_poller", lambda: "epoll")
    monkeypatch.setattr(sys, "platform", "freebsd14")
    assert detect.trio_unusable_reason("kqueue", {}) is None
    monkeypatch.setattr(detect, "_current_poller", lambda: None)
    reason = detect.trio_unusable_reason("kqueue", {"select": "gevent"})
    assert (
        reason == "select.kqueue was removed by gevent's monkey-patching; Trio's I/O loop needs it"
    )
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(detect, "_current_poller", lambda: "kqueue")
    assert "select.epoll" in str(detect.trio_unusable_reason("epoll", {}))
    assert select  # the real module is untouched


def test_unknown_remover_is_not_named_as_a_patcher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(detect, "_current_poller", lambda: None)
    monkeypatch.setattr(sys, "platform", "linux")
    reason = detect.trio_unusable_reason("epoll", {"select": "unknown"})
    assert reason is not None
    assert "unknown's" not in reason
    assert "removed by something other than gevent or eventlet" in reason


def test_environment_without_findings_skips_the_metadata_scan() -> None:
    env = detect.environment(findings=False)
    assert env.findings == ()
    assert dict(env.trio_importers) == {}
    full = detect.environment()
    assert full.trio_importers["httpcore"] == "imports trio"


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.0.9", (1, 0, 9)),
        ("27.0.1", (27, 0, 1)),
        ("26.0.0rc1", (26, 0, 0)),
        ("0.41.3.post1", (0, 41, 3)),
        ("2!1.0", (1, 0)),
        ("v1", ()),
        ("", ()),
    ],
)
def test_release(version: str, expected: tuple[int, ...]) -> None:
    assert detect.release(version) == expected


def test_package_versions_are_read_when_asked_and_match_importlib_metadata() -> None:
    import importlib.metadata

    packages = detect.installed_packages(("gunicorn", "surely-not-installed-safeworkers-probe"))
    assert list(packages) == ["gunicorn", "surely-not-installed-safeworkers-probe"]
    assert packages["gunicorn"] == importlib.metadata.version("gunicorn")
    assert packages.get("surely-not-installed-safeworkers-probe") is None
    with pytest.raises(KeyError):
        packages["flask"]

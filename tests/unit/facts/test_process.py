from __future__ import annotations

import dataclasses

import pytest

from safeworkers import detect


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

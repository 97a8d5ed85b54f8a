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


def test_old_httpcore_is_a_finding() -> None:
    found = detect._findings({"httpcore": "1.0.5"}, {})
    assert [f.id for f in found] == ["httpcore-too-old"]
    assert detect._findings({"httpcore": "1.0.6"}, {}) == []


def test_gunicorn_without_eventlet_is_a_finding() -> None:
    assert [f.id for f in detect._findings({"gunicorn": "26.0.0"}, {})] == [
        "gunicorn-without-eventlet"
    ]
    assert detect._findings({"gunicorn": "25.1.0"}, {}) == []


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

"""Reading gunicorn's MODULE:APP and module:function the one way (safeworkers.deploy.target)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from safeworkers.deploy import target as _target
from tests import markers


def test_module_of_a_target() -> None:
    assert _target.module_of("pkg.app:create_app()") == "pkg.app"
    assert _target.module_of("pkg.app:create_app('x', debug=True)") == "pkg.app"
    assert _target.module_of("app") == "app"


@pytest.mark.parametrize(
    ("target", "plain"),
    [
        ("pkg.app:app", True),
        ("pkg.app", True),
        ("pkg:create_app()", True),
        ("pkg:create_app('x')", False),
        ("pkg:app; rm -rf /", False),
        ("pkg app:app", False),
    ],
)
def test_is_plain(target: str, plain: bool) -> None:
    assert _target.is_plain(target) is plain


@pytest.mark.parametrize(
    ("reference", "parts"),
    [
        ("mod.sub:func", ("mod.sub", "func")),
        (" mod:Class.method ", ("mod", "Class.method")),
        ("mod", None),
        ("mod:", None),
        ("mod:not a name", None),
        (":func", None),
    ],
)
def test_function_parts(reference: str, parts: tuple[str, str] | None) -> None:
    assert _target.function_parts(reference) == parts


def _module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> str:
    name = f"target_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


FACTORY = """
def create_app(name, *, debug=False):
    def app(environ, start_response):
        return [name.encode()]
    app.debug = debug
    return app

def broken():
    raise RuntimeError("no DATABASE_URL")

application = create_app("bare")
"""


@markers.needs_posix  # the app is loaded with gunicorn's loader
def test_load_app_as_gunicorn_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = _module(tmp_path, monkeypatch, FACTORY)
    app = _target.load_app(f"{name}:create_app('y', debug=True)")
    assert app({}, None) == [b"y"]  # type: ignore[operator]
    assert app.debug is True  # type: ignore[attr-defined]
    assert _target.load_app(name)({}, None) == [b"bare"]  # type: ignore[operator]


@markers.needs_posix  # the app is loaded with gunicorn's loader
@pytest.mark.parametrize(
    ("suffix", "message"),
    [
        (":nope", "Failed to find attribute 'nope' in '{name}'"),
        (":create_app(", "Failed to parse 'create_app(' as an attribute name or function call"),
        (":create_app(x)", "Failed to parse arguments as literal values"),
        (":broken()", "{name}:broken() raised RuntimeError: no DATABASE_URL"),
    ],
)
def test_load_app_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, message: str
) -> None:
    name = _module(tmp_path, monkeypatch, FACTORY)
    with pytest.raises(_target.TargetError) as info:
        _target.load_app(name + suffix)
    assert message.format(name=name) in str(info.value)
    assert "\n" not in str(info.value)


@markers.needs_posix  # the app is loaded with gunicorn's loader
def test_load_app_names_the_module_that_cannot_be_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _module(tmp_path, monkeypatch, "raise ImportError('no module named psycopg2')\n")
    with pytest.raises(_target.TargetError, match=f"cannot import '{name}': ImportError: no mod"):
        _target.load_app(f"{name}:app")
    with pytest.raises(_target.TargetError, match="'my-app:app' is not MODULE:APP"):
        _target.load_app("my-app:app")


def test_load_function(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = _module(
        tmp_path, monkeypatch, "class K:\n    @staticmethod\n    def f(): return 1\nx = 3\n"
    )
    assert _target.load_function(f"{name}:K.f")() == 1
    with pytest.raises(_target.TargetError, match="'x' is not a function: it is int"):
        _target.load_function(f"{name}:x")
    with pytest.raises(_target.TargetError, match=f"'{name}' has no 'y'"):
        _target.load_function(f"{name}:y")

from __future__ import annotations

import copy
import pickle

import pytest

from safeworkers import settings
from safeworkers.settings import Settings, SettingsError


def test_defaults() -> None:
    assert settings.load({}) == Settings()


def test_all_values() -> None:
    loaded = settings.load(
        {
            "SAFEWORKERS_BACKEND": " Gevent ",
            "SAFEWORKERS_GUARD": "preimport",
            "SAFEWORKERS_GUARD_MODULES": "trio, mylib.sub",
            "SAFEWORKERS_TCP_KEEPALIVE": "60,15,4",
            "SAFEWORKERS_MPTCP": "yes",
        }
    )
    assert loaded == Settings(
        backend="gevent",
        guard="preimport",
        guard_modules=("trio", "mylib.sub"),
        tcp_keepalive=(60, 15, 4),
        mptcp=True,
    )


@pytest.mark.parametrize("value", ["off", "OFF", ""])
def test_keepalive_off(value: str) -> None:
    assert settings.load({"SAFEWORKERS_TCP_KEEPALIVE": value}).tcp_keepalive is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SAFEWORKERS_BACKEND", "geventt"),
        ("SAFEWORKERS_GUARD", "sometimes"),
        ("SAFEWORKERS_GUARD_MODULES", ","),
        ("SAFEWORKERS_GUARD_MODULES", "trio,not a module"),
        ("SAFEWORKERS_TCP_KEEPALIVE", "60,15"),
        ("SAFEWORKERS_TCP_KEEPALIVE", "60,0,4"),
        ("SAFEWORKERS_TCP_KEEPALIVE", "60,-1,4"),
        ("SAFEWORKERS_TCP_KEEPALIVE", "a,b,c"),
        ("SAFEWORKERS_TCP_KEEPALIVE", "3000000000,15,4"),
        ("SAFEWORKERS_TCP_KEEPALIVE", "40000,15,4"),
        ("SAFEWORKERS_TCP_KEEPALIVE", "60,15,128"),
        ("SAFEWORKERS_MPTCP", "perhaps"),
    ],
)
def test_bad_values_name_variable_value_and_accepted(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        settings.load({variable: value})
    message = str(info.value)
    assert message.startswith(f"{variable}={value!r} is not valid: accepted values are ")
    assert settings.VARIABLES[variable][0] in message


def test_unknown_variable_is_refused() -> None:
    with pytest.raises(SettingsError, match="SAFEWORKERS_BAKCEND is not a safeworkers setting"):
        settings.load({"SAFEWORKERS_BAKCEND": "sync"})


def test_keepalive_limits_are_accepted() -> None:
    loaded = settings.load({"SAFEWORKERS_TCP_KEEPALIVE": "32767,32767,127"})
    assert loaded.tcp_keepalive == (32767, 32767, 127)


def test_process_guard_and_after_patch() -> None:
    loaded = settings.load(
        {"SAFEWORKERS_GUARD_PROCESS": "1", "SAFEWORKERS_AFTER_PATCH": " myapp.hooks:Setup.after "}
    )
    assert loaded.guard_process is True
    assert loaded.after_patch == "myapp.hooks:Setup.after"
    assert settings.load({"SAFEWORKERS_AFTER_PATCH": ""}).after_patch is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SAFEWORKERS_GUARD_PROCESS", "maybe"),
        ("SAFEWORKERS_AFTER_PATCH", "myapp.hooks"),
        ("SAFEWORKERS_AFTER_PATCH", "myapp.hooks:"),
        ("SAFEWORKERS_AFTER_PATCH", ":after_patch"),
        ("SAFEWORKERS_AFTER_PATCH", "my-app:after_patch"),
        ("SAFEWORKERS_AFTER_PATCH", "myapp..hooks:after_patch"),
        ("SAFEWORKERS_AFTER_PATCH", "myapp:after patch"),
    ],
)
def test_bad_process_guard_and_after_patch_values(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"^{variable}="):
        settings.load({variable: value})


def test_settings_are_read_only_values() -> None:
    loaded = settings.load({"SAFEWORKERS_GUARD_MODULES": "trio,x"})
    with pytest.raises(AttributeError, match="read-only"):
        loaded.guard = "off"
    assert loaded == Settings(guard_modules=("trio", "x"))
    assert loaded != Settings()
    assert hash(loaded) == hash(Settings(guard_modules=("trio", "x")))
    assert repr(Settings()).startswith("Settings(after_patch=None, backend='auto',")
    # hypercorn's spawned workers unpickle the config module's settings
    assert pickle.loads(pickle.dumps(loaded)) == loaded
    assert copy.deepcopy(loaded) == loaded


def test_green_drivers_blocking_warn_and_several_hooks() -> None:
    current = settings.load(
        {
            "SAFEWORKERS_GREEN_DRIVERS": "off",
            "SAFEWORKERS_BLOCKING_WARN": " 0.25 ",
            "SAFEWORKERS_AFTER_PATCH": " psycogreen.gevent:patch_psycopg , app.hooks:setup ",
        }
    )
    assert current.green_drivers is False
    assert current.blocking_warn == 0.25
    assert current.after_patch == "psycogreen.gevent:patch_psycopg,app.hooks:setup"
    defaults = settings.load({})
    assert (defaults.green_drivers, defaults.blocking_warn) == (True, None)
    assert settings.load({"SAFEWORKERS_BLOCKING_WARN": "off"}).blocking_warn is None
    assert settings.load({"SAFEWORKERS_BLOCKING_WARN": "0.01"}).blocking_warn == 0.01


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SAFEWORKERS_BLOCKING_WARN", "0"),
        ("SAFEWORKERS_BLOCKING_WARN", "-1"),
        ("SAFEWORKERS_BLOCKING_WARN", "nan"),
        ("SAFEWORKERS_BLOCKING_WARN", "soon"),
        ("SAFEWORKERS_BLOCKING_WARN", "3601"),
        # the watch ticks every quarter of it: a microsecond would spin the worker
        ("SAFEWORKERS_BLOCKING_WARN", "1e-6"),
        ("SAFEWORKERS_BLOCKING_WARN", "0.009"),
        ("SAFEWORKERS_GREEN_DRIVERS", "sometimes"),
        ("SAFEWORKERS_AFTER_PATCH", "a:b,,c:d"),
        ("SAFEWORKERS_AFTER_PATCH", "a:b,not a hook"),
    ],
)
def test_bad_new_values_name_variable_value_and_accepted(variable: str, value: str) -> None:
    with pytest.raises(settings.SettingsError) as info:
        settings.load({variable: value})
    assert str(info.value).startswith(f"{variable}={value!r} is not valid: accepted values are")

"""How the after-patch hook is called: as it is written (safeworkers.workers._afterpatch)."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from safeworkers.workers import _afterpatch


def none() -> None: ...
def one(worker: Any) -> None: ...
def optional(worker: Any = None) -> None: ...
def star(*args: Any) -> None: ...
def two(worker: Any, extra: Any) -> None: ...
def keyword_only(*, worker: Any) -> None: ...


class Hooks:
    def method(self, worker: Any) -> None: ...


@pytest.mark.parametrize(
    ("hook", "with_worker"),
    [
        (none, False),
        (one, True),
        (optional, True),
        (star, True),
        (Hooks().method, True),
        (functools.partial(two, None), True),
    ],
)
def test_called_with_the_worker_when_it_takes_one_argument(hook: Any, with_worker: bool) -> None:
    assert _afterpatch.takes_worker(hook, "SAFEWORKERS_AFTER_PATCH=x:y") is with_worker


@pytest.mark.parametrize("hook", [two, keyword_only])
def test_other_signatures_are_refused_with_what_is_accepted(hook: Any) -> None:
    with pytest.raises(_afterpatch.HookError) as info:
        _afterpatch.takes_worker(hook, "SAFEWORKERS_AFTER_PATCH=m:f")
    assert "an after-patch hook is called as hook() or hook(worker)" in str(info.value)
    assert str(info.value).startswith("SAFEWORKERS_AFTER_PATCH=m:f takes (")

"""After-patch hooks for tests/integration/test_after_patch.py.

Each records what it saw in ``SEEN``; ``after_patch_app`` answers with it.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

SEEN: dict[str, object] = {}


def _record(worker: Any, via: str) -> None:
    SEEN.update(
        via=via,
        worker=type(worker).__name__,
        # Looked up now: the module the patched ``socket.socket`` comes from.
        socket=socket.socket.__module__,
        app_imported="after_patch_app" in sys.modules,
        calls=int(str(SEEN.get("calls", 0))) + 1,
    )


def record(worker: Any) -> None:
    _record(worker, "env")


def record_from_config(worker: Any) -> None:
    _record(worker, "config")


def boom(worker: Any) -> None:
    raise RuntimeError("grpc could not switch to gevent")


class Hooks:
    @staticmethod
    def nested(worker: Any) -> None:
        _record(worker, "nested")


not_a_function = 42


def takes_two(worker: Any, extra: Any) -> None:
    raise AssertionError("never called: the worker refuses the signature")


def first(worker: Any) -> None:
    SEEN["order"] = [*list(SEEN.get("order", [])), "first"]  # type: ignore[call-overload]


def second() -> None:
    SEEN["order"] = [*list(SEEN.get("order", [])), "second"]  # type: ignore[call-overload]

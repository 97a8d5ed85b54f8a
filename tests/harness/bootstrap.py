"""Child-process entry point for ``tests.harness.run``; see its docstring."""

from __future__ import annotations

import json
import sys
import traceback

from tests.harness import simulate


def patch(patcher: str) -> None:
    if patcher == "gevent":
        import gevent.monkey

        gevent.monkey.patch_all()
    elif patcher == "eventlet":
        import eventlet

        eventlet.monkey_patch()


def main() -> None:
    config = json.loads(sys.argv[1])
    if config["simulate"]:
        simulate.install(config["simulate"])
    if config["guard"] != "without":
        import safeworkers.guard

        safeworkers.guard.install(mode=config["guard"])
    namespace: dict[str, object] = {"result": None}
    stage = "patch"
    try:
        # The patcher's own import may already fail: eventlet imports
        # dnspython, which (before 2.9, the newest on Python 3.10) imports
        # httpcore, which imports trio under eventlet's green socket.
        patch(config["patch"])
        stage = "scenario"
        exec(compile(config["code"], "<scenario>", "exec"), namespace)
    except BaseException as exc:
        outcome = {
            "ok": False,
            "stage": stage,
            "exc_type": type(exc).__name__,
            "exc_mro": [cls.__name__ for cls in type(exc).__mro__],
            "message": str(exc),
        }
        traceback.print_exc()
    else:
        result = namespace.get("result")
        try:
            json.dumps(result)
        except TypeError:
            result = repr(result)
        outcome = {"ok": True, "result": result}
    sys.stdout.write(json.dumps(outcome) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

"""A script that monkey-patches itself, then builds an httpx client (as locust files do).

    python patch_then_httpx.py gevent|eventlet   patch, import httpx, print a JSON line
    python patch_then_httpx.py spawn PATCHER     run the above in a child process, relay it

Without the guard the import of httpx dies (eventlet on Linux, either patcher
on macOS/BSD); ``safeworkers run`` or ``SAFEWORKERS_GUARD_PROCESS=1`` makes it
work, in child processes too.
"""

from __future__ import annotations

import json
import subprocess
import sys


def main(argv: list[str]) -> None:
    if argv[0] == "spawn":
        child = subprocess.run([sys.executable, __file__, *argv[1:]], check=False)
        raise SystemExit(child.returncode)
    if argv[0] == "gevent":
        from gevent import monkey

        monkey.patch_all()
    else:
        import eventlet

        eventlet.monkey_patch()
    import socket

    import httpx

    with httpx.Client() as client:
        assert client is not None
    guard = sys.modules.get("safeworkers.guard")
    print(
        json.dumps(
            {
                "socket": socket.socket.__module__,
                "guarded": bool(guard and guard.installed()),
                "trio": "trio" in sys.modules,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])

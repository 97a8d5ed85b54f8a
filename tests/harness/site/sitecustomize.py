"""Loaded at interpreter start in test servers (tests/servers.py puts it on PYTHONPATH).

- ``SWTEST_FAKE_PLATFORM``: install the platform simulation
  (tests/harness/simulate.py) in gunicorn's master, so forked workers inherit it.
- ``SWTEST_BLOCK_IMPORTS``: comma-separated top-level packages that
  behave as if not installed (``import`` and ``find_spec`` raise
  ModuleNotFoundError), to test the "install safeworkers[extra]" messages.
- ``SWTEST_REMOVE_EPOLL``: delete ``select.epoll``, so Trio is unusable.
"""

import os
import sys

_fake = os.environ.get("SWTEST_FAKE_PLATFORM")
if _fake:
    from tests.harness import simulate

    simulate.install(_fake)

_blocked = {m for m in os.environ.get("SWTEST_BLOCK_IMPORTS", "").split(",") if m}
if _blocked:

    class _Blocker:
        def find_spec(self, fullname, path=None, target=None):
            if fullname.partition(".")[0] in _blocked:
                raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
            return None

    sys.meta_path.insert(0, _Blocker())

if os.environ.get("SWTEST_REMOVE_EPOLL"):
    # What gevent/eventlet do to `select`, without their hubs: Trio loses its
    # I/O backend and safeworkers.detect sees the primitive missing.
    import select

    if hasattr(select, "epoll"):
        del select.epoll

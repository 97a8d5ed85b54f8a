"""Loaded at interpreter start in test servers (tests/servers.py puts it on PYTHONPATH).

- ``SWTEST_FAKE_PLATFORM``: install the platform simulation
  (tests/harness/simulate.py) in gunicorn's master, so forked workers inherit it.
- ``SWTEST_BLOCK_IMPORTS``: comma-separated top-level packages that
  behave as if not installed (``import`` and ``find_spec`` raise
  ModuleNotFoundError), to test the "install safeworkers[extra]" messages.
- ``SWTEST_REMOVE_EPOLL``: delete ``select.epoll``, so Trio is unusable.
- ``SWTEST_HIDE_DISTS``: comma-separated distributions that package metadata
  does not show (``importlib.metadata``), as if not installed; combine with
  ``SWTEST_BLOCK_IMPORTS`` for their modules.
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

_hidden = {d.strip().lower() for d in os.environ.get("SWTEST_HIDE_DISTS", "").split(",") if d}
if _hidden:
    import importlib.metadata as _metadata
    import re as _re

    def _hidden_name(name):
        return _re.sub(r"[-_.]+", "-", str(name or "")).lower() in _hidden

    _real_distribution = _metadata.distribution
    _real_distributions = _metadata.distributions

    def _distribution(name):
        if _hidden_name(name):
            raise _metadata.PackageNotFoundError(name)
        return _real_distribution(name)

    def _version(name):
        return _distribution(name).version

    def _distributions(**kwargs):
        return (d for d in _real_distributions(**kwargs) if not _hidden_name(d.metadata["Name"]))

    _metadata.distribution = _distribution
    _metadata.version = _version
    _metadata.distributions = _distributions

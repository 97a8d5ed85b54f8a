"""Installs the platform simulation at interpreter start (see safeworkers.simulation).

Only on ``PYTHONPATH`` when a process is started with
``safeworkers.simulation.child_env``. It then runs the next ``sitecustomize``
on the path, so one already there (a test suite's, a distribution's) still
runs.
"""

import importlib.machinery
import importlib.util
import os
import sys

_fake = os.environ.get("_SAFEWORKERS_SIMULATE_PLATFORM")
if _fake:
    from safeworkers import simulation

    simulation.install(_fake)


def _run_next() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


_run_next()

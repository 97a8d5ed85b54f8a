"""Whether this process runs on macOS, for real or simulated: the first question of every
macOS-only step.

gunicorn's master asks it before each fork (the mixin's ``__init__``) and
the gunicorn config's ``on_starting`` asks it once: everywhere but macOS the
answer ends the step, so it imports nothing (:mod:`safeworkers.facts.forksafety`,
which holds the facts the answer leads to, builds a dataclass and regexes;
:mod:`safeworkers.deploy.forksafety` imports ``subprocess``). The simulation
(:mod:`safeworkers.simulation`) names its variable from here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

#: The platform the simulation makes the process see (set by safeworkers.simulation).
SIMULATE_VARIABLE = "_SAFEWORKERS_SIMULATE_PLATFORM"


def simulated(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process runs under the simulation of macOS."""
    environ = os.environ if environ is None else environ
    return environ.get(SIMULATE_VARIABLE, "").startswith("darwin")


def darwin(platform: str | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether fork safety matters here: macOS, for real or simulated."""
    return (platform or sys.platform) == "darwin" or simulated(environ)

"""``safeworkers.detect``: the facts about this process, kept at the path users import.

The code lives in :mod:`safeworkers.facts` (the process in
:mod:`~safeworkers.facts.process`, the loaded app in
:mod:`~safeworkers.facts.app`, the known-bad combinations in
:mod:`~safeworkers.facts.findings`). This module only names them again.
"""

from safeworkers.facts.app import AppKind, app_kind, app_needs_trio
from safeworkers.facts.findings import Finding, Severity
from safeworkers.facts.patches import Poller
from safeworkers.facts.process import (
    NO_BACKEND,
    PACKAGES,
    PATCHERS,
    Environment,
    TrioBackend,
    environment,
    installed_packages,
    package_version,
    patch_state,
    trio_backend,
    trio_unusable_reason,
)
from safeworkers.facts.versions import release

__all__ = [
    "NO_BACKEND",
    "PACKAGES",
    "PATCHERS",
    "AppKind",
    "Environment",
    "Finding",
    "Poller",
    "Severity",
    "TrioBackend",
    "app_kind",
    "app_needs_trio",
    "environment",
    "installed_packages",
    "package_version",
    "patch_state",
    "release",
    "trio_backend",
    "trio_unusable_reason",
]

"""Suite-wide hooks: the reliability summary table (tests/reliability/report.py), and test
modules that need POSIX skipped at collection where there is none (tests/markers.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests import markers
from tests.reliability.report import (  # noqa: F401  (pytest finds hooks by name)
    pytest_configure,
    pytest_terminal_summary,
    pytest_unconfigure,
)


class _PosixModule(pytest.Module):
    """A test module that, where POSIX is missing, may fail to import for that reason only:
    then it is skipped, with the reason, instead of being a collection error."""

    def _getobj(self) -> Any:
        try:
            return super()._getobj()
        except self.CollectError as exc:
            cause = exc.__cause__
            if isinstance(cause, ImportError) and cause.name in markers.POSIX_ONLY_MODULES:
                pytest.skip(
                    f"{markers.POSIX_REFUSAL} (it imports {cause.name})", allow_module_level=True
                )
            raise


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> Any:
    if markers.POSIX_REFUSAL is None or module_path.name == "__init__.py":
        return None
    return _PosixModule.from_parent(parent, path=module_path)

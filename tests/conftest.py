"""Suite-wide hooks: the reliability summary table (tests/reliability/report.py)."""

from tests.reliability.report import (  # noqa: F401  (pytest finds hooks by name)
    pytest_configure,
    pytest_terminal_summary,
    pytest_unconfigure,
)

"""pytest fixtures for users' own test suites (placeholder, filled by a later issue)."""

"""A gunicorn config with an after-patch hook: -c tests/apps/after_patch_conf.py (or python:)."""

from after_patch_hooks import record_from_config as safeworkers_after_patch

__all__ = ["safeworkers_after_patch"]

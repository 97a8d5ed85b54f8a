"""``safeworkers.appscan``: the app's code, read statically, kept at the path users import.

The code lives in :mod:`safeworkers.facts.appscan`; this module only names it again.
"""

from safeworkers.facts.appscan import (
    ASYNCIO_HARMLESS,
    ASYNCIO_MODULES,
    GREEN_MODULES,
    MAX_BYTES,
    MAX_FILES,
    MAX_SECONDS,
    SELF_PATCHING_MODULES,
    TRIO_MODULES,
    AppScan,
    Library,
    Use,
    find_source,
    import_path,
    is_library_dir,
    library_dirs,
    scan,
)

__all__ = [
    "ASYNCIO_HARMLESS",
    "ASYNCIO_MODULES",
    "GREEN_MODULES",
    "MAX_BYTES",
    "MAX_FILES",
    "MAX_SECONDS",
    "SELF_PATCHING_MODULES",
    "TRIO_MODULES",
    "AppScan",
    "Library",
    "Use",
    "find_source",
    "import_path",
    "is_library_dir",
    "library_dirs",
    "scan",
]

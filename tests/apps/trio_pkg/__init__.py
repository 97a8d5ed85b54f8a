"""A Starlette app whose package uses Trio in one submodule only (trio_pkg.live)."""

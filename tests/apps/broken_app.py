"""An app module whose import fails with something other than ImportError."""

raise RuntimeError("DATABASE_URL is not set")

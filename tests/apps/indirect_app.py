"""Imports the app named in ``SWTEST_INDIRECT`` by name: the scan cannot follow a computed
import, as it cannot follow a library that imports a driver for the app (SQLAlchemy's
dialects, Django's database backends)."""

from __future__ import annotations

import importlib
import os

app = importlib.import_module(os.environ["SWTEST_INDIRECT"]).app

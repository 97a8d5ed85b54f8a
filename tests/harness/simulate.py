"""Make Trio's backend selection see another platform; see tests/harness."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

FAKE_PLATFORMS = {"macos": "darwin", "bsd": "freebsd14"}
BACKEND_MODULE = "trio._core._run"


class _PlatformLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader, fake: str) -> None:
        self._loader = loader
        self._fake = fake

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        real = sys.platform
        sys.platform = self._fake
        try:
            self._loader.exec_module(module)
        finally:
            sys.platform = real


class PlatformSimulator(importlib.abc.MetaPathFinder):
    """Makes Trio's backend selection see another platform name."""

    def __init__(self, fake: str) -> None:
        self.fake = fake

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != BACKEND_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _PlatformLoader(spec.loader, self.fake)
                return spec
        return None


def install(fake: str) -> None:
    """Install the simulator for ``fake`` (a ``sys.platform`` value) once."""
    if not any(isinstance(f, PlatformSimulator) for f in sys.meta_path):
        sys.meta_path.insert(0, PlatformSimulator(fake))

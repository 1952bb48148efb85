"""Import heavy libraries (Pyomo, scipy.sparse, networkx) on first use, not when optim loads."""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule(ModuleType):
    """A stand-in for a module that imports it the first time one of its attributes is read.

    ``pyo = LazyModule("pyomo.environ")`` at the top of a solver module keeps ``import optim``
    and a heuristic ``optim solve`` from loading Pyomo.
    """

    def __init__(self, name: str):
        super().__init__(name)
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        if self._module is None:
            self._module = importlib.import_module(self.__name__)
        return getattr(self._module, attr)

"""Solvers, registered in one place: every module of this package registers its solver(s) with
:func:`register` when imported, and all of them are imported here, so adding a solver is adding one
module (and its test). Heavy libraries (Pyomo, pymoo) are imported by the solvers when they run."""
import importlib
import pkgutil

from .base import DEFAULT_SOLVER, REGISTRY, SolverInfo, get_solver, infeasibility_reason, register, solve

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_") and m.name != "base"):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["solve", "register", "get_solver", "REGISTRY", "SolverInfo", "DEFAULT_SOLVER", "infeasibility_reason"]

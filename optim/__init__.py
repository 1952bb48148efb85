"""optim: block placement and request routing for geographically distributed LLM inference.

Python API::

    from optim import load_instance, solve, evaluate
    inst = load_instance("instances/geo-europe-20.json")
    sol = solve(inst, solver="cg-bprr")
    report = evaluate(inst, sol)

The names below are imported on first use, so ``import optim`` (and ``optim --help``) stays fast
and loads no solver library until one is needed.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Instance": "instance", "load_instance": "instance", "instance_from_dict": "instance",
    "Solution": "solution", "Status": "solution", "load_solution": "solution",
    "solve": "solvers", "REGISTRY": "solvers", "get_solver": "solvers",
    "evaluate": "validate", "Evaluation": "validate",
    "OptimError": "errors", "InvalidInstanceError": "errors", "InvalidOptionError": "errors",
    "UnknownSolverError": "errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'optim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # for type checkers and IDEs
    from .errors import InvalidInstanceError, InvalidOptionError, OptimError, UnknownSolverError
    from .instance import Instance, instance_from_dict, load_instance
    from .solution import Solution, Status, load_solution
    from .solvers import REGISTRY, get_solver, solve
    from .validate import Evaluation, evaluate

"""optim: block placement and request routing for geographically distributed LLM inference.

Python API::

    from optim import load_instance, solve, evaluate
    inst = load_instance("instances/geo-europe-20.json")
    sol = solve(inst, solver="cg-bprr")
    report = evaluate(inst, sol)
"""
from .errors import InvalidInstanceError, OptimError, UnknownSolverError
from .instance import Instance, instance_from_dict, load_instance
from .solution import Solution, Status, load_solution
from .solvers import REGISTRY, solve
from .validate import Evaluation, evaluate

__version__ = "0.1.0"

__all__ = ["Instance", "load_instance", "instance_from_dict", "Solution", "Status", "load_solution", "solve",
           "evaluate", "Evaluation", "REGISTRY", "OptimError", "InvalidInstanceError", "UnknownSolverError"]

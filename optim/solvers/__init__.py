"""Solvers, registered in one place. Import a module here to register its solver."""
from . import bpca_milp, bprr_milp, cg_bprr, gbp_cr, nsga2, petals, throughput_milp  # noqa: F401  (registration side effect)
from .base import DEFAULT_SOLVER, REGISTRY, SolverInfo, get_solver, infeasibility_reason, register, solve

__all__ = ["solve", "register", "get_solver", "REGISTRY", "SolverInfo", "DEFAULT_SOLVER", "infeasibility_reason"]

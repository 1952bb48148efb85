"""One interface for every solver, and the registry they join by decorator.

``solve(instance, solver="cg-bprr", **options)`` looks the solver up, checks its options,
stops early with status ``infeasible`` when no placement can exist, runs it, validates the
result with :func:`optim.validate.evaluate` and fills the common metrics. A solver never
returns an unvalidated solution: one that fails validation comes back with status ``error``
and the violations in its message.
"""
from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import UnknownSolverError
from ..options import check_options, describe_options, options_model
from ..instance import Instance
from ..solution import Solution, Status
from ..units import GB
from ..validate import evaluate

SolverFunc = Callable[..., Solution]


@dataclass(frozen=True)
class SolverInfo:
    """A registered solver: name, one-line description, features and options with defaults."""

    name: str
    func: SolverFunc
    description: str
    features: frozenset[str] = field(default_factory=frozenset)

    @property
    def options(self) -> dict[str, Any]:
        """Keyword options with their defaults (``progress``, a callback, is not an option)."""
        return {name: f.default for name, f in options_model(self.func, self.name).model_fields.items()}

    def describe_options(self) -> list[dict[str, Any]]:
        """Each option's name, type with range, default and meaning, as declared in the signature."""
        return describe_options(self.func, self.name)

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """Validate option values; return all options with defaults filled.

        Raises
        ------
        InvalidOptionError
            Naming the solver, the option, the value and what was expected.
        """
        return check_options(self.func, self.name, options)

    @property
    def reports_progress(self) -> bool:
        """Whether the solver takes a ``progress(event: dict)`` callback."""
        return "progress" in inspect.signature(self.func).parameters

    def is_available(self) -> bool:
        """Whether the solver can run here (its MILP backends import; heuristics always can)."""
        if "exact" not in self.features:
            return True
        from ..backends import BACKENDS

        return BACKENDS["highs"].is_available()


REGISTRY: dict[str, SolverInfo] = {}
DEFAULT_SOLVER = "cg-bprr"


def register(name: str, description: str, features: tuple[str, ...] = ()) -> Callable[[SolverFunc], SolverFunc]:
    """Register ``func(instance, *, option=default, ...) -> Solution`` under ``name``."""

    def deco(func: SolverFunc) -> SolverFunc:
        REGISTRY[name] = SolverInfo(name, func, description, frozenset(features))
        return func

    return deco


def get_solver(name: str) -> SolverInfo:
    """Look up a solver; :class:`UnknownSolverError` lists the registered names."""
    if name not in REGISTRY:
        raise UnknownSolverError(f"unknown solver {name!r}; registered solvers: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def infeasibility_reason(inst: Instance) -> str | None:
    """Why no placement can serve even one request, or None.

    A request needs every block hosted, with one cache slot beside it on the server that runs
    it, so server j can serve at most ``min(floor(M_j / (s_m + s_c)), L)`` blocks of a request
    (Corollary 1 of arXiv 2512.21884 with |R| = 1); these must add up to L.
    """
    L, sm, sc = inst.num_blocks, inst.block_bytes, inst.cache_bytes_per_block_session
    total = inst.memory_bytes.sum()
    if total < L * sm:
        return (f"total server memory {total / GB:.2f} GB is below one model copy "
                f"({L} blocks x {sm / GB:.3f} GB = {L * sm / GB:.2f} GB)")
    per_server = np.minimum(np.floor(inst.memory_bytes / (sm + sc)), L)
    if per_server.sum() < L:
        return (f"the servers can hold {int(per_server.sum())} blocks with one session's attention cache "
                f"({sc / GB:.4f} GB per block) beside each, fewer than the model's {L} blocks")
    return None


#: routings ``solve`` may put on any placement solver's answer, besides the solver's own
ROUTINGS = ("solver", "nsga2-chains")


#: solvers whose models price a hop by the client-server RTT alone, so they refuse direct relaying
CLIENT_RELAY_ONLY = ("bprr-milp", "bpca-milp", "chain-milp", "bprr-chains")


def solve(instance: Instance, solver: str = DEFAULT_SOLVER, *, progress: Callable[[dict], None] | None = None,
          routing: str = "solver", **options: Any) -> Solution:
    """Solve an instance with a registered solver and validate the answer.

    Parameters
    ----------
    instance : Instance
    solver : str
        A name from ``optim solvers`` (``REGISTRY``).
    progress : callable(dict), optional
        Called as the search advances, by solvers that report progress (``reports_progress``),
        with ``{"done", "total"}`` (NSGA-II generations) or ``{"incumbent", "bound", "gap",
        "time_s"}`` (MILPs); ignored by the others.
    routing : {"solver", "nsga2-chains"}
        ``solver``: the solver's own paths; ``nsga2-chains``: each client's requests on the knee of
        its NSGA-II latency-throughput front of chains on the placement
        (:func:`optim.chain_selection.nsga2_routing`, arXiv 2510.11211).
    **options
        The solver's keyword options (see ``get_solver(name).options``).

    Returns
    -------
    Solution
        ``status`` says why the search stopped (optimal, feasible, time_limit, interrupted,
        infeasible with the reason, error) and ``has_solution`` whether a placement comes with it:
        a time-limited MILP without an incumbent is ``time_limit`` with no solution, not an error.
        ``error`` is kept for faults, e.g. a solver output that fails validation (reported, not
        hidden). ``details["evaluation"]`` holds the validator's summary.

    Raises
    ------
    UnknownSolverError
        No solver of that name.
    InvalidOptionError
        An option the solver does not take, or a value outside its declared type or range
        (checked before any work); a MILP of :data:`CLIENT_RELAY_ONLY` on an instance with
        direct relaying.

    Examples
    --------
    >>> from optim import solve
    >>> from optim.generators import clustered_instance
    >>> sol = solve(clustered_instance("small"), "cg-bprr")
    >>> sol.status.value, sol.has_solution
    ('feasible', True)
    >>> solve(clustered_instance("small"), "petals", balance_quality="abc")
    Traceback (most recent call last):
    ...
    optim.errors.InvalidOptionError: solver 'petals', option balance_quality: Input should be a valid number, unable to parse string as a number (got 'abc')
    """
    info = get_solver(solver)
    if routing not in ROUTINGS:
        from ..errors import InvalidOptionError

        raise InvalidOptionError(f"routing: {routing!r}; expected one of {', '.join(ROUTINGS)}")
    if instance.communication.relay == "direct" and solver in CLIENT_RELAY_ONLY:
        from ..errors import InvalidOptionError

        raise InvalidOptionError(f"solver {solver!r}: its model prices each hop by the client-server RTT (client "
                                 "relaying); this instance has communication.relay = 'direct', where a hop's cost "
                                 "depends on the hop before. Use cg-bprr, petals, gbp-cr or nsga2")
    options = info.check_options(options)
    given = dict(options)
    t0 = time.perf_counter()
    reason = infeasibility_reason(instance)
    if reason is not None:
        return Solution(instance=instance.name, solver=solver, status=Status.INFEASIBLE, message=reason,
                        options=options, solve_time_s=time.perf_counter() - t0)
    sol = info.func(instance, **options, **({"progress": progress} if progress and info.reports_progress else {}))
    if routing == "nsga2-chains" and sol.has_solution:
        from ..chain_selection import nsga2_routing
        from ..configure import configured_instance

        sol = nsga2_routing(configured_instance(instance, sol), sol)
    elapsed = time.perf_counter() - t0
    update: dict[str, Any] = {"solve_time_s": elapsed, "options": given}
    ev = None
    if sol.has_solution:
        ev = evaluate(instance, sol)
        if not ev.feasible:
            msgs = "; ".join(v.message for v in ev.violations[:5])
            update.update(status=Status.ERROR, message=f"solver output failed validation (a bug): {msgs}")
        else:
            update["details"] = {**sol.details, "evaluation": ev.summary}
            if sol.objective is None:
                update.update(objective=ev.summary["mean_inference_time_s"], objective_name="mean_inference_time_s")
    out = sol.model_copy(update=update)
    if ev is not None and ev.feasible:
        out._evaluation = ev  # what evaluate(instance, out) gives: the fields it reads are unchanged
    return out

"""Every solver's optimality gap against the BPRR MILP's best bound.

The bound is ``bprr-milp``'s (its optimum when proven, else the highest of HiGHS' dual bound, the
LP relaxation and the chain-relaxation bound of :mod:`optim.solvers.bprr_chains`, which holds at any
size, so that at 1,000 servers, where the MILP is too large to build, the bound is still a real
one), for the problem of arXiv 2512.21884 Sec. 3: the arrival-rate-weighted mean per-token decode time (or whole-request
time) of |R| concurrent requests whose caches all fit. A solution whose routing over-commits some
server's cache (requests would wait) is outside that problem; its per-token time can lie below the
bound, and the report flags it.
"""
from __future__ import annotations

from typing import Any

from .instance import Instance
from .solvers import solve
from .validate import evaluate

HEURISTICS = ("cg-bprr", "bprr-chains", "petals")
METRIC = {"decode": "mean_decode_time_per_token_s", "inference": "mean_inference_time_no_wait_s"}


def gap_report(inst: Instance, time_limit: float = 60.0, objective: str = "decode",
               solvers: tuple[str, ...] = HEURISTICS) -> dict[str, Any]:
    """Solve ``bprr-milp`` within ``time_limit`` for its bound, then each solver, and their gaps.

    Returns
    -------
    dict
        ``bound`` (seconds), ``bound_status``, and ``rows``: solver, status, value (seconds, the
        validator's rate-weighted measure), gap ``(value - bound) / value``, ``cache_fits``.
    """
    milp = solve(inst, "bprr-milp", time_limit=time_limit, objective=objective)
    bound = milp.bound if milp.status.value != "optimal" else milp.objective
    rows = []
    for name, sol in [("bprr-milp", milp)] + [(s, solve(inst, s)) for s in solvers]:
        row: dict[str, Any] = {"solver": name, "status": sol.status.value, "value": None, "gap": None,
                               "cache_fits": None, "solve_time_s": sol.solve_time_s}
        if sol.has_solution:
            ev = evaluate(inst, sol)
            value = ev.summary[METRIC[objective]]
            row.update(value=value, cache_fits=ev.summary.get("requests_waiting", 0) == 0,
                       gap=None if bound is None else (value - bound) / value)
        rows.append(row)
    return {"instance": inst.name, "objective": METRIC[objective], "bound": bound,
            "bound_status": milp.status.value, "rows": rows}

"""Exact cache allocation for a placement: BPCA (arXiv 2604.14993, Eq. 5), the yardstick for GCA.

Given a placement, every chain k (a path through the servers running each block once, Lemma 1)
with its service time T_k (Eq. 2) gets an integer capacity c_k:

    min sum_k c_k   s.t.   sum_k c_k / T_k >= lambda / rho-bar   (enough service rate)
                           sum_k m_jk c_k <= M~_j  for every server j   (cache slots, Eq. 3)

Chains are enumerated (exponentially many in general: small instances only, ``max_chains``).
Theorem 1 of the paper: NP-hard even with the chains given. Pyomo model, solved by HiGHS.
"""
from __future__ import annotations

import tempfile
import time

from typing import Annotated

import numpy as np
from pydantic import Field

from ..errors import InvalidOptionError
from .._lazy import LazyModule
from ..instance import Instance
from ..perf import free_cache_slots, request_shares
from ..perf.gca import chain_cost_coefficients
from ..solution import Chain, Hop, Path, ServerPlacement, Solution, Status
from ..backends import Deadline, solve_milp, write_model
from ..options import MAX_COUNT, Backend, SolverName, TimeLimit
from .base import register, solve

pyo = LazyModule("pyomo.environ")


def enumerate_chains(inst: Instance, start: np.ndarray, end: np.ndarray, limit: int = 20_000) -> list[list[tuple]]:
    """Every chain of the placement as hops (server, first block, end block); at most ``limit``.

    Raises
    ------
    InvalidOptionError
        More than ``limit`` chains: the instance is too large for the exact allocation.
    """
    L = inst.num_blocks
    by_entry: dict[int, list[int]] = {}
    for j in np.flatnonzero(end > start):
        for b in range(int(start[j]), int(end[j])):
            by_entry.setdefault(b, []).append(int(j))
    out: list[list[tuple]] = []

    def walk(b: int, hops: list) -> None:
        if b == L:
            out.append(list(hops))
            if len(out) > limit:
                raise InvalidOptionError(f"more than {limit} chains: too many for the exact cache allocation")
            return
        for j in by_entry.get(b, []):
            hops.append((j, b, int(end[j])))
            walk(int(end[j]), hops)
            hops.pop()

    walk(0, [])
    return out


def build_bpca_model(inst: Instance, chains: list, service_times: np.ndarray, slots: np.ndarray) -> pyo.ConcreteModel:
    """Eq. 5 in Pyomo: integer c_k, rate constraint, Eq. 3 per server (no solving)."""
    m = pyo.ConcreteModel(name=f"bpca-{inst.name}")
    K = range(len(chains))
    m.c = pyo.Var(K, domain=pyo.NonNegativeIntegers,
                  bounds=lambda _, k: (0, int(min(slots[j] // (e - b) for j, b, e in chains[k]))))
    target = inst.total_arrival_rate / inst.workload.target_load
    m.rate = pyo.Constraint(expr=sum(m.c[k] / float(service_times[k]) for k in K) >= target)
    use: dict[int, list] = {}
    for k, ch in enumerate(chains):
        for j, b, e in ch:
            use.setdefault(j, []).append((k, e - b))
    m.slots = pyo.Constraint(list(use), rule=lambda m, j: sum(blocks * m.c[k] for k, blocks in use[j]) <= int(slots[j]))
    m.obj = pyo.Objective(expr=sum(m.c[k] for k in K), sense=pyo.minimize)
    return m


@register("bpca-milp", "Exact cache allocation (BPCA, arXiv 2604.14993 Eq. 5) over every chain of another "
          "solver's placement; small instances", features=("chains", "exact", "queueing"))
def bpca_milp(inst: Instance, *,
              placement_solver: Annotated[SolverName, Field(description=(
                  "solver whose placement is used (not bpca-milp itself)"))] = "gbp-cr",
              time_limit: TimeLimit = 60.0,
              max_chains: Annotated[int, Field(ge=1, le=MAX_COUNT, description=(
                  "refuse placements with more chains than this"))] = 20_000,
              backend: Backend = "highs") -> Solution:
    """Allocate caches optimally (min total capacity meeting lambda / rho-bar) on a placement.

    Parameters
    ----------
    placement_solver : str
        Solver whose placement is used (default ``gbp-cr``).
    time_limit : float or None
        Seconds for the whole call (placement, chain enumeration, model, HiGHS).
    max_chains : int
        Refuse placements with more chains than this.
    backend : {"highs", "ortools"}
        The MILP backend (:mod:`optim.backends`).

    Returns
    -------
    Solution
        The placement, the chains with c_k > 0, ``objective`` = sum c_k with bound and gap;
        ``infeasible`` when no allocation reaches lambda / rho-bar.
    """
    if placement_solver == "bpca-milp":
        raise InvalidOptionError("solver 'bpca-milp', option placement_solver: bpca-milp cannot take its own "
                                 "placement (got 'bpca-milp'); expected another solver, e.g. gbp-cr")
    deadline = Deadline(time_limit)
    base = solve(inst, placement_solver)
    if not base.has_solution:
        return Solution(instance=inst.name, solver="bpca-milp", status=base.status,
                        message=f"{placement_solver} found no placement: {base.message}")
    start, end, _ = base.spans(inst)
    slots = np.maximum(free_cache_slots(inst, end - start), 0)
    t0 = time.perf_counter()
    if deadline.expired():
        return Solution(instance=inst.name, solver="bpca-milp", status=Status.TIME_LIMIT,
                        message=f"the {time_limit:g} s limit passed while {placement_solver} placed the blocks")
    chains = enumerate_chains(inst, start, end, max_chains)
    A, B = chain_cost_coefficients(inst)
    T = np.array([sum(A[j] + B[j] * (e - b) for j, b, e in ch) for ch in chains])
    model = build_bpca_model(inst, chains, T, slots)
    with tempfile.TemporaryDirectory() as tmp:
        path, names = write_model(model, tmp)
        res = solve_milp(backend, path, {}, deadline, 0.0, None)
    details = {"placement_solver": placement_solver, "backend": backend, "chains_enumerated": len(chains),
               "build_time_s": time.perf_counter() - t0, "backend_status": res.message}
    if not res.values:
        why = ("no allocation reaches lambda / rho-bar" if res.status is Status.INFEASIBLE
               else "HiGHS found no allocation before it stopped")
        return Solution(instance=inst.name, solver="bpca-milp", status=res.status, message=f"{why} ({res.message})",
                        details=details)
    inv = {v: k for k, v in names.items()}
    cap = {inv[n][1]: int(round(v)) for n, v in res.values.items() if n in inv and inv[n][0] == "c"}
    order = sorted((k for k, v in cap.items() if v > 0), key=lambda k: T[k])
    out = [Chain(hops=[Hop(server=inst.servers[j].id, start=b, end=e) for j, b, e in chains[k]],
                 capacity=cap[k], service_time_s=float(T[k])) for k in order]
    placement = [ServerPlacement(server=s.id, start=int(start[j]), end=int(end[j]), cache_slots=int(slots[j]))
                 for j, s in enumerate(inst.servers)]
    paths = [Path(client=cl.id, requests=int(n), hops=out[0].hops)
             for cl, n in zip(inst.clients, request_shares(inst)) if n > 0 or cl.arrival_rate_per_s > 0]
    return Solution(instance=inst.name, solver="bpca-milp", status=res.status, objective=res.objective,
                    objective_name="total_chain_capacity", bound=res.bound, gap=res.gap, placement=placement,
                    paths=paths, chains=out, details=details)

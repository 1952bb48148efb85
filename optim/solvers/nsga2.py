"""Multi-objective placement with pymoo's NSGA-II: the latency-throughput Pareto front.

arXiv 2510.11211 proposed NSGA-II server-chain selection for PETALS but its code could not run
(shared/papers/server_chains_and_nsga2.md, Paper B). optim searches over *placements* instead:

- **Encoding**: two integers per server, start block a_j in [0, L) and block count m_j in
  [0, floor(M_j / s_m)]; a span is [a_j, min(a_j + m_j, L)).
- **Repair** (:class:`PlacementRepair`): spans are clipped into [0, L); while some block is
  hosted by no server, the server that can reach it with the fewest extra blocks (within its memory)
  is extended or moved to cover it. Memory for blocks holds by the bounds; caches get what is left.
- **Objectives** (both minimised): (a) the arrival-rate-weighted mean inference time under the BPRR
  model with shortest-path routing over the servers that can hold one session on their whole span (what the validator reports as ``mean_inference_time_no_wait_s``);
  (b) minus the total service rate nu = sum c_k / T_k of GCA's chains on the placement
  (arXiv 2604.14993). Infeasible placements (no chain) get a large penalty.
- **Seeding**: the petals, cg-bprr and gbp-cr placements join the initial population, so the front is
  at least as good as theirs.
- **Answer**: the knee of the front (the point nearest the ideal after normalising both objectives);
  ``details["front"]`` holds every front point.
"""
from __future__ import annotations

import time

import numpy as np

from ..instance import Instance
from ..perf import free_cache_slots, hop_cost_coefficients, request_shares
from ..perf.gca import greedy_cache_allocation
from ..routing import NoPathError, shortest_hops
from ..solution import Chain, Hop, Path, ServerPlacement, Solution, Status
from .base import register

PENALTY = 1e9


def max_blocks(inst: Instance) -> np.ndarray:
    """floor(M_j / s_m), capped at L: the most blocks each server can hold. Shape (J,)."""
    return np.minimum(np.floor(inst.memory_bytes / inst.block_bytes + 1e-9), inst.num_blocks).astype(np.int64)


def decode(inst: Instance, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spans (start, end) from a genome ``x`` = [a_0, m_0, a_1, m_1, ...]."""
    x = np.asarray(np.round(x), dtype=np.int64).reshape(-1, 2)
    L = inst.num_blocks
    m = np.clip(x[:, 1], 0, max_blocks(inst))
    start = np.clip(x[:, 0], 0, L - 1)
    start = np.where(start + m > L, L - m, start)
    return start, start + m


def encode(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    return np.column_stack([start, end - start]).ravel().astype(float)


def repair_spans(inst: Instance, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cover every block: repeatedly give the first unhosted block to the server that needs the
    fewest extra blocks to reach it (extending its span, or placing an empty server there)."""
    L = inst.num_blocks
    start, end = start.copy(), end.copy()
    mx = max_blocks(inst)
    for _ in range(L):
        hosted = np.zeros(L + 1, dtype=int)
        used = end > start
        np.add.at(hosted, start[used], 1)
        np.add.at(hosted, end[used], -1)
        gaps = np.flatnonzero(np.cumsum(hosted)[:L] == 0)
        if gaps.size == 0:
            break
        b = int(gaps[0])
        # cost of covering b: extend right (b - end + 1), extend left (start - b), or a fresh 1-block span
        extra = np.where(end > start, np.where(b >= end, b - end + 1, np.where(b < start, start - b, 0)), 1)
        ok = (end - start) + extra <= mx
        if not ok.any():
            break  # memory cannot cover the model: the evaluation penalises it
        j = int(np.argmin(np.where(ok, extra, np.iinfo(np.int64).max)))
        if end[j] <= start[j]:
            start[j], end[j] = b, b + 1
        elif b >= end[j]:
            end[j] = b + 1
        else:
            start[j] = b
    return start, end


def routable(inst: Instance, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The spans of servers that can hold one session over their whole span (others left out of
    routing, so every route fits in cache: the validator's ``cache`` constraint)."""
    m = end - start
    ok = free_cache_slots(inst, m) >= m
    return np.where(ok, start, 0), np.where(ok, end, 0)


def evaluate_placement(inst: Instance, start: np.ndarray, end: np.ndarray) -> tuple[float, float]:
    """(mean inference time s, total service rate nu /s) of a placement; (PENALTY, 0) without a chain."""
    A, B = hop_cost_coefficients(inst, "inference")
    w = inst.arrival_rates / inst.total_arrival_rate
    rs, re = routable(inst, start, end)
    try:
        latency = float(sum(w[c] * shortest_hops(rs, re, inst.num_blocks, A[c], B)[1]
                            for c in range(inst.num_clients) if w[c] > 0))
    except NoPathError:
        return PENALTY, 0.0
    chains = greedy_cache_allocation(inst, start, end)
    nu = float(sum(ch.capacity / ch.service_time_s for ch in chains))
    return latency, nu


def knee_index(F: np.ndarray) -> int:
    """The front point nearest the ideal point after scaling each objective to [0, 1]."""
    lo, hi = F.min(axis=0), F.max(axis=0)
    Z = (F - lo) / np.where(hi > lo, hi - lo, 1.0)
    return int(np.argmin(np.linalg.norm(Z, axis=1)))


def seed_placements(inst: Instance) -> list[tuple[np.ndarray, np.ndarray]]:
    """Placements of petals, cg-bprr and gbp-cr (whichever are feasible) for the initial population."""
    from .base import get_solver

    out = []
    for name in ("petals", "cg-bprr", "gbp-cr"):
        sol = get_solver(name).func(inst)
        if sol.status.has_solution:
            out.append((np.array([p.start for p in sol.placement]), np.array([p.end for p in sol.placement])))
    return out


def _problem_and_repair(inst: Instance):
    from pymoo.core.problem import ElementwiseProblem
    from pymoo.core.repair import Repair

    J, L = inst.num_servers, inst.num_blocks
    mx = max_blocks(inst)

    class PlacementProblem(ElementwiseProblem):
        """Only evaluates: out["F"] = [mean inference time, -nu]."""

        def __init__(self):
            xu = np.column_stack([np.full(J, L - 1), mx]).ravel()
            super().__init__(n_var=2 * J, n_obj=2, xl=np.zeros(2 * J), xu=xu, vtype=int)

        def _evaluate(self, x, out, *args, **kwargs):
            start, end = decode(inst, x)
            lat, nu = evaluate_placement(inst, start, end)
            out["F"] = [lat, -nu]

    class PlacementRepair(Repair):
        """Round, clip into [0, L), and cover every block within memory."""

        def _do(self, problem, X, **kwargs):
            out = np.empty_like(X, dtype=float)
            for i, x in enumerate(X):
                s, e = repair_spans(inst, *decode(inst, x))
                out[i] = encode(s, e)
            return out

    return PlacementProblem(), PlacementRepair()


def pareto_front(inst: Instance, *, population: int = 40, generations: int = 60, seed: int = 0,
                 time_limit: float | None = None, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """Run NSGA-II; return the non-dominated placements (n, 2J) and their objectives (n, 2)
    as [mean inference time s, nu /s] (nu positive)."""
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.optimize import minimize
    from pymoo.termination import get_termination
    from pymoo.core.callback import Callback

    problem, repair = _problem_and_repair(inst)
    rng = np.random.default_rng(seed)
    seeds = [encode(s, e) for s, e in seed_placements(inst)]
    n_random = max(population - len(seeds), 1)
    X0 = rng.integers(problem.xl.astype(np.int64), problem.xu.astype(np.int64) + 1, size=(n_random, problem.n_var))
    X0 = np.vstack([np.array(seeds), X0]) if seeds else X0.astype(float)
    X0 = repair._do(problem, X0)
    algorithm = NSGA2(pop_size=population, sampling=X0, repair=repair, eliminate_duplicates=True,
                      crossover=SBX(prob=0.9, eta=15, vtype=float), mutation=PM(eta=20, vtype=float))
    term = get_termination("n_gen", generations) if time_limit is None else get_termination("time", time_limit)

    class _Progress(Callback):
        def notify(self, algorithm):
            if progress is not None:
                progress(algorithm.n_gen)

    res = minimize(problem, algorithm, term, seed=seed, callback=_Progress(), verbose=False)
    X = np.atleast_2d(res.X)
    F = np.atleast_2d(res.F).copy()
    keep = F[:, 0] < PENALTY
    X, F = X[keep], F[keep]
    F[:, 1] = -F[:, 1]
    order = np.argsort(F[:, 0], kind="stable")
    return X[order], F[order]


def hypervolume(F: np.ndarray, reference: np.ndarray) -> float:
    """Hypervolume (pymoo's indicator) of points [latency s, nu /s] against ``reference``, in the
    minimisation space [latency, -nu]."""
    from pymoo.indicators.hv import HV

    pts = np.column_stack([F[:, 0], -F[:, 1]])
    return float(HV(ref_point=np.array([reference[0], -reference[1]]))(pts))


def solution_from_placement(inst: Instance, start: np.ndarray, end: np.ndarray, solver: str) -> Solution:
    """A complete solution for a placement: shortest-path routes for the |R| requests, GCA chains."""
    A, B = hop_cost_coefficients(inst, "inference")
    shares = request_shares(inst)
    rs, re = routable(inst, start, end)
    paths = []
    for c, cl in enumerate(inst.clients):
        if shares[c] == 0 and cl.arrival_rate_per_s <= 0:
            continue
        hops, _ = shortest_hops(rs, re, inst.num_blocks, A[c], B)
        paths.append(Path(client=cl.id, requests=int(shares[c]),
                          hops=[Hop(server=inst.servers[j].id, start=a, end=b) for j, a, b in hops]))
    slots = np.maximum(free_cache_slots(inst, end - start), 0)
    chains = [Chain(hops=[Hop(server=inst.servers[j].id, start=b, end=e) for j, b, e in ch.hops],
                    capacity=ch.capacity, service_time_s=ch.service_time_s)
              for ch in greedy_cache_allocation(inst, start, end)]
    return Solution(instance=inst.name, solver=solver, status=Status.FEASIBLE, paths=paths, chains=chains,
                    placement=[ServerPlacement(server=s.id, start=int(start[j]), end=int(end[j]),
                                               cache_slots=int(slots[j])) for j, s in enumerate(inst.servers)])


@register("nsga2", "Latency-throughput Pareto front of placements with pymoo's NSGA-II, seeded with petals, "
          "cg-bprr and gbp-cr; returns the knee (front in details)", features=("placement", "chains", "pareto"))
def nsga2(inst: Instance, *, population: int = 40, generations: int = 60, seed: int = 0,
          time_limit: float | None = None) -> Solution:
    """Solve with NSGA-II and return the knee of the latency-throughput front.

    Parameters
    ----------
    population, generations : int
        NSGA-II population size and generations (termination by generations ...).
    seed : int
    time_limit : float, optional
        ... or by wall-clock seconds instead.

    Returns
    -------
    Solution
        The knee placement with routes and GCA chains; ``details["front"]``: every front point's
        spans and objectives (mean inference time s, nu /s); ``objective`` = the knee's mean
        inference time.
    """
    t0 = time.perf_counter()
    X, F = pareto_front(inst, population=population, generations=generations, seed=seed, time_limit=time_limit)
    if X.shape[0] == 0:
        return Solution(instance=inst.name, solver="nsga2", status=Status.INFEASIBLE,
                        message="no placement on the front serves the model (every block hosted with a cache slot)")
    k = knee_index(np.column_stack([F[:, 0], -F[:, 1]]))
    start, end = decode(inst, X[k])
    sol = solution_from_placement(inst, start, end, "nsga2")
    front = []
    for x, f in zip(X, F):
        s, e = decode(inst, x)
        front.append({"mean_inference_time_s": float(f[0]), "nu_per_s": float(f[1]),
                      "spans": {inst.servers[j].id: [int(s[j]), int(e[j])] for j in range(inst.num_servers)
                                if e[j] > s[j]}})
    return sol.model_copy(update={"objective": float(F[k, 0]), "objective_name": "mean_inference_time_no_wait_s",
                                  "details": {"front": front, "knee": k, "nu_per_s": float(F[k, 1]),
                                              "search_time_s": time.perf_counter() - t0,
                                              "population": population, "generations": generations, "seed": seed}})

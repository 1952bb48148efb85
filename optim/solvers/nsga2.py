"""Multi-objective placement with pymoo's NSGA-II: the latency-throughput-memory Pareto front.

arXiv 2510.11211 proposed NSGA-II server-chain selection for PETALS but its code could not run
(its Sec. 4). optim searches over *placements* instead, with
NSGA-II (Deb, Pratap, Agarwal, Meyarivan, IEEE TEC 6(2), 2002) from pymoo:

- **Encoding**: two integers per server, start block a_j in [0, L) and block count m_j in
  [0, floor(M_j / s_m)]; a span is [a_j, a_j + m_j) moved left to end by L. Any genome is a
  placement within memory for blocks, and the block count bounds are the memory constraint itself.
- **Operators**: SBX crossover and polynomial mutation on the integers (distribution index 3, for
  steps of several blocks), then the repair (:class:`PlacementRepair`): while some block is hosted by
  no server, the server that can reach it with the fewest extra blocks within its memory is extended
  (or an empty one placed) to cover it. Repaired genomes are canonical, so duplicates are removed.
- **Objectives** (:class:`PlacementObjectives`, :data:`OBJECTIVES`): (a) the arrival-rate-weighted
  mean inference time under the BPRR model with shortest-path routing (minimised), (b) the total
  service rate nu of GCA's chains (maximised), (c) the memory left for attention caches (maximised).
  Without (c) the first two rarely conflict when memory is ample: a replica never slows the best path
  down, so on geo-europe-20 the 2-objective front is 2 points. Memory is what replicas cost, and (c)
  makes that price visible. Placements that serve no request get a penalty.
- **Evaluation**: each generation's new placements in one compiled call
  (:func:`optim.perf.boundary_dp.population_objectives`): every client's shortest path and every
  GCA round are one dynamic-programming pass over the placement's boundary DAG in topological
  order; results are cached by placement. On geo-world-40, population 100 x 200 generations
  evaluates about 22,000 placements per CPU-second (the whole search, pymoo included, about 6,000).
- **Seeding**: the petals, cg-bprr and gbp-cr placements join the initial population (any solver
  can be added, e.g. bprr-milp), so the front is never worse than theirs.
- **Archive**: the front is taken over every placement evaluated, not only the last population, so
  no non-dominated placement is lost to crowding.
- **Answer**: the knee of the front (the point nearest the ideal after scaling each objective to
  [0, 1]); ``details["front"]`` holds every front point.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Callable, Literal

import numpy as np
from pydantic import Field

from ..backends import Deadline
from ..errors import InvalidOptionError
from ..instance import Instance
from ..perf import free_cache_slots, hop_cost_coefficients, request_shares
from ..perf.gca import chain_cost_coefficients, greedy_cache_allocation
from ..routing import shortest_hops
from ..units import GB
from ..solution import Chain, Hop, Path, ServerPlacement, Solution, Status
from ..options import Seed, SolverName, TimeLimit, csv_list
from .base import register

PENALTY = 1e9
SEED_SOLVERS = ("petals", "cg-bprr", "gbp-cr")


def max_blocks(inst: Instance) -> np.ndarray:
    """floor(M_j / s_m), capped at L: the most blocks each server can hold. Shape (J,)."""
    return np.minimum(np.floor(inst.memory_bytes / inst.server_block_bytes + 1e-9), inst.num_blocks).astype(np.int64)


def decode(inst: Instance, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spans (start, end) from a genome ``x`` = [a_0, m_0, a_1, m_1, ...], shape (2J,) or (n, 2J)
    for n genomes at once; spans shape (J,) or (n, J)."""
    x = np.asarray(np.round(x), dtype=np.int64)
    x = x.reshape(*x.shape[:-1], -1, 2)
    L = inst.num_blocks
    m = np.clip(x[..., 1], 0, max_blocks(inst))
    start = np.clip(x[..., 0], 0, L - 1)
    start = np.where(start + m > L, L - m, start)
    return start, start + m


def encode(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Genome [a_0, m_0, a_1, m_1, ...] (shape (2J,), float for pymoo) of spans (start, end), shape (J,)."""
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


#: Objectives the solver can trade, each as (key, label, sense): sense +1 minimised, -1 maximised.
OBJECTIVES = {
    "latency": ("mean_inference_time_s", "mean inference time (s)", 1),
    "nu": ("nu_per_s", "total service rate nu (/s)", -1),
    "free_memory": ("free_memory_gb", "memory left for caches (GB)", -1),
}
DEFAULT_OBJECTIVES = ("latency", "nu", "free_memory")


def check_objectives(objectives) -> tuple[str, ...]:
    """The objectives as a tuple; :class:`InvalidOptionError` unless two or three distinct keys of
    :data:`OBJECTIVES`."""
    objectives = tuple(objectives)
    if any(o not in OBJECTIVES for o in objectives) or len(set(objectives)) != len(objectives) or len(objectives) < 2:
        raise InvalidOptionError(f"objectives: {list(objectives)}; expected two or three distinct of "
                                 f"{', '.join(OBJECTIVES)}")
    return objectives


class PlacementObjectives:
    """Evaluates placements on the chosen objectives, caching results by placement.

    - ``latency``: the arrival-rate-weighted mean inference time under the BPRR model
      (arXiv 2512.21884, Sec. 2) on each client's shortest path over the servers that can hold
      one session on their whole span (the validator's ``mean_inference_time_no_wait_s``), seconds;
    - ``nu``: the total service rate nu = sum_k c_k / T_k of GCA's chains on the placement
      (arXiv 2604.14993, Alg. 2 and Eq. 2), per second;
    - ``free_memory``: sum_j (M_j - s_m m_j), the server memory not holding blocks, i.e. left for
      attention caches (and longer sequences than the workload's maximum), GB.

    Parameters
    ----------
    inst : Instance
    objectives : sequence of str
        Keys of :data:`OBJECTIVES`.

    Raises
    ------
    InvalidOptionError
        An unknown objective, or fewer than two.
    """

    def __init__(self, inst: Instance, objectives=DEFAULT_OBJECTIVES):
        self.inst = inst
        self.objectives = check_objectives(objectives)
        self.A, self.B = hop_cost_coefficients(inst, "inference")
        w = inst.arrival_rates / inst.total_arrival_rate
        self.clients = np.flatnonzero(w > 0)
        self.w = w[self.clients]
        self.chain_A, self.chain_B = chain_cost_coefficients(inst)
        self._cache: dict[bytes, tuple[float, float, float]] = {}

    def raw(self, start: np.ndarray, end: np.ndarray) -> tuple[float, float, float]:
        """(latency s, nu /s, free memory GB) of one placement; latency ``PENALTY`` and nu 0
        when no chain serves a request."""
        return tuple(self.raw_many(np.atleast_2d(start), np.atleast_2d(end))[0])

    def raw_many(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """:meth:`raw` of n placements, shape (n, 3); the ones not seen before are evaluated in one
        compiled call (:func:`optim.perf.boundary_dp.population_objectives`)."""
        from ..perf.boundary_dp import population_objectives

        inst = self.inst
        starts, ends = np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
        keys = [k.tobytes() for k in np.hstack([starts, ends]).astype(np.int32)]
        first: dict[bytes, int] = {}
        for i, k in enumerate(keys):
            if k not in self._cache:
                first.setdefault(k, i)
        new = list(first.values())
        if new:
            S, E = starts[new], ends[new]
            costs, nu = population_objectives(S, E, *routable(inst, S, E), free_cache_slots(inst, E - S), inst.num_blocks,
                                              self.A[self.clients], self.B, self.chain_A, self.chain_B,
                                              inst.num_servers ** 2 + 1)
            free = (inst.memory_bytes.sum() - (inst.server_block_bytes * (E - S)).sum(axis=1)) / GB
            for r, i in enumerate(new):
                if not np.isfinite(costs[r]).all():
                    self._cache[keys[i]] = (PENALTY, 0.0, float(free[r]))
                    continue
                v = float(nu[r])
                if inst.communication.relay == "direct":  # GCA times each chain exactly there
                    v = float(sum(ch.capacity / ch.service_time_s for ch in greedy_cache_allocation(inst, S[r], E[r])))
                self._cache[keys[i]] = (float(self.w @ costs[r]), v, float(free[r]))
        return np.array([self._cache[k] for k in keys]).reshape(-1, 3)

    def evaluated(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every placement evaluated so far: starts, ends (n, J) and raw values (n, 3)."""
        J = self.inst.num_servers
        SE = np.array([np.frombuffer(k, dtype=np.int32) for k in self._cache], dtype=np.int64).reshape(-1, 2 * J)
        return SE[:, :J], SE[:, J:], np.array(list(self._cache.values())).reshape(-1, 3)

    def minimised(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """The chosen objectives in minimisation form (maximised ones negated), shape (n_obj,)."""
        lat, nu, free = self.raw(start, end)
        values = {"latency": lat, "nu": -nu, "free_memory": -free}
        return np.array([values[o] for o in self.objectives])


def knee_index(F: np.ndarray) -> int:
    """The front point nearest the ideal point after scaling each objective to [0, 1].

    Parameters
    ----------
    F : array, shape (n, n_obj)
        Objectives in minimisation form.
    """
    lo, hi = F.min(axis=0), F.max(axis=0)
    Z = (F - lo) / np.where(hi > lo, hi - lo, 1.0)
    return int(np.argmin(np.linalg.norm(Z, axis=1)))


def non_dominated(F: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of ``F`` (n, n_obj), minimisation; duplicates keep the first."""
    from pymoo.util.nds.non_dominated_sorting import find_non_dominated

    idx = np.asarray(find_non_dominated(F), dtype=np.int64)
    _, first = np.unique(np.round(F[idx], 12), axis=0, return_index=True)
    return np.sort(idx[first])


def normalised_hypervolume(sets: dict[str, np.ndarray], offset: float = 0.1) -> dict[str, float]:
    """Hypervolume (pymoo's indicator) of several point sets on one common scale.

    Every objective is scaled so that the ideal and nadir of the union of all sets map to 0 and 1;
    the reference point is ``1 + offset`` in every objective. A set's hypervolume is then the
    fraction of the box [0, 1 + offset]^n_obj it dominates, comparable across sets.

    Parameters
    ----------
    sets : dict of name -> array, shape (n_i, n_obj)
        Points in minimisation form.

    Returns
    -------
    dict of name -> float
    """
    from pymoo.indicators.hv import HV

    allpts = np.vstack([np.atleast_2d(v) for v in sets.values() if np.size(v)])
    lo, hi = allpts.min(axis=0), allpts.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    hv = HV(ref_point=np.full(allpts.shape[1], 1.0 + offset))
    return {k: float(hv((np.atleast_2d(v) - lo) / span)) if np.size(v) else 0.0 for k, v in sets.items()}


def solver_placements(inst: Instance, solvers=SEED_SOLVERS) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(start, end, solver name) of each of ``solvers`` that finds a placement; spans shape (J,)."""
    from .base import solve

    out = []
    for name in solvers:
        sol = solve(inst, name)
        if sol.has_solution:
            start, end, _ = sol.spans(inst)
            out.append((start, end, name))
    return out


@dataclass(frozen=True)
class ParetoFront:
    """The non-dominated placements found by NSGA-II.

    Attributes
    ----------
    starts, ends : arrays of int, shape (n, J)
        Span ``[starts[i, j], ends[i, j])`` of server j in front point i; sorted by latency.
    values : array, shape (n, 3)
        Mean inference time (s), total service rate nu (/s), memory left for caches (GB).
    objectives : tuple of str
        The objectives traded (keys of :data:`OBJECTIVES`).
    generations, evaluations : int
        Generations run and distinct placements evaluated.
    search_time_s : float
    population, seed : int
        The search settings.
    """

    starts: np.ndarray
    ends: np.ndarray
    values: np.ndarray
    objectives: tuple[str, ...]
    generations: int
    evaluations: int
    search_time_s: float
    population: int
    seed: int

    def __len__(self) -> int:
        return self.values.shape[0]

    def minimised(self) -> np.ndarray:
        """The traded objectives in minimisation form, shape (n, n_obj)."""
        return objective_matrix(self.values, self.objectives)

    def knee(self) -> int:
        """Index of the knee point (:func:`knee_index`)."""
        return knee_index(self.minimised())

    def details(self, inst: Instance) -> dict:
        """JSON-ready summary: ``front`` (:meth:`records`), ``knee``, ``objectives`` and the search
        settings and effort; what an nsga2 solution carries in ``details``."""
        return {"front": self.records(inst), "knee": self.knee(), "objectives": list(self.objectives),
                "population": self.population, "seed": self.seed, "generations": self.generations,
                "evaluations": self.evaluations, "search_time_s": self.search_time_s}

    def records(self, inst: Instance) -> list[dict]:
        """One JSON-ready dict per point: the three measures and the spans of servers holding blocks."""
        out = []
        for i in range(len(self)):
            rec = {OBJECTIVES[o][0]: float(self.values[i, k]) for k, o in enumerate(OBJECTIVES)}
            rec["spans"] = {inst.servers[j].id: [int(self.starts[i, j]), int(self.ends[i, j])]
                            for j in range(inst.num_servers) if self.ends[i, j] > self.starts[i, j]}
            out.append(rec)
        return out


def objective_matrix(values: np.ndarray, objectives) -> np.ndarray:
    """Columns of ``values`` (n, 3) = [latency, nu, free memory] for ``objectives``, in
    minimisation form (maximised ones negated). Shape (n, len(objectives))."""
    values = np.atleast_2d(values)
    keys = list(OBJECTIVES)
    return np.column_stack([OBJECTIVES[o][2] * values[:, keys.index(o)] for o in objectives])


def _problem_and_repair(evaluator: PlacementObjectives):
    from pymoo.core.problem import Problem
    from pymoo.core.repair import Repair

    inst = evaluator.inst
    J, L = inst.num_servers, inst.num_blocks
    mx = max_blocks(inst)

    class PlacementProblem(Problem):
        """Genome [a_0, m_0, a_1, m_1, ...]; F = the objectives in minimisation form."""

        def __init__(self):
            xu = np.column_stack([np.full(J, L - 1), mx]).ravel()
            super().__init__(n_var=2 * J, n_obj=len(evaluator.objectives), xl=np.zeros(2 * J), xu=xu, vtype=int)

        def _evaluate(self, X, out, *args, **kwargs):
            raw = evaluator.raw_many(*decode(inst, X))
            out["F"] = objective_matrix(raw, evaluator.objectives)

    class PlacementRepair(Repair):
        """Round, clip into [0, L), and cover every block within memory."""

        def _do(self, problem, X, **kwargs):
            out = np.empty_like(X, dtype=float)
            for i, (s, e) in enumerate(zip(*decode(inst, X))):
                out[i] = encode(*repair_spans(inst, s, e))
            return out

    return PlacementProblem(), PlacementRepair()


def _budget_termination(deadline: Deadline):
    """A pymoo termination for ``deadline`` (pymoo is imported here, where it is used)."""
    from pymoo.core.termination import Termination

    class BudgetTermination(Termination):
        """Stop when what is left of the deadline would not hold one more generation (as long as
        the last one; the first is the initial population's evaluation, with numba's compilation)
        plus a twentieth of the budget for what follows the search."""

        def __init__(self, deadline: Deadline) -> None:
            super().__init__()
            self.deadline, self.last, self.recent = deadline, deadline.elapsed_s, 0.0

        def _update(self, algorithm) -> float:
            now = self.deadline.elapsed_s
            self.recent, self.last = now - self.last, now
            limit = float(self.deadline.limit_s)
            if now + self.recent + 0.05 * limit >= limit:
                return 1.0
            return now / limit

    return BudgetTermination(deadline)


def pareto_front(inst: Instance, *, objectives=DEFAULT_OBJECTIVES, population: int = 100,
                 generations: int | None = None, time_limit: float | None = None, seed: int = 0,
                 seeds: list[tuple[np.ndarray, np.ndarray]] | None = None,
                 progress: Callable[[int, int | None], None] | None = None,
                 deadline: Deadline | None = None) -> ParetoFront:
    """Run NSGA-II (Deb et al. 2002, pymoo) over placements and return the non-dominated ones.

    Parameters
    ----------
    inst : Instance
    objectives : sequence of str
        Two or three of :data:`OBJECTIVES`; default latency, nu and memory left for caches.
    population : int
        Population size.
    generations : int, optional
        Stop after this many generations; default 100 without ``time_limit``, unlimited with it.
    time_limit : float, optional
        Seconds for the search, from this call's start (or ``deadline``'s): the search stops before
        a generation that would not end in time (the last one's length predicts it), keeping a
        twentieth of the budget for what follows; with ``generations``, whichever comes first.
    seed : int
        Seeds the random initial population and pymoo; the same seed gives the same front.
    seeds : list of (start, end), optional
        Placements for the initial population; default those of :data:`SEED_SOLVERS`
        (:func:`solver_placements`).
    progress : callable(generation, total or None), optional
        Called after every generation.
    deadline : optim.backends.Deadline, optional
        The caller's budget (started before the seeds were made), in place of ``time_limit``.

    Returns
    -------
    ParetoFront
        Empty when no placement serves a request.

    Raises
    ------
    InvalidOptionError
        Bad objectives, population < 4 or generations < 1.
    """
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.callback import Callback
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.optimize import minimize
    from pymoo.termination.collection import TerminationCollection
    from pymoo.termination.max_gen import MaximumGenerationTermination

    deadline = deadline if deadline is not None else Deadline(time_limit)
    if population < 4:
        raise InvalidOptionError(f"population: {population}; expected at least 4")
    if generations is not None and generations < 1:
        raise InvalidOptionError(f"generations: {generations}; expected at least 1")
    evaluator = PlacementObjectives(inst, objectives)
    problem, repair = _problem_and_repair(evaluator)
    rng = np.random.default_rng(seed)
    if seeds is None:
        seeds = [(s, e) for s, e, _ in solver_placements(inst)]
    seeds = [encode(s, e) for s, e in seeds]
    n_random = max(population - len(seeds), 1)
    X0 = rng.integers(problem.xl.astype(np.int64), problem.xu.astype(np.int64) + 1,
                      size=(n_random, problem.n_var)).astype(float)
    X0 = repair._do(problem, np.vstack([np.array(seeds), X0]) if seeds else X0)
    algorithm = NSGA2(pop_size=population, sampling=X0, repair=repair, eliminate_duplicates=True,
                      crossover=SBX(prob=0.9, eta=3, vtype=float), mutation=PM(eta=3, vtype=float))
    if generations is None and deadline.limit_s is None:
        generations = 100
    limits = []
    if generations is not None:
        limits.append(MaximumGenerationTermination(generations))
    if deadline.limit_s is not None:
        limits.append(_budget_termination(deadline))

    class _Progress(Callback):
        def notify(self, algorithm):
            if progress is not None:
                progress(algorithm.n_gen, generations)

    t0 = time.perf_counter()
    res = minimize(problem, algorithm, TerminationCollection(*limits), seed=seed, callback=_Progress(), verbose=False)
    # every placement ever evaluated counts, so no good point is lost to crowding
    S, E, V = evaluator.evaluated()
    ok = V[:, 0] < PENALTY
    S, E, V = S[ok], E[ok], V[ok]
    keep = non_dominated(objective_matrix(V, evaluator.objectives)) if len(V) else np.zeros(0, dtype=np.int64)
    order = keep[np.lexsort((-V[keep, 1], V[keep, 0]))]
    return ParetoFront(starts=S[order], ends=E[order], values=V[order], objectives=evaluator.objectives,
                       generations=int(res.algorithm.n_gen), evaluations=len(V), search_time_s=time.perf_counter() - t0,
                       population=population, seed=seed)


def solution_from_placement(inst: Instance, start: np.ndarray, end: np.ndarray, solver: str) -> Solution:
    """A complete solution for a placement: shortest-path routes for the |R| requests, GCA chains.

    Routes use only the servers that can hold one session on their whole span (:func:`routable`);
    cache slots are what the memory left by the blocks holds (:func:`optim.perf.free_cache_slots`).

    Raises
    ------
    NoPathError
        No chain of routable servers covers every block.
    """
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


@register("nsga2", "Pareto front of placements (latency, throughput nu, memory left for caches) with pymoo's "
          "NSGA-II, seeded with petals, cg-bprr and gbp-cr; returns the knee (front in details)",
          features=("placement", "chains", "pareto"))
def nsga2(inst: Instance, *,
          objectives: csv_list(Literal["latency", "nu", "free_memory"], min_length=2, description=(
              "two or three objectives to trade: latency, nu, free_memory"))  # type: ignore[valid-type]
          = DEFAULT_OBJECTIVES,
          population: Annotated[int, Field(ge=4, le=100_000, description="NSGA-II population size")] = 100,
          generations: Annotated[int | None, Field(ge=1, le=1_000_000, description=(
              "generations to run; None: 100, or until time_limit when one is given"))] = None,
          time_limit: TimeLimit = None, seed: Seed = 0,
          seed_solvers: csv_list(SolverName, description=(  # type: ignore[valid-type]
              "solvers whose placements join the initial population"))
          = SEED_SOLVERS,
          progress: Callable[[dict], None] | None = None) -> Solution:
    """Solve with NSGA-II and return the knee of the Pareto front.

    Parameters
    ----------
    objectives, population, generations, time_limit, seed
        As :func:`pareto_front`.
    progress : callable(dict), optional
        Receives ``{"done": generations run, "total": generations or None}`` after each generation.
    seed_solvers : tuple of str
        Solvers whose placements join the initial population (e.g. add ``"bprr-milp"``).

    Returns
    -------
    Solution
        The knee placement with routes and GCA chains; ``objective`` is its mean inference time.
        ``details["front"]`` lists every front point (:meth:`ParetoFront.records`),
        ``details["knee"]`` its index. Status ``time_limit`` when the time limit stopped the search.
    """
    deadline = Deadline(time_limit)  # the whole call: the seed solvers, the search and the knee's routes
    front = pareto_front(inst, objectives=objectives, population=population, generations=generations,
                         seed=seed, deadline=deadline,
                         seeds=[(s, e) for s, e, _ in solver_placements(inst, seed_solvers)],
                         progress=None if progress is None else lambda g, total: progress({"done": g, "total": total}))
    if len(front) == 0:
        return Solution(instance=inst.name, solver="nsga2", status=Status.INFEASIBLE,
                        message="no placement found serves a request (every block hosted with a cache slot)")
    k = front.knee()
    sol = solution_from_placement(inst, front.starts[k], front.ends[k], "nsga2")
    stopped = time_limit is not None and (generations is None or front.generations < generations)
    return sol.model_copy(update={
        "status": Status.TIME_LIMIT if stopped else Status.FEASIBLE,
        "objective": float(front.values[k, 0]), "objective_name": "mean_inference_time_no_wait_s",
        "details": {**front.details(inst), "nu_per_s": float(front.values[k, 1]),
                    "free_memory_gb": float(front.values[k, 2])}})

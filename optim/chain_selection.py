"""Multi-objective chain selection for a given placement: the latency-throughput trade-off of
Hasan and Hakim (arXiv 2510.11211), who propose NSGA-II to choose the chain of servers a client's
request runs on in PETALS ("Latency-Throughput-Tradeoff" mode), trading network latency against GPU
speed. optim's ``nsga2`` solver searches placements; this module routes on a fixed one.

A chain is a path of the boundary DAG (blocks 0..L, each block run at the first chain server that
holds it, to that server's span end; Lemma 1 of arXiv 2512.21884). For client c it has two
objectives, both minimised:

- **latency**: the request's time on the chain, ``sum_hops A[c, j] + B[j] k_j`` from the one
  request-time model (:func:`optim.perf.job_cost_coefficients`: RTTs, overheads, transfers, compute);
- **bottleneck**: the slowest stage, ``max_hops k_j tau_j`` seconds per decode token; its inverse is
  the chain's throughput in tokens/s as a pipeline (the paper's "throughput of ... the slowest server").

:func:`exact_front` finds the whole Pareto front by label setting on the DAG (boundaries in order;
each label a (latency, bottleneck) pair, dominated labels dropped): exact, and fast on the placements
optim handles. :func:`nsga2_front` searches it with pymoo's NSGA-II, as the paper does, with one
real gene per block (which of the servers holding that block the chain enters at it, when it
reaches the block at a hop boundary); the paper's code used pop_size=100, n_gen=200, seed=1 (its
encoding, a binary server x block matrix without contiguity, cannot have run; see the paper notes).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .instance import Instance
from .perf import job_cost_coefficients


@dataclass(frozen=True)
class ChainPoint:
    """One chain of a front: its hops ``(server, start, end)`` and objectives, seconds."""

    hops: tuple[tuple[int, int, int], ...]
    latency_s: float  #: request time on the chain
    bottleneck_s: float  #: slowest stage, seconds per decode token

    @property
    def throughput_tokens_per_s(self) -> float:
        """Pipeline throughput of the chain, 1 / bottleneck."""
        return 1.0 / self.bottleneck_s


def _edges(start: np.ndarray, end: np.ndarray, num_blocks: int) -> list[list[int]]:
    """For each boundary b < L, the servers holding block b (whose span contains it), by index."""
    holders: list[list[int]] = [[] for _ in range(num_blocks)]
    for j in np.flatnonzero(end > start).tolist():
        for b in range(int(start[j]), int(end[j])):
            holders[b].append(j)
    return holders


def _nondominated(points: list[ChainPoint]) -> list[ChainPoint]:
    pts = sorted(set(points), key=lambda p: (p.latency_s, p.bottleneck_s))
    out, best = [], np.inf
    for p in pts:
        if p.bottleneck_s < best - 1e-15:
            out.append(p)
            best = p.bottleneck_s
    return out


def exact_front(inst: Instance, start: np.ndarray, end: np.ndarray, client: int) -> list[ChainPoint]:
    """The Pareto front of (latency, bottleneck) over every chain of the placement, by label setting.

    Parameters
    ----------
    start, end : arrays of int, shape (J,)
        The placement's spans ``[start, end)``.
    client : int
        The client whose RTTs count.

    Returns
    -------
    list of ChainPoint
        Sorted by latency (so by falling bottleneck); empty when no chain covers every block.

    Notes
    -----
    Boundaries are visited in order (the DAG's topological order); each keeps only its
    non-dominated labels, so the work is O(L H J) for H labels kept per boundary.
    """
    L = inst.num_blocks
    A, B = job_cost_coefficients(inst)
    tau = inst.decode_s
    holders = _edges(start, end, L)
    labels: list[list[tuple[float, float, tuple]]] = [[] for _ in range(L + 1)]
    labels[0] = [(0.0, 0.0, ())]
    for b in range(L):
        if not labels[b]:
            continue
        for j in holders[b]:
            e, k = int(end[j]), int(end[j]) - b
            hop_lat, hop_bot = A[client, j] + B[j] * k, k * tau[j]
            for lat, bot, hops in labels[b]:
                labels[e].append((lat + hop_lat, max(bot, hop_bot), hops + ((j, b, e),)))
        for e in {int(end[j]) for j in holders[b]}:
            labels[e] = [(p.latency_s, p.bottleneck_s, p.hops) for p in
                         _nondominated([ChainPoint(h, la, bo) for la, bo, h in labels[e]])]
    return _nondominated([ChainPoint(h, la, bo) for la, bo, h in labels[L]])


def decode_genes(x: np.ndarray, start: np.ndarray, end: np.ndarray, holders: list[list[int]]) -> tuple:
    """The chain a gene vector ``x`` in [0, 1)^L encodes: at each hop boundary b, the server
    ``holders[b][floor(x[b] n_b)]``, run to its span end. Returns the hops ``(j, b, e)``."""
    L, b, hops = len(holders), 0, []
    while b < L:
        n = len(holders[b])
        if n == 0:
            return ()
        j = holders[b][min(int(x[b] * n), n - 1)]
        hops.append((j, b, int(end[j])))
        b = int(end[j])
    return tuple(hops)


def nsga2_front(inst: Instance, start: np.ndarray, end: np.ndarray, client: int, *, population: int = 100,
                generations: int = 200, seed: int = 1) -> list[ChainPoint]:
    """The (latency, bottleneck) front NSGA-II finds (pymoo), as arXiv 2510.11211 proposes.

    Parameters
    ----------
    population, generations, seed
        pymoo's ``pop_size``, ``n_gen`` and seed (defaults: the paper's code, 100, 200, 1).

    Returns
    -------
    list of ChainPoint
        The non-dominated distinct chains of the final population, sorted by latency; a subset
        of :func:`exact_front` at best (tests compare them).
    """
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import Problem
    from pymoo.optimize import minimize

    L = inst.num_blocks
    A, B = job_cost_coefficients(inst)
    tau = inst.decode_s
    holders = _edges(start, end, L)
    if any(not h for h in holders):
        return []
    cache: dict[tuple, tuple[float, float]] = {}

    def objectives(hops):
        if hops not in cache:
            cache[hops] = (sum(A[client, j] + B[j] * (e - b) for j, b, e in hops),
                           max((e - b) * tau[j] for j, b, e in hops))
        return cache[hops]

    class ChainProblem(Problem):
        def __init__(self):
            super().__init__(n_var=L, n_obj=2, xl=0.0, xu=1.0 - 1e-9)

        def _evaluate(self, X, out, *args, **kwargs):
            out["F"] = np.array([objectives(decode_genes(x, start, end, holders)) for x in X])

    minimize(ChainProblem(), NSGA2(pop_size=population), ("n_gen", generations), seed=seed, verbose=False)
    return _nondominated([ChainPoint(h, *v) for h, v in cache.items()])


def pick(front: list[ChainPoint], weight: float | None = None) -> ChainPoint:
    """A chain from a front: the knee (``weight=None``: the point farthest below the line through the
    two extremes, objectives normalised to [0, 1]), or the least ``w lat + (1 - w) bottleneck`` on
    normalised objectives for a weight w in [0, 1] (1: latency only).

    Raises
    ------
    ValueError
        An empty front, or a weight outside [0, 1].
    """
    if not front:
        raise ValueError("front: empty; the placement has no chain for this client")
    return preference_order(front, weight)[0]


def preference_order(front: list[ChainPoint], weight: float | None = None) -> list[ChainPoint]:
    """The front's chains best first by :func:`pick`'s rule (the knee first, then by distance from it)."""
    if weight is not None and not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight: {weight}; expected a number in [0, 1]")
    F = np.array([[p.latency_s, p.bottleneck_s] for p in front])
    span = np.where(F.max(axis=0) > F.min(axis=0), F.max(axis=0) - F.min(axis=0), 1.0)
    N = (F - F.min(axis=0)) / span
    if weight is None:
        # distance below the line from (0, 1) to (1, 0): the knee has the largest 1 - x - y
        score = -(1.0 - N[:, 0] - N[:, 1]) if len(front) > 2 else N.sum(axis=1)
    else:
        score = weight * N[:, 0] + (1.0 - weight) * N[:, 1]
    return [front[k] for k in np.lexsort((F[:, 0], score))]


def nsga2_routing(inst: Instance, sol, *, weight: float | None = None, population: int = 100,
                  generations: int = 200, seed: int = 1):
    """A solution whose client paths are each client's knee (or weighted) chain of its NSGA-II front,
    the placement and chains unchanged (``optim solve --routing nsga2-chains``).

    Each client's share of the |R| concurrent requests goes on its chosen chain;
    ``details["routing"]`` records the method and each client's front size.
    """
    from .perf import request_shares
    from .solution import Hop, Path

    start, end, _ = sol.spans(inst)
    shares = request_shares(inst)
    paths, sizes = [], {}
    for c, cl in enumerate(inst.clients):
        if shares[c] == 0 and cl.arrival_rate_per_s == 0:
            continue
        front = nsga2_front(inst, start, end, c, population=population, generations=generations, seed=seed)
        sizes[cl.id] = len(front)
        best = pick(front, weight)
        paths.append(Path(client=cl.id, requests=int(shares[c]),
                          hops=[Hop(server=inst.servers[j].id, start=b, end=e) for j, b, e in best.hops]))
    details = {**sol.details, "routing": {"method": "nsga2-chains (arXiv 2510.11211)", "weight": weight,
                                          "front_sizes": sizes}}
    # the solver's objective and gap were for its own routing; solve() fills the evaluation's
    return sol.model_copy(update={"paths": paths, "details": details, "objective": None, "objective_name": "",
                                  "gap": None})

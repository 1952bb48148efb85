"""Server chains of a placement and Greedy Cache Allocation (GCA).

Sun, He, Hou, arXiv 2604.14993, Sec. 3, Alg. 2. A chain is a
path from the orchestrator through servers that runs every block once, in order: a hop on server j
entered at boundary b runs blocks [b, e_j) (m_ij = e_j - e_i, Lemma 1). Its service time is Eq. 2,
``T_k = sum (tau^c_j + tau^p_j m_ij)``; with c_k concurrent jobs it holds m_ij c_k cache slots on each
server (Eq. 3), out of ``M~_j = floor((M_j - s_m m_j) / s_c)``.

GCA (Alg. 2): while the orchestrator still reaches the end, take the fastest chain, give it the
largest capacity its bottleneck allows, ``c_k = min_j floor(M_j / m_ij)``, take ``m_ij c_k`` slots
on each of its servers, and drop the links that no longer fit. As written in the paper this is
Dijkstra on the J x J server graph per round, O(J^4) overall. Here each round is a shortest path
on the DAG over block boundaries 0..L: a hop (b -> e_j) on server j costs
``tau^c_j + tau^p_j (e_j - b)`` and needs ``e_j - b`` free slots. Up to :data:`CONDENSE_ABOVE`
servers it is compiled dynamic programming over every hop in topological order
(:func:`optim.perf.boundary_dp.gca_full`: 40 us per GCA call on random 40-server placements,
where plain Python took 230 us); above, Dijkstra (scipy) on a graph where only the cheapest
server with room counts between two boundaries (:class:`CondensedBoundaryGraph`). The chains and
capacities are the same (ties between equally fast chains aside).

With several clients, GCA ranks chains with the communication time of a hop at the
arrival-rate-weighted mean over clients (exact for the paper's single orchestrator); the chains it
returns are then judged with each client's own times (:func:`optim.perf.chains.chain_times_by_client`:
``optim evaluate``'s bounds, the simulator's client-aware JFFC).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..instance import Instance
from .capacity import free_cache_slots
from .chains import job_cost_coefficients


@dataclass(frozen=True)
class ChainAllocation:
    """One chain: its hops (server index, first block, end block), capacity c_k and service time T_k (s)."""

    hops: tuple[tuple[int, int, int], ...]
    capacity: int
    service_time_s: float

    @property
    def rate_per_s(self) -> float:
        """mu_k = 1 / T_k, jobs/s per slot."""
        return 1.0 / self.service_time_s


def chain_cost_coefficients(inst: Instance) -> tuple[np.ndarray, np.ndarray]:
    """Per-hop cost ``A[j] + B[j] m`` of Eq. 2 for a chain shared by all clients: the job time of
    :func:`optim.perf.chains.job_cost_coefficients`, its communication weighted by the clients'
    arrival rates. Shapes (J,), seconds."""
    A, B = job_cost_coefficients(inst)
    return (inst.arrival_rates / inst.total_arrival_rate) @ A, B


def greedy_cache_allocation(inst: Instance, start: np.ndarray, end: np.ndarray,
                            slots: np.ndarray | None = None, max_chains: int | None = None) -> list[ChainAllocation]:
    """GCA (arXiv 2604.14993, Alg. 2) on any placement.

    Parameters
    ----------
    inst : Instance
    start, end : arrays of int, shape (J,)
        Spans ``[start_j, end_j)``.
    slots : array of int, shape (J,), optional
        Cache slots available; default ``M~_j`` from the memory left by the blocks.
    max_chains : int, optional
        Stop after this many chains (the paper's bound is J^2).

    Returns
    -------
    list of ChainAllocation
        Fastest first; capacities never exceed any server's slots (sum m_ij c_k <= M~_j, Eq. 3).

    Notes
    -----
    With ``communication.relay = "direct"`` the search ranks hops by the client-relay costs (a
    hop's direct cost depends on the hop before, which the boundary graph does not know); each
    chain found is then timed exactly (:func:`optim.perf.chains.chain_job_time`).
    """
    start = np.asarray(start, dtype=np.int64)
    end = np.asarray(end, dtype=np.int64)
    left = (np.maximum(free_cache_slots(inst, end - start), 0) if slots is None
            else np.asarray(slots, dtype=np.int64)).copy()
    A, B = chain_cost_coefficients(inst)
    chains: list[ChainAllocation] = []
    limit = max_chains or inst.num_servers ** 2 + 1
    if inst.num_servers > CONDENSE_ABOVE:
        graph = CondensedBoundaryGraph(start, end, inst.num_blocks, A, B, left)
        while len(chains) < limit:
            found = graph.shortest()
            if found is None:
                break
            hops, cost = found
            cap = min(int(left[j] // (e - b)) for j, b, e in hops)
            for j, b, e in hops:
                left[j] -= (e - b) * cap
            graph.taken([j for j, _, _ in hops])
            chains.append(ChainAllocation(tuple(hops), cap, cost))
    else:
        from .boundary_dp import gca_full

        chains = [ChainAllocation(tuple(h), c, t) for h, c, t in gca_full(start, end, inst.num_blocks, A, B, left, limit)]
    if inst.communication.relay == "direct":  # searched with the relay costs; timed exactly, fastest first
        from .chains import chain_job_time

        chains = sorted((ChainAllocation(ch.hops, ch.capacity,
                                         chain_job_time(inst, [h[0] for h in ch.hops], [h[2] - h[1] for h in ch.hops]))
                         for ch in chains), key=lambda ch: ch.service_time_s)
    return chains


#: servers above which GCA searches the condensed graph; below, the compiled pass over every hop is
#: faster (measured on cg-bprr placements, CPU time per GCA call: 0.13 against 1.49 ms at 40
#: servers, 5.5 against 30 ms at 1,000 (geo), 0.24 against 0.35 s at 10,000 (synthetic); on random
#: geo placements at 3,000 servers 43 against 39 ms). The condensed search grows linearly with the
#: chains and the full one quadratically, so above this size the condensed one takes over.
CONDENSE_ABOVE = 10_000


class CondensedBoundaryGraph:
    """The boundary DAG of a placement with, between two boundaries, only the cheapest server that
    still has room for one job: what GCA's shortest path needs, at O(L^2) per search instead of
    O(J L).

    A hop entered at boundary b on server j runs blocks [b, end_j) and costs ``A_j + B_j (end_j - b)``
    (Eq. 2); it needs ``end_j - b`` free slots. For each boundary pair (b, e) the servers that
    offer it are sorted by cost once; slots only ever decrease during GCA, so a server without room
    for a pair never regains it, and a pointer per pair skips past such servers for good. Each
    search is Dijkstra (scipy) on the L + 1 boundary nodes; after a chain takes its slots,
    :meth:`taken` re-checks only the pairs whose cheapest server was on that chain. Every
    (server, entry boundary) is skipped at most once and each chain costs one small Dijkstra, so
    GCA's work grows linearly with the number of chains.

    Parameters
    ----------
    start, end : arrays of int, shape (J,)
    num_blocks : int
    A, B : arrays of float, shape (J,)
        Hop cost coefficients, seconds.
    left : array of int, shape (J,)
        Free cache slots; read (not copied) at every search, so the caller's updates count.
    """

    OFF = 1e30  #: weight of a pair no server can serve any more

    def __init__(self, start: np.ndarray, end: np.ndarray, num_blocks: int, A: np.ndarray, B: np.ndarray,
                 left: np.ndarray):
        from scipy.sparse import csr_array

        self.L, self.left = num_blocks, left
        from .boundary_dp import boundary_hops

        src, dst, srv = boundary_hops(start, end, num_blocks)
        cost = A[srv] + B[srv] * (dst - src)
        n = num_blocks + 1
        pair = src * n + dst
        order = np.lexsort((srv, cost, pair))  # by pair, then cost (then server, for determinism)
        self.srv, self.cost, pair = srv[order], cost[order], pair[order]
        keys, first = np.unique(pair, return_index=True)
        self.pairs = np.column_stack([keys // n, keys % n])
        self.need = self.pairs[:, 1] - self.pairs[:, 0]
        self.hi = np.append(first[1:], pair.size)
        self.index = {(int(b), int(e)): p for p, (b, e) in enumerate(self.pairs.tolist())}
        # the first server of each pair with room: the first feasible entry at or after the pair's start
        feasible = np.flatnonzero(left[self.srv] >= np.repeat(self.need, self.hi - first))
        at = np.searchsorted(feasible, first)
        self.ptr = np.where(at < feasible.size, feasible[np.minimum(at, feasible.size - 1)], pair.size)
        self.ptr = np.where(self.ptr < self.hi, self.ptr, self.hi)
        self.weight = np.where(self.ptr < self.hi, self.cost[np.minimum(self.ptr, pair.size - 1)], self.OFF)
        self._mark = np.zeros(start.size, dtype=bool)
        self.graph = csr_array((np.arange(1.0, len(keys) + 1), (self.pairs[:, 0], self.pairs[:, 1])), shape=(n, n))
        self.csr_order = self.graph.data.astype(np.int64) - 1

    def _settle(self, p: int) -> None:
        """Move pair p's pointer past the servers without room for one job there; set its weight."""
        q, hi, need, srv, left = int(self.ptr[p]), int(self.hi[p]), int(self.need[p]), self.srv, self.left
        while q < hi and left[srv[q]] < need:
            q += 1
        self.ptr[p] = q
        self.weight[p] = self.cost[q] if q < hi else self.OFF

    def taken(self, servers: list[int]) -> None:
        """Slots of ``servers`` went down: re-check the pairs whose cheapest server is one of them."""
        hit = self._mark
        hit[servers] = True
        top = self.srv[np.minimum(self.ptr, self.srv.size - 1)]
        stale = (self.ptr < self.hi) & hit[top]
        stale[stale] = self.left[top[stale]] < self.need[stale]  # only those that lost their room
        for p in np.flatnonzero(stale):
            self._settle(int(p))
        hit[servers] = False

    def shortest(self) -> tuple[list[tuple[int, int, int]], float] | None:
        """The cheapest chain (hops as (server, first block, end block)) and its cost, or None."""
        from scipy.sparse.csgraph import dijkstra

        self.graph.data = np.maximum(self.weight, 1e-300)[self.csr_order]  # scipy drops zero weights
        dist, pred = dijkstra(self.graph, directed=True, indices=0, return_predecessors=True)
        if not dist[self.L] < self.OFF / 2:
            return None
        bounds = [self.L]
        while bounds[-1] != 0:
            bounds.append(int(pred[bounds[-1]]))
        bounds.reverse()
        hops, total = [], 0.0
        for b, e in zip(bounds[:-1], bounds[1:]):
            p = self.index[(b, e)]
            q = int(self.ptr[p])
            hops.append((int(self.srv[q]), b, e))
            total += float(self.cost[q])
        return hops, total


def chain_rates(chains: list[ChainAllocation]) -> tuple[np.ndarray, np.ndarray]:
    """(mu_k, c_k) arrays of a chain list, for :func:`optim.perf.ctmc.theorem4_bounds`."""
    return (np.array([c.rate_per_s for c in chains]), np.array([c.capacity for c in chains], dtype=np.int64))

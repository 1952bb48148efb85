"""Server chains of a placement and Greedy Cache Allocation (GCA).

Sun, He, Hou, arXiv 2604.14993, Sec. 3, Alg. 2. A chain is a
path from the orchestrator through servers that runs every block once, in order: a hop on server j
entered at boundary b runs blocks [b, e_j) (m_ij = e_j - e_i, Lemma 1). Its service time is Eq. 2,
``T_k = sum (tau^c_j + tau^p_j m_ij)``; with c_k concurrent jobs it holds m_ij c_k cache slots on each
server (Eq. 3), out of ``M~_j = floor((M_j - s_m m_j) / s_c)``.

GCA (Alg. 2): while the orchestrator still reaches the end, take the fastest chain, give it the
largest capacity its bottleneck allows, ``c_k = min_j floor(M_j / m_ij)``, take ``m_ij c_k`` slots
on each of its servers, and drop the links that no longer fit. As written in the paper this is
Dijkstra on the J x J server graph per round, O(J^4) overall. Here each round is Dijkstra
(scipy, compiled) on the DAG over block boundaries 0..L of :class:`optim.routing.BoundaryGraph`: a hop (b -> e_j) on
server j costs ``tau^c_j + tau^p_j (e_j - b)`` and needs ``e_j - b`` free slots, so the graph has
O(J^2) edges at most (entries are boundary 0 and span ends) and is built once per placement; the
chains and capacities are the same (ties between equally fast chains aside).

With several clients, the communication time of a hop is the arrival-rate-weighted mean over
clients of ``rtt_cj + chain_overhead`` (exact for the paper's single orchestrator).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..instance import Instance
from ..routing import BoundaryGraph
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
    """
    start = np.asarray(start, dtype=np.int64)
    end = np.asarray(end, dtype=np.int64)
    left = (np.maximum(free_cache_slots(inst, end - start), 0) if slots is None
            else np.asarray(slots, dtype=np.int64)).copy()
    A, B = chain_cost_coefficients(inst)
    chains: list[ChainAllocation] = []
    limit = max_chains or inst.num_servers ** 2 + 1
    graph = BoundaryGraph(start, end, inst.num_blocks)
    while len(chains) < limit:
        found = graph.shortest(A, B, slots=left)
        if found is None:
            break
        hops, cost = found
        cap = min(int(left[j] // (e - b)) for j, b, e in hops)
        for j, b, e in hops:
            left[j] -= (e - b) * cap
        chains.append(ChainAllocation(tuple(hops), cap, cost))
    return chains


def chain_rates(chains: list[ChainAllocation]) -> tuple[np.ndarray, np.ndarray]:
    """(mu_k, c_k) arrays of a chain list, for :func:`optim.perf.ctmc.theorem4_bounds`."""
    return (np.array([c.rate_per_s for c in chains]), np.array([c.capacity for c in chains], dtype=np.int64))

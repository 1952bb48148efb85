"""Shortest-path routing over a placement.

Paths are built on a DAG whose nodes are block boundaries 0..L: a hop on server j with span
``[a_j, e_j)`` entered at boundary b (a_j <= b < e_j) runs blocks ``[b, e_j)`` and leads to node
``e_j``; only boundary 0 and the span ends are entered. This is the link set of Lemma 1 of arXiv
2512.21884 (a_j <= a_i + m_i <= a_j + m_j - 1): every block runs at the first server of the path
hosting it, and each hop adds at least one block. A hop costs ``A[j] + B[j] * blocks``
(+ ``penalty[j]``), which covers the BPRR per-token and per-request costs and PETALS' latency
estimate. :func:`shortest_hops` runs Dijkstra from networkx; :class:`BoundaryGraph` builds the same DAG
once as a scipy sparse matrix, re-searched by scipy's compiled Dijkstra with new weights (a path
with its hops, under a cache constraint). The hot loops (GCA rounds, NSGA-II evaluations) use the
compiled dynamic programming of :mod:`optim.perf.boundary_dp` over the same hops.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._lazy import LazyModule

if TYPE_CHECKING:
    from .instance import Instance

nx = LazyModule("networkx")


class NoPathError(Exception):
    """No chain of servers covers blocks 0..L-1 in order."""


def shortest_hops(start: np.ndarray, end: np.ndarray, num_blocks: int, A: np.ndarray, B: np.ndarray,
                  penalty: np.ndarray | None = None) -> tuple[list[tuple[int, int, int]], float]:
    """Cheapest path through the placement for one client.

    Parameters
    ----------
    start, end : arrays of int, shape (J,)
        Spans ``[start_j, end_j)`` (empty when equal).
    num_blocks : int
        L.
    A : array of float, shape (J,)
        Fixed cost of a hop on server j (this client's communication), seconds.
    B : array of float, shape (J,)
        Cost per block run on server j, seconds.
    penalty : array of float, shape (J,), optional
        Extra cost of any hop on server j (e.g. PETALS' 10 s when its cache is short).

    Returns
    -------
    hops : list of (server index, first block, end block)
    cost : float

    Raises
    ------
    NoPathError
        Some block cannot be reached in order.

    Notes
    -----
    O(J L) edges; Dijkstra is O(E log L).
    """
    fixed = A if penalty is None else A + penalty
    used = np.flatnonzero(end > start)
    entry = np.zeros(num_blocks + 1, dtype=bool)
    entry[0] = True
    entry[end[used]] = True
    src, dst, srv = [], [], []
    for j in used:
        b = np.flatnonzero(entry[start[j]:end[j]]) + start[j]
        src.append(b)
        dst.append(np.full(b.size, end[j]))
        srv.append(np.full(b.size, j))
    if not src:
        raise NoPathError("no server hosts any block")
    src, dst, srv = np.concatenate(src), np.concatenate(dst), np.concatenate(srv)
    w = fixed[srv] + B[srv] * (dst - src)
    # keep the cheapest server for each (entry, exit) pair; ties go to the lower server index
    order = np.lexsort((srv, w, dst, src))
    src, dst, srv, w = src[order], dst[order], srv[order], w[order]
    first = np.ones(src.size, dtype=bool)
    first[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
    g = nx.DiGraph()
    g.add_edges_from((int(u), int(v), {"w": float(c), "j": int(j)})
                     for u, v, c, j in zip(src[first], dst[first], w[first], srv[first]))
    try:
        nodes = nx.dijkstra_path(g, 0, num_blocks, weight="w")
    except (nx.NetworkXNoPath, nx.NodeNotFound):
        raise NoPathError(f"no chain of servers runs blocks 0..{num_blocks - 1} in order") from None
    hops = [(g.edges[u, v]["j"], u, v) for u, v in zip(nodes[:-1], nodes[1:])]
    return hops, float(sum(g.edges[u, v]["w"] for u, v in zip(nodes[:-1], nodes[1:])))


def direct_hop_costs(inst: "Instance", client: int, objective: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hop costs with direct relaying (``communication.relay = "direct"``) for one client: entering
    server j from predecessor p costs ``P[p, j] + B[j] * blocks`` (row 0: from the client, row
    i + 1: from server i), and ``back[j]`` more when j runs the last block.

    Parameters
    ----------
    objective : {"inference", "decode", "petals"}
        The whole request time, the per-token decode time (both from
        :func:`optim.perf.latency.direct_comm_matrices`), or PETALS' min-latency estimate
        (``min(rtt/2, 5 s) + 18 ms`` per link, ``1 / inference_rps`` per block).

    Returns
    -------
    P : ndarray, shape (J + 1, J)
    back, B : ndarray, shape (J,)
    """
    from .perf.latency import direct_comm_matrices

    w = inst.workload
    steps = w.output_tokens_mean - 1.0
    if objective == "petals":
        one_way = np.vstack([inst.rtt_s[client][None, :], inst.server_rtt_s]) / 2
        return (np.minimum(one_way, MAX_DELAY_S) + HOP_OVERHEAD_S, np.minimum(inst.rtt_s[client] / 2, MAX_DELAY_S),
                inst.decode_s)
    into, back = direct_comm_matrices(inst, client)
    if objective == "decode":
        return into[2], back[2], inst.decode_s
    if objective == "inference":
        return (into[0] + into[1] * w.input_tokens_mean + steps * into[2],
                back[0] + back[1] * w.input_tokens_mean + steps * back[2], inst.prefill_s + steps * inst.decode_s)
    raise ValueError(f"objective: {objective!r}; expected 'inference', 'decode' or 'petals'")


def shortest_hops_direct(start: np.ndarray, end: np.ndarray, num_blocks: int, P: np.ndarray, back: np.ndarray,
                         B: np.ndarray, penalty: np.ndarray | None = None) -> tuple[list[tuple[int, int, int]], float]:
    """Cheapest path when a hop's cost depends on the hop before (direct relaying).

    The graph's nodes are the client (boundary 0) and each server holding blocks (the boundary
    its span ends at); server j follows the client if ``start_j = 0`` and server i if
    ``start_j <= end_i < end_j``, running blocks ``[end_i, end_j)`` (Lemma 1 of arXiv 2512.21884).

    Parameters
    ----------
    start, end : arrays of int, shape (J,)
    P, back, B : arrays, shapes (J + 1, J), (J,), (J,)
        From :func:`direct_hop_costs`.
    penalty : array of float, shape (J,), optional

    Returns
    -------
    hops : list of (server index, first block, end block)
    cost : float

    Raises
    ------
    NoPathError
        Some block cannot be reached in order.

    Notes
    -----
    O(J^2) edges; Dijkstra from networkx.
    """
    J = start.size
    pen = np.zeros(J) if penalty is None else penalty
    used = end > start
    ends_at_L = end == num_blocks
    g = nx.DiGraph()
    first = np.flatnonzero(used & (start == 0))
    g.add_edges_from((-1, int(j), {"w": float(P[0, j] + B[j] * end[j] + pen[j] + (back[j] if ends_at_L[j] else 0.0)),
                                   "b": 0}) for j in first)
    ok = used[:, None] & used[None, :] & (start[None, :] <= end[:, None]) & (end[:, None] < end[None, :])
    ii, jj = np.nonzero(ok)
    w = P[ii + 1, jj] + B[jj] * (end[jj] - end[ii]) + pen[jj] + np.where(ends_at_L[jj], back[jj], 0.0)
    g.add_edges_from((int(i), int(j), {"w": float(c), "b": int(end[i])}) for i, j, c in zip(ii, jj, w))
    g.add_edges_from((int(j), "L", {"w": 0.0, "b": num_blocks}) for j in np.flatnonzero(used & ends_at_L))
    try:
        nodes = nx.dijkstra_path(g, -1, "L", weight="w")
    except (nx.NetworkXNoPath, nx.NodeNotFound):
        raise NoPathError(f"no chain of servers runs blocks 0..{num_blocks - 1} in order") from None
    hops = [(v, g.edges[u, v]["b"], int(end[v])) for u, v in zip(nodes[:-2], nodes[1:-1])]
    return hops, float(sum(g.edges[u, v]["w"] for u, v in zip(nodes[:-1], nodes[1:])))


def client_hops(inst: "Instance", client: int, start: np.ndarray, end: np.ndarray, objective: str,
                penalty: np.ndarray | None = None, relay_costs: tuple | None = None) -> tuple[list, float]:
    """The cheapest path of one client under the instance's relaying: :func:`shortest_hops` on
    ``relay_costs`` (``(A, B)``, A shape (C, J) or (J,)) with the client relaying, or
    :func:`shortest_hops_direct` on :func:`direct_hop_costs` for ``objective`` with direct relaying.

    Raises
    ------
    NoPathError
    """
    if inst.communication.relay == "direct":
        P, back, B = direct_hop_costs(inst, client, objective)
        return shortest_hops_direct(np.asarray(start), np.asarray(end), inst.num_blocks, P, back, B, penalty)
    if relay_costs is None:
        from .perf import hop_cost_coefficients

        A, B = (petals_hop_costs(inst, client, end) if objective == "petals"
                else hop_cost_coefficients(inst, objective))
    else:
        A, B = relay_costs
    A = A[client] if np.ndim(A) == 2 else A
    return shortest_hops(start, end, inst.num_blocks, A, B, penalty)


def route_sessions(inst: "Instance", start: np.ndarray, end: np.ndarray, slots: np.ndarray, costs,
                   alloc_penalty_s: float, direct_objective: str = "inference") -> tuple[list, int]:
    """Route the |R| concurrent requests one after another, each taking cache on its path.

    Requests are interleaved among clients in proportion to their shares
    (:func:`optim.perf.request_shares`); each takes the cheapest path (:func:`shortest_hops`) where a
    server whose free cache cannot hold a session over its span costs ``alloc_penalty_s`` more,
    then takes that cache. This is PETALS' ``min_latency`` routing with its 10 s penalty, and with
    BPRR's hop costs the capacity-aware routing of :mod:`optim.replan`.

    Parameters
    ----------
    start, end : ndarray of int, shape (J,)
    slots : ndarray of int, shape (J,)
        Cache slots (session-blocks) of each server.
    costs : callable(int) -> (A, B)
        Client c's hop costs with the client relaying: ``A`` shape (J,) seconds per hop, ``B``
        shape (J,) seconds per block.
    alloc_penalty_s : float
    direct_objective : {"inference", "decode", "petals"}
        The costs with direct relaying (:func:`direct_hop_costs`), where a hop's cost depends on
        the hop before.

    Returns
    -------
    paths : list of optim.solution.Path
    short : int
        Requests routed onto a server short of cache (they wait, :mod:`optim.perf.contention`).

    Raises
    ------
    NoPathError
        No chain covers every block.
    """
    from .perf import request_shares
    from .solution import Hop, Path

    m = end - start
    shares = request_shares(inst)
    queue = sorted((k / n, c) for c, n in enumerate(shares) for k in range(n))
    queue += [(0.0, c) for c in range(inst.num_clients) if shares[c] == 0 and inst.arrival_rates[c] > 0]
    free = np.asarray(slots).copy()
    counts: dict[tuple, int] = {}
    short = 0
    direct = inst.communication.relay == "direct"
    for _, c in queue:
        penalty = np.where(free < m, alloc_penalty_s, 0.0)
        if direct:
            hops, _ = client_hops(inst, c, start, end, direct_objective, penalty)
        else:
            A, B = costs(c)
            hops, _ = shortest_hops(start, end, inst.num_blocks, A, B, penalty)
        key = (c, tuple(hops))
        carries = 1 if shares[c] > 0 else 0
        counts[key] = counts.get(key, 0) + carries
        if carries:
            short += any(free[j] < b - a for j, a, b in hops)
            for j, a, b in hops:
                free[j] -= b - a
    paths = [Path(client=inst.clients[c].id, requests=n,
                  hops=[Hop(server=inst.servers[j].id, start=a, end=b) for j, a, b in hops])
             for (c, hops), n in counts.items()]
    return paths, short


class BoundaryGraph:
    """The boundary DAG of one placement, built once and searched many times with new hop costs.

    Nodes 0..L are block boundaries; node L + 1 + j stands for server j. A hop on server j entered
    at boundary b (``start_j <= b < end_j``, b = 0 or a span end, as in :func:`shortest_hops`) is the
    pair of edges b -> (L + 1 + j), weighted ``A_j + B_j (end_j - b)``, and (L + 1 + j) -> end_j,
    weighted ``EPS`` (scipy ignores zero weights). Going through a server node keeps apart the hops
    of different servers between the same two boundaries. Dijkstra is scipy's
    :func:`scipy.sparse.csgraph.dijkstra`; each search only rewrites the edge weights.

    Parameters
    ----------
    start, end : arrays of int, shape (J,)
        Spans ``[start_j, end_j)`` (empty when equal).
    num_blocks : int
        L.
    """

    EPS = 1e-12
    OFF = 1e30  # weight of a hop that is not allowed: never on a path to L

    def __init__(self, start: np.ndarray, end: np.ndarray, num_blocks: int):
        from scipy.sparse import csr_array

        L = self.L = num_blocks
        start, end = np.asarray(start, dtype=np.int64), np.asarray(end, dtype=np.int64)
        from .perf.boundary_dp import boundary_hops

        used = np.flatnonzero(end > start)
        self.src, dst, self.srv = boundary_hops(start, end, L)
        self.blocks = dst - self.src
        rows = np.concatenate([self.src, L + 1 + used])
        cols = np.concatenate([L + 1 + self.srv, end[used]])
        n = L + 1 + start.size
        # built once; a search rewrites the weights through the CSR storage order
        self.graph = csr_array((np.arange(1.0, rows.size + 1), (rows, cols)), shape=(n, n))
        self.order = self.graph.data.astype(np.int64) - 1
        self.tail = np.full(used.size, self.EPS)

    def _search(self, A: np.ndarray, B: np.ndarray, off: np.ndarray | None, predecessors: bool):
        from scipy.sparse.csgraph import dijkstra

        w = A[self.srv] + B[self.srv] * self.blocks
        if off is not None:
            w = np.where(off, self.OFF, w)
        self.graph.data = np.concatenate([w, self.tail])[self.order]
        return dijkstra(self.graph, directed=True, indices=0, return_predecessors=predecessors)

    def shortest(self, A: np.ndarray, B: np.ndarray, slots: np.ndarray | None = None):
        """Cheapest path from boundary 0 to L.

        Parameters
        ----------
        A : array of float, shape (J,)
            Fixed cost of a hop on server j, seconds.
        B : array of float, shape (J,)
            Cost per block on server j, seconds.
        slots : array of int, shape (J,), optional
            Cache slots left per server; a hop of k blocks on server j needs k of them.

        Returns
        -------
        (hops, cost) or None
            Hops as (server index, first block, end block); cost recomputed exactly from A and B.
            None when no path exists.
        """
        if self.src.size == 0:
            return None
        off = None if slots is None else self.blocks > np.asarray(slots)[self.srv]
        if off is not None and off.all():
            return None
        dist, pred = self._search(A, B, off, True)
        L = self.L
        if not dist[L] < self.OFF:
            return None
        hops, e = [], L
        while e > 0:
            j_node = int(pred[e])
            b = int(pred[j_node])
            hops.append((j_node - L - 1, b, e))
            e = b
        hops.reverse()
        return hops, float(sum(A[j] + B[j] * (e - b) for j, b, e in hops))

    def costs(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Cost of the cheapest path for each row of ``A`` (one client each).

        Parameters
        ----------
        A : array of float, shape (C, J)
        B : array of float, shape (J,)

        Returns
        -------
        ndarray, shape (C,)
            Seconds; ``inf`` where no path exists. Includes ``EPS`` per hop (below 1e-10 s).
        """
        A = np.atleast_2d(A)
        if self.src.size == 0:
            return np.full(A.shape[0], np.inf)
        return np.array([float(self._search(a, B, None, False)[self.L]) for a in A])


# ---- PETALS' min-latency routing costs (shared by the petals solver and the simulator) ------------
MAX_DELAY_S = 5.0  #: PETALS' _rtt_to_delay cap
ALLOC_PENALTY_S = 10.0  #: PETALS' routing penalty for a server short of cache
HOP_OVERHEAD_S = 0.018  #: PETALS' serialisation overhead per hop
BAN_TIMEOUT_S = 15.0  #: how long a PETALS client avoids a server that failed it (ClientConfig.ban_timeout)
MIN_BACKOFF_S, MAX_BACKOFF_S = 1.0, 60.0  #: PETALS' retry delays after the first, immediate retry


def petals_retry_delay(attempt: int) -> float:
    """PETALS' ``SequenceManager.get_retry_delay``: 0 for the first retry, then 1, 2, 4, ... s up to 60 s."""
    return 0.0 if attempt == 0 else min(MIN_BACKOFF_S * 2.0 ** min(attempt - 1, 30), MAX_BACKOFF_S)


def petals_hop_costs(inst: Instance, client: int, end: np.ndarray,
                     hop_overhead_s: float = HOP_OVERHEAD_S) -> tuple[np.ndarray, np.ndarray]:
    """PETALS' min-latency edge costs for one client, as ``A[j] + B[j] * blocks``: ``min(rtt/2, 5 s)``
    + 18 ms per hop, ``min(rtt/2, 5 s)`` back to the client after the last block (servers whose span
    ends at L), and ``1 / inference_rps`` (the decode time) per block. Shapes (J,), seconds."""
    delay = np.minimum(inst.rtt_s[client] / 2, MAX_DELAY_S)
    return delay + hop_overhead_s + np.where(end == inst.num_blocks, delay, 0.0), inst.decode_s

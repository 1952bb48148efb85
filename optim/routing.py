"""Shortest-path routing over a placement.

Paths are built on a DAG whose nodes are block boundaries 0..L: a hop on server j with span
``[a_j, e_j)`` entered at boundary b (a_j <= b < e_j) runs blocks ``[b, e_j)`` and leads to node
``e_j``; only boundary 0 and the span ends are entered. This is the link set of Lemma 1 of arXiv
2512.21884 (a_j <= a_i + m_i <= a_j + m_j - 1): every block runs at the first server of the path
hosting it, and each hop adds at least one block. A hop costs ``A[j] + B[j] * blocks``
(+ ``penalty[j]``), which covers the BPRR per-token and per-request costs and PETALS' latency
estimate. Dijkstra on the DAG comes from networkx.
"""
from __future__ import annotations

import networkx as nx
import numpy as np


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

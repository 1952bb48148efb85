"""Shortest paths on the block-boundary DAG of a placement, compiled (numba).

A placement's chains are paths on a DAG whose nodes are the block boundaries 0..L: a hop on server
j entered at boundary b (``start_j <= b < end_j``, b = 0 or some span's end) runs blocks
``[b, end_j)`` and costs ``A_j + B_j (end_j - b)`` (Sun, He, Hou, arXiv 2604.14993, Lemma 1 and
Eq. 2; the same form carries BPRR's whole-request hop costs, arXiv 2512.21884, Sec. 2). Since
every hop goes forward, dynamic programming over the hops in order of their entry boundary is a
topological-order shortest path: one pass, no priority queue.

At tens of servers a search is a few hundred hops, so what costs is the call, not the work: a
scipy Dijkstra costs about 20 us of overhead per call, a plain-Python pass 100-250 us, and the
compiled pass below 2-5 us. NSGA-II evaluates thousands of placements per second through these
kernels (:class:`optim.solvers.nsga2.PlacementObjectives`), and GCA searches one chain per round
through :func:`gca_full` (:func:`optim.perf.gca.greedy_cache_allocation`). The exact joint chain
model prices chains by label setting over every possible hop, each step compiled here
(:func:`extend_labels`, :func:`pareto_by_mask`; :func:`optim.solvers.chain_milp.chain_labels`).

The kernels are compiled on first use and cached on disk (numba's ``cache=True``); numba is
imported only here, when a kernel is first needed.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np


def boundary_hops(start: np.ndarray, end: np.ndarray, num_blocks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every hop of the boundary DAG: entry boundary, end boundary and server, shapes (H,).

    Entry boundaries are 0 and the ends of non-empty spans (where a chain can be between servers,
    Lemma 1 of arXiv 2604.14993); a server offers a hop from each one inside its span. Hops come in
    order of entry boundary, then server: a topological order of the DAG.

    Parameters
    ----------
    start, end : arrays of int, shape (J,)
        Spans ``[start_j, end_j)``; empty when equal.
    num_blocks : int
        L.
    """
    return _kernels()["hops"](np.ascontiguousarray(start, dtype=np.int64), np.ascontiguousarray(end, dtype=np.int64),
                              int(num_blocks))


@lru_cache(maxsize=None)
def _kernels() -> dict:
    import numba

    @numba.njit(cache=True)
    def hops(start, end, L):  # pragma: no cover - compiled
        entry = np.zeros(L + 1, dtype=np.bool_)
        entry[0] = True
        for j in range(start.size):
            if end[j] > start[j]:
                entry[end[j]] = True
        n = 0
        for b in range(L):
            if entry[b]:
                for j in range(start.size):
                    if start[j] <= b < end[j]:
                        n += 1
        src = np.empty(n, dtype=np.int64)
        dst = np.empty(n, dtype=np.int64)
        srv = np.empty(n, dtype=np.int64)
        h = 0
        for b in range(L):
            if entry[b]:
                for j in range(start.size):
                    if start[j] <= b < end[j]:
                        src[h], dst[h], srv[h] = b, end[j], j
                        h += 1
        return src, dst, srv

    @numba.njit(cache=True)
    def path_costs(src, dst, srv, A, B, L, out):  # pragma: no cover - compiled
        # hops in order of entry boundary, a topological order: one relaxation pass per client
        dist = np.empty(L + 1)
        for c in range(A.shape[0]):
            dist[:] = np.inf
            dist[0] = 0.0
            for h in range(src.size):
                d = dist[src[h]]
                if d == np.inf:
                    continue
                d += A[c, srv[h]] + B[srv[h]] * (dst[h] - src[h])
                if d < dist[dst[h]]:
                    dist[dst[h]] = d
            out[c] = dist[L]

    @numba.njit(cache=True)
    def by_cost(src, dst, srv, A, B):  # pragma: no cover - compiled
        # hops sorted by (entry boundary, cost, server): a stable sort by cost within each entry
        # boundary of hops already in (entry boundary, server) order
        cost = A[srv] + B[srv] * (dst - src)
        order = np.arange(src.size)
        h = 0
        while h < src.size:
            k = h
            while k < src.size and src[k] == src[h]:
                k += 1
            order[h:k] = h + np.argsort(cost[h:k], kind="mergesort")
            h = k
        return src[order], dst[order], srv[order], cost[order]

    @numba.njit(cache=True)
    def gca(src, dst, srv, cost, left, L, limit):  # pragma: no cover - compiled
        # Alg. 2 of arXiv 2604.14993, each round's search a DP over hops in (entry, cost, server)
        # order: among equally cheap hops into a boundary, the first wins
        dist = np.empty(L + 1)
        pred = np.empty(L + 1, dtype=np.int64)
        path = np.empty(L, dtype=np.int64)
        out_hops = np.empty(0, dtype=np.int64)
        starts = np.zeros(1, dtype=np.int64)
        caps = np.empty(0, dtype=np.int64)
        times = np.empty(0)
        while caps.size < limit:
            dist[:] = np.inf
            dist[0] = 0.0
            for h in range(src.size):
                d = dist[src[h]]
                if d == np.inf or left[srv[h]] < dst[h] - src[h]:
                    continue
                d += cost[h]
                if d < dist[dst[h]]:
                    dist[dst[h]] = d
                    pred[dst[h]] = h
            if dist[L] == np.inf:
                break
            n, e = 0, L
            while e > 0:
                path[n] = pred[e]
                e = src[pred[e]]
                n += 1
            chain = path[:n][::-1].copy()
            cap = 1 << 62
            for h in chain:
                cap = min(cap, left[srv[h]] // (dst[h] - src[h]))
            for h in chain:
                left[srv[h]] -= (dst[h] - src[h]) * cap
            out_hops = np.concatenate((out_hops, chain))
            starts = np.append(starts, out_hops.size)
            caps = np.append(caps, cap)
            times = np.append(times, dist[L])
        return out_hops, starts, caps, times

    @numba.njit(cache=True)
    def population(S, E, RS, RE, slots, L, A, B, CA, CB, limit, costs, nu):  # pragma: no cover - compiled
        # NSGA-II's objectives for placements i = 0..n-1: each client's cheapest path on the
        # routable spans RS, RE, and GCA's nu = sum c_k / T_k on the spans S, E
        for i in range(S.shape[0]):
            src, dst, srv = hops(RS[i], RE[i], L)
            path_costs(src, dst, srv, A, B, L, costs[i])
            nu[i] = 0.0
            if np.all(np.isfinite(costs[i])):
                src, dst, srv = hops(S[i], E[i], L)
                src, dst, srv, cost = by_cost(src, dst, srv, CA, CB)
                _, _, caps, times = gca(src, dst, srv, cost, np.maximum(slots[i], 0), L, limit)
                for k in range(caps.size):
                    nu[i] += caps[k] / times[k]

    @numba.njit(cache=True)
    def extend(T, W, mask, t, w, srv, t_rest, w_rest, alpha, beta, threshold, product):  # pragma: no cover - compiled
        # every (label i, hop h) whose completion bound is within the threshold and whose server
        # the label has not used: the label indices, hop indices and extended (T, W)
        n, m = T.size, t.size
        li = np.empty(n * m, dtype=np.int64)
        hi = np.empty(n * m, dtype=np.int64)
        nT = np.empty(n * m)
        nW = np.empty(n * m)
        k = 0
        for i in range(n):
            for h in range(m):
                if (mask[i] >> srv[h]) & 1:
                    continue
                tt = T[i] + t[h]
                ww = W[i] + w[h]
                if product:
                    lower = (tt + t_rest[h]) * (ww + w_rest[h])
                else:
                    lower = alpha + ww + w_rest[h] - beta / (tt + t_rest[h])
                if lower <= threshold:
                    li[k], hi[k], nT[k], nW[k] = i, h, tt, ww
                    k += 1
        return li[:k], hi[:k], nT[:k], nW[:k]

    @numba.njit(cache=True)
    def pareto(T, W, group, num_groups):  # pragma: no cover - compiled
        # in increasing T, keep a label when its W is below every earlier one of its group
        order = np.argsort(T, kind="mergesort")
        best = np.full(num_groups, np.inf)
        keep = np.empty(T.size, dtype=np.int64)
        k = 0
        for i in order:
            g = group[i]
            if W[i] < best[g] - 1e-12 * max(1.0, abs(W[i])):
                best[g] = W[i]
                keep[k] = i
                k += 1
        return keep[:k]

    @numba.njit(cache=True)
    def pareto_subset(T, W, cmask, nbits):  # pragma: no cover - compiled
        # in increasing T, keep a label when its W is below that of every earlier kept label whose
        # servers are a subset of its own (best[s]: least W kept with servers exactly s)
        order = np.argsort(T, kind="mergesort")
        best = np.full(1 << nbits, np.inf)
        keep = np.empty(T.size, dtype=np.int64)
        k = 0
        for i in order:
            m = cmask[i]
            w = W[i] + 1e-12 * max(1.0, abs(W[i]))
            s = m
            dominated = False
            while True:
                if best[s] <= w:
                    dominated = True
                    break
                if s == 0:
                    break
                s = (s - 1) & m
            if not dominated:
                if W[i] < best[m]:
                    best[m] = W[i]
                keep[k] = i
                k += 1
        return keep[:k]

    @numba.njit(cache=True)
    def server_sets(A, B, K, L):  # pragma: no cover - compiled
        # 0/1 knapsack over servers: best[k] = least cost of running k blocks on distinct servers,
        # server j taking 1..K[j] blocks at A[j] + B[j] x; take[j, k] = blocks j runs in it
        J = A.size
        best = np.full(L + 1, np.inf)
        best[0] = 0.0
        take = np.zeros((J, L + 1), dtype=np.int64)
        for j in range(J):
            for k in range(L, 0, -1):  # downwards: each server at most once
                for x in range(1, min(K[j], k) + 1):
                    v = best[k - x] + A[j] + B[j] * x
                    if v < best[k]:
                        best[k] = v
                        take[j, k] = x
        # read back: take[j, k] > 0 iff the best way to run k blocks on servers 0..j uses j
        blocks = np.zeros(J, dtype=np.int64)
        k = L
        for j in range(J - 1, -1, -1):
            if k == 0:
                break
            x = take[j, k]
            if x > 0:
                blocks[j] = x
                k -= x
        return best[L], blocks

    return {"hops": hops, "path_costs": path_costs, "by_cost": by_cost, "gca": gca, "population": population,
            "extend": extend, "pareto": pareto, "pareto_subset": pareto_subset,
            "server_sets": server_sets}


def cheapest_server_set(A: np.ndarray, B: np.ndarray, K: np.ndarray, num_blocks: int) -> tuple[float, np.ndarray]:
    """The least cost of running all L blocks on distinct servers, each server j running between
    1 and ``K[j]`` of them at ``A[j] + B[j] x``, and how many each runs.

    With the client relaying, a chain's cost ``sum_hops (A_cj + B_j x_j)`` does not depend on the
    order of its hops, so the cheapest chain a free placement allows is this 0/1 knapsack over
    servers (dynamic programming over block counts, O(J L max K)); used by
    :func:`optim.solvers.bprr_chains.chain_bound`.

    Parameters
    ----------
    A : ndarray of float, shape (J,)
        Cost of a hop on each server, seconds.
    B : ndarray of float, shape (J,)
        Cost per block on each server, seconds.
    K : ndarray of int, shape (J,)
        Most blocks each server can run (0: none).
    num_blocks : int
        L.

    Returns
    -------
    cost : float
        ``inf`` when the servers cannot run L blocks together.
    blocks : ndarray of int, shape (J,)
        Blocks each server runs in a cheapest chain (0 for servers not in it).
    """
    f = lambda a, dt=float: np.ascontiguousarray(a, dtype=dt)  # noqa: E731
    cost, blocks = _kernels()["server_sets"](f(A), f(B), f(K, np.int64), int(num_blocks))
    return float(cost), blocks


def pareto_by_mask(T: np.ndarray, W: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Indices of the labels that no other with the same mask beats in both T and W, in increasing T.

    Labels with equal T are taken in index order, so of two with equal T the one with larger W may
    stay too (less pruning, never a wrong drop).

    Parameters
    ----------
    T, W : ndarray of float, shape (n,)
    mask : ndarray of int64, shape (n,)
    """
    groups, group = np.unique(np.asarray(mask, dtype=np.int64), return_inverse=True)
    return _kernels()["pareto"](np.ascontiguousarray(T, dtype=float), np.ascontiguousarray(W, dtype=float),
                                np.ascontiguousarray(group.ravel(), dtype=np.int64), int(groups.size))


def pareto_by_submask(T: np.ndarray, W: np.ndarray, mask: np.ndarray, servers: np.ndarray) -> np.ndarray:
    """Indices of the labels that no other with a subset of their servers beats in both T and W, in
    increasing T (the dominance rule of the elementary shortest path: a label using fewer servers
    can be extended wherever one using more can).

    Parameters
    ----------
    T, W : ndarray of float, shape (n,)
    mask : ndarray of int64, shape (n,)
        Bits of the servers used; only the bits of ``servers`` may be set.
    servers : ndarray of int, shape (t,)
        The servers the masks track, t <= 20 (the rule visits every subset of a label's servers).

    Raises
    ------
    ValueError
        More than 20 servers tracked.
    """
    servers = np.asarray(servers, dtype=np.int64)
    if servers.size > 20:
        raise ValueError(f"servers: {servers.size} tracked; at most 20")
    mask = np.asarray(mask, dtype=np.int64)
    cmask = np.zeros(mask.shape, dtype=np.int64)
    for p, j in enumerate(servers):
        cmask |= ((mask >> j) & 1) << p
    return _kernels()["pareto_subset"](np.ascontiguousarray(T, dtype=float), np.ascontiguousarray(W, dtype=float),
                                       np.ascontiguousarray(cmask.ravel()), int(servers.size))


def extend_labels(T: np.ndarray, W: np.ndarray, mask: np.ndarray, t: np.ndarray, w: np.ndarray, srv: np.ndarray,
                  t_rest: np.ndarray, w_rest: np.ndarray, alpha: float, beta: float, threshold: float,
                  product: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One step of label setting over block boundaries: extend every label by every hop out of its boundary.

    Used by the chain pricing of :func:`optim.solvers.chain_milp.chain_labels`. A pair (label i,
    hop h) is kept when h's server is not in the label's mask (each server once in a chain) and the
    completion bound ``alpha + W + w + w_rest - beta / (T + t + t_rest)`` (or, with ``product``,
    ``(T + t + t_rest)(W + w + w_rest)``) is at most ``threshold``.

    Parameters
    ----------
    T, W : ndarray of float, shape (n,)
        The labels' time (s) and weight.
    mask : ndarray of int64, shape (n,)
        Servers used by each label, one bit per server (servers 0..62).
    t, w : ndarray of float, shape (m,)
        Each hop's time (s) and weight.
    srv : ndarray of int, shape (m,)
        Each hop's server.
    t_rest, w_rest : ndarray of float, shape (m,)
        The least time and weight from each hop's end to boundary L.

    Returns
    -------
    label, hop : ndarray of int, shape (k,)
        The pairs kept, label-major.
    T_new, W_new : ndarray of float, shape (k,)
    """
    f = lambda a, dt=float: np.ascontiguousarray(a, dtype=dt)  # noqa: E731
    return _kernels()["extend"](f(T), f(W), f(mask, np.int64), f(t), f(w), f(srv, np.int64), f(t_rest), f(w_rest),
                                float(alpha), float(beta), float(threshold), bool(product))


def path_costs(start: np.ndarray, end: np.ndarray, num_blocks: int, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """The cost of each client's cheapest path from boundary 0 to L on the spans' boundary DAG.

    Parameters
    ----------
    start, end : arrays of int, shape (J,)
    num_blocks : int
        L.
    A : array of float, shape (C, J)
        Fixed cost of a hop on server j for client c, seconds.
    B : array of float, shape (J,)
        Cost per block on server j, seconds.

    Returns
    -------
    ndarray, shape (C,)
        Seconds; ``inf`` where boundary L cannot be reached.
    """
    k = _kernels()
    A = np.ascontiguousarray(np.atleast_2d(A), dtype=float)
    out = np.empty(A.shape[0])
    k["path_costs"](*boundary_hops(start, end, num_blocks), A, np.ascontiguousarray(B, dtype=float),
                    int(num_blocks), out)
    return out


def gca_full(start: np.ndarray, end: np.ndarray, num_blocks: int, A: np.ndarray, B: np.ndarray,
             left: np.ndarray, limit: int) -> list[tuple[list[tuple[int, int, int]], int, float]]:
    """GCA's rounds (arXiv 2604.14993, Alg. 2) over every hop of the boundary DAG.

    Each round takes the cheapest chain whose every hop has free slots for one job (a hop of k
    blocks needs k), gives it the capacity ``c = min_j floor(left_j / m_ij)`` and takes ``m_ij c``
    slots on each of its servers, until no chain is left or ``limit`` chains are found. Ties
    between equally cheap hops into a boundary go to the first in (entry boundary, cost, server)
    order.

    Parameters
    ----------
    start, end : arrays of int, shape (J,)
    num_blocks : int
    A, B : arrays of float, shape (J,)
        Hop cost ``A_j + B_j m`` (Eq. 2), seconds.
    left : array of int, shape (J,)
        Free cache slots; updated in place.
    limit : int

    Returns
    -------
    list of (hops, capacity, cost)
        Hops as (server, first block, end block), in chain order; cost in seconds.
    """
    k = _kernels()
    A, B = np.ascontiguousarray(A, dtype=float), np.ascontiguousarray(B, dtype=float)
    src, dst, srv, cost = k["by_cost"](*boundary_hops(start, end, num_blocks), A, B)
    slots = np.ascontiguousarray(left, dtype=np.int64)
    hops, starts, caps, times = k["gca"](src, dst, srv, cost, slots, int(num_blocks), int(limit))
    left[:] = slots
    out = []
    for c in range(caps.size):
        hs = hops[starts[c]:starts[c + 1]]
        out.append(([(int(srv[h]), int(src[h]), int(dst[h])) for h in hs], int(caps[c]), float(times[c])))
    return out


def population_objectives(S: np.ndarray, E: np.ndarray, RS: np.ndarray, RE: np.ndarray, slots: np.ndarray,
                          num_blocks: int, A: np.ndarray, B: np.ndarray, chain_A: np.ndarray, chain_B: np.ndarray,
                          limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-client path costs and GCA's nu for many placements in one compiled call.

    Parameters
    ----------
    S, E : arrays of int, shape (n, J)
        Spans of n placements, for GCA.
    RS, RE : arrays of int, shape (n, J)
        The spans the paths may use (:func:`optim.solvers.nsga2.routable`: servers that can hold one
        session on their whole span; the others empty).
    slots : array of int, shape (n, J)
        Free cache slots ``M~_j`` of each placement (:func:`optim.perf.free_cache_slots`).
    num_blocks : int
    A : array of float, shape (C, J); B : array of float, shape (J,)
        Whole-request hop costs per client (:func:`optim.perf.hop_cost_coefficients`), seconds.
    chain_A, chain_B : arrays of float, shape (J,)
        GCA's hop costs (:func:`optim.perf.gca.chain_cost_coefficients`), seconds.
    limit : int
        Most chains per placement.

    Returns
    -------
    costs : ndarray, shape (n, C)
        Seconds, ``inf`` where a client has no path.
    nu : ndarray, shape (n,)
        ``sum_k c_k / T_k`` of GCA's chains, per second; 0 where some client has no path.
    """
    S = np.ascontiguousarray(S, dtype=np.int64)
    A = np.ascontiguousarray(np.atleast_2d(A), dtype=float)
    costs, nu = np.empty((S.shape[0], A.shape[0])), np.empty(S.shape[0])
    ints = (np.ascontiguousarray(x, dtype=np.int64) for x in (E, RS, RE, slots))
    _kernels()["population"](S, *ints,
                             int(num_blocks), A, np.ascontiguousarray(B, dtype=float),
                             np.ascontiguousarray(chain_A, dtype=float), np.ascontiguousarray(chain_B, dtype=float),
                             int(limit), costs, nu)
    return costs, nu

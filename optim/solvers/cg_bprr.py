"""CG-BPRR: conservative greedy block placement and shortest-path routing.

Algorithm 1 of Sun, He, Ji, Parag, "Optimizing Resource Allocation for Geographically-Distributed
Inference by LLMs", arXiv 2512.21884 (IFIP Performance 2025), Sec. 5, Algorithm 1.
"""
from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from ..instance import Instance
from ..perf import free_cache_slots, hop_cost_coefficients, request_shares, session_capacity
from ..routing import NoPathError, client_hops
from ..solution import Hop, Path, ServerPlacement, Solution, Status
from ..units import GB, MS
from ._windows import first_argmax, lexmin_sorted_window, window_sums
from ..options import MAX_COUNT, Objective
from .base import register


def conservative_block_counts(inst: Instance, concurrent_requests: int) -> np.ndarray:
    """m_j = min(floor(M_j / (s_m + s_c |R|)), L): blocks that leave cache for |R| sessions
    through every one of them (Alg. 1 step 1). Shape (J,), int."""
    m = np.floor(inst.memory_bytes / (inst.server_block_bytes + inst.cache_bytes_per_block_session * concurrent_requests))
    return np.minimum(m, inst.num_blocks).astype(np.int64)


def cg_placement(inst: Instance, m: np.ndarray, concurrent_requests: int, dummy_margin_s: float = 1.0 * MS,
                 redundancy: int = 1):
    """Greedy placement of Alg. 1 step 2.

    Servers are taken in increasing ``t~_j = t_j / m_j`` with ``t_j = max_c (t_cj + tau_j m_j)``
    (worst active client, per decode token). While some block b has fewer than |R| sessions
    (``C_b < |R|``), a server takes the window containing an under-served block with the largest
    ``sum T_b``; afterwards the window whose sorted C-vector is lexicographically smallest. Then
    ``T_b -= (t~'_max - t~_j) min(max(|R| - C_b, 0), s_j)`` and ``C_b += s_j`` over the window,
    where ``t~'_max = max_j t~_j + dummy_margin_s`` is the dummy server's time.

    With ``redundancy = r > 1`` a block also counts as under-served while fewer than r servers
    hold it (an extension of Alg. 1, so that any r - 1 servers may fail and every block is still
    held), and K is reached when every block has |R| sessions and r servers.

    Returns
    -------
    start, end : arrays of int, shape (J,)
    order : array of int
        Servers with m_j > 0 in increasing t~_j.
    K : int or None
        Servers (in ``order``) needed until every block has |R| sessions; None if never.
    t, t_tilde : arrays of float, shape (J,), seconds
    """
    L, R = inst.num_blocks, concurrent_requests
    active = inst.arrival_rates > 0
    t = np.max(inst.decode_comm_s[active], axis=0) + inst.decode_s * m
    usable = m > 0
    t_tilde = np.full(inst.num_servers, np.inf)
    t_tilde[usable] = t[usable] / m[usable]
    order = np.flatnonzero(usable)[np.argsort(t_tilde[usable], kind="stable")]
    sessions = session_capacity(inst, m)
    start = np.zeros(inst.num_servers, dtype=np.int64)
    end = np.zeros(inst.num_servers, dtype=np.int64)
    if order.size == 0:
        return start, end, order, None, t, t_tilde
    t_max = float(t_tilde[order].max()) + dummy_margin_s
    C = np.zeros(L, dtype=np.int64)
    H = np.zeros(L, dtype=np.int64)  # servers holding each block
    T = np.full(L, R * t_max)
    K = None
    for n, j in enumerate(order):
        mj = int(m[j])
        under = (C < R) | (H < redundancy)
        if under.any():
            has_under = window_sums(under.astype(float), mj) > 0
            a = first_argmax(np.where(has_under, window_sums(T, mj), -np.inf))
        else:
            a = lexmin_sorted_window(C.astype(float), mj)
        start[j], end[j] = a, a + mj
        T[a:a + mj] -= (t_max - t_tilde[j]) * np.minimum(np.maximum(R - C[a:a + mj], 0), sessions[j])
        C[a:a + mj] += sessions[j]
        H[a:a + mj] += 1
        if K is None and (C >= R).all() and (H >= redundancy).all():
            K = n + 1
    return start, end, order, K, t, t_tilde


def theorem2_bound(inst: Instance, m: np.ndarray, order: np.ndarray, K: int, t: np.ndarray) -> float:
    """Theorem 2 of arXiv 2512.21884: the mean per-token time of CG-BPRR is at most
    ``sum_{j<=K} t~_j m_j - tau_K (sum_{j<=K} m_j - L)`` = ``sum_{j<=K} t_j - tau_K (sum m_j - L)``,
    servers in CG order, seconds per decode token."""
    first = order[:K]
    return float(t[first].sum() - inst.decode_s[order[K - 1]] * (m[first].sum() - inst.num_blocks))


@register("cg-bprr", "Conservative greedy placement + shortest-path routing with the Theorem-2 bound "
          "(BPRR, arXiv 2512.21884 Alg. 1)", features=("placement", "routing", "bound"))
def cg_bprr(inst: Instance, *,
            concurrent_requests: Annotated[int | None, Field(ge=1, le=MAX_COUNT, description=(
                "|R|, sessions every server reserves cache for; None: workload.concurrent_requests"))] = None,
            routing_objective: Objective = "decode",
            dummy_margin_s: Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False, description=(
                "how much slower than the slowest server the dummy server of step 2 is, seconds"))] = 1.0 * MS,
            redundancy: Annotated[int, Field(ge=1, le=1000, description=(
                "every block held by at least this many servers, so that r - 1 failures leave it served"))] = 1,
            ) -> Solution:
    """Solve with CG-BPRR (arXiv 2512.21884, Algorithm 1).

    Parameters
    ----------
    inst : Instance
    concurrent_requests : int, optional
        |R|, sessions every server reserves cache for; default ``workload.concurrent_requests``.
    routing_objective : {"decode", "inference"}
        Edge cost of the routing DAG: the paper's per-token decode time ``t_cj + tau_j k``
        (default), or the whole request time including prefill.
    dummy_margin_s : float
        How much slower than the slowest server the dummy server of step 2 is, seconds (the
        paper's "+1", in ms).
    redundancy : int
        Every block held by at least r servers (:func:`cg_placement`); ``optim evaluate`` reports
        what the worst single failure leaves.

    Returns
    -------
    Solution
        Status ``feasible`` with ``details["theorem2_bound_s_per_token"]``, or ``infeasible`` with
        the reason (Corollary 1 fails, or some block cannot get |R| sessions).

    Notes
    -----
    O(J (L log L + C L)) for J servers, C clients; placement loop vectorised over blocks.
    Every server with m_j > 0 is placed, the ones after K adding redundancy (lexicographic rule).

    Where servers may choose their dtype or TP degree (:mod:`optim.configure`), CG-BPRR runs for
    each configuration tried by :func:`optim.configure.with_choices` and keeps the one with the
    least mean ``routing_objective`` time plus quality penalty; the placement records the choice.
    """
    from ..configure import has_choices, paths_metric, with_choices

    if has_choices(inst):
        return with_choices(inst, "cg-bprr", lambda i: _cg_bprr(i, concurrent_requests, routing_objective, dummy_margin_s,
                                                                  redundancy),
                            lambda i, sol: paths_metric(i, sol, routing_objective), routing_objective)
    return _cg_bprr(inst, concurrent_requests, routing_objective, dummy_margin_s, redundancy)


def _cg_bprr(inst: Instance, concurrent_requests: int | None, routing_objective: str, dummy_margin_s: float,
             redundancy: int = 1) -> Solution:
    """CG-BPRR on the instance's stated server configurations (see :func:`cg_bprr`)."""
    R = int(concurrent_requests or inst.workload.concurrent_requests)
    L = inst.num_blocks
    m = conservative_block_counts(inst, R)
    options = {"concurrent_requests": R, "routing_objective": routing_objective, "redundancy": redundancy}
    if m.sum() < L:
        per = inst.server_block_bytes + inst.cache_bytes_per_block_session * R
        return Solution(instance=inst.name, solver="cg-bprr", status=Status.INFEASIBLE, options=options,
                        message=(f"infeasible for |R| = {R}: with {per.min() / GB:.3f} GB or more per block (weights + {R} sessions' "
                                 f"cache) the servers hold {int(m.sum())} blocks, fewer than L = {L} "
                                 "(Corollary 1 of arXiv 2512.21884); lower concurrent_requests or add memory"))
    start, end, order, K, t, t_tilde = cg_placement(inst, m, R, dummy_margin_s, redundancy)
    alg1 = redundancy == 1
    if K is None and redundancy > 1:  # Alg. 1's own placement may already hold every block r times
        from ..perf.capacity import servers_per_block

        plain = cg_placement(inst, m, R, dummy_margin_s)
        if plain[3] is not None and servers_per_block(plain[0], plain[1], L).min() >= redundancy:
            start, end, order, K, t, t_tilde = plain
            alg1 = True
    if K is None:
        why = f"some block cannot get {R} sessions of cache" + (
            f" and {redundancy} servers ({int(np.count_nonzero(m))} servers hold blocks)" if redundancy > 1 else "")
        return Solution(instance=inst.name, solver="cg-bprr", status=Status.INFEASIBLE, options=options,
                        message=f"infeasible for |R| = {R}: {why}")
    slots = np.maximum(free_cache_slots(inst, end - start), 0)
    placement = [ServerPlacement(server=s.id, start=int(start[j]), end=int(end[j]), cache_slots=int(slots[j]))
                 for j, s in enumerate(inst.servers)]
    A, B = hop_cost_coefficients(inst, routing_objective)
    shares = request_shares(inst)
    paths = []
    for c, client in enumerate(inst.clients):
        try:
            hops, _ = client_hops(inst, c, start, end, routing_objective, relay_costs=(A, B))
        except NoPathError as err:  # cannot happen once K is found; kept for safety
            return Solution(instance=inst.name, solver="cg-bprr", status=Status.INFEASIBLE,
                            options=options, message=str(err))
        paths.append(Path(client=client.id, requests=int(shares[c]),
                          hops=[Hop(server=inst.servers[j].id, start=a, end=b) for j, a, b in hops]))
    # Theorem 2 is proved for Alg. 1's placement; with redundancy the placement is another one
    bound = theorem2_bound(inst, m, order, K, t) if alg1 else None
    details = {"theorem2_bound_s_per_token": bound, "K": int(K),
               "server_order": [inst.servers[j].id for j in order],
               "blocks_per_server": {inst.servers[j].id: int(m[j]) for j in order}}
    return Solution(instance=inst.name, solver="cg-bprr", status=Status.FEASIBLE, options=options,
                    placement=placement, paths=paths, details=details)

"""GBP-CR + GCA: server-chain composition (Sun, He, Hou, arXiv 2604.14993, Sec. 3, Alg. 1 and 2).

GBP-CR for a given c (sessions every hosted block reserves cache for) gives each server
``m_j(c) = min(floor(M_j / (s_m + s_c c)), L)`` blocks (Eq. 6) and, with ``t_j(c) = tau^c_j + tau^p_j m_j(c)``
and ``t~_j(c) = t_j(c) / m_j(c)`` (Eq. 8), fills disjoint chains with servers in increasing t~_j: each
server continues the current chain where it stands (the last one shifted back to end at block L),
and a completed chain adds 1/T to nu; it stops once ``nu >= lambda / (rho-bar c)`` (servers not reached
get no blocks; those of an unfinished last chain keep theirs, for GCA to use). GCA then allocates the caches of that placement into chains with capacities.

c is chosen by running GBP-CR + GCA for each candidate and minimising the Theorem-4 lower bound on
the mean response time (the paper's recommended rule, Sec. 3.2.3), among c in 1..c_max,
``c_max = floor((max_j M_j - s_m) / s_c)``; above 256 candidates, a geometric grid of 256 values.
With several clients the rule is kept at the paper's single orchestrator (each chain's time at the
clients' rate-weighted RTTs), while the objective and bounds reported are those of client-aware JFFC
(:func:`optim.perf.chains.client_aware_bounds`: every client's own chain times, as ``optim evaluate``
and the simulator have them); each client's path is the chain fastest for it.

With GPU contention (servers with ``batching`` none or continuous) the bound is taken at the chains'
load-dependent times (:func:`optim.perf.batching.jffc_equilibrium`), and for each c the placements
with more chains than Alg. 1 stops at are candidates too: sessions that share a GPU slow each other,
so spreading them over more chains can serve the same load faster (an extension of the paper,
which assumes fixed chain rates).

Two placements whose lower bounds are equal are a tie, and the one with the larger total rate nu
wins: the same predicted mean with more headroom for bursts and a growing lambda. Where the bounds
come from the load-dependent times, equal means within ``TIE_RTOL`` (0.1%, ten times the tolerance
of that fixed-point iteration); elsewhere the bounds are exact, and within 1e-12. Without this the
choice between two placements was left to the last digits of the fixed-point iteration: on the
Table-I testbed of ``benchmarks/reproduce_chains.py`` at c = 35, GCA's two chains (capacity 72) or
four (108) as the compute factor moved by 0.3%, with the same simulated mean under Poisson
arrivals (12.0 s) but 32.7 s against 17.3 s under the Azure trace's bursts.
"""
from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from ..errors import UnstableSystemError
from ..instance import Instance
from ..perf import free_cache_slots, request_shares
from ..perf.batching import has_contention, jffc_equilibrium
from ..perf.ctmc import theorem4_bounds
from ..perf.chains import chain_times_by_client, client_aware_bounds
from ..perf.gca import chain_cost_coefficients, chain_rates, greedy_cache_allocation
from ..solution import Chain, Hop, Path, ServerPlacement, Solution, Status
from ..options import MAX_COUNT
from .base import register

MAX_CANDIDATES = 256
#: relative difference of two Theorem-4 lower bounds at load-dependent chain times below which they
#: tie (see the module docstring); exact bounds tie within ``EXACT_TIE_RTOL``
TIE_RTOL = 1e-3
EXACT_TIE_RTOL = 1e-12


def _tie_rtol(inst: Instance) -> float:
    """How close two lower bounds on ``inst`` must be to tie: TIE_RTOL where they come from the
    fixed-point load-dependent times (GPU contention), EXACT_TIE_RTOL elsewhere."""
    return TIE_RTOL if has_contention(inst) else EXACT_TIE_RTOL


def _better(res, best, rtol: float) -> bool:
    """Whether the evaluated placement ``res`` beats ``best``: a lower bound lower by more than the
    relative ``rtol``, or within it (a tie) with a larger total rate nu. Both are
    ``(lower_s, start, end, chains, bounds, ...)``; ``None`` is no placement."""
    if res is None:
        return False
    if best is None or res[0] < best[0] * (1.0 - rtol):
        return True
    return res[0] <= best[0] * (1.0 + rtol) and res[4].total_rate_per_s > best[4].total_rate_per_s


def gbp_cr_placement(inst: Instance, c: int, with_rate: bool = False, min_chains: int = 0):
    """GBP-CR (Alg. 1) for a given c: spans (start, end) and the number of chains formed.

    ``min_chains`` keeps forming chains past Alg. 1's stop (``nu >= lambda / (rho-bar c)``) until
    there are that many: with GPU contention the contention-free nu overstates what a chain serves.

    Returns
    -------
    start, end : arrays of int, shape (J,)
    chains : int
        Complete disjoint chains formed (0 if the servers cannot complete one).
    nu : float
        Only with ``with_rate``: sum over the chains of 1 / sum_j t_j(c) (the rate of Eq. 7, per slot).
    """
    L = inst.num_blocks
    m = np.minimum(np.floor(inst.memory_bytes / (inst.server_block_bytes + inst.cache_bytes_per_block_session * c)),
                   L).astype(np.int64)
    A, B = chain_cost_coefficients(inst)
    t = A + B * m
    usable = np.flatnonzero(m > 0)
    order = usable[np.argsort(t[usable] / m[usable], kind="stable")]
    target = inst.total_arrival_rate / (inst.workload.target_load * c)
    start = np.zeros(inst.num_servers, dtype=np.int64)
    end = np.zeros(inst.num_servers, dtype=np.int64)
    a, T, nu, chains = 0, 0.0, 0.0, 0
    for j in order:
        s = min(a, L - int(m[j]))
        start[j], end[j] = s, s + m[j]
        T += t[j]
        a = min(a + int(m[j]), L)
        if a >= L:
            nu += 1.0 / T
            chains += 1
            if nu >= target and chains >= min_chains:
                break
            a, T = 0, 0.0
    # the servers of an unfinished last chain keep their blocks, as in Alg. 1 and the authors' code:
    # GCA combines them with the complete chains' servers into further chains
    return (start, end, chains, nu) if with_rate else (start, end, chains)


def _evaluate_c(inst: Instance, c: int, cache: dict):
    """The best GBP-CR placement for c (lowest Theorem-4 lower bound, ties to the larger nu:
    :func:`_better`). Without contention, Alg. 1's own; with GPU contention also those with more
    chains (``min_chains`` up to using every server)."""
    best, k_min = None, 0
    contention, rtol = has_contention(inst), _tie_rtol(inst)
    while True:
        start, end, k = gbp_cr_placement(inst, c, min_chains=k_min)
        if k == 0 or k < k_min:
            break
        key = start.tobytes() + end.tobytes()  # many c give the same placement: GCA and bounds once per placement
        if key not in cache:
            cache[key] = _evaluate_placement(inst, start, end)
        res = cache[key]
        better = _better(res, best, rtol)
        if better:
            best = res
        if not contention or (best is not None and not better):
            break  # more chains only help while they lower the bound (or tie it with more rate)
        k_min = k + 1
    return best


def _evaluate_placement(inst: Instance, start: np.ndarray, end: np.ndarray):
    """GCA's chains on the placement and the Theorem-4 bounds on them, with load-dependent chain
    times where servers share their GPU (:func:`optim.perf.batching.jffc_equilibrium`)."""
    chains = greedy_cache_allocation(inst, start, end)
    if not chains:
        return None
    mu, cap = chain_rates(chains)
    servers = [np.array([j for j, _, _ in ch.hops]) for ch in chains]
    blocks = [np.array([e - b for _, b, e in ch.hops], dtype=float) for ch in chains]
    try:
        if has_contention(inst):
            loaded, _ = jffc_equilibrium(inst, servers, blocks, 1.0 / mu, cap, inst.total_arrival_rate, rtol=1e-4)
            mu = 1.0 / loaded
        b = theorem4_bounds(mu, cap, inst.total_arrival_rate)
        score = b.lower_s
        if inst.num_clients > 1 and not has_contention(inst):  # the bounds of each client's own chain times
            b = client_aware_bounds(inst, servers, blocks, cap)
    except UnstableSystemError:
        return None
    return score, start, end, chains, b


def candidate_cs(inst: Instance) -> np.ndarray:
    """1..c_max, or a geometric grid of MAX_CANDIDATES values when c_max is larger."""
    c_max = int((inst.memory_bytes - inst.server_block_bytes).max() // inst.cache_bytes_per_block_session)
    if c_max < 1:
        return np.array([], dtype=int)
    if c_max <= MAX_CANDIDATES:
        return np.arange(1, c_max + 1)
    return np.unique(np.round(np.geomspace(1, c_max, MAX_CANDIDATES)).astype(int))


@register("gbp-cr", "Server-chain composition: GBP-CR placement + GCA cache allocation, c chosen by the "
          "Theorem-4 lower bound (arXiv 2604.14993 Alg. 1-2)", features=("placement", "chains", "queueing"))
def gbp_cr(inst: Instance, *, c: Annotated[int | None, Field(ge=1, le=MAX_COUNT, description=(
        "sessions per hosted block to reserve cache for; None: the candidate minimising the "
        "Theorem-4 lower bound on the mean response time under JFFC"))] = None) -> Solution:
    """Solve with GBP-CR + GCA.

    Parameters
    ----------
    c : int, optional
        Sessions per hosted block to reserve cache for; default: the candidate minimising the
        Theorem-4 lower bound on the mean response time under JFFC.

    Returns
    -------
    Solution
        ``chains`` (hops, capacity, service time), the placement, each client's path on the chain fastest for it
        (BPRR view, for the latency metrics), and ``details`` with c, nu, rho and both bounds;
        ``infeasible`` when no c gives a stable system (lambda >= nu for all).

    Where servers may choose their dtype or TP degree (:mod:`optim.configure`), the search of
    :func:`optim.configure.with_choices` keeps the configuration with the least Theorem-4 lower
    bound plus quality penalty; the placement records the choice.
    """
    from ..configure import has_choices, with_choices

    if has_choices(inst):
        return with_choices(inst, "gbp-cr", lambda i: _gbp_cr(i, c), lambda i, sol: sol.objective)
    return _gbp_cr(inst, c)


def _gbp_cr(inst: Instance, c: int | None) -> Solution:
    """GBP-CR + GCA on the instance's stated server configurations (see :func:`gbp_cr`)."""
    cands = [int(c)] if c is not None else candidate_cs(inst).tolist()
    best = None
    tried = 0
    cache: dict = {}
    rtol = _tie_rtol(inst)
    for cc in cands:
        res = _evaluate_c(inst, cc, cache)
        tried += 1
        if _better(res, best, rtol):
            best = (*res, cc)
    if best is None:
        return Solution(instance=inst.name, solver="gbp-cr", status=Status.INFEASIBLE,
                        message=(f"no c in {cands[0]}..{cands[-1]} gives chains whose total rate exceeds the arrival "
                                 f"rate {inst.total_arrival_rate:g}/s" if cands else "no server holds a block"))
    _, start, end, chains, bounds, cc = best
    slots = np.maximum(free_cache_slots(inst, end - start), 0)
    placement = [ServerPlacement(server=s.id, start=int(start[j]), end=int(end[j]), cache_slots=int(slots[j]))
                 for j, s in enumerate(inst.servers)]
    chain_out = [Chain(hops=[Hop(server=inst.servers[j].id, start=b, end=e) for j, b, e in ch.hops],
                       capacity=ch.capacity, service_time_s=ch.service_time_s) for ch in chains]
    times = chain_times_by_client(inst, [np.array([j for j, _, _ in ch.hops]) for ch in chains],
                                  [np.array([e - b for _, b, e in ch.hops]) for ch in chains])
    paths = [Path(client=cl.id, requests=int(n), hops=chain_out[int(np.argmin(times[c]))].hops)
             for c, (cl, n) in enumerate(zip(inst.clients, request_shares(inst))) if n > 0 or cl.arrival_rate_per_s > 0]
    details = {"c": cc, "candidates_tried": tried, "distinct_placements": len(cache), "nu_per_s": bounds.total_rate_per_s, "rho": bounds.rho,
               "response_time_lower_s": bounds.lower_s, "response_time_upper_s": bounds.upper_s}
    return Solution(instance=inst.name, solver="gbp-cr", status=Status.FEASIBLE, placement=placement, paths=paths,
                    chains=chain_out, objective=bounds.lower_s, objective_name="response_time_lower_bound_s",
                    details=details)

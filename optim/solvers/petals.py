"""The PETALS baseline: block selection with rebalancing, and min-latency routing.

Implemented from the behaviour of PETALS (bigscience-workshop/petals at 22afba62) as described
(Borzunov et al., "Distributed Inference and Fine-tuning of Large Language Models Over
the Internet", NeurIPS 2023, arXiv 2312.08361, Sec. 3.2), and as the BPRR paper replicates it
(arXiv 2512.21884 Sec. 7). Variant: the *full* PETALS algorithm, not Helix's single greedy pass:

1. **Block count** (``Server._choose_num_blocks``): ``m_j = min(floor((M_j - autograd) /
   (s_m + cache_per_block)), L)`` with ``autograd = 2 GiB x hidden / 14336`` and
   ``cache_per_block = kv bytes/token x attn_cache_tokens`` (16384 tokens with GQA, else 4096).
2. **Join**: servers join one at a time (random order by default, as in a real swarm) and take
   the window whose sorted per-block throughput is lexicographically smallest, adding their
   throughput ``min(forward_rps / ((m + 1) / 2), network_rps)``.
3. **Rebalancing** (``should_choose_other_blocks``, balance_quality 0.75): servers are checked in
   random order; one moves when a simulated local search would raise the swarm's weakest
   block throughput by more than 1 / balance_quality; rounds repeat until no server moves.
4. **Routing** (``min_latency`` mode): Dijkstra with per-hop cost ``min(rtt/2, 5 s) + 18 ms``,
   ``1 / inference_rps`` per block, ``min(rtt/2, 5 s)`` back to the client, and a 10 s penalty on
   a server whose free cache cannot hold a session over its whole span. The |R| concurrent
   requests are routed one after another, each taking cache on its path, so later ones see the
   penalty. RTTs are client-server (the client relays, as in the BPRR replication).

The cache a PETALS server reserves is its ``attn_cache_tokens`` budget per block (capped by
the memory left), converted to sessions of the instance's maximum sequence length.
"""
from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from ..instance import Instance
from ..perf import free_cache_slots
from ..routing import ALLOC_PENALTY_S, HOP_OVERHEAD_S, NoPathError, petals_hop_costs
from ..solution import Path, ServerPlacement, Solution, Status
from ..units import GIB, MBIT_PER_S
from ..options import MAX_COUNT, Seed
from ._windows import lexmin_sorted_window
from .base import register

EPS = 1e-3  #: PETALS' eps in should_choose_other_blocks
FORWARD_TOKENS = 1024  #: tokens per step of PETALS' forward_rps measurement
DEFAULT_NETWORK_MBPS = 100.0  #: PETALS' fallback when speedtest fails


def petals_block_counts(inst: Instance, attn_cache_tokens: int | None = None) -> tuple[np.ndarray, int]:
    """PETALS' ``_choose_num_blocks`` for every server; returns (m, attn_cache_tokens)."""
    model = inst.model
    groups = model.num_kv_groups or 1
    tokens = attn_cache_tokens or (16384 if groups > 1 else 4096)
    autograd = 2 * GIB * (model.hidden_size or 0) / 14336
    cache_per_block = model.kv_cache_bytes_per_token_per_block * tokens
    m = np.floor((inst.memory_bytes - autograd) / (inst.server_block_bytes + cache_per_block))
    return np.clip(m, 0, inst.num_blocks).astype(np.int64), tokens


def announced_throughput(inst: Instance, m: np.ndarray) -> np.ndarray:
    """Throughput a PETALS server announces, tokens/s: ``min(forward_rps / ((m + 1) / 2), network_rps)``.

    ``forward_rps`` is one block's rate on a 1024-token forward pass (from the server's prefill
    times); ``network_rps = bandwidth / (hidden x 16 bit)`` with 100 Mbit/s when unknown.
    """
    step_s = np.array([(s.prefill_ms_per_block + FORWARD_TOKENS * s.prefill_ms_per_block_per_token) * 1e-3
                       for s in inst.servers])
    # a server with no prefill cost has an unbounded forward rate: the network cap then binds
    with np.errstate(over="ignore"):  # a vanishing (denormal) step time: unbounded, as for zero
        forward = np.divide(FORWARD_TOKENS, step_s, out=np.full(step_s.shape, np.inf), where=step_s > 0)
    bits = np.array([(s.bandwidth_mbps or DEFAULT_NETWORK_MBPS) * MBIT_PER_S for s in inst.servers])
    network = bits / ((inst.model.hidden_size or 1) * 16)
    return np.minimum(forward / ((m + 1) / 2.0), network)


def _block_throughput(start, end, thr, L):
    t = np.zeros(L + 1)
    np.add.at(t, start, thr)
    np.add.at(t, end, -thr)
    return np.cumsum(t)[:L]


def should_move(j: int, start: np.ndarray, end: np.ndarray, thr: np.ndarray, L: int,
                balance_quality: float, rng: np.random.Generator) -> bool:
    """PETALS' ``should_choose_other_blocks`` for server j (simulated local search on copies).

    As in PETALS, ``balance_quality > 1`` forces a move at every check.
    """
    if balance_quality > 1.0:
        return True
    start, end = start.copy(), end.copy()
    m = end - start
    t = _block_throughput(start, end, thr, L)
    initial = t.min()
    t[start[j]:end[j]] -= thr[j] * (1 + EPS)
    if initial > EPS and t.min() <= 0:
        return False  # moving would disconnect the swarm
    new = lexmin_sorted_window(t, int(m[j]))
    if new == start[j]:
        return False
    t[start[j]:end[j]] += thr[j] * EPS
    start[j], end[j] = new, new + m[j]
    t[start[j]:end[j]] += thr[j]
    active = np.flatnonzero(m > 0)
    moved = True
    while moved:
        moved = False
        for i in rng.permutation(active):
            t[start[i]:end[i]] -= thr[i] * (1 + EPS)
            s = lexmin_sorted_window(t, int(m[i]))
            t[start[i]:end[i]] += thr[i] * EPS
            if s != start[i]:
                start[i], end[i] = s, s + m[i]
                moved = True
            t[start[i]:end[i]] += thr[i]
    final = t.min()
    if final < initial or final < EPS:
        return False
    return initial / final < balance_quality - EPS


def petals_placement(inst: Instance, m: np.ndarray, thr: np.ndarray, rng: np.random.Generator,
                     join_order: str, balance_quality: float, max_rebalance_rounds: int):
    """Join in order, then rebalance; returns (start, end, rounds of rebalancing run, moves made)."""
    L, J = inst.num_blocks, inst.num_servers
    start = np.zeros(J, dtype=np.int64)
    end = np.zeros(J, dtype=np.int64)
    t = np.zeros(L)
    order = rng.permutation(J) if join_order == "random" else np.arange(J)
    for j in order:
        if m[j] > 0:
            a = lexmin_sorted_window(t, int(m[j]))
            start[j], end[j] = a, a + m[j]
            t[a:a + m[j]] += thr[j]
    rounds = moves = 0
    active = np.flatnonzero(m > 0)
    while balance_quality > 0 and rounds < max_rebalance_rounds:
        rounds += 1
        moved = False
        for j in rng.permutation(active):
            if should_move(j, start, end, thr, L, balance_quality, rng):
                t = _block_throughput(start, end, thr, L)
                t[start[j]:end[j]] -= thr[j]
                a = lexmin_sorted_window(t, int(m[j]))
                if a != start[j]:  # a forced move (balance_quality > 1) may land where it was
                    start[j], end[j] = a, a + m[j]
                    moved = True
                    moves += 1
        if not moved:
            break
    return start, end, rounds, moves


@register("petals", "PETALS baseline: block selection with rebalancing (balance_quality 0.75) and "
          "min-latency Dijkstra routing with the 10 s cache penalty", features=("placement", "routing"))
def petals(inst: Instance, *, seed: Seed = 0,
           join_order: Annotated[Literal["random", "instance"], Field(
               description="order in which servers join the swarm")] = "random",
           balance_quality: Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False, description=(
               "PETALS' rebalancing threshold: a server moves when the swarm's throughput would rise by "
               "more than 1/balance_quality - 1; 0 disables, above 1 always rebalances"))] = 0.75,
           max_rebalance_rounds: Annotated[int, Field(ge=0, le=10_000, description=(
               "rounds of rebalancing checks over all servers (PETALS runs them periodically, forever)"))] = 20,
           alloc_penalty_s: Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False, description=(
               "routing penalty, seconds, for a server short of cache (PETALS: 10 s)"))] = ALLOC_PENALTY_S,
           hop_overhead_s: Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False, description=(
               "serialisation overhead per hop, seconds (PETALS: 18 ms)"))] = HOP_OVERHEAD_S,
           attn_cache_tokens: Annotated[int | None, Field(ge=1, le=MAX_COUNT, description=(
               "cache tokens per block a server reserves; None: 16384 with GQA, else 4096"))] = None) -> Solution:
    """Solve with the PETALS heuristics (the baseline everyone is measured against).

    Parameters
    ----------
    seed : int
        Seeds the join order and the rebalancing order.
    join_order : {"random", "instance"}
        Order in which servers join the swarm.
    balance_quality : float
        PETALS' rebalancing threshold; 0 disables rebalancing.
    max_rebalance_rounds : int
        Rounds of rebalancing checks over all servers (PETALS runs them forever, periodically).
    alloc_penalty_s, hop_overhead_s : float
        Routing penalty for a server short of cache, and serialisation overhead per hop, seconds.
    attn_cache_tokens : int, optional
        Cache tokens per block a server reserves; default 16384 with GQA, else 4096.

    Returns
    -------
    Solution
        ``details`` records block counts, rebalancing rounds and moves, and how many requests were
        routed onto a server short of cache.
    """
    rng = np.random.default_rng(seed)
    L = inst.num_blocks
    m, tokens = petals_block_counts(inst, attn_cache_tokens)
    options = {"seed": seed, "join_order": join_order, "balance_quality": balance_quality}
    if m.sum() < L:
        return Solution(instance=inst.name, solver="petals", status=Status.INFEASIBLE, options=options,
                        message=f"PETALS' block counts add up to {int(m.sum())} blocks, fewer than L = {L}")
    thr = announced_throughput(inst, m)
    start, end, rounds, moves = petals_placement(inst, m, thr, rng, join_order, balance_quality,
                                                 max_rebalance_rounds)
    budget = np.floor(m * tokens / (inst.workload.input_tokens_max + inst.workload.output_tokens_max))
    slots = np.minimum(budget, np.maximum(free_cache_slots(inst, m), 0)).astype(np.int64)
    placement = [ServerPlacement(server=s.id, start=int(start[j]), end=int(end[j]), cache_slots=int(slots[j]))
                 for j, s in enumerate(inst.servers)]

    try:
        paths, short = petals_routing(inst, start, end, slots, alloc_penalty_s=alloc_penalty_s,
                                      hop_overhead_s=hop_overhead_s)
    except NoPathError as err:
        return Solution(instance=inst.name, solver="petals", status=Status.INFEASIBLE,
                        options=options, message=str(err))
    details = {"blocks_per_server": {s.id: int(m[j]) for j, s in enumerate(inst.servers)},
               "attn_cache_tokens": tokens, "rebalance_rounds": rounds, "rebalance_moves": moves,
               "requests_routed_short_of_cache": int(short)}
    return Solution(instance=inst.name, solver="petals", status=Status.FEASIBLE, options=options,
                    placement=placement, paths=paths, details=details)

def petals_routing(inst: Instance, start: np.ndarray, end: np.ndarray, slots: np.ndarray, *,
                   alloc_penalty_s: float = ALLOC_PENALTY_S, hop_overhead_s: float = HOP_OVERHEAD_S
                   ) -> tuple[list[Path], int]:
    """PETALS' min-latency routing of the |R| concurrent requests over given spans.

    Requests are interleaved among clients in proportion to their shares and routed one after
    another by Dijkstra (``petals_hop_costs``), each taking cache on its path; a server whose free
    cache cannot hold a session over its span costs ``alloc_penalty_s`` more (PETALS'
    ``min_latency`` mode, step 4 of the module docstring).

    Parameters
    ----------
    inst : Instance
    start, end : ndarray of int, shape (J,)
        Half-open spans (``start == end``: no blocks).
    slots : ndarray of int, shape (J,)
        Cache slots (session-blocks) each server reserves.

    Returns
    -------
    paths : list of Path
    short : int
        Requests routed onto a server short of cache.

    Raises
    ------
    NoPathError
        Some block is held by no server, so a client has no chain.
    """
    from ..routing import route_sessions

    return route_sessions(inst, start, end, slots, lambda c: petals_hop_costs(inst, c, end, hop_overhead_s),
                          alloc_penalty_s, direct_objective="petals")

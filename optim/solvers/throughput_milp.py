"""Max-throughput placement: the Helix MILP (Mei et al., ASPLOS'25, arXiv 2406.01566, Sec. 4).

Variables per server i: start block ``s_i`` (integer), one-hot block count ``b[i, k]`` (k = 1..K_i, none
= unused server), flows ``f`` on source -> i, i -> j, i -> sink edges in tokens/s, and edge switches
``d``. Constraints (Helix's, with its ``remove_redundant`` simplification: only "enabled => valid"):

- ``sum_k b[i, k] <= 1``; ``e_i = s_i + sum_k k b[i, k] <= L``;
- source -> i only if ``s_i = 0``: ``s_i <= L (1 - d)``; i -> sink only if ``e_i = L``;
- i -> j only if ``s_j <= e_i < e_j`` (partial inference: j runs blocks [e_i, e_j), the hop rule
  every optim routing uses, Lemma 1 of arXiv 2512.21884);
- conservation at each server; node capacity ``sum_in f <= sum_k T_i(k) b[i, k]``;
  edge capacity ``f <= C_ij d``;
- objective: max ``sum_i f[source, i]`` tokens/s;
- cut: ``L sum_i f[source, i] <= sum_{i,k} k T_i(k) b[i, k]`` (every token passes L blocks; Helix's
  upper bound ``sum_i max_k k T_i(k) / L`` as a constraint).

Helix takes T_i(k) from profiles; optim uses the decode roofline at full batch:
``T_i(k) = min(S_i(k) / (k tau_i), f_i / (2 P k))`` tokens/s, with ``S_i(k) = floor((M_i - s_m k) / (s_c k))``
sessions (one decode step reads k blocks once for the whole batch, until compute-bound).
Edge capacity ``C_ij = min(bw_i, bw_j) / (hidden x 16 bit)`` tokens/s (Helix: bandwidth / activation
size); edges may be pruned to the ``prune_links`` largest per server, as Helix does (12).
Warm start: the best, in maximum flow (networkx), of the PETALS placement and coverage fills
(:func:`coverage_placement`: every block held by at least F tokens/s, F bisected; randomised
restarts), improved by a local search on the flow (:func:`improve_by_max_flow`). Link latency does not enter
(as in Helix); the validator reports the latency of the resulting paths.
"""
from __future__ import annotations

import tempfile
from typing import Annotated

import numpy as np
from pydantic import Field

from .._lazy import LazyModule
from ..instance import Instance
from ..perf import free_cache_slots, largest_remainder, request_shares
from ..solution import Hop, Path, ServerPlacement, Solution, Status
from ..units import MBIT_PER_S
from ..backends import Deadline, MilpProgress, OutOfTime, solve_milp, write_model
from ..options import MAX_COUNT, Backend, MipGap, Threads, TimeLimit
from .base import register, solve

pyo = LazyModule("pyomo.environ")
nx = LazyModule("networkx")

DEFAULT_BANDWIDTH_MBPS = 1000.0
#: most randomised coverage fills when their number is left to the time budget, and how many in a
#: row may fail to raise the best flow before they stop
MAX_RESTARTS = 10_000
PATIENCE = 300


def node_throughput(inst: Instance) -> np.ndarray:
    """T_i(k) in tokens/s for k = 0..L, shape (J, L + 1); 0 where k blocks and one session do not fit."""
    L, J = inst.num_blocks, inst.num_servers
    k = np.arange(L + 1)[None, :].repeat(J, 0)
    sessions = np.zeros((J, L + 1))
    for kk in range(1, L + 1):
        sessions[:, kk] = np.maximum(free_cache_slots(inst, np.full(J, kk)), 0) // kk
    prefill_rate = 1.0 / np.maximum(np.array([s.prefill_ms_per_block_per_token * 1e-3 for s in inst.servers]), 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        bw_bound = sessions / (k * inst.decode_s[:, None])
        compute_bound = prefill_rate[:, None] / k  # tokens/s per block when compute-bound, over k blocks
    T = np.where(k > 0, np.minimum(bw_bound, compute_bound), 0.0)
    return np.nan_to_num(T, nan=0.0, posinf=0.0)


def max_blocks(T: np.ndarray) -> np.ndarray:
    """K_i: the most blocks server i can hold with a positive throughput (:func:`node_throughput`
    ``T``, shape (J, L + 1)); shape (J,), int, 0 for a server that can hold none."""
    k = np.arange(T.shape[1])
    return np.where(T > 0, k[None, :], 0).max(axis=1)


def edge_capacity(inst: Instance) -> np.ndarray:
    """C_ij in tokens/s between servers, shape (J, J): min bandwidth / (hidden x 16 bit)."""
    bw = np.array([(s.bandwidth_mbps or DEFAULT_BANDWIDTH_MBPS) * MBIT_PER_S for s in inst.servers])
    return np.minimum(bw[:, None], bw[None, :]) / ((inst.model.hidden_size or 4096) * 16)


def model_links(inst: Instance, T: np.ndarray, C: np.ndarray, prune_links: int | None = None,
                keep_edges: set | None = None) -> list[tuple[int, int]]:
    """The server links (i, j) the Helix MILP has a flow for: every ordered pair of servers that can
    hold blocks, or with ``prune_links`` the highest-capacity outgoing links of each server plus
    ``keep_edges`` (the warm start's flow)."""
    J = inst.num_servers
    K = max_blocks(T)
    can = np.flatnonzero(K > 0)
    if not prune_links:
        return [(i, j) for i in can.tolist() for j in can.tolist() if i != j]
    keep = set()
    for i in can.tolist():
        out = [j for j in can.tolist() if j != i]
        out.sort(key=lambda j: -C[i, j])
        keep.update((i, j) for j in out[:prune_links])
    ok = set(can.tolist())
    return sorted(keep | {(i, j) for i, j in (keep_edges or ()) if i != j and i in ok and j in ok and i < J})


def model_variables(inst: Instance, T: np.ndarray, num_links: int) -> int:
    """Columns of the Helix MILP: s, fs, ft, ds, dt per server that can hold blocks, one b per span
    length it can hold, and f, d per link."""
    K = max_blocks(T)
    return int(5 * np.count_nonzero(K > 0) + K.sum() + 2 * num_links)


def build_throughput_model(inst: Instance, prune_links: int | None = None, keep_edges: set | None = None,
                           T: np.ndarray | None = None, C: np.ndarray | None = None,
                           deadline: Deadline | None = None,
                           edges: list[tuple[int, int]] | None = None) -> tuple[pyo.ConcreteModel, dict]:
    """The Helix MILP in Pyomo (no solving). Returns the model and its index data.

    ``prune_links`` keeps the highest-capacity outgoing links of each server, and the links in
    ``keep_edges`` (server index pairs: the warm start's flow) besides. ``T`` and ``C``:
    :func:`node_throughput` and :func:`edge_capacity`, and ``edges``: :func:`model_links` of them,
    if already computed.

    Raises
    ------
    optim.backends.OutOfTime
        ``deadline`` passed while building (checked between the model's components).
    """
    L, J = inst.num_blocks, inst.num_servers
    T = node_throughput(inst) if T is None else T
    K = max_blocks(T).tolist()
    C = edge_capacity(inst) if C is None else C
    cap_node = T.max(axis=1)
    edges = model_links(inst, T, C, prune_links, keep_edges) if edges is None else edges
    check = deadline.check if deadline is not None else (lambda what="": None)
    check("listing the links")
    m = pyo.ConcreteModel(name=f"throughput-{inst.name}")
    used = [i for i in range(J) if K[i] > 0]
    m.I = pyo.Set(initialize=used)
    m.IK = pyo.Set(dimen=2, initialize=[(i, k) for i in used for k in range(1, K[i] + 1)])
    m.E = pyo.Set(dimen=2, initialize=edges)
    m.s = pyo.Var(m.I, domain=pyo.NonNegativeIntegers, bounds=(0, L - 1))
    m.b = pyo.Var(m.IK, domain=pyo.Binary)
    m.fs = pyo.Var(m.I, bounds=lambda _, i: (0, cap_node[i]))  # source -> i
    m.ft = pyo.Var(m.I, bounds=lambda _, i: (0, cap_node[i]))  # i -> sink
    m.f = pyo.Var(m.E, bounds=lambda _, i, j: (0, min(C[i, j], cap_node[i], cap_node[j])))
    m.ds = pyo.Var(m.I, domain=pyo.Binary)
    m.dt = pyo.Var(m.I, domain=pyo.Binary)
    m.d = pyo.Var(m.E, domain=pyo.Binary)
    m.e = pyo.Expression(m.I, rule=lambda m, i: m.s[i] + sum(k * m.b[i, k] for k in range(1, K[i] + 1)))
    m.one_count = pyo.Constraint(m.I, rule=lambda m, i: sum(m.b[i, k] for k in range(1, K[i] + 1)) <= 1)
    m.fits = pyo.Constraint(m.I, rule=lambda m, i: m.e[i] <= L)
    m.src_ok = pyo.Constraint(m.I, rule=lambda m, i: m.s[i] <= L * (1 - m.ds[i]))
    m.snk_ok = pyo.Constraint(m.I, rule=lambda m, i: L - m.e[i] <= L * (1 - m.dt[i]))
    check("the variables")
    m.hop_start = pyo.Constraint(m.E, rule=lambda m, i, j: m.s[j] - m.e[i] <= L * (1 - m.d[i, j]))
    m.hop_adds = pyo.Constraint(m.E, rule=lambda m, i, j: m.e[i] + 1 - m.e[j] <= (L + 1) * (1 - m.d[i, j]))
    m.src_cap = pyo.Constraint(m.I, rule=lambda m, i: m.fs[i] <= cap_node[i] * m.ds[i])
    m.snk_cap = pyo.Constraint(m.I, rule=lambda m, i: m.ft[i] <= cap_node[i] * m.dt[i])
    check("the span constraints")
    m.edge_cap = pyo.Constraint(m.E, rule=lambda m, i, j: m.f[i, j] <= min(C[i, j], cap_node[i], cap_node[j]) * m.d[i, j])
    check("the link constraints")
    into: dict[int, list] = {i: [] for i in used}
    outof: dict[int, list] = {i: [] for i in used}
    for e in edges:
        outof[e[0]].append(e)
        into[e[1]].append(e)
    m.conserve = pyo.Constraint(m.I, rule=lambda m, i: m.fs[i] + sum(m.f[e] for e in into[i])
                                == m.ft[i] + sum(m.f[e] for e in outof[i]))
    m.node_cap = pyo.Constraint(m.I, rule=lambda m, i: m.fs[i] + sum(m.f[e] for e in into[i])
                                <= sum(float(T[i, k]) * m.b[i, k] for k in range(1, K[i] + 1)))
    # valid cut (Helix's upper bound, as a constraint): every token passes L blocks, server i runs at
    # most k T_i(k) block-tokens/s
    m.block_work = pyo.Constraint(expr=L * sum(m.fs[i] for i in m.I)
                                  <= sum(float(k * T[i, k]) * m.b[i, k] for i, k in m.IK))
    m.obj = pyo.Objective(expr=-sum(m.fs[i] for i in m.I), sense=pyo.minimize)  # max tokens/s
    return m, {"T": T, "K": K, "C": C, "edges": edges, "used": used, "cap_node": cap_node}


def max_flow_on_placement(inst: Instance, start: np.ndarray, end: np.ndarray, T: np.ndarray, C: np.ndarray,
                          edges: list | None = None) -> tuple[float, dict]:
    """Maximum tokens/s through a fixed placement (networkx max flow with node splitting)."""
    g = nx.DiGraph()
    J = inst.num_servers
    start, end = np.asarray(start), np.asarray(end)
    allowed = set(edges) if edges is not None else None
    for i in range(J):
        m = int(end[i] - start[i])
        if m <= 0:
            continue
        g.add_edge(("in", i), ("out", i), capacity=float(T[i, m]))
        if start[i] == 0:
            g.add_edge("source", ("in", i))
        if end[i] == inst.num_blocks:
            g.add_edge(("out", i), "sink")
    held = end > start
    link = held[:, None] & held[None, :] & (start[None, :] <= end[:, None]) & (end[:, None] < end[None, :])
    np.fill_diagonal(link, False)  # i -> j: j runs the block after i's last (and more)
    g.add_edges_from((("out", i), ("in", j), {"capacity": float(C[i, j])})
                     for i, j in zip(*(x.tolist() for x in np.nonzero(link))) if allowed is None or (i, j) in allowed)
    if "source" not in g or "sink" not in g:
        return 0.0, {}
    value, flow = nx.maximum_flow(g, "source", "sink")
    return float(value), flow


def coverage_placement(T: np.ndarray, num_blocks: int, iterations: int = 30, rng: np.random.Generator | None = None,
                       noise: float = 0.0, deadline: Deadline | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """A placement whose every block is run by servers with at least F tokens/s between them, F as
    large as a left-to-right fill reaches (bisection on F).

    A token passes every block, so no placement carries more tokens/s than the least, over blocks,
    of the node throughputs ``T_i(k_i)`` of the servers holding the block (the cut at that block).
    For a target F the fill walks the blocks in order; while block b has less than F, the free
    server and span length k whose span ``[b, b + k)`` adds the most *useful* throughput
    (``sum_b' min(T_i(k), F - cover_b')``, what does not overshoot the target) takes it. F is
    bisected between 0 and Helix's block-work bound ``sum_i max_k k T_i(k) / L``. Short spans on
    weak servers come out of it where they leave room for larger batches (Helix, Sec. 4).

    Parameters
    ----------
    T : ndarray of float, shape (J, L + 1)
        :func:`node_throughput`, tokens/s.
    num_blocks : int
        L.
    iterations : int
        Bisection steps.
    rng : numpy.random.Generator, optional
    noise : float
        Each choice's useful throughput is multiplied by ``1 + noise U(0, 1)`` (randomised restarts;
        0: deterministic).
    deadline : Deadline, optional
        When it passes, the bisection stops with the best fill found so far (all spans empty if none).

    Returns
    -------
    start, end : ndarray of int, shape (J,)
        Spans (empty for servers the fill did not need).
    cover : float
        The least, over blocks, of the throughput of the servers holding it (tokens/s): an upper
        bound on the placement's max flow.

    Notes
    -----
    Servers with the same throughput curve (the same GPU and link) score alike, so each choice
    scores one server per curve and spreads the scores: O(G n^2) per choice for G curves and
    n = L - b blocks left, instead of O(J n^2).
    """
    L = int(num_blocks)
    J = T.shape[0]
    K = max_blocks(T)
    tri = np.tril(np.ones((L, L), dtype=bool))  # tri[k - 1, m]: block b + m is in a span of k blocks
    curves, curve_of = np.unique(T, axis=0, return_inverse=True)
    curve_of = curve_of.ravel()
    curve_K = max_blocks(curves)

    def fill(F):
        cover = np.zeros(L)
        free = K > 0
        start = np.zeros(J, dtype=np.int64)
        end = np.zeros(J, dtype=np.int64)
        for b in range(L):
            while cover[b] < F * (1 - 1e-12):
                if deadline is not None and deadline.expired():
                    return None
                cand = np.flatnonzero(free)
                if cand.size == 0:
                    return None
                n = L - b
                need = np.maximum(F - cover[b:], 0.0)
                g, row = np.unique(curve_of[cand], return_inverse=True)
                tg = curves[g, 1:n + 1] * (np.arange(1, n + 1)[None, :] <= curve_K[g, None])  # (G, n) by span length
                ug = (np.minimum(tg[:, :, None], need[None, None, :]) * tri[None, :n, :n]).sum(axis=2)
                t, useful = tg[row.ravel()], ug[row.ravel()]  # (c, n): every candidate server's row
                if noise > 0:
                    useful = useful * (1.0 + noise * rng.random(useful.shape))
                flat = int(np.argmax(useful))
                r, k = divmod(flat, n)
                if useful[r, k] <= 0:
                    return None
                i = int(cand[r])
                free[i] = False
                start[i], end[i] = b, b + k + 1
                cover[b:b + k + 1] += t[r, k]
        return start, end, float(cover.min())

    lo, hi = 0.0, float((np.arange(L + 1)[None, :] * T).max(axis=1).sum() / L)
    best = (np.zeros(J, dtype=np.int64), np.zeros(J, dtype=np.int64), 0.0)
    for _ in range(iterations):
        if deadline is not None and deadline.expired():
            break
        F = 0.5 * (lo + hi)
        got = fill(F)
        if got is None:
            hi = F
        else:
            lo, best = F, got
    return best


def improve_by_max_flow(inst: Instance, start: np.ndarray, end: np.ndarray, T: np.ndarray, C: np.ndarray,
                        deadline: Deadline, steps: tuple[int, ...] = (1, 2, 3, 5, 8)) -> tuple[np.ndarray, np.ndarray, float]:
    """First-improvement local search on the maximum flow (:func:`max_flow_on_placement`): one
    server's span moves its start, its end or both by each of ``steps`` blocks, kept when the flow
    grows, until no move does or the deadline passes.

    Returns
    -------
    start, end : ndarray of int, shape (J,)
    flow : float
        Tokens/s.
    """
    L, J = inst.num_blocks, inst.num_servers
    K = max_blocks(T)
    start, end = np.array(start, dtype=np.int64), np.array(end, dtype=np.int64)
    best, _ = max_flow_on_placement(inst, start, end, T, C)
    improved = True
    while improved and not deadline.expired():
        improved = False
        for i in range(J):
            a0, e0 = int(start[i]), int(end[i])
            if e0 <= a0:
                continue
            moves = sorted({(a, e) for d in steps
                            for a, e in ((a0 - d, e0), (a0 + d, e0), (a0, e0 - d), (a0, e0 + d), (a0 - d, e0 - d),
                                         (a0 + d, e0 + d)) if 0 <= a < e <= L and e - a <= K[i]})
            for a, e in moves:
                if deadline.expired():
                    break
                start[i], end[i] = a, e
                f, _ = max_flow_on_placement(inst, start, end, T, C)
                if f > best * (1 + 1e-9):
                    best, a0, e0, improved = f, a, e, True
                start[i], end[i] = a0, e0
    return start, end, float(best)


def heuristic_placement(inst: Instance, T: np.ndarray, C: np.ndarray, deadline: Deadline, restarts: int | None,
                        seed: int = 0) -> tuple[list, tuple]:
    """The warm start of ``throughput-milp``: PETALS' placement, the deterministic coverage fill and
    ``restarts`` randomised ones (noise 0.2; None: until 60% of the deadline's budget passes or
    :data:`PATIENCE` in a row have not raised the best flow, 50 without a budget),
    the best of them improved by :func:`improve_by_max_flow` until ``deadline``; every candidate
    scored by its maximum flow over every link.

    Returns
    -------
    scored : list of (flow tokens/s, name)
        Every candidate tried, the improved best last.
    best : (flow, flow dict, name, start, end), or None when no candidate holds every block
    """
    scored = []

    def score(name, a, e):
        scored.append((*max_flow_on_placement(inst, a, e, T, C), name, a, e))
        return scored[-1][0]

    ps = solve(inst, "petals")
    if ps.has_solution:
        score("petals", *ps.spans(inst)[:2])
    rng = np.random.default_rng(seed)
    fills = Deadline(None if deadline.limit_s is None else 0.6 * deadline.limit_s, start=deadline.start)
    patience = restarts is None
    restarts = (50 if deadline.limit_s is None else MAX_RESTARTS) if restarts is None else restarts
    best_flow, since = -1.0, 0
    for r in range(restarts + 1):
        if r and (deadline.expired() or (patience and (fills.expired() or since >= PATIENCE))):
            break
        cs, ce, _ = coverage_placement(T, inst.num_blocks, rng=rng, noise=0.2 if r else 0.0, deadline=deadline)
        if np.any(ce > cs):
            f = score("coverage fill" if r == 0 else f"coverage fill, restart {r}", cs, ce)
            best_flow, since = (f, 0) if f > best_flow * (1 + 1e-9) else (best_flow, since + 1)
    if not scored:
        return [], None
    best = max(scored, key=lambda x: x[0])
    a, e, f = improve_by_max_flow(inst, best[3], best[4], T, C, deadline)
    if f > best[0]:
        flow = max_flow_on_placement(inst, a, e, T, C)[1]
        best = (f, flow, best[2] + ", local search", a, e)
        scored.append(best)
    return [(x[0], x[2]) for x in scored], best


@register("throughput-milp", "Max-throughput placement, the Helix MILP (start block, one-hot block count, "
          "max flow with node and link capacities) on HiGHS, warm-started from coverage fills and petals",
          features=("placement", "routing", "exact", "bound", "throughput"))
def throughput_milp(inst: Instance, *, time_limit: TimeLimit = 60.0, mip_gap: MipGap = 1e-4,
                    threads: Threads = None,
                    prune_links: Annotated[int | None, Field(ge=1, le=MAX_COUNT, description=(
                        "keep only this many highest-capacity outgoing links per server (Helix keeps 12)"))] = None,
                    warm_start: Annotated[bool, Field(description=(
                        "start from the best of the petals placement and coverage fills, improved by local search"))] = True,
                    restarts: Annotated[int | None, Field(ge=0, le=100_000, description=(
                        "randomised coverage fills tried for the warm start; None: until 60% of heuristic_share "
                        "passes or 300 in a row find nothing better"))] = None,
                    heuristic_share: Annotated[float, Field(gt=0, le=1, description=(
                        "share of time_limit the warm-start heuristics may take"))] = 0.25,
                    backend: Backend = "highs", progress: MilpProgress | None = None) -> Solution:
    """Maximise tokens/s through the placement (Helix, ASPLOS'25).

    Parameters
    ----------
    time_limit, mip_gap, threads, backend
        As for ``bprr-milp``.
    prune_links : int, optional
        Keep only this many highest-capacity outgoing links per server (Helix keeps 12), and the
        links the warm start's flow uses.
    warm_start : bool
        Start from :func:`heuristic_placement`: the best, in max flow, of the petals placement and
        :func:`coverage_placement` (deterministic and ``restarts`` randomised), improved by
        :func:`improve_by_max_flow`, within ``heuristic_share`` of the time limit.
    restarts : int, optional
        Randomised coverage fills; None (default): until 60% of the heuristics' share passes or
        :data:`PATIENCE` in a row find no larger flow (so a longer limit may try more); a number
        for a run that does not depend on the machine's speed.
    heuristic_share : float

    Returns
    -------
    Solution
        ``objective`` in tokens/s (``objective_name = "throughput_tokens_per_s"``), ``bound`` an upper
        bound; paths are the flow's server chains, each client's share of |R| split over them in
        proportion to their flow.
    """
    deadline = Deadline(time_limit)
    T, C = node_throughput(inst), edge_capacity(inst)
    warm_value, best, details_warm = None, None, {}
    if warm_start:  # PETALS, coverage fills and a local search, in a share of the time limit
        share = Deadline(None if time_limit is None else heuristic_share * time_limit)
        scored, best = heuristic_placement(inst, T, C, share, restarts)
        if best is not None:
            details_warm = {"warm_start_from": best[2], "warm_start_candidates": len(scored),
                            "warm_start_petals_tokens_per_s": next((f for f, n in scored if n == "petals"), None),
                            "heuristic_time_s": deadline.elapsed_s}
    flow_edges = set() if best is None else {(u[1], v[1]) for u, nbrs in best[1].items() for v, x in nbrs.items()
                                             if x > 0 and isinstance(u, tuple) and u[0] == "out"
                                             and isinstance(v, tuple) and v[0] == "in"}
    warm_value = None if best is None else best[0]
    details = {"backend": backend, "warm_start_tokens_per_s": warm_value, **details_warm}

    def spans_solution(start, end, status, bound=None, message=None, edges=None, known=None) -> Solution:
        """The placement [start, end) with its max flow (``known``: already computed), chains and
        client paths."""
        value, flow = known if known is not None else max_flow_on_placement(inst, start, end, T, C, edges)
        placement = [ServerPlacement(server=s.id, start=int(start[j]), end=int(end[j]),
                                     cache_slots=int(max(free_cache_slots(inst, end - start)[j], 0)))
                     for j, s in enumerate(inst.servers)]
        chains = _decompose(flow)
        gap = None if bound is None or value <= 0 else max(bound - value, 0.0) / value
        return Solution(instance=inst.name, solver="throughput-milp", status=status, objective=value,
                        objective_name="throughput_tokens_per_s", bound=bound, gap=gap, placement=placement,
                        paths=_client_paths(inst, chains, start, end), message=message or "",
                        details={**details, "chains": [[inst.servers[j].id for j in c] for c, _ in chains]})

    def give_warm_start(status, why: str, bound=None) -> Solution:
        """The warm start when the MILP gives no incumbent (or no solution if there is none)."""
        if best is None:
            return Solution(instance=inst.name, solver="throughput-milp", status=status,
                            message=why + "; no warm start to return", details=details)
        return spans_solution(best[3], best[4], status, bound, why + f": returned the warm start ({best[2]})",
                              known=(best[0], best[1]))

    links = model_links(inst, T, C, prune_links, flow_edges)  # once: sized here, built below
    size = model_variables(inst, T, len(links))
    details.update(variables=size, edges=len(links))
    from .bprr_milp import PREP_VARIABLES_PER_S, PRESOLVE_VARIABLES_PER_S

    setup_s = size / PREP_VARIABLES_PER_S + size / PRESOLVE_VARIABLES_PER_S
    remaining = deadline.remaining()
    if remaining is not None and setup_s > remaining:
        return give_warm_start(Status.TIME_LIMIT, f"model of {size:,} variables takes about {setup_s:.0f} s to build and "
                               f"presolve, more than the {remaining:.0f} s left of the {time_limit:g} s limit "
                               "(prune_links makes it smaller)")
    try:
        m, data = build_throughput_model(inst, prune_links, keep_edges=flow_edges, T=T, C=C, deadline=deadline,
                                         edges=links)
        details["build_time_s"] = deadline.elapsed_s
        with tempfile.TemporaryDirectory() as tmp:
            model_file, names = write_model(m, tmp)
            deadline.check("writing the model")
            warm: dict[str, float] = {}
            if best is not None:
                _, flow, _, start, end = best
                warm = _warm_values(inst, data, start, end, flow, names)
            res = solve_milp(backend, model_file, warm, deadline, mip_gap, threads, progress)
    except OutOfTime as err:
        return give_warm_start(Status.TIME_LIMIT, f"the {time_limit:g} s limit passed while building the model ({err})")
    details.update(backend_status=res.message, backend_time_s=res.run_time_s)
    bound = -res.bound if res.bound is not None else None
    if not res.values:
        return give_warm_start(res.status, f"{backend} stopped ({res.message}) without an incumbent", bound)
    inv = {v: k for k, v in names.items()}
    vals = {inv[n]: v for n, v in res.values.items() if n in inv}
    start = np.zeros(inst.num_servers, dtype=int)
    end = np.zeros(inst.num_servers, dtype=int)
    for i in data["used"]:
        k = next((k for k in range(1, data["K"][i] + 1) if vals.get(("b", (i, k)), 0) > 0.5), 0)
        if k:
            start[i] = int(round(vals.get(("s", i), 0)))
            end[i] = start[i] + k
    return spans_solution(start, end, res.status, bound, edges=data["edges"])


def _warm_values(inst, data, start, end, flow, names) -> dict[str, float]:
    vals: dict[tuple, float] = {}
    for i in data["used"]:
        k = int(end[i] - start[i])
        if 0 < k <= data["K"][i]:
            vals[("s", i)] = float(start[i])
            vals[("b", (i, k))] = 1.0
    for u, nbrs in flow.items():
        for v, x in nbrs.items():
            if x <= 0:
                continue
            if u == "source":
                vals[("fs", v[1])], vals[("ds", v[1])] = x, 1.0
            elif v == "sink":
                vals[("ft", u[1])], vals[("dt", u[1])] = x, 1.0
            elif u[0] == "out" and v[0] == "in":
                vals[("f", (u[1], v[1]))], vals[("d", (u[1], v[1]))] = x, 1.0
    return {names[k]: v for k, v in vals.items() if k in names}


def _decompose(flow: dict) -> list[tuple[list[int], float]]:
    """Split a source-sink flow (node-split graph) into server chains with their tokens/s."""
    left = {u: dict(v) for u, v in flow.items()}
    chains = []
    while True:
        node, chain, amounts = "source", [], []
        while node != "sink":
            nxt = next((v for v, x in sorted(left.get(node, {}).items(), key=lambda kv: str(kv[0])) if x > 1e-9), None)
            if nxt is None:
                return chains
            amounts.append(left[node][nxt])
            if isinstance(nxt, tuple) and nxt[0] == "in":
                chain.append(nxt[1])
            node = nxt
        amount = min(amounts)
        node = "source"
        while node != "sink":
            nxt = next(v for v, x in sorted(left[node].items(), key=lambda kv: str(kv[0])) if x > 1e-9)
            left[node][nxt] -= amount
            node = nxt
        chains.append((chain, amount))


def _client_paths(inst: Instance, chains, start, end) -> list[Path]:
    """Each client's share of |R| spread over the chains in proportion to their flow (largest
    remainder); a client with a rate but no share gets the highest-flow chain with 0 requests."""
    if not chains:
        return []
    rates = np.array([a for _, a in chains])
    top = int(np.argmax(rates))
    paths = []
    for c, n in enumerate(request_shares(inst)):
        if n == 0 and inst.arrival_rates[c] <= 0:
            continue
        counts = largest_remainder(int(n), rates) if n > 0 else np.zeros(rates.size, dtype=np.int64)
        for i in (np.flatnonzero(counts > 0) if n > 0 else [top]):
            hops, b = [], 0
            for j in chains[i][0]:
                hops.append(Hop(server=inst.servers[j].id, start=b, end=int(end[j])))
                b = int(end[j])
            paths.append(Path(client=inst.clients[c].id, requests=int(counts[i]), hops=hops))
    return paths

"""Exact BPRR: block placement and request routing as a MILP (Pyomo), solved by HiGHS.

Problem of Sun, He, Ji, Parag, arXiv 2512.21884, Sec. 3, Eq. 13: place contiguous blocks on
servers and route the |R| concurrent requests so that memory for blocks and the requests'
caches fits (13b), every request runs blocks 0..L-1 in order (13c-13f, Lemma 1), and the mean
per-token time (13a) is least.

Formulation (not the paper's per-request McCormick one, whose LP bound is weak). Requests of one client are interchangeable, so they are aggregated
into integer flows on a DAG over block boundaries 0..L:

- ``z[j, a, e]`` in {0, 1}: server j hosts blocks [a, e) (at most one span; none = empty);
  only spans whose blocks fit in M_j are generated.
- ``f[c, j, b, e]`` in Z+: requests of client c entering server j at boundary b and running
  blocks [b, e) there, leaving at its span end e (each block runs at the first path server
  hosting it, Lemma 1: a_j <= b < e_j).
- link: ``f[c, j, b, e] <= n_c sum_{a <= b} z[j, a, e]``;
- flow conservation at every boundary v of every client: out - in = n_c at 0, -n_c at L, else 0
  (13c); together with the link this is (13d-13f);
- memory: ``s_m sum (e - a) z[j, a, e] + s_c sum (e - b) f[c, j, b, e] <= M_j`` (13b);
- objective: ``sum_c (lambda_c / lambda) (1 / n_c) sum f[c, j, b, e] (A_cj + B_j (e - b))`` with A, B
  from :func:`optim.perf.hop_cost_coefficients` (``decode``: t_cj + tau_j k as in (13a), per token;
  ``inference``: the whole request time): the arrival-rate-weighted mean the validator reports.

**Aggregation is exact.** Any per-request solution (f^r binary per request) gives an aggregated
one by summing the requests of each client, with the same memory use and objective (both are
linear in the flows); conversely an integer flow of value n_c on a DAG decomposes into n_c unit
paths (flow decomposition), one per request, with the same sums. So both have the same optimum;
``tests/test_bprr_milp.py`` checks it against brute force.

**Bounds first.** Before any model is built, the warm start (the better of cg-bprr's solution and
bprr-chains' packing) is held against the chain-relaxation bound
(:func:`optim.solvers.bprr_chains.chain_bound`: each request alone on its cheapest chain), which
this model's LP relaxation does not see (a fraction of a long span may carry a fraction of a
request there); if it meets it, it is optimal and no model is built. Then the LP relaxation.

The model is written once in Pyomo, exported as an LP file (plain labels, mapped back to the Pyomo
variables), and solved with highspy (which takes a warm start and honours the time limit, unlike
``appsi_highs``) or with SCIP through OR-Tools' model builder on the same file.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from .._lazy import LazyModule
from ..backends import Deadline, MilpProgress, OutOfTime, lp_relaxation_bound, solve_milp, write_model
from ..instance import Instance
from ..milp_arrays import ArrayMILP, MILPBuilder
from ..perf import free_cache_slots, hop_cost_coefficients, request_shares
from ..perf.capacity import servers_per_block
from ..routing import shortest_hops
from ..solution import Hop, Path, ServerPlacement, Solution, Status
from ..options import Backend, MipGap, Objective, Threads, TimeLimit
from .base import register, solve

pyo = LazyModule("pyomo.environ")


@dataclass
class BPRRModel:
    """A built BPRR MILP: the Pyomo model and the index sets that name its variables."""

    model: pyo.ConcreteModel
    spans: list[tuple[int, int, int]]  #: (j, a, e)
    flows: list[tuple[int, int, int, int]]  #: (c, j, b, e)
    shares: np.ndarray  #: n_c, shape (C,)
    objective: str
    symmetry_constraints: int = 0


def _costs(inst: Instance, objective: str) -> tuple[np.ndarray, np.ndarray]:
    """The MILP's per-hop costs ``A[c, j] + B[j] k``: :func:`optim.perf.hop_cost_coefficients` plus each
    server's dtype quality penalty per block (per decode token, times the l_out - 1 steps for
    ``inference``) where the servers choose their dtype; otherwise the request time itself."""
    from ..configure import has_choices

    A, B = hop_cost_coefficients(inst, objective)
    pen = inst.quality_penalty_s
    if np.any(pen > 0) and has_choices(inst):
        B = B + pen * (inst.workload.output_tokens_mean - 1.0 if objective == "inference" else 1.0)
    return A, B


def _max_blocks(inst: Instance) -> np.ndarray:
    return np.minimum(np.floor(inst.memory_bytes / inst.server_block_bytes + 1e-9), inst.num_blocks).astype(int)


def define_variables(m: pyo.ConcreteModel, inst: Instance, shares: np.ndarray) -> tuple[list, list]:
    """Span binaries z[j,a,e] (blocks fit alone) and flow integers f[c,j,b,e] (clients with n_c > 0)."""
    L = inst.num_blocks
    mx = _max_blocks(inst)
    spans = [(j, a, e) for j in range(inst.num_servers) for a in range(L) for e in range(a + 1, min(a + mx[j], L) + 1)]
    flows = [(c, j, b, e) for c in np.flatnonzero(shares > 0).tolist()
             for j in range(inst.num_servers) for b in range(L) for e in range(b + 1, min(b + mx[j], L) + 1)]
    m.z = pyo.Var(spans, domain=pyo.Binary)
    m.f = pyo.Var(flows, domain=pyo.NonNegativeIntegers, bounds=lambda _, c, j, b, e: (0, int(shares[c])))
    return spans, flows


def add_one_span(m: pyo.ConcreteModel, inst: Instance, spans: list) -> None:
    """Each server hosts at most one contiguous span: sum_{a,e} z[j,a,e] <= 1."""
    by_server: dict[int, list] = {}
    for key in spans:
        by_server.setdefault(key[0], []).append(key)
    m.one_span = pyo.Constraint(list(by_server), rule=lambda m, j: sum(m.z[k] for k in by_server[j]) <= 1)


def add_links(m: pyo.ConcreteModel, spans: list, flows: list, shares: np.ndarray) -> None:
    """A hop of server j entered at b and left at e needs a span [a, e) with a <= b (Lemma 1):
    ``f[c, j, b, e] <= n_c p[j, b, e]`` with ``p[j, b, e] = sum_{a <= b} z[j, a, e]``, kept as a
    variable by ``p[j, b, e] = p[j, b - 1, e] + z[j, b, e]`` so each row has two or three terms."""
    keys = sorted({(j, b, e) for _, j, b, e in flows} | {(j, a, e) for j, a, e in spans})
    m.p = pyo.Var(keys, bounds=(0, 1))
    m.p_def = pyo.Constraint(keys, rule=lambda m, j, b, e: m.p[j, b, e] == (m.p[j, b - 1, e] if (j, b - 1, e) in m.p
                                                                            else 0) + m.z[j, b, e])
    m.link = pyo.Constraint(flows, rule=lambda m, c, j, b, e: m.f[c, j, b, e] <= int(shares[c]) * m.p[j, b, e])


def add_flow_conservation(m: pyo.ConcreteModel, inst: Instance, flows: list, shares: np.ndarray) -> None:
    """(13c): at each boundary v of client c, outflow - inflow = n_c at 0, -n_c at L, 0 between."""
    L = inst.num_blocks
    out_of: dict[tuple, list] = {}
    into: dict[tuple, list] = {}
    for c, j, b, e in flows:
        out_of.setdefault((c, b), []).append((c, j, b, e))
        into.setdefault((c, e), []).append((c, j, b, e))
    keys = [(c, v) for c in np.flatnonzero(shares > 0).tolist() for v in range(L + 1)]

    def rule(m, c, v):
        net = sum(m.f[k] for k in out_of.get((c, v), [])) - sum(m.f[k] for k in into.get((c, v), []))
        rhs = int(shares[c]) if v == 0 else -int(shares[c]) if v == L else 0
        if isinstance(net, int):
            return pyo.Constraint.Feasible if net == rhs else pyo.Constraint.Infeasible
        return net == rhs

    m.flow = pyo.Constraint(keys, rule=rule)


def add_memory(m: pyo.ConcreteModel, inst: Instance, spans: list, flows: list) -> None:
    """(13b): s_m (blocks hosted) + s_c (cache slots the routed requests hold) <= M_j, in GB."""
    sm, sc = inst.block_bytes / 1e9, inst.cache_bytes_per_block_session / 1e9
    blocks: dict[int, list] = {}
    slots: dict[int, list] = {}
    for j, a, e in spans:
        blocks.setdefault(j, []).append((j, a, e))
    for c, j, b, e in flows:
        slots.setdefault(j, []).append((c, j, b, e))
    m.memory = pyo.Constraint(list(blocks), rule=lambda m, j: sm * sum((e - a) * m.z[j, a, e] for _, a, e in blocks[j])
                              + sc * sum((e - b) * m.f[c, j, b, e] for c, _, b, e in slots.get(j, []))
                              <= inst.memory_bytes[j] / 1e9)


def identical_server_groups(inst: Instance) -> list[list[int]]:
    """Groups (size >= 2, index order) of servers with equal memory, times and client RTTs."""
    groups: dict[tuple, list[int]] = {}
    for j, s in enumerate(inst.servers):
        key = (s.memory_gb, s.prefill_ms_per_block, s.prefill_ms_per_block_per_token,
               s.decode_ms_per_block_per_token, tuple(np.round(inst.rtt_s[:, j], 12)))
        groups.setdefault(key, []).append(j)
    return [g for g in groups.values() if len(g) > 1]


def add_symmetry_breaking(m: pyo.ConcreteModel, inst: Instance, spans: list) -> int:
    """Identical servers in index order have non-increasing span ends (empty servers last):
    ``sum e z[i, a, e] >= sum e z[j, a, e]`` for consecutive i < j of a group. Returns the count."""
    pairs = [(g[k], g[k + 1]) for g in identical_server_groups(inst) for k in range(len(g) - 1)]
    by_server: dict[int, list] = {}
    for j, a, e in spans:
        by_server.setdefault(j, []).append((j, a, e))
    m.sym = pyo.Constraint(range(len(pairs)), rule=lambda m, k: sum(e * m.z[key] for key in by_server.get(pairs[k][0], [])
                                                                    for e in [key[2]])
                           >= sum(e * m.z[key] for key in by_server.get(pairs[k][1], []) for e in [key[2]]))
    return len(pairs)


def request_weights(inst: Instance, shares: np.ndarray) -> np.ndarray:
    """Weight of one request of client c in the validator's arrival-rate-weighted mean:
    ``(lambda_c / lambda') / n_c``, lambda' the rate of clients with a share of |R|. Shape (C,)."""
    carried = inst.arrival_rates * (shares > 0)
    return np.divide(carried / carried.sum(), shares, out=np.zeros(len(shares)), where=shares > 0)


def define_objective(m: pyo.ConcreteModel, inst: Instance, flows: list, shares: np.ndarray, objective: str) -> None:
    """(13a), weighted as the validator weighs clients: ``sum_c (lambda_c / lambda) (1 / n_c)
    sum f[c, j, b, e] (A_cj + B_j (e - b))``, the arrival-rate-weighted mean per-token (``decode``)
    or whole-request (``inference``) time, seconds. Clients with no share of |R| do not enter."""
    A, B = _costs(inst, objective)
    w = request_weights(inst, shares)
    m.obj = pyo.Objective(expr=sum(float(w[c] * (A[c, j] + B[j] * (e - b))) * m.f[c, j, b, e] for c, j, b, e in flows),
                          sense=pyo.minimize)


def add_redundancy(m: pyo.ConcreteModel, inst: Instance, spans: list, r: int) -> None:
    """Every block held by at least r servers: ``sum_{spans covering b} z >= r`` for each block b."""
    covering: dict[int, list] = {}
    for key in spans:
        for blk in range(key[1], key[2]):
            covering.setdefault(blk, []).append(key)
    m.redundancy = pyo.Constraint(range(inst.num_blocks),
                                  rule=lambda m, b: sum(m.z[k] for k in covering.get(b, [])) >= r)


def build_bprr_model(inst: Instance, objective: str = "decode", deadline: Deadline | None = None,
                     redundancy: int = 1) -> BPRRModel:
    """Build the aggregated BPRR MILP (no solving, no I/O).

    Parameters
    ----------
    inst : Instance
    objective : {"decode", "inference"}
        Mean per-token decode time (the paper's objective) or mean whole-request time, seconds.
    deadline : Deadline, optional
        Checked between constraint families.

    Returns
    -------
    BPRRModel

    Raises
    ------
    optim.backends.OutOfTime
        The deadline passed while building.

    Notes
    -----
    O(J L m_max) span binaries and O(C J L m_max) flow integers, m_max the most blocks a server holds.
    """
    shares = request_shares(inst)
    m = pyo.ConcreteModel(name=f"bprr-{inst.name}")
    check = deadline.check if deadline is not None else (lambda what="": None)
    spans, flows = define_variables(m, inst, shares)
    check("variables")
    add_one_span(m, inst, spans)
    add_links(m, spans, flows, shares)
    check("links")
    add_flow_conservation(m, inst, flows, shares)
    check("flow conservation")
    add_memory(m, inst, spans, flows)
    sym = add_symmetry_breaking(m, inst, spans)
    if redundancy > 1:
        add_redundancy(m, inst, spans, redundancy)
    check("memory")
    define_objective(m, inst, flows, shares, objective)
    check("objective")
    return BPRRModel(m, spans, flows, shares, objective, sym)




@dataclass
class BPRRArrays:
    """The BPRR MILP built with numpy (:mod:`optim.milp_arrays`), the same formulation as
    :func:`build_bprr_model` column for column: z (spans), p (span-start prefix sums), f (flows)."""

    milp: ArrayMILP
    triples: np.ndarray  #: (j, a, e) of every span, shape (T, 3); p and each client's f use the same order
    clients: np.ndarray  #: clients with a share of |R|, shape (C',)
    shares: np.ndarray
    objective: str
    symmetry_constraints: int = 0

    @property
    def spans(self) -> list[tuple[int, int, int]]:
        return [tuple(t) for t in self.triples.tolist()]

    @property
    def flows(self) -> list[tuple[int, int, int, int]]:
        return [(int(c), *t) for c in self.clients for t in self.triples.tolist()]

    def names(self) -> dict[tuple, str]:
        """{(variable, index): column label}, as :func:`optim.backends.write_model` gives for Pyomo."""
        T = len(self.triples)
        keys = self.spans
        out = {("z", k): f"x{t}" for t, k in enumerate(keys)}
        for i, c in enumerate(self.clients.tolist()):
            base = 2 * T + i * T
            out.update({("f", (c, *k)): f"x{base + t}" for t, k in enumerate(keys)})
        return out


def span_triples(inst: Instance) -> np.ndarray:
    """(j, a, e) for every span a server can hold alone (blocks [a, e), e - a <= m_max,j), shape (T, 3),
    in the order :func:`define_variables` creates them."""
    L = inst.num_blocks
    out = []
    for j, mx in enumerate(_max_blocks(inst)):
        a, n = np.meshgrid(np.arange(L), np.arange(1, mx + 1), indexing="ij")
        keep = a + n <= L
        a, e = a[keep], (a + n)[keep]
        out.append(np.column_stack([np.full(a.size, j), a, e]))
    return np.concatenate(out) if out else np.zeros((0, 3), dtype=np.int64)


def build_bprr_arrays(inst: Instance, objective: str = "decode", deadline: Deadline | None = None,
                      redundancy: int = 1, owner: np.ndarray | None = None,
                      move_budget: tuple[np.ndarray, np.ndarray, int] | None = None) -> BPRRArrays:
    """Build the aggregated BPRR MILP with numpy: the formulation of :func:`build_bprr_model` (the
    module docstring), row for row, without Pyomo or a model file.

    ``move_budget = (start, end, K)`` adds the re-planning row of :mod:`optim.replan`: at most K
    servers hold a span other than their current ``[start_j, end_j)``,
    ``sum_{j empty} sum_t z[j, t] - sum_{j holding} z[j, current_j] <= K - #holding``.

    Raises
    ------
    optim.backends.OutOfTime
        The deadline passed while building.

    Notes
    -----
    O(C J L m_max) columns and non-zeros, built in vectorised steps.
    """
    check = deadline.check if deadline is not None else (lambda what="": None)
    shares = request_shares(inst)
    clients = np.flatnonzero(shares > 0)
    tri = span_triples(inst)
    T, L, J = len(tri), inst.num_blocks, inst.num_servers
    j, a, e = tri[:, 0], tri[:, 1], tri[:, 2]
    length = (e - a).astype(float)
    A, B = _costs(inst, objective)
    w = request_weights(inst, shares)
    b = MILPBuilder()
    z = b.add_columns(T, 0, 1, True)
    p = b.add_columns(T, 0, 1, False)
    f = [b.add_columns(T, 0, float(shares[c]), True, w[c] * (A[c, j] + B[j] * length)) for c in clients]
    check("variables")
    # one span per server; with configurations as servers of their own (owner), one span per owner
    if owner is None:
        b.add_rows(j, z, np.ones(T), upper=1.0, num_rows=J)
    else:
        b.add_rows(owner[j], z, np.ones(T), upper=1.0, num_rows=int(owner.max()) + 1)
    # p[j, b, e] - p[j, b - 1, e] - z[j, b, e] = 0
    pos = {k: t for t, k in enumerate(map(tuple, tri.tolist()))}
    prev = np.array([pos.get((jj, aa - 1, ee), -1) for jj, aa, ee in tri.tolist()])
    r = np.arange(T)
    has = prev >= 0
    b.add_rows(np.concatenate([r, r, r[has]]), np.concatenate([p, z, p[prev[has]]]),
               np.concatenate([np.ones(T), -np.ones(T), -np.ones(int(has.sum()))]), 0.0, 0.0, num_rows=T)
    # links: f[c, t] - n_c p[t] <= 0
    for i, c in enumerate(clients):
        b.add_rows(np.concatenate([r, r]), np.concatenate([f[i], p]),
                   np.concatenate([np.ones(T), -float(shares[c]) * np.ones(T)]), upper=0.0, num_rows=T)
    check("links")
    # flow conservation at boundaries 0..L: out - in = n_c, -n_c, 0
    for i, c in enumerate(clients):
        rhs = np.zeros(L + 1)
        rhs[0], rhs[L] = shares[c], -shares[c]
        b.add_rows(np.concatenate([a, e]), np.concatenate([f[i], f[i]]), np.concatenate([np.ones(T), -np.ones(T)]),
                   rhs, rhs, num_rows=L + 1)
    check("flow conservation")
    # memory, GB
    sm, sc = inst.block_bytes / 1e9, inst.cache_bytes_per_block_session / 1e9
    rows = np.concatenate([j] + [j] * len(clients))
    cols = np.concatenate([z] + f)
    vals = np.concatenate([sm * length] + [sc * length] * len(clients))
    used = np.unique(j)
    remap = np.full(J, -1)
    remap[used] = np.arange(used.size)
    b.add_rows(remap[rows], cols, vals, upper=inst.memory_bytes[used] / 1e9, num_rows=used.size)
    # symmetry breaking: identical servers in index order have non-increasing span ends
    # (not with a move budget: the current placement tells identical servers apart, so relabelling
    # them would change which of them moved)
    pairs = [] if owner is not None or move_budget is not None else [
        (g[k], g[k + 1]) for g in identical_server_groups(inst) for k in range(len(g) - 1)]
    if pairs:
        rr, cc, vv = [], [], []
        for q, (s1, s2) in enumerate(pairs):
            for srv, sign in ((s1, 1.0), (s2, -1.0)):
                t = np.flatnonzero(j == srv)
                rr.append(np.full(t.size, q))
                cc.append(z[t])
                vv.append(sign * e[t].astype(float))
        b.add_rows(np.concatenate(rr), np.concatenate(cc), np.concatenate(vv), lower=0.0, num_rows=len(pairs))
    if move_budget is not None:
        s0, e0, K = move_budget
        holding = (e0 > s0)[j]
        current = holding & (a == s0[j]) & (e == e0[j])
        empty = ~holding
        cols = np.concatenate([z[empty], z[current]])
        vals = np.concatenate([np.ones(int(empty.sum())), -np.ones(int(current.sum()))])
        b.add_rows(np.zeros(cols.size, dtype=np.int64), cols, vals, upper=float(K - int(np.sum(e0 > s0))), num_rows=1)
    if redundancy > 1:  # every block held by at least r servers
        t = np.repeat(np.arange(T), e - a)
        blk = a[t] + (np.arange(t.size) - np.repeat(np.cumsum(e - a) - (e - a), e - a))
        b.add_rows(blk, z[t], np.ones(t.size), lower=float(redundancy), num_rows=L)
    check("memory")
    return BPRRArrays(b.build(), tri, clients, shares, objective, len(pairs))


def warm_start_from(bm: BPRRModel, inst: Instance, sol: Solution, names: dict[tuple, str]) -> dict[str, float]:
    """Column-labelled values of a heuristic solution (placement + path request counts) for the warm start."""
    if not sol.has_solution:
        return {}
    # relabel identical servers so that span ends are non-increasing, as the symmetry breaking demands
    end_of = {inst.server_index[p.server]: p.end for p in sol.placement}
    relabel = {j: j for j in range(inst.num_servers)}
    for g in identical_server_groups(inst) if bm.symmetry_constraints else []:
        relabel.update(dict(zip(sorted(g, key=lambda j: -end_of.get(j, 0)), g)))
    warm: dict[str, float] = {}
    for p in sol.placement:
        if p.end > p.start:
            key = ("z", (relabel[inst.server_index[p.server]], p.start, p.end))
            if key in names:
                warm[names[key]] = 1.0
    for path in sol.paths:
        c = inst.client_index[path.client]
        for hop in path.hops:
            key = ("f", (c, relabel[inst.server_index[hop.server]], hop.start, hop.end))
            if key in names and path.requests:
                warm[names[key]] = warm.get(names[key], 0.0) + path.requests
    return warm


def decompose_paths(inst: Instance, bm: BPRRModel, flow: dict[tuple, int]) -> list[tuple[int, list, int]]:
    """Split each client's integer flow on the boundary DAG into paths with request counts."""
    out = []
    for c in np.flatnonzero(bm.shares > 0).tolist():
        left = {k[1:]: v for k, v in flow.items() if k[0] == c and v > 0}
        while True:
            hops, b = [], 0
            while b < inst.num_blocks:
                nxt = next(((j, bb, e) for (j, bb, e), v in sorted(left.items()) if bb == b and v > 0), None)
                if nxt is None:
                    break
                hops.append(nxt)
                b = nxt[2]
            if not hops or b < inst.num_blocks:
                break
            n = min(left[h] for h in hops)
            for h in hops:
                left[h] -= n
            out.append((c, hops, n))
    return out


def _holds_each_block(inst: Instance, sol: Solution, r: int) -> bool:
    """Every block is held by at least r of the solution's servers."""
    if r <= 1:
        return True
    start, end, _ = sol.spans(inst)
    return bool(np.all(servers_per_block(start, end, inst.num_blocks) >= r))


def _best_warm_start(inst: Instance, objective: str, redundancy: int, deadline: Deadline,
                     shares: np.ndarray) -> tuple[Solution | None, str]:
    """The better of cg-bprr's solution and bprr-chains' packing (within part of the time left) in
    the MILP's objective, among those that hold every block ``redundancy`` times."""
    cands = [("cg-bprr", solve(inst, "cg-bprr", routing_objective=objective))]
    left = deadline.remaining()
    if redundancy == 1 and (left is None or left > 1.0):
        cands.append(("bprr-chains", solve(inst, "bprr-chains", objective=objective,
                                           time_limit=60.0 if left is None else max(0.25 * left, 0.5))))
    ok = [(_objective_value(inst, shares, objective, s), name, s) for name, s in cands
          if s.has_solution and _holds_each_block(inst, s, redundancy)]
    if not ok:
        return None, "cg-bprr"
    _, name, sol = min(ok, key=lambda t: t[0])
    return sol, name


def _objective_name(objective: str) -> str:
    return "mean_decode_time_per_token_s" if objective == "decode" else "mean_inference_time_no_wait_s"


def _objective_value(inst: Instance, shares: np.ndarray, objective: str, sol: Solution) -> float:
    """A solution's value in the MILP objective's terms (for a returned warm start)."""
    A, B = _costs(inst, objective)
    w = request_weights(inst, shares)
    return float(sum(w[inst.client_index[p.client]] * p.requests
                     * (A[inst.client_index[p.client], inst.server_index[h.server]]
                        + B[inst.server_index[h.server]] * (h.end - h.start))
                     for p in sol.paths for h in p.hops))


def simple_bound(inst: Instance, shares: np.ndarray, objective: str) -> float:
    """A valid lower bound on the objective when the solver proves none: every request makes at
    least one hop and runs all L blocks, so its cost is at least ``min_j A_cj + L min_j B_j``."""
    A, B = _costs(inst, objective)
    return float(np.sum(request_weights(inst, shares) * shares * (A.min(axis=1) + inst.num_blocks * B.min())))


def _with_bound(objective: float | None, bound: float | None, fallback: float) -> tuple[float, float | None]:
    bound = fallback if bound is None else max(bound, fallback)
    gap = None if objective is None else max(objective - bound, 0.0) / max(abs(objective), 1e-300)
    return bound, gap


#: variables (spans + flows) Pyomo builds and writes, and HiGHS reads, per second; and variables
#: HiGHS presolves per second (it cannot be interrupted meanwhile). Measured on this project's
#: 2-core machine: geo-world-40, 480k variables, built in 6.8-7.3 s, written in 7.6-8.6 s, read in
#: 1.0-1.2 s, presolved in 11 s; see benchmarks/time_limit.py
PREP_VARIABLES_PER_S = 25_000.0
PRESOLVE_VARIABLES_PER_S = 40_000.0
#: variables per second :func:`build_bprr_arrays` builds and HiGHS takes (benchmarks/milp_build.py)
ARRAY_VARIABLES_PER_S = 250_000.0


def model_size(inst: Instance) -> int:
    """Span binaries + flow integers :func:`build_bprr_model` would create, without building."""
    L = inst.num_blocks
    a = np.arange(L)
    spans = np.minimum(_max_blocks(inst)[:, None], L - a[None, :]).clip(min=0).sum()
    return int(spans * (1 + np.count_nonzero(request_shares(inst))))


@register("bprr-milp", "Exact BPRR placement and routing: aggregated-flow MILP (Pyomo) on HiGHS, warm-started "
          "from cg-bprr, with time limit, bound and gap (arXiv 2512.21884 Sec. 3)",
          features=("placement", "routing", "exact", "bound"))
def bprr_milp(inst: Instance, *, objective: Objective = "decode", time_limit: TimeLimit = 60.0,
              mip_gap: MipGap = 1e-4, threads: Threads = None,
              warm_start: Annotated[bool, Field(description=(
                  "start from the better of cg-bprr's solution and bprr-chains' packing"))] = True,
              backend: Backend = "highs",
              redundancy: Annotated[int, Field(ge=1, le=1000, description=(
                  "every block held by at least this many servers, so one failure leaves it served"))] = 1,
              modeller: Annotated[Literal["arrays", "pyomo"], Field(description=(
                  "build the model with numpy arrays (fast) or Pyomo through an LP file (the reference)"))] = "arrays",
              skip_if_too_large: Annotated[bool, Field(description=(
                  "return the warm start with a bound at once when building the model alone would take "
                  "longer than time_limit"))] = True,
              progress: MilpProgress | None = None) -> Solution:
    """Solve BPRR exactly (or to the time limit) with HiGHS.

    Parameters
    ----------
    objective : {"decode", "inference"}
        Mean per-token decode time (paper) or mean whole-request time, seconds.
    time_limit : float or None
        Seconds for the whole call: building the model, writing it and the backend's search. The
        clock is checked while building, and the backend gets what is left.
    mip_gap : float
        Relative optimality gap at which to stop.
    threads : int, optional
    warm_start : bool
        Start from the better of cg-bprr's solution and bprr-chains' packing
        (:mod:`optim.solvers.bprr_chains`, given at most a quarter of the time left), when feasible.
        Before any model is built, a warm start that meets the chain-relaxation bound
        (:func:`optim.solvers.bprr_chains.chain_bound`) is returned as ``optimal``.
    backend : {"highs", "ortools"}
        HiGHS through highspy, or SCIP through OR-Tools' model builder.
    redundancy : int
        Every block held by at least this many servers (``optim evaluate`` reports what a single
        failure leaves). A warm start that holds some block fewer times is not used.
    modeller : {"arrays", "pyomo"}
        ``arrays`` (default): :func:`build_bprr_arrays`, the matrix built with numpy and passed to
        HiGHS directly (OR-Tools reads an MPS file written from it); ``pyomo``: the readable
        reference :func:`build_bprr_model`, written as an LP file. Same model, column for column.
    skip_if_too_large : bool
        When building, writing, reading and presolving the model would take longer than
        ``time_limit`` (``model_size / PREP_VARIABLES_PER_S + model_size / PRESOLVE_VARIABLES_PER_S``),
        return the warm start with the chain-relaxation bound and status ``time_limit`` at once, saying so:
        the search would never start. Without it the model is built and solved, and the call
        still returns at the limit (the clock is checked while building; HiGHS gets what is
        left and is left behind if its presolve overruns).
    progress : callable(dict), optional
        Receives ``{"incumbent", "bound", "gap", "time_s"}`` while HiGHS runs.

    Returns
    -------
    Solution
        ``optimal``, ``time_limit`` or ``interrupted`` (the incumbent, or the warm start, with
        ``bound`` and ``gap``; ``has_solution`` False only when neither exists), or ``infeasible``.

    Notes
    -----
    Where servers may choose their dtype or TP degree (:mod:`optim.configure`), every (server,
    configuration) pair is a server of its own (:func:`optim.configure.option_arrays`), at most one
    pair of a server holds a span (the one-span row sums over the pairs), and the objective adds
    each pair's quality penalty: the choice is a variable of the MILP. The warm start is cg-bprr's
    own choice. Only the array modeller models it.
    """
    from ..configure import has_choices

    if has_choices(inst):
        return _with_configurations(inst, objective=objective, time_limit=time_limit, mip_gap=mip_gap, threads=threads,
                                    warm_start=warm_start, backend=backend, redundancy=redundancy, modeller=modeller,
                                    skip_if_too_large=skip_if_too_large, progress=progress)
    return _bprr_milp(inst, objective, time_limit, mip_gap, threads, warm_start, backend, redundancy, modeller,
                      skip_if_too_large, progress)


def _with_configurations(inst: Instance, *, modeller: str, warm_start: bool, objective: str, **opts) -> Solution:
    """bprr-milp over the servers' configurations as a variable (see :func:`bprr_milp`, Notes)."""
    from ..configure import choices_of, option_arrays, stated
    from ..errors import InvalidOptionError

    if modeller != "arrays":
        raise InvalidOptionError("solver 'bprr-milp', option modeller: 'pyomo' does not model the servers' dtype "
                                 "and TP choices; use modeller=arrays (the default)")
    expanded, owner, confs = option_arrays(inst)
    key = {(int(owner[k]), confs[k]): expanded.servers[k].id for k in range(len(confs))}
    warm = None
    if warm_start:
        ws = solve(inst, "cg-bprr", routing_objective=objective)
        if ws.has_solution:
            chosen = choices_of(inst, ws)

            def vid(sid):
                j = inst.server_index[sid]
                return key[(j, chosen.get(sid, stated(inst, j)))]

            warm = ws.model_copy(update={
                "placement": [p.model_copy(update={"server": vid(p.server), "dtype": None, "tp_degree": None})
                              for p in ws.placement if p.end > p.start],
                "paths": [p.model_copy(update={"hops": [h.model_copy(update={"server": vid(h.server)}) for h in p.hops]})
                          for p in ws.paths]})
    sol = _bprr_milp(expanded, objective, warm_start=warm_start, warm_override=warm, warm_label="cg-bprr", owner=owner,
                     modeller=modeller, **opts)
    if not sol.has_solution:
        return sol.model_copy(update={"instance": inst.name})
    phys = {expanded.servers[k].id: (inst.servers[int(owner[k])].id, confs[k]) for k in range(len(confs))}
    placement = {s.id: ServerPlacement(server=s.id, start=0, end=0, cache_slots=0) for s in inst.servers}
    for p in sol.placement:
        if p.end > p.start:
            sid, conf = phys[p.server]
            placement[sid] = p.model_copy(update={"server": sid, "dtype": conf.dtype, "tp_degree": conf.tp_degree})
    paths = [p.model_copy(update={"hops": [h.model_copy(update={"server": phys[h.server][0]}) for h in p.hops]})
             for p in sol.paths]
    details = {**sol.details, "configurations": {p.server: f"{p.dtype}/tp{p.tp_degree}" for p in placement.values()
                                                  if p.end > p.start}}
    name = sol.objective_name + ("_plus_quality_penalty" if np.any(expanded.quality_penalty_s > 0) else "")
    return sol.model_copy(update={"instance": inst.name, "placement": list(placement.values()), "paths": paths,
                                  "details": details, "objective_name": name})


def _bprr_milp(inst: Instance, objective: str, time_limit: float | None, mip_gap: float, threads: int | None,
               warm_start: bool, backend: str, redundancy: int, modeller: str, skip_if_too_large: bool,
               progress: MilpProgress | None, warm_override: Solution | None = None,
               owner: np.ndarray | None = None,
               move_budget: tuple[np.ndarray, np.ndarray, int] | None = None,
               warm_label: str = "given") -> Solution:
    """bprr-milp on the instance as stated; ``owner`` groups servers that are configurations of one
    server (one span per group), ``warm_override`` (named ``warm_label`` in messages) replaces the
    cg-bprr / bprr-chains warm start."""
    from .bprr_chains import chain_bound

    deadline = Deadline(time_limit)
    shares = request_shares(inst)
    fallback = simple_bound(inst, shares, objective)
    relaxed = chain_bound(inst, objective)
    if np.isfinite(relaxed):
        fallback = max(fallback, relaxed)
    warm_name = "cg-bprr"
    if warm_override is not None:
        warm_sol, warm_name = warm_override, warm_label
    elif warm_start and owner is None:
        warm_sol, warm_name = _best_warm_start(inst, objective, redundancy, deadline, shares)
    else:
        warm_sol = None
    warm_ok = warm_sol is not None and warm_sol.has_solution and _holds_each_block(inst, warm_sol, redundancy)
    size = model_size(inst)
    details: dict = {"backend": backend, "variables": size, "chain_bound": relaxed if np.isfinite(relaxed) else None}
    if warm_ok:
        details["warm_start_from"] = warm_name

    def give_warm_start(status: Status, why: str, extra: dict) -> Solution:
        """The warm start (or no solution) with the best bound known, when the MILP gave no incumbent."""
        if not warm_ok:
            return Solution(instance=inst.name, solver="bprr-milp", status=status, bound=extra.pop("bound", fallback),
                            objective_name=_objective_name(objective), message=why + "; no warm start to return",
                            details={**details, **extra})
        value = _objective_value(inst, shares, objective, warm_sol)
        bound, gap = _with_bound(value, extra.pop("bound", None), fallback)
        return warm_sol.model_copy(update={
            "solver": "bprr-milp", "status": status, "objective": value, "bound": bound, "gap": gap,
            "objective_name": _objective_name(objective), "message": why + f": returned the {warm_name} warm start",
            "options": {}, "details": {**details, **extra, "returned": "warm start"}})

    def meets(bound: float, what: str) -> Solution | None:
        """Report the warm start against ``bound``; the warm start as optimal if it meets it."""
        value = _objective_value(inst, shares, objective, warm_sol)
        if progress is not None:
            progress({"incumbent": value, "bound": bound, "gap": max(value - bound, 0.0) / value,
                      "time_s": deadline.elapsed_s, "limit_s": deadline.limit_s})
        if value - bound <= mip_gap * abs(value) + 1e-12:
            return give_warm_start(Status.OPTIMAL, f"the warm start meets {what}, so it is optimal", {})
        return None

    if warm_ok:  # bounds first: a warm start that meets the chain bound is optimal
        done = meets(fallback, "the chain-relaxation bound (optim.solvers.bprr_chains)")
        if done is not None:
            return done

    prep_rate = ARRAY_VARIABLES_PER_S if modeller == "arrays" else PREP_VARIABLES_PER_S
    setup_s = size / prep_rate + size / PRESOLVE_VARIABLES_PER_S
    if skip_if_too_large and time_limit is not None and setup_s > deadline.remaining():
        return give_warm_start(Status.TIME_LIMIT, f"model of {size:,} variables takes about {setup_s:.0f} s to "
                               f"build and presolve, more than the {time_limit:g} s limit",
                               {"skipped": "model too large for the time limit"})
    with tempfile.TemporaryDirectory() as tmp:
        try:
            if modeller == "arrays":
                bm = build_bprr_arrays(inst, objective, deadline, redundancy, owner, move_budget)
                model_file, names = bm.milp, bm.names()
                details["build_time_s"] = deadline.elapsed_s
            else:
                bm = build_bprr_model(inst, objective, deadline, redundancy)
                details["build_time_s"] = deadline.elapsed_s
                model_file, names = write_model(bm.model, tmp)
                details["write_time_s"] = deadline.elapsed_s - details["build_time_s"]
            deadline.check("writing the model")
        except OutOfTime as err:
            return give_warm_start(Status.TIME_LIMIT, f"the {time_limit:g} s limit passed while building the model "
                                   f"({err})", {"skipped": "time limit reached while building"})
        details.update(variables=len(names), modeller=modeller, symmetry_constraints=bm.symmetry_constraints)
        if modeller == "arrays":  # bounds first: the LP relaxation, and stop if the warm start meets it
            relax = lp_relaxation_bound(bm.milp, deadline)
            lp_bound = relax.bound
            details.update(lp_bound=lp_bound, lp_time_s=relax.seconds)
            if relax.interrupted:
                return give_warm_start(Status.INTERRUPTED, "interrupted while solving the LP relaxation", {})
            if lp_bound is not None:
                fallback = max(fallback, lp_bound)
                if warm_ok:
                    done = meets(lp_bound, "the LP relaxation's bound")
                    if done is not None:
                        return done
                    value = _objective_value(inst, shares, objective, warm_sol)
                    # columns no solution better than the warm start can use: fixed to 0 (exact)
                    model_file, fixed = bm.milp.fix_by_reduced_costs(relax.values, relax.reduced_costs, value,
                                                                     lp_bound)
                    details["fixed_by_reduced_costs"] = fixed
        warm = warm_start_from(bm, inst, warm_sol, names) if warm_ok else {}
        details["warm_start"] = bool(warm)
        res = solve_milp(backend, model_file, warm, deadline, mip_gap, threads, progress)
    details.update(backend_status=res.message, backend_time_s=res.run_time_s)
    if res.status not in (Status.OPTIMAL, Status.INFEASIBLE):
        res.bound, res.gap = _with_bound(res.objective, res.bound, fallback)
        details["bound_source"] = ("the highest of the backend's dual bound, the LP relaxation and the chain-relaxation "
                                   "bound")
    if not res.values:
        if res.status is Status.INFEASIBLE:
            return Solution(instance=inst.name, solver="bprr-milp", status=res.status, details=details,
                            message=f"the MILP is infeasible ({res.message})" + (
                                f"; every block must be held by {redundancy} servers" if redundancy > 1 else ""))
        return give_warm_start(res.status, f"{backend}: {res.message}; no incumbent of its own",
                               {"bound": res.bound})
    inv = {v: k for k, v in names.items()}
    span = {}
    flow: dict[tuple, int] = {}
    for name, val in res.values.items():
        var, idx = inv.get(name, (None, None))
        if var == "z" and val > 0.5:
            j, a, e = idx
            span[j] = (a, e)
        elif var == "f" and val > 0.5:
            flow[idx] = int(round(val))
    start = np.array([span.get(j, (0, 0))[0] for j in range(inst.num_servers)])
    end = np.array([span.get(j, (0, 0))[1] for j in range(inst.num_servers)])
    slots = np.maximum(free_cache_slots(inst, end - start), 0)
    placement = [ServerPlacement(server=s.id, start=int(start[j]), end=int(end[j]), cache_slots=int(slots[j]))
                 for j, s in enumerate(inst.servers)]
    paths = [Path(client=inst.clients[c].id, requests=n,
                  hops=[Hop(server=inst.servers[j].id, start=b, end=e) for j, b, e in hops])
             for c, hops, n in decompose_paths(inst, bm, flow)]
    A, B = _costs(inst, objective)
    for c in range(inst.num_clients):  # clients with a rate but no share of |R| still get a (shortest) path
        if bm.shares[c] == 0 and inst.arrival_rates[c] > 0:
            hops, _ = shortest_hops(start, end, inst.num_blocks, A[c], B)
            paths.append(Path(client=inst.clients[c].id, requests=0,
                              hops=[Hop(server=inst.servers[j].id, start=a, end=b) for j, a, b in hops]))
    return Solution(instance=inst.name, solver="bprr-milp", status=res.status, objective=res.objective,
                    objective_name=_objective_name(objective), bound=res.bound, gap=res.gap, placement=placement, paths=paths,
                    details=details)

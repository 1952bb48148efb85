"""Joint block placement and cache allocation for server chains, solved exactly by column generation.

arXiv 2604.14993 (Sun, He, Hou) poses block placement with cache allocation (BPCA, Eq. 5), proves
it NP-hard (Thm 1) and solves exactly only the cache allocation for a given placement (our
``bpca-milp``). This solver takes the joint problem. A hop ``h = (j, b, e)`` runs blocks
``[b, e)`` on server j (``m_h = e - b`` blocks, Lemma 1); a chain k is a sequence of hops from
boundary 0 to L with ``T_k = sum_h tau^c_j + tau^p_j m_h`` (Eq. 2). With ``x_jae = 1`` when server
j holds the span ``[a, e)`` and ``M~_j(m)`` its cache slots beside m blocks (A1)::

    min  sum_k c_k                 ("slots", Eq. 5's objective)  or  max sum_k c_k / T_k  ("rate", Eq. 4)
    s.t. sum_k c_k / T_k >= lambda / rho-bar                         (slots only)
         sum_{a,e} x_jae <= 1                                        (one span per server)
         sum_{k, (j,b',e) in k, b' <= b} m_h c_k <= sum_{a <= b} M~_j(e - a) x_jae   (every j, e, b)
         x binary, c_k integer >= 0

The last family is Eq. 3 written so that it also ties the chains to the spans: a hop entering j
at b' needs j's span to end at e and start at ``a <= b'``, so the hops entering at or before b use
at most the slots of the spans that start at or before b (with one span chosen, exactly Eq. 3, and
zero for every other end). A span longer than its earliest entry only costs memory, so spans run
over ``1 <= e - a <= r_j``, the longest hop that fits (``M~_j(r) >= r``).

Chains are exponentially many, hence:

1. **Column generation** of the LP relaxation. A chain's reduced cost is ``alpha - beta / T + W``
   (W the dual weights of its hops' slot rows; ``alpha, beta`` from the objective and the rate
   row), increasing in both T and W, so pricing is exact label setting over block boundaries with
   Pareto (T, W) labels: a heuristic search first (dominance blind to the servers used), then the
   exact one (:func:`price_chains`), keyed by the servers each label has used; where that needs
   more than 2 million labels (nine servers on one GPU type, J = 10, eta = 0.1), by decremental
   state-space relaxation: only servers some least-cost chain repeated are kept from repeating.
   Every round gives the Lagrangian bound ``z_RMP + kappa min_k rc_k``
   (kappa bounds sum c_k), valid before convergence; for ``slots``, where every chain costs 1,
   also Farley's ``z_RMP / (1 - min_k rc_k)`` (:func:`slot_bound`). As that objective is an
   integer, a bound that rounds up to z_RMP's ceiling is final (more columns would lower z_RMP,
   not the rounded bound): at the root such a bound counts as converged when the column-generation
   budget (half the time limit) runs out, and the nodes of step 4 stop at it at once (early
   termination).
   The master keeps at most a few thousand chains (:meth:`_Master.purge`); pricing searches
   every chain, so one dropped comes back when it prices out again.
2. **Incumbents**: for ``slots``, before column generation, placements in aligned segments
   (:func:`aligned_segments`: every server holds one whole segment of consecutive blocks, every
   segment carries all jobs; a small MILP made linear by the inequality of arithmetic and harmonic
   means), one slot fewer at a time; then the MILP over the chains generated. Where the rounded
   bound meets the incumbent, column generation stops: optimal. On J = 10, eta = 0.1 (nine
   2g.20gb slices) the optimum spreads six jobs over every server, two or three each; neither the
   MILP over the generated chains nor the dives of step 4 found it, aligned segments did. After the
   root's dive and before the node search of step 4, with at least :data:`COMPACT_FLOW_MIN_S` left,
   the same model without the alignment (:func:`compact_flow`) asks for one slot fewer in 40% of
   the time left, at most :data:`COMPACT_FLOW_MAX_S`.
3. **The proof**: a solution better than the incumbent uses only chains whose reduced cost is at
   most (incumbent - LP bound) (the reduced-cost argument of :meth:`optim.milp_arrays.ArrayMILP.
   fix_by_reduced_costs`, here applied to columns not yet generated). The same label search
   without dominance enumerates exactly those chains (visiting each server once); the MILP over
   them is then exact, so its finish proves the optimum. When they are too many, the answer keeps
   the LP bound and its gap (``rate``), or goes on to step 4 (``slots``).
4. **Branch and price** (``slots``; :class:`BranchAndPrice`): the proof of step 3 at every node
   of a search that splits the span variables: a server's span ends at or before e* or after it
   (or it holds none), then its start, then one span (forced) against the rest, until a node's LP bound
   rounds up to the incumbent, its LP optimum is integral, or its improving chains are few enough
   for the MILP over them. A node whose master value already rounds no higher than its parent's
   bound is branched on without converging (its rounded bound cannot rise). Before the search,
   and every 8 nodes from the node just branched on, a dive (:meth:`BranchAndPrice.dive`) forces
   the span of largest LP value, server after server, for a better placement (a forced span after
   which the node cannot beat the incumbent is undone and forbidden instead, up to
   :data:`DIVE_BACKTRACKS` times): with the incumbent one slot lower, every node whose rounded
   bound meets it closes at once. The LP relaxation alone is weak where few slots serve the load
   (J = 10, eta = 0.2: 4.64-4.97), and there the optimum was 5 slots where GBP-CR + GCA and the
   MILP over the generated chains had 6: dives found it, and now aligned segments do first.

The model has the paper's assumptions: fixed chain rates (no GPU contention) and the
orchestrator relaying between hops (``communication.relay = "client"``).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, Literal

import numpy as np
from pydantic import Field

from ..backends import Deadline, MilpResult, OutOfTime, solve_milp
from ..errors import InvalidOptionError
from ..instance import Instance
from ..milp_arrays import MILPBuilder
from ..options import MAX_COUNT, MipGap, Threads, TimeLimit
from ..perf import free_cache_slots, request_shares
from ..perf.capacity import free_cache_slot_table, hop_block_limits
from ..perf.boundary_dp import extend_labels, pareto_by_mask, pareto_by_submask
from ..perf.gca import chain_cost_coefficients
from ..solution import Chain, Hop, Path, ServerPlacement, Solution, Status
from .base import register

#: reduced costs below minus this count as improving in pricing
PRICING_TOL = 1e-9
#: most chains the proof's MILP takes (beyond, HiGHS's presolve alone outlasts minutes)
PROOF_MAX_CHAINS = 100_000
#: the label search's dominance compares server sets by inclusion when at most this many servers
#: are tracked (it visits every subset of a label's), by equality beyond
SUBSET_DOMINANCE_MAX_SERVERS = 14
#: most priced chains added to the master per round
COLUMNS_PER_ROUND = 300
#: chain columns past which the master LP drops the least promising (:meth:`_Master.purge`), and
#: how many it keeps: at 40,000 columns a re-solve took 0.08 s, at 5,000 0.011 s, at 2,000 0.004 s
#: (J = 10, eta = 0.1)
POOL_MAX_COLUMNS = 6000
POOL_KEEP_COLUMNS = 2000


@dataclass
class JointChainModel:
    """The index sets and coefficients of the joint model for one instance (see the module docstring).

    Attributes
    ----------
    num_blocks : int
        L.
    slots : ndarray of int, shape (J, L + 1)
        ``M~_j(m)``, cache slots beside m blocks.
    hop_server, hop_start, hop_end : ndarray of int, shape (H,)
        Every hop that fits a server, sorted by (start, end, server).
    hop_time : ndarray of float, shape (H,)
        ``tau^c_j + tau^p_j (e - b)``, seconds.
    hop_rows, hop_row_ptr : ndarray of int
        CSR lists of the slot rows (row numbers) each hop enters, with coefficient ``e - b``.
    span_server, span_start, span_end : ndarray of int, shape (X,)
        The spans x may take.
    base_rows : int
        Rate row (``rate_row``, -1 without), J one-span rows, then the slot rows; the
        rounding cuts (:meth:`add_cut`) follow.
    """

    num_blocks: int
    slots: np.ndarray
    hop_server: np.ndarray
    hop_start: np.ndarray
    hop_end: np.ndarray
    hop_time: np.ndarray
    hop_rows: np.ndarray
    hop_row_ptr: np.ndarray
    span_server: np.ndarray
    span_start: np.ndarray
    span_end: np.ndarray
    span_rows: np.ndarray
    span_cols: np.ndarray
    span_vals: np.ndarray
    base_rows: int
    rate_row: int
    target_rate: float
    hop_index: dict = field(default_factory=dict)  #: (start, end, server) -> hop
    span_index: dict = field(default_factory=dict)  #: (server, start, end) -> span
    hops_at: dict = field(default_factory=dict)  #: (server, end) -> hops
    spans_at: dict = field(default_factory=dict)  #: (server, end) -> spans
    #: None while the exact pricing keys labels by every server used; then the servers the relaxed
    #: pricing keeps from repeating (:func:`price_chains`; grows as it learns)
    pricing_tracked: np.ndarray | None = None
    cuts: list = field(default_factory=list)  #: (server, end, entry, divisor) of each rounding cut
    cuts_at: dict = field(default_factory=dict)  #: (server, end) -> cut numbers

    @property
    def num_rows(self) -> int:
        return self.base_rows + len(self.cuts)

    def add_cut(self, j: int, e: int, b: int, d: int) -> int:
        """Add the rounding cut of slot row (j, e, b) by d; return its row number.

        ``sum_{k, (j,b',e) in k, b' <= b} floor(m_h / d) c_k <= sum_{a <= b} floor(M~_j(e - a) / d) x_jae``.
        Valid: with span (a, e) chosen, ``sum floor(m_h / d) c_k <= floor(sum m_h c_k / d) <= floor(M~_j / d)``
        (Chvatal-Gomory rounding of Eq. 3 for that span); with no span ending at e both sides are 0.
        Its coefficient on a chain is a sum over the chain's hops, so pricing stays a label search.
        """
        self.cuts_at.setdefault((j, e), []).append(len(self.cuts))
        self.cuts.append((j, e, b, d))
        return self.num_rows - 1

    def cut_span_entries(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Span columns and coefficients of cut i."""
        j, e, b, d = self.cuts[i]
        sp = self.spans_at.get((j, e), np.zeros(0, dtype=np.int64))
        sp = sp[self.span_start[sp] <= b]
        return sp, -np.floor(self.slots[j, e - self.span_start[sp]] / d)

    def span_triplets(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, span, value) of every span entry, the cuts' included."""
        rows, cols, vals = [self.span_rows], [self.span_cols], [self.span_vals]
        for i in range(len(self.cuts)):
            sp, v = self.cut_span_entries(i)
            rows.append(np.full(sp.size, self.base_rows + i)), cols.append(sp), vals.append(v)
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)

    def cut_coefficient(self, i: int, h: int) -> float:
        """Cut i's coefficient on hop h: ``floor(m_h / d)`` for a hop on its server and end entering at or before b."""
        j, e, b, d = self.cuts[i]
        on = self.hop_server[h] == j and self.hop_end[h] == e and self.hop_start[h] <= b
        return float((self.hop_end[h] - self.hop_start[h]) // d) if on else 0.0

    def cut_hops(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """The hops cut i covers and its coefficients on them (:meth:`cut_coefficient` for all at
        once): the hops on its server and end entering at or before b, ``floor(m_h / d)`` each."""
        j, e, b, d = self.cuts[i]
        hs = self.hops_at.get((j, e), np.zeros(0, dtype=np.int64))
        hs = hs[self.hop_start[hs] <= b]
        return hs, (self.hop_end[hs] - self.hop_start[hs]) // d

    @property
    def num_spans(self) -> int:
        return int(self.span_server.size)

    def chain_time(self, hops: tuple[int, ...]) -> float:
        return float(self.hop_time[list(hops)].sum())

    def column(self, hops: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Row numbers and coefficients of a chain's column (slot rows, then the rate row)."""
        rows, vals = [], []
        for h in hops:
            r = self.hop_rows[self.hop_row_ptr[h]:self.hop_row_ptr[h + 1]]
            rows.append(r)
            vals.append(np.full(r.size, float(self.hop_end[h] - self.hop_start[h])))
        for h in hops:
            for i in self.cuts_at.get((int(self.hop_server[h]), int(self.hop_end[h])), ()):
                v = self.cut_coefficient(i, h)
                if v:
                    rows.append(np.array([self.base_rows + i])), vals.append(np.array([v]))
        if self.rate_row >= 0:
            rows.append(np.array([self.rate_row]))
            vals.append(np.array([1.0 / self.chain_time(hops)]))
        return np.concatenate(rows), np.concatenate(vals)

    def hop_weights(self, duals: np.ndarray) -> np.ndarray:
        """W of each hop: minus the duals of the rows it enters times its coefficients, shape (H,)."""
        sums = np.add.reduceat(duals[self.hop_rows], self.hop_row_ptr[:-1]) if self.hop_rows.size else np.zeros(0)
        w = -(self.hop_end - self.hop_start) * sums
        for i in range(len(self.cuts)):
            y = duals[self.base_rows + i]
            if y:
                hs, coef = self.cut_hops(i)
                w[hs] -= coef * y
        return w

    def capacity_bound(self, hops: tuple[int, ...]) -> int:
        """The most jobs the chain can hold: each hop's server with the span it needs alone."""
        m = self.hop_end[list(hops)] - self.hop_start[list(hops)]
        return int(min(self.slots[self.hop_server[h], mh] // mh for h, mh in zip(hops, m)))


def build_joint_model(inst: Instance, objective: str) -> JointChainModel:
    """Index sets, slot rows and span coefficients of the joint chain model (numpy, no solver).

    Raises
    ------
    InvalidOptionError
        The instance relays activations server to server (the model prices hops by the
        orchestrator's RTT, as the paper does), or has more than 62 servers.
    """
    if inst.communication.relay == "direct":
        raise InvalidOptionError("solver 'chain-milp': the joint chain model prices each hop by the orchestrator's "
                                 "RTT (client relaying, arXiv 2604.14993 A1); this instance has communication.relay "
                                 "= 'direct'; expected 'client'")
    L, J = inst.num_blocks, inst.num_servers
    if J > 62:
        raise InvalidOptionError(f"solver 'chain-milp': its chain search tracks the servers a chain uses in 64-bit "
                                 f"masks, so it takes at most 62 servers; this instance has {J}")
    table = free_cache_slot_table(inst)
    slots = np.maximum(table, 0)
    A, B = chain_cost_coefficients(inst)
    r_max = hop_block_limits(inst, table)  # a hop of r blocks needs r slots beside r blocks
    rate_row = 0 if objective == "slots" else -1
    first_slot_row = 1 + J if rate_row == 0 else J
    # a slot row, a hop and a span share the index set (server j, end e, entry or start b): e - b <= r_j
    triples = [(j, e, b) for j in range(J) for e in range(1, L + 1) for b in range(max(0, e - int(r_max[j])), e)]
    cap_row = {t: first_slot_row + i for i, t in enumerate(triples)}
    row = first_slot_row + len(triples)
    hops = sorted((b, e, j) for j, e, b in triples)
    hb = np.array([h[0] for h in hops], dtype=np.int64)
    he = np.array([h[1] for h in hops], dtype=np.int64)
    hs = np.array([h[2] for h in hops], dtype=np.int64)
    ht = A[hs] + B[hs] * (he - hb)
    hop_rows = [np.array([cap_row[j, e, bb] for bb in range(b, e)], dtype=np.int64) for b, e, j in hops]
    ptr = np.zeros(len(hops) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([r.size for r in hop_rows])
    ss, sa, se, rows, cols, vals = [], [], [], [], [], []
    for col, (j, e, a) in enumerate(triples):
        ss.append(j), sa.append(a), se.append(e)
        rows.append(j + (1 if rate_row == 0 else 0))  # the one-span row
        cols.append(col), vals.append(1.0)
        for b in range(a, e):
            rows.append(cap_row[j, e, b]), cols.append(col), vals.append(-float(slots[j, e - a]))
    return JointChainModel(
        num_blocks=L, slots=slots, hop_server=hs, hop_start=hb, hop_end=he, hop_time=ht,
        hop_rows=np.concatenate(hop_rows) if hop_rows else np.zeros(0, dtype=np.int64), hop_row_ptr=ptr,
        span_server=np.array(ss, dtype=np.int64), span_start=np.array(sa, dtype=np.int64),
        span_end=np.array(se, dtype=np.int64), span_rows=np.array(rows, dtype=np.int64),
        span_cols=np.array(cols, dtype=np.int64), span_vals=np.array(vals), base_rows=row, rate_row=rate_row,
        target_rate=inst.total_arrival_rate / inst.workload.target_load,
        hop_index={(b, e, j): i for i, (b, e, j) in enumerate(hops)},
        span_index={(j, a, e): i for i, (j, a, e) in enumerate(zip(ss, sa, se))},
        hops_at=_group(hs, he), spans_at=_group(np.array(ss, dtype=np.int64), np.array(se, dtype=np.int64)))


def _group(server: np.ndarray, end: np.ndarray) -> dict:
    """Indices by (server, end)."""
    out: dict = {}
    for i, key in enumerate(zip(server.tolist(), end.tolist())):
        out.setdefault(key, []).append(i)
    return {k: np.array(v, dtype=np.int64) for k, v in out.items()}


def separate_cuts(model: JointChainModel, span_value: np.ndarray, hop_flow: np.ndarray, limit: int = 200) -> int:
    """Add the most violated rounding cuts (:meth:`JointChainModel.add_cut`) of an LP point; return how many.

    For each slot row (j, e, b) carrying flow, the divisors tried are the hop lengths on it.

    Parameters
    ----------
    span_value : ndarray, shape (X,)
        x.
    hop_flow : ndarray, shape (H,)
        Sum of c_k over the chains through each hop.
    """
    found = []
    existing = set(model.cuts)
    for (j, e), hs in model.hops_at.items():
        hs = hs[hop_flow[hs] > 1e-9]
        if hs.size == 0:
            continue
        sp = model.spans_at.get((j, e), np.zeros(0, dtype=np.int64))
        r = model.hop_end[hs] - model.hop_start[hs]
        for b in np.unique(model.hop_start[hs]).tolist():
            on = model.hop_start[hs] <= b
            lens, flow = r[on], hop_flow[hs][on]
            spb = sp[model.span_start[sp] <= b]
            for d in np.unique(lens).tolist():
                if d <= 1 or (j, e, b, d) in existing:
                    continue
                lhs = float(((lens // d) * flow).sum())
                rhs = float((np.floor(model.slots[j, e - model.span_start[spb]] / d) * span_value[spb]).sum())
                if lhs > rhs + 1e-6:
                    found.append((lhs - rhs, (j, e, b, d)))
    found.sort(reverse=True)
    for _, cut in found[:limit]:
        model.add_cut(*cut)
    return min(len(found), limit)


def completion_bounds(model: JointChainModel, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The least time and the least weight from each block boundary to L over any hops, shape (L + 1,) each
    (inf where L cannot be reached); ``t_rest[0]`` is the fastest chain's T."""
    L = model.num_blocks
    hb, he, ht = model.hop_start, model.hop_end, model.hop_time
    first = np.searchsorted(hb, np.arange(L + 1))
    t_rest = np.full(L + 1, np.inf)
    w_rest = np.full(L + 1, np.inf)
    t_rest[L] = w_rest[L] = 0.0
    for b in range(L - 1, -1, -1):
        sl = slice(first[b], first[b + 1])
        if first[b + 1] > first[b]:
            t_rest[b] = np.min(ht[sl] + t_rest[he[sl]])
            w_rest[b] = np.min(weight[sl] + w_rest[he[sl]])
    return t_rest, w_rest


def chain_labels(model: JointChainModel, weight: np.ndarray, alpha: float, beta: float, threshold: float,
                 dominance: bool, limit: int = 2_000_000, product: bool = False,
                 stop: Callable[[], bool] | None = None, max_out: int | None = None,
                 exact: bool = True, tracked: np.ndarray | None = None) -> list[tuple[float, tuple[int, ...]]] | None:
    """Chains whose reduced cost ``alpha - beta / T + W`` may be at most ``threshold``, by label setting.

    With ``product`` the score is ``T W`` instead (weights clipped at 0), for Farley's bound.

    Labels (T, W) move forward over block boundaries 0..L along the hops (a DAG: each hop ends
    after it starts). A label is dropped when even the fastest and the lightest completion
    (``T_rest``, ``W_rest``, computed backward) cannot bring it to ``threshold``. A chain uses
    each server once (a 64-bit mask per label; :func:`build_joint_model` takes at most 62
    servers). With ``dominance`` a label is also dropped when another at its boundary, with the
    same servers used, has no larger T and W (exact for the minimum, since the score increases in
    both); without it every chain below the threshold is listed.

    Parameters
    ----------
    weight : ndarray, shape (H,)
        W of each hop.
    alpha, beta : float
        ``beta >= 0``.
    limit : int
        Most labels kept and waiting in all; None is returned beyond it.
    stop : callable, optional
        Polled at every boundary and after every extension; None is returned once it says True
        (a time limit).
    max_out : int, optional
        Return only the best this many.
    exact : bool
        False: dominance ignores which servers a label has used (every chain returned still uses
        each server once, but one below the threshold may be missed): a fast heuristic pricing.
    tracked : ndarray of bool, shape (J,), optional
        Only these servers are kept from repeating, and a label is dominated by one with a subset of
        its tracked servers (at most :data:`SUBSET_DOMINANCE_MAX_SERVERS` tracked; by one with the
        same beyond): a relaxation, the least score over more chains. All False lets every server
        repeat (what a valid bound needs when the exact search is too slow); :func:`price_chains`
        grows the set. Default: every server, dominance among labels with the same servers.

    Returns
    -------
    list of (reduced cost, hops) or None
        Sorted by reduced cost; hops as indices into the model's hop arrays.
    """
    L = model.num_blocks
    hb, he, ht, hs = model.hop_start, model.hop_end, model.hop_time, model.hop_server
    if product:
        weight = np.maximum(weight, 0.0)
    first = np.searchsorted(hb, np.arange(L + 1))
    t_rest, w_rest = completion_bounds(model, weight)
    if not np.isfinite(t_rest[0]):
        return []
    bit = np.int64(1) << np.arange(model.slots.shape[0], dtype=np.int64)
    if tracked is not None:
        bit = np.where(tracked, bit, np.int64(0))
    tracked_servers = np.flatnonzero(bit)
    subset_rule = tracked is not None and tracked_servers.size <= SUBSET_DOMINANCE_MAX_SERVERS
    pending: list[list] = [[] for _ in range(L + 1)]
    pending[0].append((np.zeros(1), np.zeros(1), np.full(1, -1), np.full(1, -1), np.zeros(1, dtype=np.int64)))
    kept: list[Any] = [None] * (L + 1)
    total, waiting = 0, 1
    slack = 1e-12 * max(1.0, abs(threshold))
    for b in range(L + 1):
        if not pending[b]:
            continue
        T, W, hop, pred, mask = (np.concatenate([p[i] for p in pending[b]]) for i in range(5))
        pending[b] = []
        waiting -= T.size
        if dominance and b < L and T.size > 1:
            # keep the labels no other beats in both T and W among those with the same servers used
            # (or, relaxed, with a subset of the tracked ones)
            if exact and subset_rule:
                order = pareto_by_submask(T, W, mask, tracked_servers)
            else:
                order = pareto_by_mask(T, W, mask if exact else np.zeros_like(mask))
            T, W, hop, pred, mask = T[order], W[order], hop[order], pred[order], mask[order]
        kept[b] = (T, W, hop, pred, mask)
        total += T.size
        if total > limit or (stop is not None and stop()):
            return None
        if b == L:
            break
        sl = slice(first[b], first[b + 1])
        ends, s = he[sl], hs[sl]
        li, hi, nT, nW = extend_labels(T, W, mask, ht[sl], weight[sl], s, t_rest[ends], w_rest[ends], alpha, beta,
                                       threshold + slack, product)
        waiting += li.size  # labels made but not yet kept count against the limit too
        if total + waiting > limit or (stop is not None and stop()):
            return None
        if li.size == 0:
            continue
        e_of = ends[hi]
        order = np.argsort(e_of, kind="stable")
        li, hi, e_of, nT, nW = li[order], hi[order], e_of[order], nT[order], nW[order]
        cuts = np.flatnonzero(np.diff(e_of)) + 1
        for part_l, part_h, pT, pW in zip(np.split(li, cuts), np.split(hi, cuts), np.split(nT, cuts),
                                          np.split(nW, cuts)):
            e = int(ends[part_h[0]])
            pending[e].append((pT, pW, first[b] + part_h, part_l, mask[part_l] | bit[s[part_h]]))
    if kept[L] is None:
        return []
    T, W, hop, pred, _ = kept[L]
    rc = T * W if product else alpha + W - beta / T
    out = []
    for i in np.argsort(rc, kind="stable"):
        if rc[i] > threshold + slack or (max_out is not None and len(out) >= max_out):
            break
        hops, h, p = [], int(hop[i]), int(pred[i])
        while h >= 0:
            hops.append(h)
            b = int(hb[h])
            h, p = int(kept[b][2][p]), int(kept[b][3][p])
        out.append((float(rc[i]), tuple(reversed(hops))))
    return out


def price_chains(model: JointChainModel, weight: np.ndarray, alpha: float, beta: float, threshold: float,
                 max_out: int, stop: Callable[[], bool] | None = None,
                 limit: int = 2_000_000) -> list[tuple[float, tuple[int, ...]]] | None:
    """Exact pricing: chains of distinct servers whose reduced cost is at most ``threshold``, the
    least first.

    The label search keyed by the full set of servers each label has used (:func:`chain_labels`)
    runs first. Where several servers are alike it can need millions of labels (J = 10 with nine
    servers on one GPU type: over 2 million); once it outgrows ``limit``, this model is priced
    from then on by decremental state-space relaxation (Righini and Salani, Networks 51(3), 2008,
    for the elementary shortest path): the search lets every server repeat except a tracked set,
    which alone keys the dominance (a label is dominated by one with a subset of its tracked
    servers); when the least-cost chain found repeats a server, that server joins the set (kept on
    the model for the next rounds) and the search runs again. The relaxation covers every chain
    of distinct servers, so when its least chain has distinct servers (or is above the threshold)
    none is cheaper: exact.

    Parameters
    ----------
    weight, alpha, beta, threshold, max_out, stop, limit
        As :func:`chain_labels` (``dominance`` on).

    Returns
    -------
    list of (reduced cost, hops) or None
        The chains found, sorted (the first is the least over every chain of distinct servers
        when it is below the threshold; an empty list means none is); None once ``stop`` says so or
        a relaxed search needs more than ``limit`` labels.
    """
    if model.pricing_tracked is None:
        found = chain_labels(model, weight, alpha, beta, threshold, dominance=True, max_out=max_out, stop=stop,
                             limit=limit)
        if found is not None or (stop is not None and stop()):
            return found
        model.pricing_tracked = np.zeros(model.slots.shape[0], dtype=bool)  # outgrew its labels: relax
    tracked = model.pricing_tracked
    while True:
        found = chain_labels(model, weight, alpha, beta, threshold, dominance=True, max_out=4 * max_out, stop=stop,
                             limit=limit, tracked=tracked)
        if not found:
            return found
        servers = [model.hop_server[list(hops)] for _, hops in found]
        repeats = np.bincount(servers[0], minlength=tracked.size) > 1
        if not repeats.any():
            return [f for f, srv in zip(found, servers) if np.unique(srv).size == srv.size][:max_out]
        tracked |= repeats


def _ceil(z: float) -> float:
    """The least integer at or above z, forgiving LP round-off (the slots objective is an integer)."""
    return math.ceil(z - 1e-6 * max(1.0, abs(z)))


def slot_bound(z: float, rc_min: float, kappa: float) -> tuple[float, float]:
    """A lower bound on the ``slots`` optimum from one column-generation round, valid before
    convergence, and the factor its duals are scaled by.

    Two bounds from the restricted master's optimum z and duals, whose least chain reduced cost
    over every chain (exact pricing) is ``rc_min <= 0``:

    - Lagrangian: ``z + kappa rc_min``, as every solution has ``sum_k c_k <= kappa``;
    - Farley (Oper. Res. 38(5), 1990): every chain costs 1, so the duals divided by ``1 - rc_min``
      are feasible for every chain, and still for the spans and the artificial column (cost >= 0,
      reduced costs >= 0 at the master's optimum): ``z / (1 - rc_min)``.

    Returns
    -------
    bound : float
        The larger of the two (``z`` when ``rc_min = 0``).
    scale : float
        1, or ``1 / (1 - rc_min)`` when Farley's bound is the larger. With the duals scaled by it,
        a solution of at most t slots uses only chains of reduced cost at most ``t - bound``
        (Farley: every scaled reduced cost is >= 0 and ``sum_k c_k >= bound + sum_k rc_k c_k``;
        Lagrangian: ``rc_k - rc_min <= t - bound``, a fortiori ``rc_k <= t - bound``): the
        listing of improving chains keeps its argument.
    """
    rc = min(0.0, rc_min)
    lagrangian, farley = z + kappa * rc, z / (1.0 - rc)
    return (farley, 1.0 / (1.0 - rc)) if farley > lagrangian else (lagrangian, 1.0)


def _farley_bound(model: JointChainModel, weight: np.ndarray, z_lp: float,
                  stop: Callable[[], bool] | None = None) -> float:
    """Farley's bound for the rate objective (internal form ``min -nu``), valid before convergence.

    The master's duals y (>= 0 on the <= rows of ``max nu``) price chain k at ``W_k``; scaled by
    ``theta = max_k (1 / T_k) / W_k`` they are feasible for every chain (and still for the spans,
    whose dual rows are homogeneous), so ``nu <= theta nu_RMP``. The largest ratio is the least
    ``T_k W_k``, a label search of its own (:func:`chain_labels` with ``product``).
    """
    # servers may repeat here: the least T W over more chains only raises theta (still a bound), and fast
    best = chain_labels(model, weight, 0.0, 0.0, np.inf, dominance=True, product=True, max_out=1, stop=stop,
                        tracked=np.zeros(model.slots.shape[0], dtype=bool))
    if not best or best[0][0] <= 0:
        return -math.inf
    return z_lp * max(1.0, 1.0 / best[0][0])  # z_lp = -nu_RMP <= 0


@dataclass
class _Master:
    """The restricted master LP in highspy, chain columns added as they are priced.

    ``columns`` are the chains in the LP now, in its column order; ``generated`` every chain ever
    added (the MILPs over generated chains take these). Past :data:`POOL_MAX_COLUMNS` columns,
    :meth:`purge` drops the least promising ones from the LP (each LP solve costs time in
    proportion to the columns it holds): pricing searches every chain, not the pool, so a dropped
    chain comes back when its reduced cost is negative again, and no bound depends on the pool.
    """

    model: JointChainModel
    objective: str
    columns: list[tuple[int, ...]] = field(default_factory=list)
    known: set = field(default_factory=set)
    generated: dict = field(default_factory=dict)
    h: Any = None
    #: columns (0-based among the chains) the last ``restrict`` left free; None: all of them
    _free: np.ndarray | None = None
    #: every column's hops in one array, and the column (0-based among the chains) of each
    _hops: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _hop_column: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        import highspy

        from ..backends import native_stdout_silenced

        m = self.model
        b = MILPBuilder()
        b.add_columns(m.num_spans, lower=0.0, upper=np.inf, cost=0.0)  # <= 1 by the one-span rows
        r0, c0, v0 = m.span_triplets()
        rows, cols, vals = [r0], [c0], [v0]
        if m.rate_row >= 0:
            # a slot of a chain of time T gives 1/T: T slots per unit of rate; the artificial costs far more
            big = 1e3 * float(m.num_blocks * m.hop_time.max(initial=1.0)) + 1.0
            art = b.add_columns(1, lower=0.0, upper=np.inf, cost=big)
            rows.append(np.array([m.rate_row])), cols.append(art), vals.append(np.array([1.0]))
        lower, upper = _row_bounds(m)
        b.add_rows(np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), lower=lower, upper=upper,
                   num_rows=m.num_rows)
        lp = b.build()
        with native_stdout_silenced():
            self.h = highspy.Highs()
            self.h.setOptionValue("output_flag", False)
            self.h.passModel(lp.to_highs_lp())

    def add(self, chains: list[tuple[int, ...]]) -> int:
        new = [c for c in dict.fromkeys(chains) if c not in self.known]
        if not new:
            return 0
        costs, starts, idx, vals = [], [], [], []
        first = len(self.columns)
        self._hops = np.concatenate([self._hops, np.fromiter((h for c in new for h in c), dtype=np.int64)])
        self._hop_column = np.concatenate([self._hop_column, np.repeat(np.arange(first, first + len(new)),
                                                                       [len(c) for c in new])])
        for c in new:
            self.known.add(c)
            self.columns.append(c)
            self.generated[c] = None
            r, v = self.model.column(c)
            starts.append(len(idx))
            idx.extend(r.tolist())
            vals.extend(v.tolist())
            costs.append(1.0 if self.objective == "slots" else -1.0 / self.model.chain_time(c))
        n = len(new)
        if self._free is not None:
            self._free = np.concatenate([self._free, np.ones(n, dtype=bool)])
        self.h.addCols(n, np.array(costs), np.zeros(n), np.full(n, np.inf), len(idx), np.array(starts, dtype=np.int32),
                       np.array(idx, dtype=np.int32), np.array(vals))
        return n

    def solve(self) -> tuple[float, np.ndarray]:
        """LP optimum and row duals (HiGHS signs: >= rows >= 0, <= rows <= 0 in a minimisation)."""
        from ..backends import native_stdout_silenced

        with native_stdout_silenced():
            self.h.run()
        info = self.h.getInfo()
        return float(info.objective_function_value), np.asarray(self.h.getSolution().row_dual)

    def column_hops(self) -> tuple[np.ndarray, np.ndarray]:
        """Every column's hops in one array, and the column (0-based among the chains) of each."""
        return self._hops, self._hop_column

    def per_column(self, hop_values: np.ndarray) -> np.ndarray:
        """Sum over each column's hops of ``hop_values`` (shape (H,)), shape (columns,)."""
        hops, col = self.column_hops()
        return np.bincount(col, weights=hop_values[hops], minlength=len(self.columns))

    def restrict(self, span_ok: np.ndarray, hop_ok: np.ndarray, forced: np.ndarray | None = None) -> None:
        """Bounds of a branch-and-price node: spans not in ``span_ok`` and chains through a hop not
        in ``hop_ok`` fixed at 0, the spans in ``forced`` at 1, every other column free again."""
        m = self.model
        n = m.num_spans
        low = np.zeros(n) if forced is None else forced.astype(float)
        self.h.changeColsBounds(n, np.arange(n, dtype=np.int32), low, np.where(span_ok, np.inf, 0.0))
        k = len(self.columns)
        if k:
            ok = self.per_column((~hop_ok).astype(float)) == 0  # no hop of the chain forbidden
            off = self.first_chain_column
            self.h.changeColsBounds(k, np.arange(off, off + k, dtype=np.int32), np.zeros(k), np.where(ok, np.inf, 0.0))
            self._free = ok

    def purge(self, keep: int | None = None) -> int:
        """Past :data:`POOL_MAX_COLUMNS` chain columns (or whenever ``keep`` is given), drop from the
        LP all but the ``keep`` (default :data:`POOL_KEEP_COLUMNS`) of least reduced cost at its last
        optimum, every basic one kept (so the basis stays valid) and every one the last
        ``restrict`` fixed at 0 counted last. Dropped chains leave ``known``: pricing may bring them
        back. Returns how many were dropped."""
        import highspy

        k = len(self.columns)
        if keep is None:
            if k <= POOL_MAX_COLUMNS:
                return 0
            keep = POOL_KEEP_COLUMNS
        if k <= keep:
            return 0
        off = self.first_chain_column
        basic = np.fromiter((st == highspy.HighsBasisStatus.kBasic for st in self.h.getBasis().col_status[off:]),
                            dtype=bool, count=k)
        rc = np.asarray(self.h.getSolution().col_dual)[off:].copy()
        if self._free is not None:  # kept the length of columns by add and here
            rc[~self._free] = np.inf
        stay = basic.copy()
        stay[np.argsort(rc, kind="stable")[:keep]] = True
        drop = np.flatnonzero(~stay)
        if drop.size == 0:
            return 0
        self.h.deleteCols(drop.size, (drop + off).astype(np.int32))
        for i in drop:
            self.known.discard(self.columns[i])
        self.columns = [c for c, s in zip(self.columns, stay) if s]
        if self._free is not None:
            self._free = self._free[stay]
        kept_hop = stay[self._hop_column]
        self._hops = self._hops[kept_hop]
        self._hop_column = (np.cumsum(stay) - 1)[self._hop_column[kept_hop]]  # renumbered
        self.solve()  # the same optimum (its basis kept): solution and duals valid again
        return int(drop.size)

    def chain_values(self) -> np.ndarray:
        """c_k of the LP optimum, one per column in ``columns``."""
        return np.asarray(self.h.getSolution().col_value)[self.first_chain_column:]

    def artificial_value(self) -> float:
        if self.model.rate_row < 0:
            return 0.0
        return float(np.asarray(self.h.getSolution().col_value)[self.model.num_spans])

    @property
    def first_chain_column(self) -> int:
        return self.model.num_spans + (1 if self.model.rate_row >= 0 else 0)

    def add_cuts(self, start: int) -> None:
        """Add the model's cuts from number ``start`` on as rows, with the chains already in."""
        m = self.model
        off = self.first_chain_column
        for i in range(start, len(m.cuts)):
            sp, v = m.cut_span_entries(i)
            hs, on_hs = m.cut_hops(i)
            on_hop = np.zeros(m.hop_server.size)
            on_hop[hs] = on_hs
            coef = self.per_column(on_hop)
            k = np.flatnonzero(coef)
            idx = np.concatenate([sp, off + k]).astype(np.int32)
            self.h.addRow(-np.inf, 0.0, idx.size, idx, np.concatenate([v, coef[k]]))

    def primal(self) -> tuple[np.ndarray, np.ndarray]:
        """x (X,) and the flow sum c_k through each hop (H,) of the LP optimum."""
        v = np.asarray(self.h.getSolution().col_value)
        flow = np.zeros(self.model.hop_server.size)
        if self.columns:
            hops, col = self.column_hops()
            c = v[self.first_chain_column:]
            flow = np.bincount(hops, weights=np.where(c > 1e-12, c, 0.0)[col], minlength=flow.size)
        return v[:self.model.num_spans], flow


def _row_bounds(model: JointChainModel) -> tuple[np.ndarray, np.ndarray]:
    """Rate row >= lambda / rho-bar, one-span rows <= 1, slot rows <= 0."""
    lower = np.full(model.num_rows, -np.inf)
    upper = np.zeros(model.num_rows)
    off = 1 if model.rate_row >= 0 else 0
    if off:
        lower[0], upper[0] = model.target_rate, np.inf
    upper[off:off + model.slots.shape[0]] = 1.0
    return lower, upper


def _milp(model: JointChainModel, objective: str, chains: list[tuple[int, ...]], deadline: Deadline | None = None):
    """The MILP over the given chains: the spans they can use (binary), then one integer capacity per chain.

    Only spans starting where one of the chains enters their server are kept: a span longer than
    its earliest entry only costs slots, so this loses no solution.

    Returns
    -------
    ArrayMILP, ndarray of int
        The model and the model span index of each of its span columns (columns ``x0..``).
    """
    entries = {(int(model.hop_server[h]), int(model.hop_start[h]), int(model.hop_end[h])) for c in chains for h in c}
    span_ids = np.array(sorted(model.span_index[s] for s in entries), dtype=np.int64)
    renumber = np.full(model.num_spans, -1, dtype=np.int64)
    renumber[span_ids] = np.arange(span_ids.size)
    srow, scol, sval = model.span_triplets()
    keep = renumber[scol] >= 0
    b = MILPBuilder()
    b.add_columns(span_ids.size, lower=0, upper=1, integer=True)
    n = len(chains)
    cost = np.ones(n) if objective == "slots" else np.array([-1.0 / model.chain_time(c) for c in chains])
    ub = np.array([model.capacity_bound(c) for c in chains], dtype=float)
    cols = b.add_columns(n, lower=0, upper=ub, integer=True, cost=cost)
    rows, cc, vals = [srow[keep]], [renumber[scol[keep]]], [sval[keep]]
    for i, (k, c) in enumerate(zip(cols, chains)):
        r, v = model.column(c)
        rows.append(r), cc.append(np.full(r.size, k)), vals.append(v)
        if deadline is not None and i % 2000 == 0:
            deadline.check("building the MILP over the chains")
    lower, upper = _row_bounds(model)
    b.add_rows(np.concatenate(rows), np.concatenate(cc), np.concatenate(vals), lower=lower, upper=upper,
               num_rows=model.num_rows)
    return b.build(), span_ids


@dataclass
class _Incumbent:
    """A feasible solution: each used server's span (model span index) and each chain's capacity."""

    spans: dict[int, int]
    capacity: dict[tuple[int, ...], int]
    value: float  #: the internal (minimised) objective

    def warm(self, span_ids: np.ndarray, chains: list[tuple[int, ...]]) -> dict[str, float]:
        """The solution as a start for :func:`_milp`'s columns."""
        pos = {int(s): i for i, s in enumerate(span_ids)}
        out = {f"x{pos[s]}": 1.0 for s in self.spans.values() if s in pos}
        out.update({f"x{span_ids.size + k}": float(self.capacity[c]) for k, c in enumerate(chains)
                    if c in self.capacity})
        return out

    @classmethod
    def from_milp(cls, model: JointChainModel, values: dict, span_ids: np.ndarray, chains: list,
                  value: float) -> "_Incumbent":
        spans = {int(model.span_server[s]): int(s) for i, s in enumerate(span_ids) if values.get(f"x{i}", 0.0) > 0.5}
        caps = {c: int(round(values.get(f"x{span_ids.size + k}", 0.0))) for k, c in enumerate(chains)}
        return cls(spans, {c: n for c, n in caps.items() if n > 0}, value)


def _heuristic(inst: Instance, model: JointChainModel, objective: str) -> tuple[list, _Incumbent | None]:
    """GCA's chains on GBP-CR's placement for every candidate c (arXiv 2604.14993 Alg. 1-2): first
    columns, and the best of them as an incumbent. For ``slots`` the fastest chains take capacity
    until the rate reaches lambda / rho-bar; each span shrinks to its earliest entry."""
    from ..perf.gca import greedy_cache_allocation
    from .gbp_cr import candidate_cs, gbp_cr_placement

    columns, best, seen = [], None, set()
    for c in candidate_cs(inst).tolist():
        # for the largest nu, chains go on until the servers run out
        start, end, k = gbp_cr_placement(inst, int(c), min_chains=inst.num_servers if objective == "rate" else 0)
        key = start.tobytes() + end.tobytes()
        if k == 0 or key in seen:
            continue
        seen.add(key)
        chosen, rate, entry = {}, 0.0, {}
        for ch in greedy_cache_allocation(inst, start, end):
            hops = tuple(model.hop_index.get((b, e, j), -1) for j, b, e in ch.hops)
            if -1 in hops:
                continue
            columns.append(hops)
            T, n = model.chain_time(hops), ch.capacity
            if objective == "slots":
                if rate >= model.target_rate:
                    continue
                n = min(n, math.ceil((model.target_rate - rate) * T - 1e-9))
            chosen[hops] = n
            rate += n / T
            for j, b, _ in ch.hops:
                entry[j] = min(entry.get(j, b), b)
        if not chosen or (objective == "slots" and rate < model.target_rate * (1 - 1e-12)):
            continue
        value = float(sum(chosen.values())) if objective == "slots" else -rate
        spans = {j: model.span_index[j, a, int(end[j])] for j, a in entry.items()}
        if best is None or value < best.value:
            best = _Incumbent(spans, chosen, value)
    return columns, best


def aligned_segments(model: JointChainModel, slots: int, deadline: Deadline, threads: int | None = None
                     ) -> _Incumbent | None:
    """A placement of ``slots`` jobs in aligned segments, found by a small MILP, or None.

    A primal heuristic for ``objective = "slots"`` where memory is scarce and the optimum spreads
    its jobs over many servers (J = 10, eta = 0.1: nine 2g.20gb slices, each holding 2-5 jobs
    beside 11-13 blocks, where the MILP over the generated chains and the dives stopped one slot
    above the optimum). The blocks are cut into consecutive segments ``[a, e)``; each server holds
    at most one segment whole and takes ``n_j <= floor(M~_j(e - a) / (e - a))`` jobs through it
    (its slot row, Eq. 3, with every job entering at a); every segment carries all ``slots`` jobs.
    Any such assignment splits into ``slots`` chains (one server per segment each), and by the
    inequality of arithmetic and harmonic means their rate ``sum_q 1 / T_q`` is at least
    ``slots^2 / sum_q T_q``, where ``sum_q T_q = sum_j n_j t_j`` is linear (Eq. 2's hop times). So
    the MILP asks ``sum_j n_j t_j <= slots^2 / (lambda / rho-bar)``, minimising that total; its
    solution becomes chains by giving the q-th job the q-th fastest visit of every segment.

    Parameters
    ----------
    model : JointChainModel
        Index sets and coefficients (slots ``M~_j(m)``, hop times in seconds).
    slots : int
        S, the number of concurrent jobs (``sum_k c_k``) asked for.
    deadline : Deadline
        Wall-clock budget of the MILP (HiGHS); without a solution by then, None.
    threads : int, optional
        HiGHS threads.

    Returns
    -------
    _Incumbent or None
        Spans and chain capacities with ``sum c_k = slots`` reaching ``lambda / rho-bar``; None when
        the MILP finds no such assignment within the deadline (it raises nothing).
    """
    from ..backends import solve_milp

    L, J = model.num_blocks, model.slots.shape[0]
    length = model.hop_end - model.hop_start
    cap = model.slots[model.hop_server, length] // length
    use = np.flatnonzero(cap >= 1)
    if use.size == 0:
        return None
    seg_key = model.hop_start[use] * (L + 1) + model.hop_end[use]
    segs, seg_of = np.unique(seg_key, return_inverse=True)
    G, k = segs.size, use.size
    ga, ge = segs // (L + 1), segs % (L + 1)
    t = model.hop_time[use]
    b = MILPBuilder()
    seg = b.add_columns(G, lower=0, upper=1, integer=True)
    jobs = b.add_columns(k, lower=0, upper=np.minimum(cap[use], slots), integer=True, cost=t)
    held = b.add_columns(k, lower=0, upper=1, integer=True)
    rhs = np.zeros(L + 1)
    rhs[0], rhs[L] = 1.0, -1.0  # the segments chosen run from boundary 0 to L
    b.add_rows(np.concatenate([ga, ge]), np.concatenate([seg, seg]), np.concatenate([np.ones(G), -np.ones(G)]),
               lower=rhs, upper=rhs, num_rows=L + 1)
    b.add_rows(np.concatenate([seg_of, np.arange(G)]), np.concatenate([jobs, seg]),
               np.concatenate([np.ones(k), np.full(G, -float(slots))]), lower=0.0, upper=0.0, num_rows=G)
    b.add_rows(np.concatenate([np.arange(k), np.arange(k)]), np.concatenate([jobs, held]),
               np.concatenate([np.ones(k), -cap[use].astype(float)]), upper=0.0, num_rows=k)
    b.add_rows(model.hop_server[use], held, np.ones(k), upper=1.0, num_rows=J)
    b.add_rows(np.zeros(k, dtype=np.int64), jobs, t, upper=slots * slots / model.target_rate, num_rows=1)
    res = solve_milp("highs", b.build(), {}, deadline, 1e-4, threads)
    if not res.values:
        return None
    flow = np.zeros(model.hop_server.size, dtype=np.int64)
    flow[use] = [round(res.values.get(f"x{G + i}", 0.0)) for i in range(k)]
    on = np.flatnonzero(flow > 0)
    spans = {int(model.hop_server[h]): model.span_index[int(model.hop_server[h]), int(model.hop_start[h]),
                                                         int(model.hop_end[h])] for h in on}
    return _incumbent_from_flow(model, flow, spans, slots)


def compact_flow(model: JointChainModel, slots: int, deadline: Deadline, threads: int | None = None
                 ) -> _Incumbent | None:
    """A placement of ``slots`` jobs from the compact flow model, or None.

    :func:`aligned_segments` without the alignment: spans x (binary) and an integer flow f of
    ``slots`` jobs over the hops from block boundary 0 to L, under the model's own one-span and
    slot rows (Eq. 3, every hop entering anywhere in its server's span), with the same linear
    condition ``sum_h t_h f_h <= slots^2 / (lambda / rho-bar)`` (arithmetic and harmonic means).
    Its optimum may have a job leave the others' servers for a block or two (J = 10, eta = 0.3
    seed 2: three jobs over three 3g.40gb slices, a fourth entering the second a block later
    after one block on a 2g.20gb slice, the only 4-slot placement found), which aligned segments
    cannot express. It has as many columns as spans and hops (about 20,000 at J = 10), so HiGHS
    takes minutes where the aligned MILP takes seconds: the search stops at its first solution
    within half of its bound (it only needs one) with more primal heuristics than by default.

    Parameters
    ----------
    model, slots, deadline, threads
        As :func:`aligned_segments`.

    Returns
    -------
    _Incumbent or None
        As :func:`aligned_segments`.
    """
    from ..backends import solve_milp

    L, X, H = model.num_blocks, model.num_spans, model.hop_server.size
    b = MILPBuilder()
    x = b.add_columns(X, lower=0, upper=1, integer=True)
    f = b.add_columns(H, lower=0, upper=slots, integer=True, cost=model.hop_time)
    entry_hop = np.repeat(np.arange(H), np.diff(model.hop_row_ptr))
    lower, upper = _row_bounds(model)
    if model.rate_row >= 0:
        lower[model.rate_row], upper[model.rate_row] = -np.inf, np.inf  # the rate: the last row instead
    b.add_rows(np.concatenate([model.span_rows, model.hop_rows]),
               np.concatenate([x[model.span_cols], f[entry_hop]]),
               np.concatenate([model.span_vals, (model.hop_end - model.hop_start)[entry_hop].astype(float)]),
               lower=lower[:model.base_rows], upper=upper[:model.base_rows], num_rows=model.base_rows)
    rhs = np.zeros(L + 1)
    rhs[0], rhs[L] = slots, -slots
    b.add_rows(np.concatenate([model.hop_start, model.hop_end]), np.concatenate([f, f]),
               np.concatenate([np.ones(H), -np.ones(H)]), lower=rhs, upper=rhs, num_rows=L + 1)
    b.add_rows(np.zeros(H, dtype=np.int64), f, model.hop_time, upper=slots * slots / model.target_rate, num_rows=1)
    res = solve_milp("highs", b.build(), {}, deadline, 0.5, threads, highs_options={"mip_heuristic_effort": 0.3})
    if not res.values:
        return None
    flow = np.array([round(res.values.get(f"x{X + h}", 0.0)) for h in range(H)], dtype=np.int64)
    held = {int(model.span_server[i]): int(i) for i in range(X) if res.values.get(f"x{i}", 0.0) > 0.5}
    used = set(model.hop_server[flow > 0].tolist())
    return _incumbent_from_flow(model, flow, {j: i for j, i in held.items() if j in used}, slots)


def _incumbent_from_flow(model: JointChainModel, flow: np.ndarray, spans: dict[int, int], slots: int
                         ) -> _Incumbent | None:
    """``slots`` chains from an integer flow over the hops (shape (H,)): each job, from boundary 0,
    takes the fastest hop with flow left. Any split reaches the rate (the mean inequality); pairing
    fast with fast spreads the times, which tends to raise ``sum 1 / T_q``, convex in them. None
    when the flow does not split into ``slots`` chains or they miss lambda / rho-bar."""
    left = flow.copy()
    capacity: dict[tuple[int, ...], int] = {}
    for _ in range(slots):
        b, chain = 0, []
        while b < model.num_blocks:
            out = np.flatnonzero((model.hop_start == b) & (left > 0))
            if out.size == 0:
                return None
            h = int(out[np.argmin(model.hop_time[out])])
            left[h] -= 1
            chain.append(h)
            b = int(model.hop_end[h])
        capacity[tuple(chain)] = capacity.get(tuple(chain), 0) + 1
    if left.any() or sum(c / model.chain_time(ch) for ch, c in capacity.items()) < model.target_rate * (1 - 1e-9):
        return None
    return _Incumbent(spans, capacity, float(slots))


def usable_hops(model: JointChainModel, span_ok: np.ndarray) -> np.ndarray:
    """Hops a chain may use when only the spans in ``span_ok`` may be chosen, shape (H,) of bool: a
    hop ``(j, b, e)`` needs an allowed span of j ending at e and starting at or before b."""
    first = np.full((model.slots.shape[0], model.num_blocks + 1), model.num_blocks + 1, dtype=np.int64)
    np.minimum.at(first, (model.span_server[span_ok], model.span_end[span_ok]), model.span_start[span_ok])
    return model.hop_start >= first[model.hop_server, model.hop_end]


def branching_children(model: JointChainModel, span_ok: np.ndarray, forced: np.ndarray, x: np.ndarray) -> tuple | None:
    """Two children of a node whose LP optimum ``x`` (spans, shape (X,)) is fractional, as pairs of
    span masks (allowed, forced to 1), which together keep every integer placement of the node.

    In order: on the end of a server's span, where ``y_je = sum_a x_jae`` splits nearest one half
    (j's span ends after e* or j holds none | it ends at or before e* or j holds none); on its start
    (one end left, ``x_jae`` spread over starts: start <= a* | start > a*); on the span s of a server
    not yet fixed with the most fractional ``x_s`` (not s | s, forced). None when every server the LP
    uses is fixed to its span (nothing left to branch on).
    """
    srv, st, en = model.span_server, model.span_start, model.span_end
    J, L = model.slots.shape[0], model.num_blocks

    def split(key: np.ndarray):  # for each server, the cut of ``key`` nearest half its span mass
        best = None
        for j in range(J):
            on = np.flatnonzero((srv == j) & (x > 1e-9))
            cuts = np.unique(key[on])[:-1]
            if cuts.size == 0:
                continue
            tot = x[on].sum()
            cum = np.array([x[on][key[on] <= k].sum() for k in cuts])
            i = int(np.argmax(np.minimum(cum, tot - cum)))
            score = min(cum[i], tot - cum[i])
            if score > 1e-6 and (best is None or score > best[0]):
                best = (score, j, int(cuts[i]))
        return best

    for key in (en, st):
        best = split(key)
        if best is not None:
            _, j, k = best
            return ((span_ok & ~((srv == j) & (key <= k)), forced),
                    (span_ok & ~((srv == j) & (key > k)), forced))
    free = np.flatnonzero((x > 1e-9) & ~forced)
    if free.size == 0:
        return None
    sp = int(free[np.argmin(np.abs(x[free] - 0.5))])
    others = span_ok & (srv == srv[sp])
    others[sp] = False
    fix = forced.copy()
    fix[sp] = True
    without = span_ok.copy()
    without[sp] = False
    return (without, forced), (span_ok & ~others, fix)


#: branch and price dives again, from the node it branched on, after this many nodes
DIVE_EVERY_NODES = 8
#: seconds left after the root below which the compact flow heuristic (:func:`compact_flow`) is not
#: tried, and the most it may take (it found its placement on J = 10, eta = 0.3, seed 2 in 64-82 s,
#: seed 1 in 15 s)
COMPACT_FLOW_MIN_S = 100.0
COMPACT_FLOW_MAX_S = 150.0
#: most seconds for the aligned segments before column generation (they found their placements in
#: 5-13 s on J = 10; where none exists HiGHS either proves it in about 3 s or searches on)
ALIGNED_SEGMENTS_MAX_S = 30.0
#: times a dive may undo a forced span that left it nothing better than the incumbent, and
#: forbid that span instead
DIVE_BACKTRACKS = 3
#: most labels the root's listing may hold when branch and price follows (slots)
ROOT_LIST_MAX_LABELS = 500_000
#: most chains a node's listing of improving chains may return for a MILP over them to close the node
NODE_LIST_MAX_CHAINS = 20_000
#: most labels that listing may hold (beyond, the node is branched on)
NODE_LIST_MAX_LABELS = 50_000
#: share of the time left a node's MILP over its improving chains may take (one that runs out is
#: wasted: the node is branched on anyway)
NODE_MILP_SHARE = 0.1


@dataclass
class BranchAndPrice:
    """Branch and price for ``objective = "slots"`` (the integer objective, so a node closes once its
    LP bound rounds up to the incumbent): nodes are span masks; at each, column generation over the
    chains its spans allow (pricing with the disallowed hops left out), then either the node closes
    (its rounded bound reaches the incumbent; its LP optimum is integral; or the chains whose reduced
    cost could still improve on the incumbent are few enough for a MILP over them, which is then
    exact for the node) or it branches (:func:`branching_children`); column generation at a node
    stops early where its rounded bound is settled (:meth:`node_lp`). Best bound first."""

    model: JointChainModel
    master: _Master
    kappa: float
    deadline: Deadline
    milp: Callable[[list, float], MilpResult]
    incumbent: Callable[[], _Incumbent | None]
    offer: Callable[[_Incumbent], None]
    report: Callable[[float | None, float | None], None]
    max_labels: int = NODE_LIST_MAX_LABELS  #: most labels a node's listing of improving chains may hold
    nodes: int = 0  #: nodes whose LP was solved
    listed_nodes: int = 0  #: nodes closed or tried by a MILP over their improving chains
    open_nodes: int = 0  #: nodes left open when the search stopped
    dive_steps: int = 0  #: spans the dives forced
    dives: int = 0

    def _closes(self, bound: float) -> bool:
        inc = self.incumbent()
        return inc is not None and _ceil(bound) >= inc.value - 1e-9

    def node_lp(self, hop_ok: np.ndarray, known_bound: float = -math.inf):
        """Column generation at a node: (z, weight, beta, bound), or None when the time ran out.

        ``known_bound`` holds for the node already (its parent's). Column generation stops at
        convergence (bound = z); as soon as a round's bound (:func:`slot_bound`) closes the node or
        rounds up to z's ceiling (early termination: further columns lower z but not the rounded
        bound below it); or, before pricing, once z rounds up no higher than ``known_bound`` does:
        z only falls as columns come in, so the node's rounded bound cannot rise above what is
        known, and it is branched on at once (one exact pricing then pairs a bound with the duals).
        weight and beta are the duals that bound belongs to, scaled as it says, for the listing of
        improving chains."""
        m, stop = self.model, self.deadline.expired
        while True:
            z, duals = self.master.solve()
            self.master.purge()
            beta = float(duals[m.rate_row])
            weight = m.hop_weights(duals)
            weight[~hop_ok] = np.inf
            settled = (math.isfinite(known_bound) and _ceil(z) <= _ceil(known_bound)
                       and self.master.artificial_value() <= 1e-9)
            if not settled:
                found = chain_labels(m, weight, 1.0, beta, -PRICING_TOL, dominance=True, max_out=COLUMNS_PER_ROUND,
                                     stop=stop, exact=False)
                if found and self.master.add([c for _, c in found]):
                    continue
            found = price_chains(m, weight, 1.0, beta, -PRICING_TOL, COLUMNS_PER_ROUND, stop)
            if found is None:
                return None
            bound, scale = slot_bound(z, found[0][0] if found else 0.0, self.kappa)
            # closed, or the bound rounds up to where z does: more columns cannot change the node's fate
            if found and (settled or self._closes(bound) or _ceil(bound) >= _ceil(z)):
                return z, scale * weight, scale * beta, bound
            if found and self.master.add([c for _, c in found]):
                continue
            return z, weight, beta, z  # nothing new to add: converged (to the LP's tolerance)

    def _improving_chains(self, weight: np.ndarray, beta: float, bound: float):
        """The node's chains whose reduced cost could improve on the incumbent (at most ``incumbent
        - 1 - bound``, the argument of step 3 with the bound ``node_lp`` paired with these duals;
        without an incumbent, any of at most kappa slots), sorted, or None beyond ``max_labels``
        labels or the time limit."""
        inc = self.incumbent()
        target = (inc.value - 1.0) if inc is not None else self.kappa
        return chain_labels(self.model, weight, 1.0, beta, target - bound + 1e-9 * max(1.0, abs(target)),
                            dominance=False, limit=self.max_labels, stop=self.deadline.expired)

    def _offer_if_integral(self) -> np.ndarray | None:
        """The master's span values x (shape (X,)), or None after offering its optimum as an
        incumbent when spans and capacities are all integral."""
        m = self.model
        x, _ = self.master.primal()
        c = self.master.chain_values()
        if np.all(np.abs(x - np.round(x)) < 1e-6) and np.all(np.abs(c - np.round(c)) < 1e-6):
            spans = {int(m.span_server[sp]): int(sp) for sp in np.flatnonzero(x > 0.5)}
            caps = {self.master.columns[k]: int(round(c[k])) for k in np.flatnonzero(c > 0.5)}
            self.offer(_Incumbent(spans, caps, float(sum(caps.values()))))
            return None
        return x

    def dive(self, span_ok: np.ndarray | None = None, forced: np.ndarray | None = None) -> None:
        """A primal heuristic, from the root before the search (or from ``span_ok`` and ``forced``,
        a node's masks, every :data:`DIVE_EVERY_NODES` nodes): force the unforced span of largest LP value (and
        forbid its server's others), solve the node again, until the LP optimum is integral, the
        node cannot beat the incumbent, or every server the LP uses is fixed; then the MILP over the
        node's improving chains. A better placement found here closes every node whose rounded
        bound it meets."""
        m = self.model
        span_ok = np.ones(m.num_spans, dtype=bool) if span_ok is None else span_ok.copy()
        forced = np.zeros(m.num_spans, dtype=bool) if forced is None else forced.copy()
        self.dives += 1
        undo, backtracks = None, 0  # (masks before the last forced span, that span)
        while not self.deadline.expired():
            hop_ok = usable_hops(m, span_ok)
            self.master.restrict(span_ok, hop_ok, forced)
            res = self.node_lp(hop_ok)
            if res is None:
                return
            if self.master.artificial_value() > 1e-9 or self._closes(res[3]):
                if undo is None or backtracks >= DIVE_BACKTRACKS:
                    return
                # the last forced span leads nowhere: back to before it, that span forbidden
                (span_ok, forced), sp = undo
                span_ok[sp] = False
                undo, backtracks = None, backtracks + 1
                continue
            z, weight, beta, own_bound = res
            x = self._offer_if_integral()
            if x is None:
                return
            free = np.flatnonzero((x > 1e-9) & ~forced)
            if free.size == 0:
                listed = self._improving_chains(weight, beta, own_bound)
                if listed and NODE_LIST_MAX_CHAINS > 0:  # a heuristic here: the list may be cut short
                    self.milp([ch for _, ch in listed[:NODE_LIST_MAX_CHAINS]], 0.25)
                return
            sp = int(free[np.argmax(x[free])])
            undo = ((span_ok.copy(), forced.copy()), sp)
            span_ok &= ~(m.span_server == m.span_server[sp])
            span_ok[sp] = True
            forced[sp] = True
            self.dive_steps += 1

    def run(self, root_bound: float, dive: bool = True) -> float:
        """Search until every node closes or the time runs out (after a dive from the root unless
        ``dive`` is False: the caller dived); return the proven lower bound."""
        import heapq

        m = self.model
        if dive:
            self.dive()
        none = np.zeros(m.num_spans, dtype=bool)
        heap = [(root_bound, 0, 0, 0, ~none, none)]  # bound, -depth, tie, depth, spans allowed, spans forced
        stuck: list[float] = []  # bounds of nodes left open: fixed placements whose improving chains were too
        # many to list, and nodes whose exact pricing outgrew its labels
        count = 0
        while heap:
            lower = min([heap[0][0]] + stuck)
            inc = self.incumbent()
            self.report(None if inc is None else inc.value, lower)
            if self._closes(heap[0][0]) or self.deadline.expired():
                break
            bound, _, _, depth, span_ok, forced = heapq.heappop(heap)
            self.nodes += 1
            hop_ok = usable_hops(m, span_ok)
            self.master.restrict(span_ok, hop_ok, forced)
            res = self.node_lp(hop_ok, bound)
            if res is None:
                if self.deadline.expired():  # out of time inside the node
                    count += 1
                    heapq.heappush(heap, (bound, -depth, count, depth, span_ok, forced))
                    break
                stuck.append(bound)  # its pricing outgrew its labels: left open, the search goes on
                continue
            z, weight, beta, own_bound = res
            node_bound = max(bound, own_bound)
            if self.master.artificial_value() > 1e-9 or self._closes(node_bound):
                continue  # no placement here reaches the rate, or none beats the incumbent
            x = self._offer_if_integral()
            if x is None:
                continue  # the LP optimum is integral: the node's best
            listed = self._improving_chains(weight, beta, own_bound)
            if listed is not None and len(listed) <= NODE_LIST_MAX_CHAINS:
                self.listed_nodes += 1
                out = self.milp([ch for _, ch in listed], NODE_MILP_SHARE)
                if out.status in (Status.OPTIMAL, Status.INFEASIBLE):
                    continue  # exact for the node: its best is now the incumbent, or it has none better
            children = branching_children(m, span_ok, forced, x)
            if children is None:
                stuck.append(node_bound)
                continue
            for allowed, fixed in children:
                count += 1
                heapq.heappush(heap, (node_bound, -(depth + 1), count, depth + 1, allowed, fixed))
            if self.nodes % DIVE_EVERY_NODES == 0:  # dive again, from this node
                self.dive(span_ok, forced)
        self.master.restrict(~none, np.ones(m.hop_server.size, dtype=bool), none)
        inc = self.incumbent()
        left = [b for b, *_ in heap if not self._closes(b)] + stuck
        self.open_nodes = len(left)
        if inc is None:
            return min(left, default=root_bound)
        return min(inc.value, _ceil(min(left))) if left else inc.value


@register("chain-milp", "Exact joint block placement and cache allocation for server chains (BPCA of arXiv "
          "2604.14993 over placements too): column generation, then a MILP over every chain that can improve",
          features=("placement", "chains", "exact", "queueing"))
def chain_milp(inst: Instance, *,
               objective: Annotated[Literal["slots", "rate"], Field(description=(
                   "slots: fewest concurrent-job slots sum c_k reaching lambda / rho-bar (Eq. 5); "
                   "rate: the largest service rate nu = sum c_k / T_k (Eq. 4)"))] = "slots",
               time_limit: TimeLimit = 60.0, mip_gap: MipGap = 1e-6, threads: Threads = None,
               max_labels: Annotated[int, Field(ge=1000, le=MAX_COUNT, description=(
                   "most chains the proof may enumerate; beyond, the LP bound and its gap are kept"))] = 2_000_000,
               max_cut_rounds: Annotated[int, Field(ge=0, le=1000, description=(
                   "rounds of rounding cuts on the slot rows (0: none)"))] = 20,
               progress: Callable[[dict], None] | None = None) -> Solution:
    """Place blocks and allocate caches into chains, optimally (see the module docstring).

    Parameters
    ----------
    objective : {"slots", "rate"}
        ``slots``: minimise ``sum_k c_k`` subject to ``sum_k c_k / T_k >= lambda / rho-bar`` (BPCA,
        arXiv 2604.14993 Eq. 5, joint over placements); ``rate``: maximise ``nu = sum_k c_k / T_k``.
    time_limit : float or None
        Seconds for the whole call: column generation, enumeration and both MILPs.
    mip_gap : float
        Relative gap at which the MILPs stop.
    threads : int, optional
        HiGHS threads.
    max_labels : int
        Most labels the enumeration of improving chains may hold.
    max_cut_rounds : int
        Rounds of rounding cuts (:meth:`JointChainModel.add_cut`) after the LP converges.
    progress : callable(dict), optional
        Called with ``incumbent``, ``bound`` (global: the LP or Lagrangian bound, not the
        restricted MILP's), ``gap``, ``time_s``.

    Returns
    -------
    Solution
        Placement, chains with their capacities and times, ``objective`` (slots, or jobs/s for
        ``rate``), ``bound`` and ``gap`` valid for every placement; ``optimal`` when proven.
        ``details``: LP bound, columns, rounds, chains enumerated for the proof.

    Raises
    ------
    InvalidOptionError
        ``communication.relay = "direct"``, or more than 62 servers.
    """
    deadline = Deadline(time_limit)
    t0 = time.perf_counter()
    model = build_joint_model(inst, objective)
    build_s = time.perf_counter() - t0
    sign = 1.0 if objective == "slots" else -1.0  # internal: minimise z; reported: sign * z
    # sum_k c_k <= kappa: a job holds one slot per block on each server it runs on, L in all, and a
    # server that runs blocks has at most M~_j(1) slots: L sum_k c_k <= sum_j M~_j(1)
    kappa = float(np.floor(model.slots[:, 1].sum() / model.num_blocks + 1e-9))
    details: dict[str, Any] = {"objective": objective, "build_time_s": build_s, "hops": int(model.hop_server.size),
                               "spans": model.num_spans, "rows": model.num_rows,
                               "assumes": "fixed chain rates (no GPU contention), client relaying"}

    def report(inc: float | None, bound: float | None) -> None:
        if progress is None:
            return
        gap = None if inc is None or bound is None else abs(inc - bound) / max(abs(inc), 1e-12)
        progress({"incumbent": None if inc is None else sign * inc, "bound": None if bound is None else sign * bound,
                  "gap": gap, "time_s": deadline.elapsed_s, "limit_s": deadline.limit_s})

    t_fastest = float(completion_bounds(model, np.zeros(model.hop_server.size))[0][0])
    if not math.isfinite(t_fastest):
        return Solution(instance=inst.name, solver="chain-milp", status=Status.INFEASIBLE, details=details,
                        message="no chain fits: the servers cannot hold every block with one job's cache beside it")
    # bounds without any LP: every slot serves at most 1 / t_fastest jobs per second
    trivial = (model.target_rate * t_fastest if objective == "slots" else -kappa / t_fastest)
    columns, incumbent = _heuristic(inst, model, objective)
    details["aligned_segments"] = {"tried": [], "found": None}

    def segments(bound: float, share: float) -> bool:
        """Aligned segments (:func:`aligned_segments`), one slot fewer than the incumbent at a time,
        down to the rounded ``bound``, in ``share`` of the time left; True when its time ran out."""
        nonlocal incumbent
        left = deadline.remaining()
        budget = Deadline(None if left is None else min(share * left, ALIGNED_SEGMENTS_MAX_S))
        log = details["aligned_segments"]
        for slots in range(int(round(incumbent.value)) - 1, max(_ceil(bound), 1) - 1, -1):
            found = aligned_segments(model, slots, budget, threads)
            if found is None and budget.expired():
                return True
            log["tried"].append(slots)
            if found is None:
                return False
            log["found"] = slots
            incumbent = found
            report(incumbent.value, bound)
        return False

    # before column generation, so that a bound meeting the incumbent ends it
    segments_cut_short = objective == "slots" and incumbent is not None and segments(trivial, 0.2)
    master = _Master(model, objective)
    master.add(columns)
    lp_bound, rounds, converged, z_lp = trivial, 0, False, math.inf
    priced: tuple | None = None  # (bound, hop weights, beta) of the last round whose pricing finished
    alpha = 1.0 if objective == "slots" else 0.0
    cg_until = None if time_limit is None else 0.5 * time_limit
    inc = lambda: None if incumbent is None else incumbent.value  # noqa: E731
    cut_rounds, lp_feasible, heuristic_rounds, stopped_early, settled = 0, False, 0, False, False
    cg_over = (lambda: False) if cg_until is None else (lambda: deadline.elapsed_s > cg_until)  # noqa: E731
    while True:
        z_lp, duals = master.solve()
        master.purge()
        rounds += 1
        beta = float(duals[model.rate_row]) if model.rate_row >= 0 else 1.0
        weight = model.hop_weights(duals)
        # heuristic pricing first (dominance across server sets); the exact search only when it finds nothing
        found = chain_labels(model, weight, alpha, beta, -PRICING_TOL, dominance=True, max_out=COLUMNS_PER_ROUND,
                             stop=cg_over, exact=False)
        if found and not cg_over() and master.add([c for _, c in found]):
            heuristic_rounds += 1
            continue
        found = price_chains(model, weight, alpha, beta, -PRICING_TOL, COLUMNS_PER_ROUND, cg_over)
        if found is None:  # pricing stopped at the column-generation budget: no bound from this round
            stopped_early = settled and not converged
            converged = converged or settled  # the last finished round's rounded bound was final
            break
        rc_min = found[0][0] if found else 0.0
        # a bound valid every round (exact pricing): Lagrangian, or for slots the better of it and Farley's
        last_bound, scale = (slot_bound(z_lp, rc_min, kappa) if objective == "slots"
                             else (z_lp + kappa * min(0.0, rc_min), 1.0))
        # the duals this bound belongs to: the listing's reduced-cost argument needs the pair (a later
        # round that stops before its pricing ends has new duals and no bound of its own)
        priced = (last_bound, scale * weight, scale * beta)
        if objective == "rate" and found:
            last_bound = max(last_bound, _farley_bound(model, weight, z_lp, cg_over))
        if master.artificial_value() <= 1e-9:
            lp_feasible = True
            lp_bound = max(lp_bound, last_bound)
        report(inc(), lp_bound if math.isfinite(lp_bound) else None)
        if (objective == "slots" and lp_feasible and incumbent is not None
                and _ceil(lp_bound) >= incumbent.value - 1e-9):
            stopped_early = True  # the bound meets the incumbent: optimal, whatever more columns do
            break
        out_of_time = cg_over()
        # slots is an integer: once the bound rounds up to where the master's value does, more
        # columns cannot raise the rounded bound, so at the budget it is final (early termination;
        # within the budget pricing goes on, as the converged duals serve the listing and the dives)
        settled = objective == "slots" and lp_feasible and _ceil(lp_bound) >= _ceil(z_lp)
        if found and not out_of_time and master.add([c for _, c in found]):
            continue
        stopped_early = bool(found) and out_of_time and settled
        # what pricing finds is already in: LP tolerance, converged
        converged = not found or not out_of_time or settled
        if converged and not out_of_time and cut_rounds < max_cut_rounds:
            n0 = len(model.cuts)
            if separate_cuts(model, *master.primal()):
                master.add_cuts(n0)
                cut_rounds += 1
                continue
        break
    details.update(lp_rounds=rounds, heuristic_pricing_rounds=heuristic_rounds, cut_rounds=cut_rounds,
                   cuts=len(model.cuts),
                   columns_generated=len(master.generated), lp_converged=converged,
                   lp_stopped_early=stopped_early, lp_value=sign * z_lp if math.isfinite(z_lp) else None,
                   lp_bound=sign * lp_bound if math.isfinite(lp_bound) else None,
                   column_generation_s=deadline.elapsed_s)
    if not lp_feasible and incumbent is None:
        if converged:
            return Solution(instance=inst.name, solver="chain-milp", status=Status.INFEASIBLE, details=details,
                            message=(f"no placement's chains reach lambda / rho-bar = {model.target_rate:.4g}/s, "
                                     "even with fractional capacities (the LP relaxation is infeasible)"))
        return Solution(instance=inst.name, solver="chain-milp", status=Status.TIME_LIMIT, details=details,
                        message="the time limit passed before column generation found chains reaching lambda / rho-bar")
    lower = lp_bound
    if objective == "slots" and math.isfinite(lower):
        lower = _ceil(lower)  # the objective is an integer

    def closed() -> bool:
        return incumbent is not None and incumbent.value - lower <= mip_gap * max(abs(incumbent.value), 1e-12) + 1e-9

    def milp(chains: list, share: float) -> MilpResult:
        nonlocal incumbent
        try:
            arrays, span_ids = _milp(model, objective, chains, deadline)
        except OutOfTime:
            return MilpResult(Status.TIME_LIMIT, {}, None, None, None, "the time limit passed while building the MILP")
        left = deadline.remaining()
        res = solve_milp("highs", arrays, {} if incumbent is None else incumbent.warm(span_ids, chains),
                         Deadline(None if left is None else left * share), mip_gap, threads,
                         lambda ev: report(ev.get("incumbent"), lower))
        if res.values and (incumbent is None or res.objective < incumbent.value - 1e-12):
            incumbent = _Incumbent.from_milp(model, res.values, span_ids, chains, float(res.objective))
        return res

    if segments_cut_short and incumbent is not None and not closed():
        segments(lower, 0.25)  # it ran out of its share before CG: on, in a quarter of the time left
    if not closed():
        # with branch and price to follow (slots), its dives look for better placements: less time here
        milp(list(master.generated), (0.1 if objective == "slots" else 0.3) if converged else 1.0)
        details["generated_chains_milp"] = None if incumbent is None else sign * incumbent.value
    if not closed() and converged and priced is not None and not deadline.expired():
        # any solution below the incumbent uses only chains of reduced cost <= target - LP bound;
        # without one, any solution at all: sum c_k <= kappa
        if incumbent is None:
            target = kappa
        else:
            target = incumbent.value - 1.0 if objective == "slots" else incumbent.value
        # with branch and price to follow (slots), a listing that would not fit stops early
        limit = min(max_labels, ROOT_LIST_MAX_LABELS) if objective == "slots" and incumbent is not None else max_labels
        l_bound, l_weight, l_beta = priced
        listed = chain_labels(model, l_weight, alpha, l_beta, target - l_bound + 1e-9 * max(1.0, abs(target)),
                              dominance=False, limit=limit, stop=deadline.expired)
        details["proof_chains_enumerated"] = None if listed is None else len(listed)
        if listed is not None and len(listed) > PROOF_MAX_CHAINS and objective == "slots" and incumbent is not None:
            details["proof"] = (f"{len(listed)} chains could improve, more than the {PROOF_MAX_CHAINS} a MILP over "
                                "them takes here: branch and price")
        elif listed is not None and len(listed) > PROOF_MAX_CHAINS:
            details["proof"] = (f"{len(listed)} chains could improve, more than the {PROOF_MAX_CHAINS} a MILP over "
                                "them takes here; the MILP over those of least reduced cost looked for a better "
                                "solution in the time left")
            milp(list(dict.fromkeys([*master.generated, *(c for _, c in listed[:PROOF_MAX_CHAINS // 4])])), 1.0)
        elif listed is None:
            details["proof"] = ("the time limit passed while listing the chains that could improve" if deadline.expired()
                                else f"the chains that could improve need more than {limit} labels")
        else:
            res = milp(list(dict.fromkeys([*master.generated, *(c for _, c in listed)])), 1.0)
            if res.status is Status.INFEASIBLE and incumbent is None:
                return Solution(instance=inst.name, solver="chain-milp", status=Status.INFEASIBLE, details=details,
                                message=(f"no placement with integer capacities reaches lambda / rho-bar = "
                                         f"{model.target_rate:.4g}/s (proven over every chain that could; the "
                                         f"LP relaxation reaches it)"))
            if res.status is Status.OPTIMAL:
                lower = incumbent.value
                details["proof"] = f"MILP over every chain that could improve ({len(listed)} listed)"
            else:
                details["proof"] = (f"the MILP over every chain that could improve ({len(listed)} listed) stopped: "
                                    f"{res.message}")
                if res.bound is not None and incumbent is not None:  # the optimum is the incumbent or in this model
                    b = min(incumbent.value, float(res.bound))
                    lower = max(lower, _ceil(b) if objective == "slots" else b)
    if objective == "slots" and incumbent is not None and not closed() and converged and not deadline.expired():
        def offer(candidate: _Incumbent) -> None:
            nonlocal incumbent
            if candidate.value < incumbent.value - 1e-9:
                incumbent = candidate

        search = BranchAndPrice(model, master, kappa, deadline, milp, lambda: incumbent, offer, report,
                                min(max_labels, NODE_LIST_MAX_LABELS))
        search.dive()  # seconds: before the compact flow model, which takes minutes
        left = deadline.remaining()
        if not closed() and (left is None or left >= COMPACT_FLOW_MIN_S) and incumbent.value - 1 >= lower:
            # the compact flow model, unaligned, for one slot fewer
            tried = int(round(incumbent.value)) - 1
            found = compact_flow(model, tried, Deadline(None if left is None else min(0.4 * left, COMPACT_FLOW_MAX_S)),
                                 threads)
            details["compact_flow"] = {"tried": tried, "found": found is not None}
            if found is not None:
                offer(found)
                report(incumbent.value, lower)
        lower = max(lower, search.run(lower, dive=False))
        details.update(bp_nodes=search.nodes, bp_nodes_listed=search.listed_nodes, bp_nodes_open=search.open_nodes,
                       bp_dives=search.dives, bp_dive_steps=search.dive_steps)
        flow_closed = details.get("compact_flow", {}).get("found") and search.nodes == 0
        details["proof"] = (("the compact flow model's placement meets the rounded LP bound" if flow_closed else
                             f"branch and price: the dive's placement ({search.dive_steps} spans forced) meets the "
                             "rounded LP bound" if search.nodes == 0 else
                             f"branch and price: {search.nodes} nodes ({search.listed_nodes} closed or tried by a MILP "
                             "over their improving chains)") if closed() else
                            f"branch and price stopped with {search.open_nodes} nodes open after {search.nodes}")
    if incumbent is None:
        why = ("the time limit passed" if deadline.expired() else
               "the chains that could improve are too many to list (max_labels)" if converged else
               "column generation did not converge")
        return Solution(instance=inst.name, solver="chain-milp",
                        status=Status.TIME_LIMIT if deadline.expired() else Status.FEASIBLE, details=details,
                        bound=sign * lower if math.isfinite(lower) else None,
                        message=f"no integer solution found: {why}")
    if closed():
        details.setdefault("proof", "the incumbent meets the LP bound")
    elif not converged:
        details["proof"] = "column generation did not converge in the time given (the bound is Lagrangian)"
    report(incumbent.value, lower)
    return _solution(inst, model, objective, incumbent, lower, closed(), sign, details, deadline)


def _solution(inst: Instance, model: JointChainModel, objective: str, incumbent: _Incumbent, lower: float,
              proven: bool, sign: float, details: dict, deadline: Deadline) -> Solution:
    """The incumbent as a Solution: spans, chains fastest first, client paths on the fastest chain."""
    start = np.zeros(inst.num_servers, dtype=np.int64)
    end = np.zeros(inst.num_servers, dtype=np.int64)
    for j, s in incumbent.spans.items():
        start[j], end[j] = model.span_start[s], model.span_end[s]
    slots = np.maximum(free_cache_slots(inst, end - start), 0)
    placement = [ServerPlacement(server=s.id, start=int(start[j]), end=int(end[j]), cache_slots=int(slots[j]))
                 for j, s in enumerate(inst.servers)]
    used = sorted(incumbent.capacity.items(), key=lambda cn: model.chain_time(cn[0]))
    out = [Chain(hops=[Hop(server=inst.servers[int(model.hop_server[h])].id, start=int(model.hop_start[h]),
                           end=int(model.hop_end[h])) for h in c], capacity=n, service_time_s=model.chain_time(c))
           for c, n in used]
    paths = [Path(client=cl.id, requests=int(r), hops=out[0].hops) for cl, r in zip(inst.clients, request_shares(inst))
             if r > 0 or cl.arrival_rate_per_s > 0]
    nu = sum(n / model.chain_time(c) for c, n in used)
    value = float(sum(n for _, n in used)) if objective == "slots" else nu  # from the capacities themselves
    if abs(value - sign * incumbent.value) > 1e-6 * max(1.0, abs(value)):  # an internal fault, never expected
        return Solution(instance=inst.name, solver="chain-milp", status=Status.ERROR, details=details,
                        message=f"internal: the capacities give {value:g}, the MILP said {sign * incumbent.value:g}")
    bound = value if proven else (sign * lower if math.isfinite(lower) else None)
    gap = 0.0 if proven else (None if bound is None else abs(value - bound) / max(abs(value), 1e-12))
    status = Status.OPTIMAL if proven else (Status.TIME_LIMIT if deadline.expired() else Status.FEASIBLE)
    details.update(total_slots=sum(n for _, n in used), nu_per_s=nu, chains_used=len(used))
    return Solution(instance=inst.name, solver="chain-milp", status=status, objective=value,
                    objective_name="total_chain_capacity" if objective == "slots" else "service_rate_per_s",
                    bound=bound, gap=gap, placement=placement, paths=paths, chains=out, details=details)

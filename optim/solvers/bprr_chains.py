"""BPRR by client chains: the chain-relaxation bound and chain packing, a decomposition by client.

The BPRR problem (Sun, He, Ji, Parag, arXiv 2512.21884, Sec. 3, Eq. 13) couples its requests only
through the servers: a server holds one span, and its memory holds the span's blocks and the
caches of every request it runs (13b). This module takes the coupling away for a bound and puts it
back for a placement, at any number of servers.

**Bound: the chain relaxation.** A request running blocks [b, e) on server j needs
``s_m (e - b)`` bytes for those blocks and ``s_c (e - b)`` for its own cache there, so it runs at
most ``K_j = max{k <= L : s_m k + s_c k <= M_j}`` blocks on j (:func:`hop_block_limits`), and it
visits each server once (a server holds one contiguous span and a chain runs the blocks in order,
Lemma 1; merging two visits of one server into one hop only saves a hop cost). With the client
relaying, its cost ``sum_hops (A_cj + B_j x_j)`` (:func:`optim.perf.hop_cost_coefficients`,
(13a)) does not depend on the order of its hops, so the cheapest chain any placement could give it
is a 0/1 knapsack over servers, solved exactly by dynamic programming over block counts
(:func:`optim.perf.boundary_dp.cheapest_server_set`). Weighted as the objective weighs requests,
the sum is a lower bound on the objective of every placement whose caches hold its requests
(:func:`chain_bound`). Of the servers with equal ``B_j`` and ``K_j`` a chain uses at most L, so
only the L with the least ``A_cj`` are searched. Unlike the LP relaxation of ``bprr-milp``, where
a fraction of a long span can carry a fraction of a request, the bound knows that a whole request
and its cache must fit; on the shipped geo instances it equals the optimum.

**Placement: chain packing.** The |R| sessions are placed one after another, interleaved among
the clients in proportion to their shares (as :func:`optim.routing.route_sessions` routes them);
each takes its cheapest chain given what is placed already: on a server that holds a span
``[a_j, e_j)`` a hop enters at any boundary ``b < e_j`` (moving the span's start down to b where
memory allows) and needs ``e_j - b`` free cache slots; on an empty server a hop opens a span of
x blocks whose cache holds it. A beam of labels per block boundary (least cost, then most
sessions still free on the chain's servers, so that later sessions can share them) keeps each
server once per chain. Then each client in turn gives up its sessions and places them again,
kept when its cost falls (placed one after another again, or all on one chain that holds them
all), and each client that pays more than its cheapest chain alone gives up its sessions together
with each other client, placed again first, kept when the two clients' cost falls; for ``passes``
rounds or until none falls. Servers on no chain hold no blocks: the
objective gains nothing from them.

The answer is ``optimal`` when its value meets the bound (every request on a cheapest chain of
its own), else ``feasible`` with the bound and the gap.
"""
from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from ..backends import Deadline
from ..instance import Instance
from ..options import Objective, TimeLimit
from ..perf import free_cache_slots, request_shares
from ..perf.capacity import free_cache_slot_table, hop_block_limits
from ..perf.boundary_dp import cheapest_server_set
from ..solution import Hop, Path, ServerPlacement, Solution, Status
from .base import register, solve
from .bprr_milp import _costs, _objective_name, _objective_value, request_weights

#: the relative difference under which two chain costs are a tie (broken by free capacity)
TIE = 1e-9
_NO_CAP = 1 << 40


def cheapest_of_each_kind(candidates: np.ndarray, cost: np.ndarray, kind: np.ndarray, n: int) -> np.ndarray:
    """Of the candidate servers of each kind, the n with the least cost (ties by index), sorted.

    A chain uses each server once and at most L of them, so among interchangeable servers (equal
    per-block cost and limits) only the L with the least hop cost can be in a cheapest chain.

    Parameters
    ----------
    candidates : ndarray of int, shape (m,)
        Server indices.
    cost : ndarray of float, shape (J,)
        Hop cost of every server.
    kind : ndarray of int, shape (J,)
        Servers of equal kind are interchangeable but for their hop cost.
    n : int
    """
    order = candidates[np.lexsort((cost[candidates], kind[candidates]))]
    g = kind[order]
    rank = np.arange(order.size) - np.searchsorted(g, g, side="left")
    return np.sort(order[rank < n])


def cheapest_chains(A: np.ndarray, B: np.ndarray, K: np.ndarray, num_blocks: int,
                    clients: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each client's cheapest chain when the placement is free (the chain relaxation, module docstring).

    Parameters
    ----------
    A : ndarray of float, shape (C, J)
        Hop cost of each client on each server, seconds.
    B : ndarray of float, shape (J,)
        Cost per block, seconds.
    K : ndarray of int, shape (J,)
        Most blocks a request can run on each server (:func:`hop_block_limits`).
    num_blocks : int
        L.
    clients : ndarray of int, optional
        The clients to price (default all); the others get ``nan`` and no blocks.

    Returns
    -------
    cost : ndarray of float, shape (C,)
        Seconds; ``inf`` where no chain exists.
    blocks : ndarray of int, shape (C, J)
        Blocks each server runs in the client's cheapest chain.
    """
    A = np.asarray(A, dtype=float)
    C, J = A.shape
    L = int(num_blocks)
    K = np.minimum(np.asarray(K, dtype=np.int64), L)
    _, group = np.unique(np.column_stack([np.asarray(B, dtype=float), K]), axis=0, return_inverse=True)
    group = group.ravel()
    cost = np.full(C, np.nan)
    blocks = np.zeros((C, J), dtype=np.int64)
    for c in (range(C) if clients is None else np.asarray(clients, dtype=np.int64)):
        keep = cheapest_of_each_kind(np.flatnonzero((K > 0) & np.isfinite(A[c])), A[c], group, L)
        cost[c], chosen = cheapest_server_set(A[c, keep], B[keep], K[keep], L)
        blocks[c, keep] = chosen
    return cost, blocks


def chain_bound(inst: Instance, objective: str = "decode") -> float:
    """The chain-relaxation lower bound on the BPRR objective (module docstring), seconds.

    ``sum_c (lambda_c / lambda') SP_c`` over the clients with a share n_c > 0 of |R| (lambda' their
    total rate), ``SP_c`` the cost of client c's cheapest chain alone (:func:`cheapest_chains`): each
    of its n_c requests costs at least that. Valid for every placement and routing whose
    caches hold the |R| requests (the BPRR problem, arXiv 2512.21884 Sec. 3), with the hop costs of
    ``bprr-milp``'s objective (quality penalties included where servers choose their dtype).

    Returns
    -------
    float
        ``inf`` when some client with a share of |R| has no chain even alone.
    """
    return _weighted(inst, cheapest_alone(inst, objective))


def _weighted(inst: Instance, alone: np.ndarray) -> float:
    """``sum_c w_c n_c SP_c`` over the clients with a share of |R| (:func:`chain_bound`)."""
    shares = request_shares(inst)
    active = shares > 0
    return float(np.sum(request_weights(inst, shares)[active] * shares[active] * alone[active]))


def cheapest_alone(inst: Instance, objective: str = "decode") -> np.ndarray:
    """``SP_c``: the cost of each client's cheapest chain alone, in ``bprr-milp``'s hop costs
    (:func:`cheapest_chains` with :func:`optim.perf.capacity.hop_block_limits`), seconds per request.

    Returns
    -------
    ndarray of float, shape (C,)
        ``nan`` for clients without a share of |R|, ``inf`` where no chain exists.
    """
    A, B = _costs(inst, objective)
    active = np.flatnonzero(request_shares(inst) > 0)
    return cheapest_chains(A, B, hop_block_limits(inst), inst.num_blocks, active)[0]


class _Packing:
    """Sessions placed on chains one after another (module docstring): the sessions' hops, and the
    spans and cache use they imply."""

    def __init__(self, inst: Instance, A: np.ndarray, B: np.ndarray, beam: int, open_for: int = 1):
        self.L, self.J = inst.num_blocks, inst.num_servers
        self.A, self.B, self.beam, self.open_for = A, B, beam, open_for
        self.FS = free_cache_slot_table(inst)
        key = np.column_stack([B, inst.memory_bytes, inst.server_block_bytes])
        self.group = np.unique(key, axis=0, return_inverse=True)[1].ravel()
        self.sessions: list[tuple[int, tuple]] = []  # (client, ((server, b, e), ...))

    def state(self, sessions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Spans ``[start, end)`` (start = the lowest entry of the hops on the server) and cache
        slots in use, shapes (J,)."""
        start = np.full(self.J, self.L, dtype=np.int64)
        end = np.zeros(self.J, dtype=np.int64)
        used = np.zeros(self.J, dtype=np.int64)
        for _, hops in sessions:
            for j, b, e in hops:
                start[j] = min(start[j], b)
                end[j] = e
                used[j] += e - b
        start[end == 0] = 0
        return start, end, used

    def cost(self, c: int, hops) -> float:
        return float(sum(self.A[c, j] + self.B[j] * (e - b) for j, b, e in hops))

    def _free_candidates(self, c: int, free: np.ndarray) -> np.ndarray:
        """Empty servers a chain of client c may open: of each group of equal servers, the L with
        the least hop cost."""
        F = np.flatnonzero(free & (self.FS[:, 1] >= self.open_for))
        return cheapest_of_each_kind(F, self.A[c], self.group, self.L)

    def best_chain(self, c: int, sessions, n: int = 1) -> tuple[float, tuple] | None:
        """The cheapest chain for n more sessions of client c beside ``sessions``, all n on it (beam search)."""
        L, Ac, B, FS = self.L, self.A[c], self.B, self.FS
        start, end, used = self.state(sessions)
        placed = end > start
        xs = np.arange(1, L + 1)
        F = self._free_candidates(c, ~placed)
        if F.size:
            cf = Ac[F, None] + B[F, None] * xs[None, :]
            cf[FS[F, 1:] < max(self.open_for, n) * xs[None, :]] = np.inf
            top = np.argsort(cf, axis=0, kind="stable")[: min(F.size, self.beam + 4)]
            f_srv = F[top]
            f_cost = np.take_along_axis(cf, top, axis=0)
            f_cap = FS[f_srv, xs[None, :]] // xs[None, :] - n
        P = np.flatnonzero(placed)
        if P.size:
            bb = np.arange(L)[:, None]
            e = end[P][None, :]
            need = np.maximum(e - bb, 1)
            left = FS[P[None, :], np.clip(e - np.minimum(start[P][None, :], bb), 0, L)] - used[P][None, :] - n * need
            p_ok = (bb < e) & (left >= 0)
            p_cost = Ac[P][None, :] + B[P][None, :] * need
            p_cap = left // need
        labels: list[list] = [[] for _ in range(L + 1)]
        labels[0] = [(0.0, -_NO_CAP, (), frozenset())]
        cut = np.full(L + 1, np.inf)  # the beam-th best cost at a boundary once its beam is full

        def push(e, label):
            labels[e].append(label)
            if len(labels[e]) >= 4 * self.beam:
                labels[e] = self._prune(labels[e])
                if len(labels[e]) == self.beam:
                    cut[e] = labels[e][-1][0] * (1 + TIE)

        for b in range(L):
            if not labels[b]:
                continue
            for cost, ncap, hops, U in self._prune(labels[b]):
                cap = -ncap
                if P.size:
                    for p in np.flatnonzero(p_ok[b]):
                        j = int(P[p])
                        c_new = cost + float(p_cost[b, p])
                        if j not in U and c_new <= cut[end[j]]:
                            push(int(end[j]), (c_new, -min(cap, int(p_cap[b, p])), hops + ((j, b, int(end[j])),),
                                               U | {j}))
                if F.size:
                    nx = L - b
                    srv = f_srv[:, :nx]
                    valid = np.isfinite(f_cost[:, :nx])
                    if U:
                        valid &= ~np.isin(srv, list(U))
                    first = valid.argmax(axis=0)
                    cols = np.arange(nx)
                    c_new = cost + f_cost[first, cols]
                    for xi in np.flatnonzero(valid[first, cols] & (c_new <= cut[b + 1:b + 1 + nx])):
                        r = first[xi]
                        j, x = int(srv[r, xi]), int(xi) + 1
                        push(b + x, (float(c_new[xi]), -min(cap, int(f_cap[r, xi])), hops + ((j, b, b + x),), U | {j}))
            labels[b] = []
        done = self._prune(labels[L])
        return (done[0][0], done[0][2]) if done else None

    def _prune(self, labels: list) -> list:
        """The beam: the ``beam`` best labels by cost (ties within :data:`TIE`, broken by free capacity),
        one per set of hops."""
        out, seen = [], set()
        scale = max(min(lab[0] for lab in labels), 1e-300) if labels else 1.0
        for lab in sorted(labels, key=lambda x: (round(x[0] / (scale * TIE)), x[1])):
            if lab[2] not in seen:
                seen.add(lab[2])
                out.append(lab)
                if len(out) == self.beam:
                    break
        return out

    def place(self, c: int, n: int, sessions: list) -> list | None:
        """``sessions`` with n more sessions of client c, each on its cheapest chain; None if one finds none."""
        out = list(sessions)
        for _ in range(n):
            best = self.best_chain(c, out)
            if best is None:
                return None
            out.append((c, best[1]))
        return out

    def place_client(self, c: int, n: int, sessions: list) -> list | None:
        """The cheaper of placing client c's n sessions one after another and all n on one chain."""
        trials = [self.place(c, n, sessions)]
        if n > 1:
            joint = self.best_chain(c, sessions, n)
            trials.append(None if joint is None else list(sessions) + [(c, joint[1])] * n)
        trials = [t for t in trials if t is not None]
        return min(trials, key=lambda t: sum(self.cost(c, h) for cc, h in t[len(sessions):])) if trials else None


def pack_chains(inst: Instance, objective: str = "decode", *, beam: int = 8, passes: int = 3,
                deadline: Deadline | None = None, progress=None, bound: float | None = None,
                alone: np.ndarray | None = None):
    """Chain packing (module docstring): spans and the sessions' chains.

    Parameters
    ----------
    objective : {"decode", "inference"}
    beam : int
        Labels kept per block boundary in each chain search.
    passes : int
        Rounds in which every client re-places its sessions.
    deadline : Deadline, optional
        Checked between sessions; the first placement of every session is needed for an answer.
    progress : callable(dict), optional
        Receives ``{"incumbent", "bound", "gap", "time_s"}`` after the first placement and each
        improvement.
    bound : float, optional
        Reported with the progress.
    alone : ndarray of float, shape (C,), optional
        :func:`cheapest_alone`, if already computed.

    Returns
    -------
    start, end : ndarray of int, shape (J,)
    sessions : list of (client index, ((server, b, e), ...))
    value : float
        The objective, seconds (``request_weights`` times the chains' costs).
    why : str
        Empty, or why no packing was found (a session without a chain, or the time limit).

    Notes
    -----
    A span opened on an empty server first holds the cache of the one session that opens it;
    when some session then finds no chain, the packing starts again with spans opened for 2, 4,
    ... |R| sessions (cg-bprr's rule at |R|).
    """
    deadline = deadline or Deadline(None)
    shares = request_shares(inst)
    A, B = _costs(inst, objective)
    w = request_weights(inst, shares)
    queue = sorted((k / n, c) for c, n in enumerate(shares.tolist()) for k in range(n))
    R = len(queue)
    open_for = 1
    while True:  # spans opened for one session each first; for 2, 4, ... |R| when memory runs out
        pk = _Packing(inst, A, B, beam, open_for)
        sessions: list = []
        for k, (_, c) in enumerate(queue):
            if deadline.expired():
                return None, None, None, None, f"the time limit passed after {k} of {R} sessions were placed"
            best = pk.best_chain(c, sessions)
            if best is None:
                break
            sessions.append((c, best[1]))
        if len(sessions) == R:
            break
        if open_for >= R:
            return None, None, None, None, (
                f"no chain left for session {k + 1} of {R} (client {inst.clients[c].id}) even with every span opened "
                f"for |R| sessions: the servers' memory is taken by the chains placed before it (a heuristic's "
                "failure, not a proof of infeasibility)")
        open_for = min(2 * open_for, R)

    def cost_of(ss, group=None):
        """The objective's part from the sessions of ``group`` (all clients: None)."""
        return float(sum(w[c] * pk.cost(c, hops) for c, hops in ss if group is None or c in group))

    def report(v):
        if progress is not None:
            progress({"incumbent": v, "bound": bound, "gap": None if bound is None else max(v - bound, 0.0) / v,
                      "time_s": deadline.elapsed_s, "limit_s": deadline.limit_s})

    best_value = cost_of(sessions)
    report(best_value)
    clients = [int(c) for c in np.argsort(-w * shares, kind="stable") if shares[c] > 0]
    alone = cheapest_alone(inst, objective) if alone is None else alone

    def replace(order, ss):
        """ss with the sessions of the clients in ``order`` placed again, in that order."""
        out = [x for x in ss if x[0] not in order]
        for c in order:
            out = pk.place_client(c, int(shares[c]), out)
            if out is None:
                return None
        return out

    for _ in range(passes):
        improved = False
        # each client alone, then each client above its own cheapest chain placed again first, with each other one
        losing = [c for c in clients if cost_of(sessions, {c}) > w[c] * shares[c] * alone[c] * (1 + TIE)]
        moves = [(c,) for c in clients] + [(c, d) for c in losing for d in clients if d != c]
        for order in moves:
            if deadline.expired() or (bound is not None and best_value <= bound * (1 + TIE)):
                break
            group = set(order)
            trial = replace(order, sessions)
            if trial is not None and cost_of(trial, group) < cost_of(sessions, group) - TIE * max(best_value, 1e-300):
                sessions, improved = trial, True
                best_value = cost_of(sessions)
                report(best_value)
        if not improved:
            break
    start, end, _ = pk.state(sessions)
    return start, end, sessions, best_value, ""


@register("bprr-chains", "BPRR by client chains: chain packing with the chain-relaxation bound and gap, "
          "for any number of servers (arXiv 2512.21884 Sec. 3)", features=("placement", "routing", "bound"))
def bprr_chains(inst: Instance, *, objective: Objective = "decode", time_limit: TimeLimit = 60.0,
                beam: Annotated[int, Field(ge=1, le=1000, description=(
                    "labels kept per block boundary in each chain search"))] = 8,
                passes: Annotated[int, Field(ge=0, le=1000, description=(
                    "rounds in which every client places its sessions again"))] = 3,
                progress=None) -> Solution:
    """Solve BPRR by chain packing, with the chain-relaxation bound (module docstring).

    Parameters
    ----------
    inst : Instance
        Client relaying (``optim.solve`` refuses direct relaying for this solver).
    objective : {"decode", "inference"}
        Mean per-token decode time (the paper's (13a)) or mean whole-request time, seconds.
    time_limit : float
        Seconds for the whole call; the improvement rounds stop at it, and an answer needs every
        session placed once.
    beam : int
        Labels kept per block boundary in each chain search.
    passes : int
        Rounds in which every client places its sessions again (0: the first placement only).
    progress : callable(dict), optional
        Receives ``{"incumbent", "bound", "gap", "time_s"}``.

    Returns
    -------
    Solution
        ``optimal`` when the packing meets the bound, else ``feasible``, with ``bound`` and ``gap``;
        ``time_limit`` with cg-bprr's placement when the limit passes before every session has a
        chain (``feasible`` with it when the packing runs out of memory);
        ``infeasible`` when some client has no chain even alone. Where servers may choose their
        dtype or TP degree the packing uses the stated configurations and reports no bound.
    """
    from ..configure import has_choices
    from ..routing import shortest_hops

    deadline = Deadline(time_limit)
    options = {"objective": objective, "time_limit": time_limit, "beam": beam, "passes": passes}
    name = _objective_name(objective)
    choices = has_choices(inst)
    alone = None if choices else cheapest_alone(inst, objective)
    bound = None if choices else _weighted(inst, alone)
    if bound is not None and not np.isfinite(bound):
        return Solution(instance=inst.name, solver="bprr-chains", status=Status.INFEASIBLE, options=options,
                        message="some client with a share of |R| has no chain even alone: the servers' memory, "
                                "with one request's cache beside each block, cannot hold the model")
    start, end, sessions, value, why = pack_chains(inst, objective, beam=beam, passes=passes, deadline=deadline,
                                                   progress=progress, bound=bound, alone=alone)
    if sessions is None:  # no packing: cg-bprr's placement (it takes milliseconds), if it has one
        status = Status.TIME_LIMIT if deadline.expired() else Status.FEASIBLE
        cg = solve(inst, "cg-bprr", routing_objective=objective)
        if not cg.has_solution:
            return Solution(instance=inst.name, solver="bprr-chains", status=status, options=options, bound=bound,
                            objective_name=name, message=why + "; cg-bprr has no placement either")
        v = _objective_value(inst, request_shares(inst), objective, cg)
        return cg.model_copy(update={
            "solver": "bprr-chains", "status": status, "options": options, "objective": v, "objective_name": name,
            "bound": bound, "gap": None if bound is None else max(v - bound, 0.0) / v,
            "message": why + ": returned cg-bprr's placement", "details": {"returned": "cg-bprr"}})
    slots = np.maximum(free_cache_slots(inst, end - start), 0)
    placement = [ServerPlacement(server=s.id, start=int(start[j]), end=int(end[j]),
                                 cache_slots=int(slots[j]) if end[j] > start[j] else 0)
                 for j, s in enumerate(inst.servers)]
    counts: dict[tuple, int] = {}
    for c, hops in sessions:
        counts[(c, hops)] = counts.get((c, hops), 0) + 1
    shares = request_shares(inst)
    A, B = _costs(inst, objective)
    for c in range(inst.num_clients):  # clients with a rate but no share of |R| get their cheapest path
        if shares[c] == 0 and inst.arrival_rates[c] > 0:
            counts[(c, tuple(shortest_hops(start, end, inst.num_blocks, A[c], B)[0]))] = 0
    paths = [Path(client=inst.clients[c].id, requests=n,
                  hops=[Hop(server=inst.servers[j].id, start=int(b), end=int(e)) for j, b, e in hops])
             for (c, hops), n in counts.items()]
    gap = None if bound is None else max(value - bound, 0.0) / value
    optimal = bound is not None and value <= bound * (1 + TIE)
    return Solution(instance=inst.name, solver="bprr-chains", status=Status.OPTIMAL if optimal else Status.FEASIBLE,
                    options=options, objective=value, objective_name=name, bound=bound, gap=gap,
                    placement=placement, paths=paths,
                    details={"chain_bound": bound, "servers_used": int(np.count_nonzero(end > start)),
                             "solve_phase_s": deadline.elapsed_s})

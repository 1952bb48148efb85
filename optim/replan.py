"""Re-planning a running swarm with a move budget: ``optim replan INSTANCE CURRENT --max-moves K``.

Moving a server's span costs downtime: the server drops its blocks, loads new ones and its
sessions restart. Re-planning therefore asks for the best placement reachable from the current
one by changing **at most K servers' spans** (a *move*: a server whose ``[start, end)`` differs
from its current one, including a server that starts or stops holding blocks; a change of cache
slots alone is not a move, it needs no reload). Optionally each block loaded costs downtime
(``downtime_s_per_block``), traded against the response time gained.

The objective is the validator's mean inference time of the |R| concurrent requests, waiting for
cache included (:func:`optim.validate.evaluate`, ``mean_inference_time_s``), with requests routed
one after another on the cheapest path that has cache (:func:`optim.routing.route_sessions`,
BPRR's whole-request hop costs, :func:`optim.perf.hop_cost_coefficients`).

Two methods:

- **Heuristic** (``method="heuristic"``): best-improvement local search that moves one new server
  per step. The candidate spans of a server are its span in the unconstrained solution of
  ``target`` (cg-bprr by default), and spans of its current, target, one-session and |R|-session
  block counts aligned to block 0, block L and the other servers' span boundaries, or no blocks.
  A step is taken only if it lowers the objective (net of the downtime cost); after each step the
  servers already moved are re-moved while that helps (no budget spent). Then whole target chains
  are tried: the servers of a client's path on the target placement moved together, which single
  steps cannot find when no one server helps alone; the better answer is kept. The search is
  deterministic and its k-th step does not depend on K, so the search for K extends the search
  for K - 1: more moves never do worse, and K = 0 returns the current placement unchanged.
- **MILP** (``method="milp"``): bprr-milp (:mod:`optim.solvers.bprr_milp`, objective
  ``inference``) with one more row, ``sum_j moved_j <= K``, where ``moved_j = 1 - z[j, current
  span]`` for a server holding blocks and ``sum_span z[j, span]`` for one that holds none,
  warm-started at the heuristic's answer (itself no worse than the current placement). Its
  optimum is over the MILP's routing, in which no request waits for cache; the answer returned is
  the better of the two under the validator's objective.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .errors import InvalidInstanceError, InvalidOptionError
from .instance import Instance
from .solution import ServerPlacement, Solution, Status

#: routing penalty, seconds, on a server whose free cache cannot hold one more session over its span
REPLAN_ALLOC_PENALTY_S = 1e3


@dataclass
class ReplanResult:
    """What :func:`replan` returns.

    Attributes
    ----------
    solution : Solution
        The new placement and routing (``solver`` = ``replan``), feasible.
    moved : list of str
        Servers whose span changed.
    blocks_loaded : int
        Blocks the moved servers load.
    objective_s : float
        Mean inference time of the new placement (validator), seconds.
    current_objective_s : float
        The same for the current placement.
    method : str
        ``heuristic`` or ``milp``: which answer was kept.
    trajectory : list of dict
        The heuristic's steps: ``moves``, ``server``, ``span``, ``objective_s``.
    milp : dict
        bprr-milp's status, objective, bound and gap when it ran.
    """

    solution: Solution
    moved: list[str]
    blocks_loaded: int
    objective_s: float
    current_objective_s: float
    method: str
    trajectory: list[dict] = field(default_factory=list)
    milp: dict = field(default_factory=dict)

    @property
    def improvement(self) -> float:
        """Relative reduction of the mean inference time, ``1 - new / current``."""
        return 1.0 - self.objective_s / self.current_objective_s if self.current_objective_s > 0 else 0.0


class _Scorer:
    """The validator's mean inference time of a placement, fast enough to call thousands of times
    (same perf functions as :func:`optim.validate.evaluate`: path_times, admission_times), with the
    requests routed by optim's whole-request costs or by PETALS' min-latency routing."""

    def __init__(self, inst: Instance, routing: str = "optim"):
        from .perf import free_cache_slots, hop_cost_coefficients

        if routing not in ("optim", "petals"):
            raise InvalidOptionError(f"routing: {routing!r}; expected optim or petals")
        self.inst, self.routing = inst, routing
        self.A, self.B = hop_cost_coefficients(inst, "inference")
        self.free = free_cache_slots
        self.cache: dict[tuple, float] = {}

    def routed(self, start: np.ndarray, end: np.ndarray):
        from .routing import ALLOC_PENALTY_S, NoPathError, petals_hop_costs, route_sessions

        slots = np.maximum(self.free(self.inst, end - start), 0).astype(np.int64)
        if self.routing == "petals":
            costs, penalty = (lambda c: petals_hop_costs(self.inst, c, end)), ALLOC_PENALTY_S
        else:
            costs, penalty = (lambda c: (self.A[c], self.B)), REPLAN_ALLOC_PENALTY_S
        try:
            paths, short = route_sessions(self.inst, start, end, slots, costs, penalty,
                                          direct_objective="petals" if self.routing == "petals" else "inference")
        except NoPathError:
            return None, slots, 0
        return paths, slots, short

    def __call__(self, start: np.ndarray, end: np.ndarray) -> float:
        key = (start.tobytes(), end.tobytes())
        if key in self.cache:
            return self.cache[key]
        value = self._score(start, end)
        self.cache[key] = value
        return value

    def _score(self, start: np.ndarray, end: np.ndarray) -> float:
        paths, slots, _ = self.routed(start, end)
        return self.mean_time(start, end, paths, slots)

    def mean_time(self, start: np.ndarray, end: np.ndarray, paths, slots: np.ndarray) -> float:
        """The mean inference time, waiting included, of ``paths`` routed on these spans (inf when
        none are, or a server cannot hold one session over its span)."""
        from .perf import path_times
        from .perf.contention import admission_times

        inst = self.inst
        m = end - start
        if paths is None or np.any(self.free(inst, m)[m > 0] < m[m > 0]):
            return np.inf  # no chain, or a server that cannot hold one session over its span
        idx = inst.server_index
        cidx = {c.id: k for k, c in enumerate(inst.clients)}
        needs, durations = [], []
        for p in paths:
            servers = np.array([idx[h.server] for h in p.hops])
            blocks = np.array([h.end - h.start for h in p.hops])
            t = path_times(inst, cidx[p.client], servers, blocks).inference_s
            need: dict[int, int] = {}
            for j, k in zip(servers.tolist(), blocks.tolist()):
                need[j] = need.get(j, 0) + k
            needs += [need] * p.requests
            durations += [t] * p.requests
        if not needs:
            return np.inf
        d = np.array(durations)
        try:
            waits = admission_times(slots, needs, d)
        except ValueError:
            return np.inf
        return float(np.mean(d + waits))


def spans_solution(inst: Instance, start: np.ndarray, end: np.ndarray, solver: str = "replan",
                   details: dict | None = None) -> Solution:
    """A solution for given spans: the cache their memory leaves, and the |R| requests routed one
    after another on the cheapest path with cache (:func:`optim.routing.route_sessions`).

    Raises
    ------
    InvalidInstanceError
        The spans leave some block without a server.
    """
    sc = _Scorer(inst)
    start, end = np.asarray(start), np.asarray(end)
    paths, slots, short = sc.routed(start, end)
    if paths is None:
        raise InvalidInstanceError("spans: some block is held by no server")
    details = {**(details or {}), "requests_routed_short_of_cache": int(short)}
    placement = [ServerPlacement(server=s.id, start=int(start[j]), end=int(end[j]), cache_slots=int(slots[j]))
                 for j, s in enumerate(inst.servers)]
    return Solution(instance=inst.name, solver=solver, status=Status.FEASIBLE, placement=placement, paths=paths,
                    objective=sc.mean_time(start, end, paths, slots), objective_name="mean_inference_time_s",
                    details=details)


def _candidates(inst: Instance, j: int, start: np.ndarray, end: np.ndarray, tstart: np.ndarray, tend: np.ndarray,
                m1: np.ndarray, mR: np.ndarray) -> set[tuple[int, int]]:
    L = inst.num_blocks
    lengths = {int(end[j] - start[j]), int(tend[j] - tstart[j]), int(m1[j]), int(mR[j])}
    lengths = {m for m in lengths if 1 <= m <= min(L, int(m1[j]))}
    anchors = {0, L} | {int(x) for x in end[end > start]} | {int(x) for x in start[end > start]}
    out = {(0, 0)}
    if tend[j] > tstart[j]:
        out.add((int(tstart[j]), int(tend[j])))
    for m in lengths:
        for x in anchors:
            for a in (x, x - m):
                if 0 <= a <= L - m:
                    out.add((a, a + m))
    return out


def _polish(inst, sc, cost, start, end, moved, tstart, tend, m1, mR, best, deadline) -> float:
    """Re-move servers already moved (no budget spent) while that lowers the objective; in place."""
    import time

    improved = True
    while improved and time.monotonic() < deadline:
        improved = False
        for j in sorted(moved):
            for a, e in _candidates(inst, j, start, end, tstart, tend, m1, mR) - {(0, 0)}:
                if (a, e) == (start[j], end[j]):
                    continue
                if time.monotonic() >= deadline:
                    return best
                s2, e2 = start.copy(), end.copy()
                s2[j], e2[j] = a, e
                v = cost(s2, e2, sc(s2, e2))
                if v < best - 1e-12:
                    best, start[j], end[j], improved = v, a, e, True
    return best


def target_spans(inst: Instance, target: str, start0: np.ndarray, end0: np.ndarray,
                 available: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The spans of ``target``'s unconstrained solution (on the available servers), or the current ones."""
    from .solvers import solve

    sub = inst
    if available is not None and not available.all():
        sub = inst.without_servers([srv.id for srv, up in zip(inst.servers, available) if not up])
    sol = solve(sub, target)
    if not sol.has_solution:
        return start0.copy(), end0.copy()
    s, e, _ = sol.spans(sub)
    if sub is inst:
        return s, e
    ts, te = np.zeros_like(start0), np.zeros_like(end0)
    ts[np.flatnonzero(available)], te[np.flatnonzero(available)] = s, e
    return ts, te


def _coverage(start: np.ndarray, end: np.ndarray, num_blocks: int) -> np.ndarray:
    """Servers holding each block, shape (L,)."""
    from .perf.capacity import servers_per_block

    return servers_per_block(np.asarray(start), np.asarray(end), num_blocks)


def _loaded(start, end, start0, end0, price: "float | np.ndarray" = 1.0) -> float:
    """The blocks the moved servers load, each at its server's ``price`` (a scalar, or shape (J,))."""
    blocks = end - start
    loads = ((start != start0) | (end != end0)) & (blocks > 0)
    return float(np.sum(np.broadcast_to(price, blocks.shape)[loads] * blocks[loads]))


def plan_cost(inst: Instance, value: float, start, end, start0, end0,
              downtime_s_per_block: "float | np.ndarray" = 0.0, single_server_s_per_block: float = 0.0) -> float:
    """What re-planning minimises, seconds: the placement's mean inference time ``value``, plus
    ``downtime_s_per_block`` (one price, or one per server, shape (J,)) for each block a moved
    server loads, plus ``single_server_s_per_block`` for each block only one server holds (its
    exposure to that server leaving)."""
    out = value + _loaded(start, end, start0, end0, downtime_s_per_block)
    if single_server_s_per_block:
        out += single_server_s_per_block * int(np.count_nonzero(_coverage(start, end, inst.num_blocks) == 1))
    return out


def move_prices(score, start: np.ndarray, end: np.ndarray, movable: np.ndarray, load_s_per_block: float,
                horizon_s: float) -> np.ndarray:
    """Each server's price per block it loads, in seconds of mean inference time, from the load.

    A server that moves is away while it loads its ``b`` blocks (``b x load_s_per_block``
    seconds); meanwhile the swarm runs without it, at mean inference time ``T_-j``, instead of the
    ``T`` it has now. Spread over ``horizon_s``, the time the new placement is expected to last,
    that loss is ``b x load_s_per_block x (T_-j - T) / horizon_s`` seconds of mean, so the price
    of one block is ``load_s_per_block x (T_-j - T) / horizon_s``: near 0 for a server the load
    does not need, and high for one the swarm's chains rely on. A move is then taken when the
    mean it gains over the horizon exceeds what the swarm loses while the server loads.
    Approximations: the loss is measured against the current ``T`` rather than the new
    placement's (which is at most ``T`` for a move worth taking), and the prices of servers moving
    together add up (their joint absence may cost more). optim's own model of the trade, not a
    published one. The in-flight sessions a moving server drops are not priced: pricing each at
    its elapsed time plus PETALS' retry delay, over ``lambda x horizon_s`` requests, was tried on
    chains-europe-20 (seeds 0-2, 600 requests) and moved about as many blocks (1,824 against
    1,864) for a worse mean (36.6 s against 26.9 s).

    Parameters
    ----------
    score : callable
        ``score(start, end)``, the mean inference time of a placement, seconds (``inf`` when some
        block has no server); :class:`optim.replan._Scorer`.
    start, end : ndarray of int, shape (J,)
        The current spans of the servers online or loading (0, 0 for the others).
    movable : ndarray of bool, shape (J,)
        The servers that may move; the others are priced 0.
    load_s_per_block : float
        Seconds to load one block.
    horizon_s : float
        Seconds the new placement is expected to last.

    Returns
    -------
    ndarray of float, shape (J,)
        Seconds of mean inference time per block loaded; ``inf`` for a server without which some
        block has no server; all 0 when some block already has none (any repair beats none) or
        loading takes no time.
    """
    price = np.zeros(len(start))
    now = score(start, end)
    if not np.isfinite(now) or load_s_per_block == 0:
        return price  # a repair beats none; a load that takes no time loses nothing
    for j in np.flatnonzero(movable):
        s, e = start.copy(), end.copy()
        s[j] = e[j] = 0
        price[j] = load_s_per_block * max(score(s, e) - now, 0.0) / horizon_s
    return price


def replan_spans(inst: Instance, start0: np.ndarray, end0: np.ndarray, max_moves: int, *,
                 tstart: np.ndarray, tend: np.ndarray, available: np.ndarray | None = None,
                 downtime_s_per_block: "float | np.ndarray" = 0.0, scorer: "_Scorer | None" = None,
                 deadline: float | None = None, routing: str = "optim",
                 keep_served: bool = False, single_server_s_per_block: float = 0.0
                 ) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """The heuristic of :func:`replan` on spans: the new ``start``, ``end`` and the steps taken.

    Parameters
    ----------
    start0, end0 : ndarray of int, shape (J,)
        Current spans; the current placement may be broken (some block unserved): any placement
        that serves every block is then better.
    max_moves : int
    tstart, tend : ndarray of int, shape (J,)
        Target spans seeding the candidates.
    available : ndarray of bool, shape (J,), optional
        Servers that may be moved (the others keep their span: offline, or loading blocks).
    downtime_s_per_block : float or ndarray of float, shape (J,)
        The price of each block a moved server loads, in seconds of mean inference time: one for
        every server, or one per server (:func:`move_prices` derives them from the load).
    deadline : float, optional
        ``time.monotonic()`` value at which the search stops with its best so far.
    routing : {"optim", "petals"}
        How the requests the objective counts are routed (ignored with ``scorer``).
    keep_served : bool
        Make before break: refuse a move after which the servers not moving (the moved ones are
        loading their new blocks) leave some block without a server, unless the current placement
        already does. For a live swarm, where a moving server is unavailable while it loads.
    single_server_s_per_block : float
        The price of each block that only one server holds, in seconds of mean inference time:
        the exposure to that server leaving (the block then has no server until another loads
        it). 0 (default): not priced.
    """
    import time

    sc = scorer or _Scorer(inst, routing)
    deadline = float("inf") if deadline is None else deadline
    avail = np.ones(inst.num_servers, dtype=bool) if available is None else np.asarray(available, dtype=bool)
    m1 = np.maximum(np.floor(inst.memory_bytes / (inst.server_block_bytes + inst.cache_bytes_per_block_session)), 0)
    m1 = np.minimum(m1, inst.num_blocks).astype(np.int64)
    from .solvers.cg_bprr import conservative_block_counts

    mR = conservative_block_counts(inst, inst.workload.concurrent_requests)

    def cost(start, end, value):
        return plan_cost(inst, value, start, end, start0, end0, downtime_s_per_block, single_server_s_per_block)

    start, end = np.array(start0, dtype=np.int64), np.array(end0, dtype=np.int64)
    best = cost(start, end, sc(start, end))
    trajectory: list[dict] = []
    moved: set[int] = set()
    L = inst.num_blocks
    guard = keep_served and bool(np.all(_coverage(start0, end0, L) > 0))
    while len(moved) < max_moves and time.monotonic() < deadline:
        step = None  # the best single move; at the deadline, the best of those scored so far
        for j in np.flatnonzero(avail):
            if time.monotonic() >= deadline:
                break
            if j in moved:
                continue
            if guard:
                still = np.ones(inst.num_servers, dtype=bool)
                still[list(moved) + [j]] = False
                if np.any(_coverage(np.where(still, start0, 0), np.where(still, end0, 0), L) == 0):
                    continue  # while j (and the servers already moving) load, some block would be unserved
            for a, e in _candidates(inst, j, start, end, tstart, tend, m1, mR):
                if (a, e) == (start[j], end[j]):
                    continue
                if time.monotonic() >= deadline:
                    break
                s2, e2 = start.copy(), end.copy()
                s2[j], e2[j] = a, e
                v = cost(s2, e2, sc(s2, e2))
                if v < best - 1e-12 and (step is None or v < step[0]):
                    step = (v, j, a, e)
        if step is None:
            break
        best, j, a, e = step
        start[j], end[j] = a, e
        moved.add(int(j))
        best = _polish(inst, sc, cost, start, end, moved, tstart, tend, m1, mR, best, deadline)
        trajectory.append({"moves": len(moved), "server": inst.servers[j].id, "span": [int(a), int(e)],
                           "objective_s": sc(start, end)})
    # whole target chains: a client's path on the target placement needs all its servers at once,
    # which one-server steps cannot see (each alone may not help). The options do not depend on K,
    # so the best of them within K moves, like the search above, never gets worse as K grows.
    for servers in _target_chain_moves(inst, start0, end0, tstart, tend, avail):
        if len(servers) > max_moves or time.monotonic() >= deadline:
            continue
        if guard:
            still = np.ones(inst.num_servers, dtype=bool)
            still[servers] = False
            if np.any(_coverage(np.where(still, start0, 0), np.where(still, end0, 0), L) == 0):
                continue
        s2, e2 = np.array(start0, dtype=np.int64), np.array(end0, dtype=np.int64)
        s2[servers], e2[servers] = tstart[servers], tend[servers]
        v = cost(s2, e2, sc(s2, e2))
        if v < best - 1e-12:
            best, start, end = v, s2, e2
            trajectory = [{"moves": len(servers), "servers": [inst.servers[j].id for j in servers],
                           "objective_s": sc(s2, e2), "kind": "target chain"}]
    return start, end, trajectory


def _target_chain_moves(inst: Instance, start0, end0, tstart, tend, avail) -> list[list[int]]:
    """Sets of servers to move to their target spans together: for each client, the servers of its
    cheapest path on the target placement whose span differs from the current one, and all of them."""
    from .routing import NoPathError, client_hops

    differs = ((tstart != start0) | (tend != end0)) & avail
    out: list[list[int]] = []
    for c in np.flatnonzero(inst.arrival_rates > 0):
        try:
            hops, _ = client_hops(inst, int(c), tstart, tend, "inference")
        except NoPathError:
            continue
        servers = sorted({int(j) for j, _, _ in hops if differs[j]})
        if servers and servers not in out:
            out.append(servers)
    union = sorted({j for s in out for j in s})
    if union and union not in out:
        out.append(union)
    return out


def replan(inst: Instance, current: Solution, max_moves: int, *, method: Literal["heuristic", "milp", "both"] = "both",
           target: str = "cg-bprr", downtime_s_per_block: float | Literal["model"] = 0.0,
           time_limit: float = 60.0, progress=None, single_server_s_per_block: float = 0.0, load_s_per_block: float = 2.0,
           plan_horizon_s: float = 3600.0) -> ReplanResult:
    """The best placement reachable from ``current`` by changing at most ``max_moves`` servers' spans.

    Parameters
    ----------
    inst : Instance
    current : Solution
        The running placement (its spans; routing and cache are recomputed).
    max_moves : int
        K >= 0, servers whose span may change.
    method : {"heuristic", "milp", "both"}
        The local search, bprr-milp with the move-budget row (warm-started at the heuristic), or
        both (the better answer is kept).
    target : str
        Solver whose unconstrained placement seeds the candidate spans.
    downtime_s_per_block : float or "model"
        Cost, in seconds of mean inference time, of each block a moved server loads (0: moves are
        limited by K only). ``"model"``: each server's own price, from what the swarm loses while
        it loads (:func:`move_prices`, with ``load_s_per_block`` and ``plan_horizon_s``); a server
        without which some block has no server is then never moved. The heuristic weighs it; the
        MILP ignores it; the MILP's answer is compared at the full cost.
    single_server_s_per_block : float
        Cost, in seconds of mean inference time, of each block that only one server holds: the
        block has no server while that one is away (0: not priced). The heuristic weighs it; the
        MILP ignores it; the MILP's answer is compared with the heuristic's at this full cost.
    load_s_per_block, plan_horizon_s : float
        With ``downtime_s_per_block="model"``: seconds a server needs to load one block, and
        seconds the new placement is expected to last (default one hour).
    time_limit : float
        Seconds for the whole call: the heuristic stops with its best so far at half of it when
        bprr-milp follows (``method="both"``), at all of it alone; bprr-milp (model building
        included) gets what is left.
    progress : callable(dict), optional
        Receives bprr-milp's incumbent, bound and gap while it runs.

    Returns
    -------
    ReplanResult

    Raises
    ------
    InvalidOptionError
        ``max_moves`` below 0, an unknown method.
    InvalidInstanceError
        ``current`` names servers not in the instance, or leaves some block without a server.

    Examples
    --------
    >>> from optim import load_instance, solve
    >>> from optim.replan import replan
    >>> inst = load_instance("instances/geo-europe-20.json")
    >>> now = solve(inst, "petals")
    >>> r0, r2 = replan(inst, now, 0, method="heuristic"), replan(inst, now, 2, method="heuristic")
    >>> r0.moved, r0.objective_s == r0.current_objective_s, len(r2.moved) <= 2, r2.objective_s <= r0.objective_s
    ([], True, True, True)
    """
    import time

    t0 = time.monotonic()
    if isinstance(max_moves, bool) or not isinstance(max_moves, (int, np.integer)) or max_moves < 0:
        raise InvalidOptionError(f"max_moves: {max_moves!r}; expected an integer >= 0")
    if method not in ("heuristic", "milp", "both"):
        raise InvalidOptionError(f"method: {method!r}; expected heuristic, milp or both")
    check_prices(downtime_s_per_block, plan_horizon_s, load_s_per_block=load_s_per_block,
                 single_server_s_per_block=single_server_s_per_block)
    _check_time_limit(time_limit)
    from .solvers import get_solver

    get_solver(target)
    start0, end0, _ = current.spans(inst)
    sc = _Scorer(inst)
    now = sc(start0, end0)
    if not np.isfinite(now):
        raise InvalidInstanceError("current: the placement leaves some block without a server, or a server without "
                                   "cache for one session; it cannot be re-planned from")
    tstart, tend = target_spans(inst, target, start0, end0)
    prices = downtime_s_per_block
    if prices == "model":
        prices = move_prices(sc, start0, end0, np.ones(inst.num_servers, dtype=bool), load_s_per_block,
                             plan_horizon_s)
    if method in ("heuristic", "both"):
        start, end, trajectory = replan_spans(inst, start0, end0, max_moves, tstart=tstart, tend=tend,
                                              downtime_s_per_block=prices, scorer=sc,
                                              deadline=t0 + (0.5 if method == "both" and max_moves > 0 else 1.0)
                                              * time_limit,  # with the MILP after it: half the limit
                                              single_server_s_per_block=single_server_s_per_block)
    else:
        start, end, trajectory = start0.copy(), end0.copy(), []
    price = dict(downtime_s_per_block=prices, single_server_s_per_block=single_server_s_per_block)
    best = plan_cost(inst, sc(start, end), start, end, start0, end0, **price)
    result_start, result_end, chosen, milp_info = start, end, "heuristic", {}
    if method in ("milp", "both") and max_moves > 0:
        from .solvers.bprr_milp import _bprr_milp

        # a warm start must fit the MILP's cache rows: the heuristic's routing, or the current one, if no
        # request waits for cache there; else none (the cg-bprr default would ignore the move budget)
        warm = next((w for w in (spans_solution(inst, start, end), spans_solution(inst, start0, end0))
                     if w.details["requests_routed_short_of_cache"] == 0), None)
        left = max(time_limit - (time.monotonic() - t0), 1e-3)
        msol = _bprr_milp(inst, "inference", left, 1e-4, None, warm is not None, "highs", 1, "arrays", False,
                          progress, warm_override=warm, move_budget=(start0, end0, int(max_moves)),
                          warm_label="re-planning heuristic's")
        milp_info = {"status": msol.status.value, "objective": msol.objective, "bound": msol.bound, "gap": msol.gap,
                     "message": msol.message}
        if msol.has_solution:
            ms, me, _ = msol.spans(inst)
            n_moved = int(np.sum((ms != start0) | (me != end0)))
            v = plan_cost(inst, sc(ms, me), ms, me, start0, end0, **price)
            milp_info["validator_objective_s"] = sc(ms, me)
            if n_moved <= max_moves and v < best - 1e-12:
                best, result_start, result_end, chosen = v, ms, me, "milp"
    moved_ids = [inst.servers[j].id for j in np.flatnonzero((result_start != start0) | (result_end != end0))]
    loaded = int(_loaded(result_start, result_end, start0, end0))
    sol = spans_solution(inst, result_start, result_end, details={
        "method": chosen, "max_moves": int(max_moves), "moved": moved_ids, "blocks_loaded": loaded,
        "current_objective_s": now, "downtime_s_per_block": downtime_s_per_block,
        "single_server_s_per_block": single_server_s_per_block, "target": target,
        **({"load_s_per_block": load_s_per_block, "plan_horizon_s": plan_horizon_s,
            "move_prices_s_per_block": {s.id: float(p) if np.isfinite(p) else None  # None: never moved
                                        for s, p in zip(inst.servers, prices)}}
           if downtime_s_per_block == "model" else {}),
        **({"milp": milp_info} if milp_info else {})})
    return ReplanResult(sol, moved_ids, loaded, float(sol.objective), now, chosen, trajectory, milp_info)


def check_prices(downtime_s_per_block: float | str, plan_horizon_s: float, **nonnegative: float) -> None:
    """Check re-planning's prices: ``downtime_s_per_block`` a number >= 0 or ``"model"``,
    ``plan_horizon_s`` positive seconds, and each of ``nonnegative`` (name=value) a number >= 0.

    Raises
    ------
    InvalidOptionError
        The first value out of range, by name, with what was expected.
    """
    for name, v in (("downtime_s_per_block", downtime_s_per_block), *nonnegative.items()):
        if name == "downtime_s_per_block" and v == "model":
            continue
        if isinstance(v, (str, bool)) or not 0 <= v < float("inf"):
            raise InvalidOptionError(f"{name}: {v!r}; expected a number >= 0"
                                     + (" or 'model'" if name == "downtime_s_per_block" else ""))
    if isinstance(plan_horizon_s, (str, bool)) or not 0 < plan_horizon_s < float("inf"):
        raise InvalidOptionError(f"plan_horizon_s: {plan_horizon_s!r}; expected positive seconds")


def _check_time_limit(time_limit: float) -> None:
    if not 0 < time_limit < float("inf"):
        raise InvalidOptionError(f"time_limit: {time_limit!r}; expected positive seconds")


def replan_sweep(inst: Instance, current: Solution, max_moves: int, *, time_limit: float = 60.0,
                 **kw) -> list[ReplanResult]:
    """:func:`replan` for K = 0, 1, ..., ``max_moves``; each K's answer is at least as good as the
    one before (the heuristic's search extends; the MILP's answer is kept only when better).

    ``time_limit`` (seconds) is the budget of the whole sweep: K = 0 returns the current placement,
    and each further K gets an equal share of what is left when it starts, so time a K does not use
    goes to the next ones. Other keywords are :func:`replan`'s.
    """
    import time

    _check_time_limit(time_limit)
    deadline = time.monotonic() + time_limit
    out: list[ReplanResult] = []
    for k in range(max_moves + 1):
        share = max(deadline - time.monotonic(), 1e-3) / max(max_moves + 1 - k, 1)
        r = replan(inst, current, k, time_limit=share, **kw)
        if out and r.objective_s > out[-1].objective_s:
            r = out[-1]
        out.append(r)
    return out

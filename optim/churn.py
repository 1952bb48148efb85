"""Servers joining and leaving while requests are served: ``optim churn INSTANCE``.

A request-level simulation (simpy) of a swarm whose servers come and go, comparing how the
placement adapts:

Every strategy starts from the same placement (PETALS' by default, ``initial`` otherwise):

- ``static``: every server keeps its initial span; a server that comes back loads the same span.
- ``petals``: PETALS' own behaviour (bigscience-workshop/petals, ``server/server.py`` and
  ``server/block_selection.py``, as :mod:`optim.solvers.petals` implements it): a joining server
  takes the window of least throughput
  (``choose_best_blocks``); every online server checks every ``U(0, 2 x 120 s)`` whether it should
  move (``should_choose_other_blocks``, ``balance_quality`` 0.75) and moves if so.
- ``replan``: a server that comes back loads its old span; after every join or leave
  (``replan_when="always"``, default) or only those that leave some block without an available
  server (``"broken"``), :func:`optim.replan.replan_spans` re-plans the online servers with a
  budget of ``max_moves`` moves (candidates seeded by cg-bprr's placement of the servers online),
  make before break (no move that leaves a block unserved while the server loads), each block
  loaded priced at ``downtime_s_per_block`` and each block only one server holds at
  ``single_server_s_per_block``, on the load the swarm has
  (:func:`planning_instance`). With ``downtime_s_per_block="model"`` each server's price per block
  comes from the load instead of a constant (:func:`optim.replan.move_prices`): what the swarm
  loses while that server is away loading, spread over the time the new placement is expected to
  last.

**Events.** Each server alternates between online and offline periods, exponential with means
``mean_uptime_s`` and ``mean_downtime_s`` (or a schedule: ``(time_s, server, "leave"|"join")``
rows). A server that joins or moves is unavailable while it loads its new blocks,
``load_s_per_block`` per block it did not hold before. A server that leaves or starts moving
drops its in-flight requests: each fails and is retried from the start after PETALS' retry delay
(:func:`optim.routing.petals_retry_delay`; the client restarts the session, a simplification of
PETALS, which replays the session's inputs to new servers for the failed span only).

**Requests** arrive Poisson at the instance's rate, from clients in proportion to their rates; each
starts on PETALS' min-latency path among the available servers with cache for it
(:func:`optim.routing.petals_hop_costs`), or waits in a FIFO queue until one exists; it holds its
cache slots for its whole time, from the one request-time model (:func:`optim.simulate.job_parts_s`),
run step by step on the shared GPUs when some server's ``batching`` is ``none`` or ``continuous``
(:class:`optim.simulate.JobRunner`, as ``optim simulate`` runs it); a step a dropped request had
queued on a server still runs there.

**Window.** Churn happens while the requests arrive; at the last arrival every server that is
offline comes back (as it would, sooner or later), so that every request completes and the
strategies are compared on the same requests.

**Metrics**: response time (arrival to completion, retries and waiting included: mean, median,
P95), failed attempts, blocks moved (blocks loaded because a server changed its span: moves, and
rejoins on a span other than the one held before), moves, and the time within the window during
which some block had no available server.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .errors import InvalidOptionError
from .instance import Instance
from .solution import Solution

STRATEGIES = ("static", "petals", "replan")


@dataclass
class ChurnResult:
    """What :func:`simulate_churn` returns: ``summary`` (the metrics of the module docstring) and
    ``events`` (one row per join, leave, move and load completion)."""

    strategy: str
    summary: dict[str, Any]
    events: list[dict] = field(default_factory=list)


def churn_schedule(inst: Instance, horizon_s: float, mean_uptime_s: float, mean_downtime_s: float,
                   rng: np.random.Generator) -> list[tuple[float, int, str]]:
    """Alternating online/offline periods per server (exponential), as ``(time_s, server, event)``
    sorted by time; every server starts online."""
    out = []
    for j in range(inst.num_servers):
        t = rng.exponential(mean_uptime_s)
        while t < horizon_s:
            out.append((float(t), j, "leave"))
            t += rng.exponential(mean_downtime_s)
            if t >= horizon_s:
                break
            out.append((float(t), j, "join"))
            t += rng.exponential(mean_uptime_s)
    return sorted(out)


def planning_instance(inst: Instance, start: np.ndarray, end: np.ndarray, routing: str) -> Instance:
    """The instance re-planning scores placements on: |R| replaced by the sessions the load keeps
    busy, ``ceil(2 lambda T)`` (Little's law with headroom; T the mean inference time of one request
    alone on the initial placement), so that the objective sees the load the swarm has instead of
    the worst case of |R| sessions at once; at least two per client with a rate, so that every
    client's geography counts (with fewer sessions than clients, the shares leave some client out).
    The floor of two per client was chosen after geo-world-40 with seed 0, where one session per
    client found no move and the Asian client's requests took 10 s while an A100 near it was away."""
    import math

    from .replan import _Scorer

    one = inst.model_copy(update={"workload": inst.workload.model_copy(update={"concurrent_requests": 1})})
    t = _Scorer(one, routing)(np.asarray(start, dtype=np.int64), np.asarray(end, dtype=np.int64))
    if not np.isfinite(t):
        return inst
    clients = int(np.count_nonzero(inst.arrival_rates > 0))
    r = max(2 * clients, min(inst.workload.concurrent_requests, math.ceil(2 * inst.total_arrival_rate * t)))
    return inst.model_copy(update={"workload": inst.workload.model_copy(update={"concurrent_requests": r})})


class _Swarm:
    """The simulated swarm: each server's status (online, loading, offline), span and free cache
    slots, the requests running and queued, and the strategy's reactions (module docstring)."""

    def __init__(self, inst: Instance, sol: Solution, strategy: str, rng: np.random.Generator, *,
                 load_s_per_block: float, max_moves: int, balance_quality: float, balance_check_period_s: float,
                 replan_time_limit_s: float, replan_when: str = "always",
                 downtime_s_per_block: "float | str" = 0.1, routing: str = "petals",
                 single_server_s_per_block: float = 0.0, plan_horizon_s: float = 3600.0):
        import simpy

        from .perf import free_cache_slots, hop_cost_coefficients
        from .perf.chains import hop_communication

        self.inst, self.strategy, self.rng = inst, strategy, rng
        self.env = simpy.Environment()
        s, e, _ = sol.spans(inst)
        self.home_start, self.home_end = s.copy(), e.copy()
        self.start, self.end = s.astype(np.int64), e.astype(np.int64)
        self.length = (e - s).astype(np.int64)  # the block count each server runs (PETALS: its own rule)
        self.status = np.array(["online"] * inst.num_servers, dtype=object)
        self.free_slots = free_cache_slots
        self.cap = np.maximum(free_cache_slots(inst, self.end - self.start), 0).astype(np.int64)
        self.free = self.cap.copy()
        self.comm = [hop_communication(inst, c) for c in range(inst.num_clients)]
        self.load_s_per_block, self.max_moves = load_s_per_block, max_moves
        self.balance_quality, self.period = balance_quality, balance_check_period_s
        self.replan_time_limit_s = replan_time_limit_s
        self.replan_when, self.downtime_s_per_block = replan_when, downtime_s_per_block
        self.single_server_s_per_block, self.plan_horizon_s = single_server_s_per_block, plan_horizon_s
        self.routing = routing
        self.A, self.B = hop_cost_coefficients(inst, "inference")
        self.plan_inst = inst
        if strategy == "replan":
            self.plan_inst = planning_instance(inst, self.start, self.end, routing)
        from .simulate import JobRunner

        self.jobs = JobRunner(self.env, inst, rng)  # GPU contention as the servers' batching says
        self.running: dict[int, tuple[Any, list]] = {}  # request -> (process, hops)
        self.queue: collections.deque = collections.deque()
        self.attempts: collections.Counter = collections.Counter()
        self.failed = self.moves = self.blocks_moved = 0
        self.unserved_s, self._unserved_since = 0.0, None
        self.horizon = float("inf")
        self.events: list[dict] = []
        self.loading: dict[int, tuple[int, int]] = {}
        self.load_id = np.zeros(inst.num_servers, dtype=np.int64)  # which load a finishing one is
        if strategy == "petals":
            from .solvers.petals import announced_throughput

            self.thr = announced_throughput(inst, self.length)

    # -- placement state ---------------------------------------------------------------------------
    def available(self) -> np.ndarray:
        return self.status == "online"

    def spans_available(self) -> tuple[np.ndarray, np.ndarray]:
        ok = self.available()
        return np.where(ok, self.start, 0), np.where(ok, self.end, 0)

    def _coverage_changed(self) -> None:
        from .perf.capacity import servers_per_block

        broken = bool(np.any(servers_per_block(*self.spans_available(), self.inst.num_blocks) == 0))
        now = min(self.env.now, self.horizon)
        if broken and self._unserved_since is None:
            self._unserved_since = now
        elif not broken and self._unserved_since is not None:
            self.unserved_s += now - self._unserved_since
            self._unserved_since = None

    def _set_span(self, j: int, a: int, b: int) -> None:
        self.start[j], self.end[j] = a, b
        m = np.zeros(self.inst.num_servers, dtype=np.int64)
        m[j] = b - a
        self.cap[j] = max(int(self.free_slots(self.inst, m)[j]), 0)
        self.free[j] = self.cap[j]

    def _drop_requests(self, j: int) -> None:
        for i, (proc, hops) in list(self.running.items()):
            if any(h[0] == j for h in hops) and proc.is_alive:
                proc.interrupt("server gone")

    def leave(self, j: int) -> None:
        if self.status[j] == "offline":
            return
        self._drop_requests(j)
        self.loading.pop(j, None)
        self.status[j] = "offline"
        self.events.append({"time_s": self.env.now, "server": self.inst.servers[j].id, "event": "leave"})
        self._coverage_changed()

    def join(self, j: int) -> None:
        if self.status[j] != "offline":
            return
        a, b = int(self.start[j]), int(self.end[j])  # the span it held
        if self.strategy == "static":
            a, b = int(self.home_start[j]), int(self.home_end[j])
        elif self.strategy == "petals":
            from .solvers._windows import lexmin_sorted_window
            from .solvers.petals import _block_throughput

            s, e = self.spans_available()
            t = _block_throughput(s, e, self.thr, self.inst.num_blocks)
            m = int(self.length[j])
            a = lexmin_sorted_window(t, m)
            b = a + m
        if (a, b) != (int(self.start[j]), int(self.end[j])):
            self.blocks_moved += b - a
        self.events.append({"time_s": self.env.now, "server": self.inst.servers[j].id, "event": "join",
                            "span": [a, b]})
        self._load(j, a, b, b - a)

    def move(self, j: int, a: int, b: int) -> None:
        old = (int(self.start[j]), int(self.end[j]))
        if (a, b) == old or self.status[j] != "online":
            return
        new_blocks = (b - a) - max(0, min(b, old[1]) - max(a, old[0]))
        self._drop_requests(j)
        self.moves += 1
        self.blocks_moved += b - a
        self.events.append({"time_s": self.env.now, "server": self.inst.servers[j].id, "event": "move",
                            "from": list(old), "span": [a, b]})
        self._load(j, a, b, new_blocks)

    def _load(self, j: int, a: int, b: int, blocks: int) -> None:
        self.status[j] = "loading"
        self._set_span(j, a, b)
        self.load_id[j] += 1
        self.loading[j] = (a, b)
        self._coverage_changed()
        self.env.process(self._finish_load(j, int(self.load_id[j]), blocks * self.load_s_per_block))

    def _finish_load(self, j: int, load: int, seconds: float):
        yield self.env.timeout(seconds)
        if self.status[j] != "loading" or self.load_id[j] != load:
            return  # left while loading (and perhaps came back and started another load)
        self.loading.pop(j, None)
        self.status[j] = "online"
        self.events.append({"time_s": self.env.now, "server": self.inst.servers[j].id, "event": "online"})
        self._coverage_changed()
        self._dispatch()

    # -- strategies --------------------------------------------------------------------------------
    def after_event(self) -> None:
        if self.strategy != "replan" or self.max_moves == 0:
            return
        if self.replan_when == "broken" and self._unserved_since is None:
            return
        import time

        from .replan import _Scorer, move_prices, replan_spans, target_spans

        online = self.available()
        if not online.any():
            return
        loading = self.status == "loading"
        view_s = np.where(online | loading, self.start, 0)
        view_e = np.where(online | loading, self.end, 0)
        ts, te = target_spans(self.plan_inst, "cg-bprr", view_s, view_e, available=online | loading)
        score = _Scorer(self.plan_inst, self.routing)
        price = self.downtime_s_per_block
        if price == "model":
            price = move_prices(score, view_s, view_e, online, self.load_s_per_block, self.plan_horizon_s)
        s, e, _ = replan_spans(self.plan_inst, view_s, view_e, self.max_moves, tstart=ts, tend=te, available=online,
                               downtime_s_per_block=price, routing=self.routing, scorer=score,
                               single_server_s_per_block=self.single_server_s_per_block,
                               keep_served=True,
                               deadline=time.monotonic() + self.replan_time_limit_s)
        for j in np.flatnonzero((s != view_s) | (e != view_e)):
            self.move(int(j), int(s[j]), int(e[j]))

    def rebalancer(self, j: int):
        """PETALS' periodic check of one server (``should_choose_other_blocks``)."""
        from .solvers._windows import lexmin_sorted_window
        from .solvers.petals import _block_throughput, should_move

        L = self.inst.num_blocks
        while True:
            yield self.env.timeout(self.rng.uniform(0, 2 * self.period))
            if self.status[j] != "online" or self.balance_quality <= 0:
                continue
            s, e = self.spans_available()
            if should_move(j, s, e, self.thr, L, self.balance_quality, self.rng):
                t = _block_throughput(s, e, self.thr, L)
                t[s[j]:e[j]] -= self.thr[j]
                m = int(self.length[j])
                a = lexmin_sorted_window(t, m)
                self.move(j, a, a + m)

    # -- requests ----------------------------------------------------------------------------------
    def _route(self, c: int) -> list | None:
        from .routing import ALLOC_PENALTY_S, NoPathError, petals_hop_costs, shortest_hops

        s, e = self.spans_available()
        if self.routing == "petals":
            A, B = petals_hop_costs(self.inst, c, e)
        else:
            A, B = self.A[c], self.B
        penalty = np.where(self.free < e - s, ALLOC_PENALTY_S, 0.0)
        try:
            hops = shortest_hops(s, e, self.inst.num_blocks, A, B, penalty)[0]
        except NoPathError:  # some block has no available server
            return None
        if any(self.free[j] < b - a for j, a, b in hops):
            return None
        return hops

    def _dispatch(self) -> None:
        waiting = len(self.queue)
        for _ in range(waiting):
            i, c = self.queue.popleft()
            hops = self._route(c)
            if hops is None:
                self.queue.append((i, c))
                continue
            for j, a, b in hops:
                self.free[j] -= b - a
            proc = self.env.process(self._serve(i, c, hops))
            self.running[i] = (proc, hops)

    def _serve(self, i: int, c: int, hops: list):
        import simpy

        from .routing import petals_retry_delay

        try:  # the one request-time model; step by step where servers share their GPU
            w = self.inst.workload
            servers = np.array([j for j, _, _ in hops])
            blocks = np.array([b - a for _, a, b in hops], dtype=float)
            yield from self.jobs.run(servers, blocks, self.comm[c], w.input_tokens_mean, w.output_tokens_mean,
                                     lambda: None)
            self.done[i] = self.env.now
        except simpy.Interrupt:
            self.failed += 1
            self.attempts[i] += 1
            delay = petals_retry_delay(self.attempts[i] - 1)
            self.env.process(self._retry(i, c, delay))
        finally:
            self.running.pop(i, None)
            for j, a, b in hops:
                if self.start[j] <= a and b <= self.end[j] and self.status[j] != "offline":
                    self.free[j] = min(self.free[j] + (b - a), self.cap[j])
            self._dispatch()

    def _retry(self, i: int, c: int, delay: float):
        yield self.env.timeout(delay)
        self.queue.append((i, c))
        self._dispatch()

    def run(self, arrivals: np.ndarray, clients: np.ndarray, schedule: list[tuple[float, int, str]]) -> None:
        self.done = np.full(arrivals.size, np.nan)
        self.horizon = float(arrivals[-1]) if arrivals.size else 0.0

        def source():
            for i, t in enumerate(arrivals):
                yield self.env.timeout(t - self.env.now)
                self.queue.append((i, int(clients[i])))
                self._dispatch()

        def churn():
            for t, j, kind in schedule:
                if t > self.horizon:
                    break
                yield self.env.timeout(max(t - self.env.now, 0.0))
                (self.leave if kind == "leave" else self.join)(j)
                self.after_event()
                self._dispatch()
            # the end of the churn window: every server comes back, so every request completes
            yield self.env.timeout(max(self.horizon - self.env.now, 0.0))
            for j in np.flatnonzero(self.status == "offline"):
                self.join(int(j))
            self._dispatch()

        self.env.process(source())
        self.env.process(churn())
        if self.strategy == "petals":
            for j in range(self.inst.num_servers):
                self.env.process(self.rebalancer(j))
        horizon = self.horizon
        give_up = max(10 * horizon, horizon + 36_000.0)  # requests a never-healed swarm cannot serve
        while np.isnan(self.done).any() and self.env.peek() < give_up:
            self.env.step()
        if self._unserved_since is not None:
            self.unserved_s += horizon - self._unserved_since


def simulate_churn(inst: Instance, strategy: Literal["static", "petals", "replan"], *, requests: int = 2000,
                   seed: int = 0, mean_uptime_s: float = 3600.0, mean_downtime_s: float = 600.0,
                   schedule: list[tuple[float, str, str]] | None = None, load_s_per_block: float = 2.0,
                   max_moves: int = 1, balance_quality: float = 0.75, balance_check_period_s: float = 120.0,
                   replan_time_limit_s: float = 10.0, replan_when: Literal["broken", "always"] = "always",
                   downtime_s_per_block: float | Literal["model"] = 0.1, routing: Literal["petals", "optim"] = "petals",
                   single_server_s_per_block: float = 1.0, plan_horizon_s: float | None = None,
                   initial: Solution | None = None) -> ChurnResult:
    """Simulate ``requests`` Poisson arrivals on a swarm with churn, the placement adapting as
    ``strategy`` says (module docstring).

    Parameters
    ----------
    inst : Instance
    strategy : {"static", "petals", "replan"}
    requests : int
        Arrivals at the instance's total rate; the churn schedule spans their arrival horizon.
    seed : int
        Seeds arrivals, lifetimes and PETALS' checks; the same seed gives every strategy the same
        arrivals and the same joins and leaves.
    mean_uptime_s, mean_downtime_s : float
        Exponential online and offline periods of each server.
    schedule : list of (time_s, server id, "leave" | "join"), optional
        Replaces the exponential lifetimes.
    load_s_per_block : float
        Seconds a server needs to load one block it did not hold (download and load).
    max_moves : int
        ``replan``: servers re-planned after each event.
    replan_when : {"always", "broken"}
        ``replan``: after every join and leave, or only when some block has no available server.
    downtime_s_per_block : float or "model"
        ``replan``: the price of each block a move loads, in seconds of mean inference time
        (:func:`optim.replan.replan_spans`). The defaults (1 move, 0.1 s per block, always) were
        chosen by a scan on chains-europe-20 with seed 0 (``benchmarks/churn.py``: 0, 0.03, 0.1 and
        0.3 s per block); the benchmark reports other seeds. ``"model"``: each server's price
        from the load, re-derived at every re-planning (:func:`optim.replan.move_prices`).
    single_server_s_per_block : float
        ``replan``: the price of each block only one server holds, in seconds of mean inference time
        (:func:`optim.replan.plan_cost`): a leave of that server leaves the block without a server
        until another loads it. The default, 1 s, was chosen by a scan on chains-europe-20 with seed
        0 (0, 0.03, 0.1, 0.3, 1 and 3 s: time unserved 113, 214, 80, 42, 0, 0 s; mean 24.4, 28.5,
        25.7, 28.3, 25.6, 29.2 s), when waiting for cache was first come first served across all
        servers; the benchmark reports other seeds. Scanned again with each request waiting only for
        its own servers (:func:`optim.perf.admission_times`), seed 0, both prices (0-0.3 s and 0.3-3 s),
        the lowest mean with at most half of PETALS' blocks moved is 0.03 / 0.3 s (26.97 s, 440 blocks,
        87 s unserved, against 36.47 s, 350 blocks, 5 s for the defaults); over seeds 0-2 it gives
        35.33 s, 1,272 blocks, 179 s unserved against the defaults' 35.94 s, 1,060 blocks, 9 s, so
        the defaults were kept.
    routing : {"petals", "optim"}
        How requests pick their path: PETALS' min-latency routing, or optim's whole-request costs;
        re-planning scores placements under the same routing.
    balance_quality, balance_check_period_s : float
        ``petals``: the rebalancing threshold and the mean period of each server's check.
    replan_time_limit_s : float
        ``replan``: seconds per re-planning.
    plan_horizon_s : float, optional
        ``replan`` with ``downtime_s_per_block="model"``: the seconds a new placement is expected
        to last, over which a move's gain is weighed against its loading; default
        ``mean_uptime_s``, the mean time a server stays online.
    initial : Solution, optional
        The starting placement of every strategy; default PETALS' (so that the strategies differ only
        in how they adapt).

    Returns
    -------
    ChurnResult

    Raises
    ------
    InvalidOptionError
        An unknown strategy, a schedule naming an unknown server or event, or non-positive times.
    """
    from .solvers import solve

    if strategy not in STRATEGIES:
        raise InvalidOptionError(f"strategy: {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    for name, v in (("mean_uptime_s", mean_uptime_s), ("mean_downtime_s", mean_downtime_s)):
        if not 0 < v < float("inf"):
            raise InvalidOptionError(f"{name}: {v!r}; expected a positive number of seconds")
    from .replan import check_prices

    plan_horizon_s = mean_uptime_s if plan_horizon_s is None else plan_horizon_s
    check_prices(downtime_s_per_block, plan_horizon_s, load_s_per_block=load_s_per_block,
                 balance_quality=balance_quality, single_server_s_per_block=single_server_s_per_block)
    if not 0 < balance_check_period_s < float("inf") or not 0 < replan_time_limit_s < float("inf"):
        raise InvalidOptionError("balance_check_period_s, replan_time_limit_s: expected positive seconds")
    if routing not in ("petals", "optim"):
        raise InvalidOptionError(f"routing: {routing!r}; expected petals or optim")
    if replan_when not in ("always", "broken"):
        raise InvalidOptionError(f"replan_when: {replan_when!r}; expected always or broken")
    for name, v, lo in (("requests", requests, 1), ("max_moves", max_moves, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise InvalidOptionError(f"{name}: {v!r}; expected an integer >= {lo}")
    rng = np.random.default_rng(seed)
    lam = inst.total_arrival_rate
    arrivals = np.cumsum(rng.exponential(1.0 / lam, requests))
    clients = rng.choice(inst.num_clients, requests, p=inst.arrival_rates / lam)
    horizon = float(arrivals[-1])
    if schedule is None:
        events = churn_schedule(inst, horizon, mean_uptime_s, mean_downtime_s, np.random.default_rng([seed, 1]))
    else:
        events = []
        for k, (t, sid, kind) in enumerate(schedule):
            if sid not in inst.server_index:
                raise InvalidOptionError(f"schedule[{k}]: server {sid!r} is not in the instance")
            if kind not in ("leave", "join"):
                raise InvalidOptionError(f"schedule[{k}]: event {kind!r}; expected leave or join")
            events.append((float(t), inst.server_index[sid], kind))
        events.sort()
    sol = initial or solve(inst, "petals")
    if not sol.has_solution:
        raise InvalidOptionError(f"initial placement: {sol.status.value} ({sol.message})")
    swarm = _Swarm(inst, sol, strategy, np.random.default_rng([seed, 2]), load_s_per_block=load_s_per_block,
                   max_moves=max_moves, balance_quality=balance_quality, balance_check_period_s=balance_check_period_s,
                   replan_time_limit_s=replan_time_limit_s, replan_when=replan_when,
                   downtime_s_per_block=downtime_s_per_block, routing=routing,
                   single_server_s_per_block=single_server_s_per_block, plan_horizon_s=plan_horizon_s)
    swarm.run(arrivals, clients, events)
    done = swarm.done
    ok = ~np.isnan(done)
    resp = done[ok] - arrivals[ok]
    summary = {"strategy": strategy, "requests": requests, "completed": int(ok.sum()),
               "response_s": {"mean": float(resp.mean()) if resp.size else None,
                              "median": float(np.median(resp)) if resp.size else None,
                              "p95": float(np.percentile(resp, 95)) if resp.size else None},
               "failed_attempts": swarm.failed, "moves": swarm.moves, "blocks_moved": swarm.blocks_moved,
               "time_unserved_s": swarm.unserved_s, "horizon_s": horizon,
               "leaves": sum(1 for _, _, k in events if k == "leave"),
               "joins": sum(1 for _, _, k in events if k == "join"),
               "load_s_per_block": load_s_per_block, "mean_uptime_s": mean_uptime_s,
               "mean_downtime_s": mean_downtime_s, "max_moves": max_moves if strategy == "replan" else None,
               "downtime_s_per_block": downtime_s_per_block if strategy == "replan" else None,
               "plan_horizon_s": plan_horizon_s if strategy == "replan" and downtime_s_per_block == "model" else None,
               "balance_quality": balance_quality if strategy == "petals" else None}
    return ChurnResult(strategy, summary, swarm.events)

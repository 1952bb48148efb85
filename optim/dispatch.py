"""Dispatch policies over server chains: JFFC, JSQ, SED (arXiv 2604.14993, Alg. 3 and its baselines).

Each policy is a small state machine over K chains with service rates mu_k and capacities c_k:
``arrive(client)`` places a job and returns ``(chain, started)``: the chain it starts on, or the chain
whose queue it joined (None for JFFC's central queue) with ``started`` False;
``complete(k)`` frees a slot on chain k and returns k if a waiting job (from the central queue, or
chain k's own) starts there, else None.
They hold counts only (no clock), so a simulator owns time and randomness.

**Several clients.** A chain's job time depends on whose job it is (the client's RTTs to its
servers), so the rates may be given per client, shape (C, K): each policy then judges a job of
client c by ``mu[c]`` (JFFC: the free chain fastest *for that client*). With one row, or rates of
shape (K,), this is the single-orchestrator policy of the paper.

- **JFFC** (Join the Fastest Free Chain, Alg. 3): an arrival goes to the fastest chain with a free
  slot, else to one central FIFO queue; a completion on k starts the head of the queue on k.
  Throughput-optimal: stable iff lambda < sum c_k mu_k (Lemma 3).
- **JSQ** (join the shortest queue): an arrival joins the chain with the fewest jobs (in service and
  waiting) per slot, ties to the faster; each chain serves its own FIFO queue.
- **SED** (smallest expected delay): an arrival joins the chain minimising its expected response
  ``(n_k + 1) / (c_k mu_k)`` when all c_k slots are busy, else ``1 / mu_k``; own FIFO queues.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np


class _Policy:
    name = ""
    central_queue = False  #: True when waiting jobs share one FIFO queue

    def __init__(self, rates: np.ndarray, capacities: np.ndarray):
        #: mu[c, k], jobs/s of chain k for a job of client c, shape (C, K)
        self.mu_by_client = np.atleast_2d(np.asarray(rates, dtype=float))
        self.cap = np.asarray(capacities, dtype=np.int64)
        if self.mu_by_client.shape[1:] != self.cap.shape or self.mu_by_client.ndim != 2 \
                or np.any(~(self.mu_by_client > 0)) or np.any(self.cap < 0):
            raise ValueError("rates (K,) or (C, K) must be positive and capacities (K,) non-negative")
        self.mu = self.mu_by_client[0]  #: the first (or only) client's rates
        self.busy = np.zeros(self.cap.size, dtype=np.int64)

    @property
    def waiting(self) -> int:
        raise NotImplementedError


class JFFC(_Policy):
    """Join the Fastest Free Chain with a central FIFO queue (Alg. 3)."""

    name = "jffc"
    central_queue = True

    def __init__(self, rates, capacities):
        super().__init__(rates, capacities)
        self.orders = np.argsort(-self.mu_by_client, axis=1, kind="stable")  #: per client, fastest first
        self.order = self.orders[0]
        self.queue = 0

    @property
    def waiting(self) -> int:
        return self.queue

    def arrive(self, client: int = 0) -> tuple[int | None, bool]:
        order = self.orders[client]
        free = order[self.busy[order] < self.cap[order]]
        if free.size == 0:
            self.queue += 1
            return None, False
        k = int(free[0])
        self.busy[k] += 1
        return k, True

    def complete(self, k: int) -> int | None:
        if self.queue:
            self.queue -= 1
            return k  # the head of the queue starts on the slot just freed
        self.busy[k] -= 1
        return None


class _LocalQueues(_Policy):
    def __init__(self, rates, capacities):
        super().__init__(rates, capacities)
        self.queued = np.zeros(self.mu.size, dtype=np.int64)

    @property
    def waiting(self) -> int:
        return int(self.queued.sum())

    def _score(self, mu: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def arrive(self, client: int = 0) -> tuple[int | None, bool]:
        mu = self.mu_by_client[client]
        score = self._score(mu)
        score[self.cap == 0] = np.inf
        k = int(np.lexsort((-mu, score))[0])
        if self.busy[k] < self.cap[k]:
            self.busy[k] += 1
            return k, True
        self.queued[k] += 1
        return k, False

    def complete(self, k: int) -> int | None:
        if self.queued[k]:
            self.queued[k] -= 1
            return k
        self.busy[k] -= 1
        return None


class JSQ(_LocalQueues):
    """Join the shortest queue (jobs per slot), per-chain FIFO queues."""

    name = "jsq"

    def _score(self, mu: np.ndarray) -> np.ndarray:
        return (self.busy + self.queued) / np.maximum(self.cap, 1)


class SED(_LocalQueues):
    """Smallest expected delay, per-chain FIFO queues."""

    name = "sed"

    def _score(self, mu: np.ndarray) -> np.ndarray:
        n = self.busy + self.queued
        return np.where(n < self.cap, 1.0 / mu, (n + 1) / (np.maximum(self.cap, 1) * mu))


#: chain dispatch policies (classes over the chains' counts)
POLICIES = {p.name: p for p in (JFFC, JSQ, SED)}


class PathPolicy:
    """A path policy routes each request over the placement's cache slots (no chains).

    The simulator (:class:`optim.simulate.PathSimulation`) owns time, slots and records; it calls
    :meth:`arrive` when a request arrives and :meth:`released` when a request frees its slots. A
    policy starts requests with ``sim.begin(i, hops)``, finds paths with ``sim.route(A, B,
    penalty)``, and may wait with simpy processes on ``sim.env``.
    """

    name = ""

    def arrive(self, sim: Any, i: int) -> None:
        raise NotImplementedError

    def released(self, sim: Any) -> None:
        """Slots were freed (nothing to do by default)."""


#: simulated seconds after which a request still retrying means the load cannot be served
MAX_RETRY_SPAN_S = 86_400.0


class PetalsRouting(PathPolicy):
    """PETALS' client (``InferenceSession.step`` and ``RemoteSequenceManager`` at 22afba62).

    Routing: min-latency Dijkstra (rtt/2 + 18 ms per hop, 1/inference_rps per block, 10 s penalty on
    a server without the session's cache for its whole span). The session's cache is its own
    ``max_length = l_in + l_out`` tokens in every block it runs, out of the server's
    ``attn_cache_tokens`` budget (``cache_by_tokens``). A server that lacks it refuses at once (the
    client sends no ``alloc_timeout``); the client then bans it (hivemind's ``Blacklist``: 15 s, doubled
    at each further failure of that server), keeps the hops before it and re-routes only the failed
    hop's segment, from its first block to its span's end (``_update_sequence``), the hops after it
    kept; it retries at once, then after 1, 2, 4, ... s up to 60 s (``get_retry_delay``). With every way
    banned it waits the same delays. Each request is its own client session, with its own blacklist
    (a blacklist shared by all of a client's requests, with the doubling, bans a busy server for
    minutes after a burst, which the paper's testbed does not show).
    """

    name = "petals"
    #: a PETALS server allocates each session's own ``max_length`` tokens (see :class:`PathSimulation`)
    cache_by_tokens = True

    def _route(self, sim: Any, i: int, banned_until: np.ndarray, first_block: int = 0,
               last_block: int | None = None) -> list | None:
        from .routing import ALLOC_PENALTY_S, petals_hop_costs

        A, B = petals_hop_costs(sim.inst, sim.client[i], sim.end_b)
        short = sim.free < sim.m * sim.demand[i] - 1e-9  # PETALS' check: the session on the whole span
        return sim.route(A, B, np.where(short, ALLOC_PENALTY_S, 0.0), first_block, last_block,
                         banned_until <= sim.env.now)

    def arrive(self, sim: Any, i: int) -> None:
        sim.env.process(self._request(sim, i))

    def _request(self, sim: Any, i: int):
        from .routing import BAN_TIMEOUT_S, petals_retry_delay

        banned_until = np.zeros(sim.inst.num_servers)
        failures = np.zeros(sim.inst.num_servers, dtype=np.int64)
        hops, attempt = self._route(sim, i, banned_until), 0
        arrived = sim.env.now
        while True:
            if sim.env.now - arrived > MAX_RETRY_SPAN_S:
                from .errors import UnstableSystemError

                raise UnstableSystemError(
                    f"a request retried for {MAX_RETRY_SPAN_S / 3600:g} h of simulated time without getting cache on "
                    "a path: the load exceeds what the placement's cache slots hold under PETALS' routing")
            if hops is not None:
                # the first hop whose server lacks the cache, counting the hops before it on the same server
                failed = next((k for k in range(len(hops)) if not sim.fits(i, hops[:k + 1])), None)
                if failed is None:
                    sim.begin(i, hops)
                    return
                j, b, e = hops[failed]
                banned_until[j] = sim.env.now + BAN_TIMEOUT_S * 2.0 ** min(failures[j], 30)
                failures[j] += 1
                yield sim.env.timeout(petals_retry_delay(attempt))
                attempt += 1
                # the failed hop's segment [b, end of its span) is routed again, the other hops kept
                seg = self._route(sim, i, banned_until, b, e)
                hops = None if seg is None else hops[:failed] + seg + hops[failed + 1:]
            else:  # no way around the banned servers: wait, then route the whole path again
                yield sim.env.timeout(max(petals_retry_delay(attempt), 1e-3))
                attempt += 1
                hops = self._route(sim, i, banned_until)


class WaitingShortestPath(PathPolicy):
    """BPRR's WS-RR (arXiv 2512.21884 Sec. 6): hop cost = the time until the server frees enough slots
    for its whole span + the hop's share of the request time; the request then waits for its path.

    The wait t^W_j is read off each server's calendar, as BPRR's arrival-driven simulator keeps it:
    the requests running there free their slots at their expected ends (the model's times; one
    already past its end, slowed by GPU contention, at the end its progress so far points to:
    :meth:`optim.simulate.PathSimulation.expected_end_s`), and the requests already waiting hold theirs from
    their planned start to their planned end, so a newcomer does not count slots that an earlier
    request was promised. t^W_j is the first moment from which the server keeps enough slots free.
    Waiting requests start first come, first served on each server: one starts when its path fits
    and no earlier waiting request shares a server with it (requests on disjoint servers do not
    block each other).
    """

    name = "ws-rr"

    def __init__(self) -> None:
        import collections

        self.queue: Any = collections.deque()  # (request, hops, planned start s, planned end s), in arrival order

    def _wait_until_free(self, sim: Any, j: int, need: float) -> float:
        """Seconds from now until server j keeps ``need`` slots free (3600 s: never)."""
        now = sim.env.now
        if need > sim.cap[j]:
            return 3600.0

        def held(k: int, hops: list) -> float:  # the slots request k holds on server j
            return sum(e - b for jj, b, e in hops if jj == j) * sim.demand[k]

        events = [(max(sim.expected_end_s(t_end, k), now), held(k, hops)) for t_end, hops, k in sim.running]
        for k, hops, t0, t1 in self.queue:
            if h := held(k, hops):
                events += [(max(t0, now), -h), (max(t1, now), h)]
        events = sorted((e for e in events if e[1]), key=lambda ev: (ev[0], -ev[1]))  # frees before takes
        times = [now] + [t for t, _ in events]
        free = np.cumsum([sim.free[j]] + [d for _, d in events])  # slots free from each event on
        ok_from = np.flatnonzero(np.minimum.accumulate(free[::-1])[::-1] >= need - 1e-9)
        return float(times[ok_from[0]] - now) if ok_from.size else 3600.0

    def arrive(self, sim: Any, i: int) -> None:
        inst = sim.inst
        A, B = sim.job_coefficients(i)
        waits = np.array([self._wait_until_free(sim, j, sim.m[j] * sim.demand[i]) if sim.m[j] > 0 else 0.0
                          for j in range(inst.num_servers)])
        hops = sim.route(A, B, waits)
        if hops is None or any(sim.cap[j] < e - b for j, b, e in hops):
            from .errors import UnstableSystemError

            raise UnstableSystemError("WS-RR found no path whose servers can ever hold a request's cache: the "
                                      "placement's cache slots cannot serve this workload")
        start = sim.env.now + max(waits[j] for j, _, _ in hops)
        self.queue.append((i, hops, start, start + sim.times(i, hops)[1]))
        self.released(sim)

    def released(self, sim: Any) -> None:
        import collections

        blocked: set = set()  # servers an earlier waiting request still waits on
        waiting = collections.deque()
        for entry in self.queue:
            i, hops = entry[0], entry[1]
            servers = {j for j, _, _ in hops}
            if not servers & blocked and sim.fits(i, hops):
                sim.begin(i, hops)
            else:
                blocked |= servers
                waiting.append(entry)
        self.queue = waiting


class NSGA2Chains(PathPolicy):
    """NSGA-II chain selection (arXiv 2510.11211): each client's (latency, bottleneck) front of chains
    on the placement, found once by :func:`optim.chain_selection.nsga2_front`; a request takes the
    first chain in preference order (the knee first, :func:`optim.chain_selection.preference_order`)
    whose servers have its cache slots, else waits, first come first served, for one to free."""

    name = "nsga2-chains"

    def __init__(self, weight: float | None = None) -> None:
        import collections

        self.weight = weight
        self.fronts: dict[int, list] = {}
        self.queue: Any = collections.deque()

    def _choices(self, sim: Any, i: int) -> list:
        from .chain_selection import nsga2_front, preference_order

        c = int(sim.client[i])
        if c not in self.fronts:
            front = nsga2_front(sim.inst, sim.start_b, sim.end_b, c)
            if not front:
                from .errors import UnstableSystemError

                raise UnstableSystemError("nsga2-chains: the placement has no chain that covers every block")
            self.fronts[c] = [list(p.hops) for p in preference_order(front, self.weight)]
        return self.fronts[c]

    def _try(self, sim: Any, i: int) -> bool:
        for hops in self._choices(sim, i):
            if sim.fits(i, hops):
                sim.begin(i, hops)
                return True
        return False

    def arrive(self, sim: Any, i: int) -> None:
        choices = self._choices(sim, i)
        if all(any(sim.cap[j] < e - b for j, b, e in h) for h in choices):
            from .errors import UnstableSystemError

            raise UnstableSystemError("nsga2-chains: no chain of the front can ever hold a request's cache")
        if self.queue or not self._try(sim, i):
            self.queue.append(i)

    def released(self, sim: Any) -> None:
        while self.queue and self._try(sim, self.queue[0]):
            self.queue.popleft()


@dataclass(frozen=True)
class PolicyInfo:
    """A simulator policy: its name, whether it dispatches over chains or routes over the
    placement's cache slots (paths), what it does, and the class that implements it."""

    name: str
    kind: Literal["chain", "path"]
    description: str
    factory: Callable[..., Any]


#: every policy the simulator knows, in one place (``optim simulate --policy``, sweep specs); adding
#: one is a class above and a line here
POLICY_REGISTRY: dict[str, PolicyInfo] = {p.name: p for p in (
    PolicyInfo("jffc", "chain", "Join the Fastest Free Chain, central FIFO queue (arXiv 2604.14993 Alg. 3)", JFFC),
    PolicyInfo("jsq", "chain", "join the shortest queue (jobs per slot), per-chain FIFO queues", JSQ),
    PolicyInfo("sed", "chain", "smallest expected delay, per-chain FIFO queues", SED),
    PolicyInfo("petals", "path", "PETALS' min-latency routing with its 10 s penalty, bans and retries",
               PetalsRouting),
    PolicyInfo("ws-rr", "path", "BPRR's waiting-penalised shortest path, FCFS (arXiv 2512.21884 Sec. 6)",
               WaitingShortestPath),
    PolicyInfo("nsga2-chains", "path", "each client's NSGA-II latency-throughput front of chains, the knee first, "
               "FCFS (arXiv 2510.11211)", NSGA2Chains),
)}

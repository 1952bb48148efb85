"""Request-level discrete-event simulation of a solution's server chains.

Requests arrive (Poisson, or the Azure LLM trace scaled to a target rate), a dispatch policy
(:mod:`optim.dispatch`: JFFC, JSQ, SED) sends each to a chain or a queue, and a request holds its
KV-cache slots (m_ij on every server j of its chain) from service start to completion. The chains
are the solution's own or, for solvers without chains, GCA's on its placement (as
:func:`optim.evaluate` does).

**Engine**: simpy (well kept; events are timeouts of per-request processes). Measured on this
project's 2-core machine, 100,000 M/M/10 jobs take 2.0 s in simpy against 0.4 s in a bare heapq loop;
simpy meets the 100,000-requests-in-10-s target, so the library is used.

**Service time** of request i on chain k (``service="model"``): the BPRR inference time of the
chain's path with the request's own lengths (arXiv 2512.21884 Sec. 2: prefill
``sum_j t^I_j + m_ij tau^I_j(l_in,i)``, then ``l_out,i - 1`` decode steps of ``sum_j t_j + m_ij tau_j``),
communication at the request's own client's RTTs; the first token comes after the prefill.
**Several clients**: a chain's times are each client's own, and the policies judge a request by its
client's (JFFC: the free chain fastest for that client; :mod:`optim.dispatch`).
``service="exponential"``: exponential with the chain's Eq. 2 time T_k of arXiv 2604.14993 (the
CTMC's assumption, the T_k ``optim evaluate`` bounds with), to check Theorem 4; with GPU contention
the means are the load-dependent T_k the bounds then use.

**GPU contention**: when some server's ``batching`` is ``none`` or ``continuous``
(:mod:`optim.perf.batching`), the model service runs step by step: each hop's communication, then
the prefill or decode step queued on that server's GPU (one at a time, or batched), so sessions
that share a server slow each other. Otherwise a job is held for its model time in one step.

Records: one row per request (arrival, start, first token, completion, chain, servers, waited);
summary: mean, median, P95, P99 of response, waiting and service time, with 95% confidence
intervals (Student t) over seeded replications.
"""
from __future__ import annotations

import collections
import csv
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Callable

import numpy as np

from .dispatch import POLICY_REGISTRY
from .errors import InvalidOptionError, OptimError, UnstableSystemError
from .options import MAX_COUNT
from .instance import Instance
from .perf.batching import ServerGPU, has_contention, jffc_equilibrium, server_gpus
from .perf.chains import HopCommunication, chain_times_by_client, hop_communication
from .perf.gca import chain_cost_coefficients, greedy_cache_allocation
from .solution import Solution


@lru_cache(maxsize=1)
def azure_trace() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The shipped Azure code trace: arrival times (s from the first), input and output tokens."""
    with resources.files("optim.data").joinpath("azure_code_trace.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    return (np.array([float(r["arrival_s"]) for r in rows]), np.array([int(r["input_tokens"]) for r in rows]),
            np.array([int(r["output_tokens"]) for r in rows]))


def poisson_arrivals(rate: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """n arrival times (s) of a Poisson process of ``rate`` requests/s."""
    return np.cumsum(rng.exponential(1.0 / rate, n))


def trace_arrivals(rate: float, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first n trace requests with times scaled so the mean rate is ``rate``; the trace is
    repeated (shifted by its span) when n exceeds its 8,819 requests."""
    t, lin, lout = azure_trace()
    reps = int(np.ceil(n / t.size))
    span = t[-1] + (t[-1] - t[0]) / (t.size - 1)
    times = np.concatenate([t + r * span for r in range(reps)])[:n]
    scale = (t.size / span) / rate
    return times * scale, np.tile(lin, reps)[:n], np.tile(lout, reps)[:n]


def trace_lengths(inst: Instance, n: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Input and output tokens of the first n trace requests, each fitted to the model's context.

    A request whose prompt plus output exceeds ``inst.model.context_tokens`` (LLaMA-2: 4,096; the
    Azure code trace has prompts up to 7,437 tokens) keeps its output (at most the context less one
    token) and has its prompt cut to the rest, as a server must: the model takes no longer sequence.

    Returns
    -------
    l_in, l_out : ndarray, shape (n,)
        Tokens per request.
    cut : int
        How many prompts were cut (0 when the model states no context).
    """
    _, l_in, l_out = trace_arrivals(1.0, n)
    ctx = inst.model.context_tokens
    if ctx is None:
        return l_in, l_out, 0
    l_out = np.minimum(l_out, ctx - 1)
    over = l_in + l_out > ctx
    return np.where(over, ctx - l_out, l_in), l_out, int(np.count_nonzero(over))


@dataclass
class ChainSet:
    """Chains as arrays, fastest first (at the rate-weighted client): servers and blocks per hop,
    capacity c_k, and per client c the parts of the BPRR request time (prefill fixed and per input
    token, decode per token) and Eq. 2's T_k, shapes (C, K): a chain's communication is its
    client's own (:func:`optim.perf.chains.chain_times_by_client`)."""

    servers: list[np.ndarray]
    blocks: list[np.ndarray]
    capacity: np.ndarray
    prefill_s: np.ndarray  #: (C, K): sum_j prefill communication + m_ij t_o,j
    prefill_s_per_token: np.ndarray  #: (C, K): sum_j prefill communication per token + m_ij t^I_j
    decode_s_per_token: np.ndarray  #: (C, K): sum_j decode-step communication + m_ij tau_j
    eq2_s: np.ndarray  #: (K,): T_k of Eq. 2 at the workload's mean lengths, rate-weighted over the clients
    eq2_by_client: np.ndarray  #: (C, K): T_k of Eq. 2 for a job of each client
    comm: list[HopCommunication]  #: per client, per-hop communication
    loaded_s: np.ndarray | None = None  #: T_k with GPU contention at lambda (what evaluate bounds with), if any

    def first_token_s(self, k: int, l_in: float, client: int = 0) -> float:
        return float(self.prefill_s[client, k] + self.prefill_s_per_token[client, k] * l_in)

    def service_s(self, k: int, l_in: float, l_out: float, client: int = 0) -> float:
        return self.first_token_s(k, l_in, client) + float(self.decode_s_per_token[client, k]) * (l_out - 1)


def chains_of(inst: Instance, sol: Solution) -> ChainSet:
    """The solution's chains, or GCA's on its placement; as a :class:`ChainSet`, fastest first (Eq. 2)."""
    if not sol.has_solution:
        raise OptimError(f"solution has no placement (status {sol.status.value}): nothing to simulate")
    idx = inst.server_index
    if sol.chains:
        raw = [([idx[h.server] for h in ch.hops], [h.end - h.start for h in ch.hops], ch.capacity) for ch in sol.chains]
    else:
        start, end, slots = sol.spans(inst)
        raw = [([j for j, _, _ in ch.hops], [e - b for _, b, e in ch.hops], ch.capacity)
               for ch in greedy_cache_allocation(inst, start, end, slots)]
    raw = [r for r in raw if r[2] > 0]
    if not raw:
        raise OptimError("the solution's placement yields no chain with a free cache slot: nothing can be served")
    A, B = chain_cost_coefficients(inst)
    pf, pt = inst.prefill_s_fixed, inst.prefill_s_per_token
    servers = [np.array(r[0]) for r in raw]
    blocks = [np.array(r[1], dtype=float) for r in raw]
    if inst.communication.relay == "direct":  # a hop's communication depends on the hop before
        from .perf.chains import chain_job_time

        eq2 = np.array([chain_job_time(inst, s, b) for s, b in zip(servers, blocks)])
    else:
        eq2 = np.array([float(np.sum(A[s] + B[s] * b)) for s, b in zip(servers, blocks)])
    order = np.argsort(eq2, kind="stable")
    servers = [servers[k] for k in order]
    blocks = [blocks[k] for k in order]
    # the parts of the one request-time model (optim.perf.chains), per request's own lengths: at the
    # workload's mean lengths service_s equals T_k (eq2_s) in both communication models
    comm = [hop_communication(inst, c) for c in range(inst.num_clients)]
    fixed, per_input, per_step = (np.zeros((inst.num_clients, len(servers))) for _ in range(3))
    for c, com in enumerate(comm):
        parts = [com.hops(inst, s) for s in servers]
        fixed[c] = [np.sum(h[0] + pf[s] * b) for h, s, b in zip(parts, servers, blocks)]
        per_input[c] = [np.sum(h[1] + pt[s] * b) for h, s, b in zip(parts, servers, blocks)]
        per_step[c] = [np.sum(h[2] + inst.decode_s[s] * b) for h, s, b in zip(parts, servers, blocks)]
    capacity = np.array([raw[k][2] for k in order], dtype=np.int64)
    loaded = None
    if has_contention(inst):
        try:
            loaded = jffc_equilibrium(inst, servers, blocks, eq2[order], capacity, inst.total_arrival_rate)[0]
        except UnstableSystemError:
            loaded = None
    return ChainSet(servers, blocks, capacity, fixed, per_input, per_step, eq2[order],
                    chain_times_by_client(inst, servers, blocks), comm, loaded)


def job_parts_s(inst: Instance, comm: HopCommunication, servers, blocks, l_in: float) -> tuple[float, float]:
    """One job on hops ``servers`` running ``blocks`` each, without GPU contention (the one
    request-time model, :mod:`optim.perf.chains`): seconds to its first token (prefill through every
    hop) and per decode step (every hop), for a prompt of ``l_in`` tokens."""
    pf, pt, dec = comm.hops(inst, servers)
    s, m = np.asarray(servers, dtype=int), np.asarray(blocks, dtype=float)
    prefill = np.sum(pf + pt * l_in + m * (inst.prefill_s_fixed[s] + inst.prefill_s_per_token[s] * l_in))
    step = np.sum(dec + m * inst.decode_s[s])
    return float(prefill), float(step)


class _SharedGPU:
    """One server's GPU in the simulation: steps queue first come, first served; a pass runs one
    step (``none``) or every waiting step (``continuous``), for :meth:`ServerGPU.pass_time_s`."""

    def __init__(self, env, gpu: ServerGPU):
        self.env, self.gpu = env, gpu
        self.waiting: collections.deque = collections.deque()
        self.busy = False
        self.busy_s = 0.0

    def step(self, blocks: float, tokens: float, prefill: bool):
        """An event that fires when this step (``tokens`` input tokens for a prefill, else one
        decode token, through ``blocks`` blocks) has run."""
        done = self.env.event()
        self.waiting.append((blocks, tokens, prefill, done))
        if not self.busy:
            self._start()
        return done

    def _start(self) -> None:
        if self.gpu.batching == "continuous":
            batch = list(self.waiting)
            self.waiting.clear()
        else:
            batch = [self.waiting.popleft()]
        m = np.array([b[0] for b in batch], dtype=float)
        tok = np.array([b[1] for b in batch], dtype=float)
        pre = np.array([b[2] for b in batch], dtype=bool)
        dur = self.gpu.pass_time_s(m, tok, pre)
        self.busy = True
        self.busy_s += dur
        self.env.timeout(dur).callbacks.append(lambda _: self._finish(batch))

    def _finish(self, batch: list) -> None:
        for *_, done in batch:
            done.succeed()
        self.busy = False
        if self.waiting:
            self._start()


class _IdealGPU:
    """A server whose sessions run as if alone (``batching = "ideal"``): a step takes its own time."""

    def __init__(self, env, gpu: ServerGPU):
        self.env, self.gpu = env, gpu

    def step(self, blocks: float, tokens: float, prefill: bool):
        return self.env.timeout(self.gpu.pass_time_s(np.array([blocks]), np.array([tokens]), np.array([prefill])))

    busy_s = None  #: an ideal server runs its sessions side by side: no busy time to report


class JobRunner:
    """Runs one request's job over its hops in simulated time, with the one request-time model.

    When every server is ``ideal`` the job is two timeouts (to the first token, then to the end).
    Otherwise it runs step by step: for each hop the communication, then the step on the server's
    GPU (:class:`_SharedGPU`), prefill through every hop, then ``l_out - 1`` decode rounds; the
    sessions that share a server slow each other as its ``batching`` says (:mod:`optim.perf.batching`).
    A job first spends ``setup_s`` seconds being set up (holding its cache; see :func:`simulate`).
    """

    def __init__(self, env, inst: Instance, rng: np.random.Generator, setup_s: float = 0.0):
        self.env, self.inst, self.rng, self.setup_s = env, inst, rng, setup_s
        self.contention = has_contention(inst)
        self.gpus = ([(_SharedGPU if g.batching != "ideal" else _IdealGPU)(env, g) for g in server_gpus(inst)]
                     if self.contention else None)

    def run(self, servers: np.ndarray, blocks: np.ndarray, comm: HopCommunication, l_in: float, l_out: float,
            first_token: Callable[[], None], progress: Callable[[int, int], None] | None = None):
        """A simpy process body: the job of one request; calls ``first_token()`` after the prefill,
        and with GPU contention ``progress(done, steps)`` after the prefill and each decode round
        (decode rounds done, of ``steps``)."""
        env, inst = self.env, self.inst
        if self.setup_s:
            yield env.timeout(self.setup_s)
        if self.gpus is None:
            pf, step = job_parts_s(inst, comm, servers, blocks, l_in)
            yield env.timeout(pf)
            first_token()
            yield env.timeout(step * (l_out - 1))
            return
        pf, pt, dec = comm.hops(inst, servers)
        for h, (j, m) in enumerate(zip(servers, blocks)):
            yield env.timeout(pf[h] + pt[h] * l_in)
            yield self.gpus[j].step(m, l_in, True)
        first_token()
        steps = l_out - 1
        steps = int(steps) + int(self.rng.random() < steps - int(steps))  # a fractional mean length, unbiased
        if progress is not None:
            progress(0, steps)
        for done in range(1, steps + 1):
            for h, (j, m) in enumerate(zip(servers, blocks)):
                if dec[h] > 0:
                    yield env.timeout(dec[h])
                yield self.gpus[j].step(m, 1.0, False)
            if progress is not None:
                progress(done, steps)

    def busy_s(self) -> np.ndarray | None:
        """Seconds each server's GPU has been running steps so far, shape (J,); NaN for an ``ideal``
        server (its sessions run side by side); None when no server shares its GPU."""
        if self.gpus is None:
            return None
        return np.array([np.nan if g.busy_s is None else g.busy_s for g in self.gpus])


@dataclass
class SimulationResult:
    """Per-request records (dict of equal-length arrays; ``to_dataframe()`` for pandas) and summaries."""

    records: dict[str, np.ndarray]
    summary: dict[str, Any]
    replications: list[dict[str, Any]] = field(default_factory=list)

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame(self.records)


def _draw_arrivals(inst: Instance, draw: tuple[str, str], n: int, rng: np.random.Generator):
    """Arrival times (s), input and output lengths, and client index of n requests.

    ``draw`` is (arrival process, lengths): ``poisson`` or ``trace`` times; ``instance`` lengths (the
    workload's means, every request alike) or ``trace`` lengths (each request its own, from the
    Azure trace).
    """
    arrivals, lengths = draw
    lam, w = inst.total_arrival_rate, inst.workload
    if arrivals == "poisson":
        t_arr = poisson_arrivals(lam, n, rng)
    else:
        t_arr = trace_arrivals(lam, n)[0]
    if lengths == "trace":
        l_in, l_out, _ = trace_lengths(inst, n)
    else:
        l_in, l_out = np.full(n, w.input_tokens_mean), np.full(n, w.output_tokens_mean)
    return t_arr, l_in, l_out, rng.choice(inst.num_clients, n, p=inst.arrival_rates / lam)


def _records(inst: Instance, client, t_arr, start, first, done, chain, servers, l_in, l_out) -> dict[str, np.ndarray]:
    """The per-request record columns."""
    return {"request": np.arange(t_arr.size), "client": np.array([inst.clients[c].id for c in client]),
            "arrival_s": t_arr, "start_s": start, "first_token_s": first, "completion_s": done, "chain": chain,
            "servers": servers, "input_tokens": l_in, "output_tokens": l_out,
            "waited_s": np.maximum(start - t_arr, 0.0), "response_s": done - t_arr, "service_s": done - start}


def _simulate_once(inst: Instance, chains: ChainSet, policy: str, arrivals: tuple[str, str], n: int,
                   rng: np.random.Generator,
                   service: str, debug: bool, slots: np.ndarray | None,
                   setup_s: float = 0.0) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """One replication over the chains: the per-request records and each server's GPU busy seconds
    (:meth:`JobRunner.busy_s`)."""
    import simpy

    w = inst.workload
    t_arr, l_in, l_out, client = _draw_arrivals(inst, arrivals, n, rng)
    mean_T = mean_service_s(chains, inst, service) + setup_s  # (C, K)
    pol = POLICY_REGISTRY[policy].factory(1.0 / mean_T, chains.capacity)
    start = np.full(n, np.nan)
    first = np.full(n, np.nan)
    done = np.full(n, np.nan)
    chain_of = np.full(n, -1)
    expo = rng.exponential(1.0, n) if service == "exponential" else None
    central: collections.deque = collections.deque()
    local = [collections.deque() for _ in range(len(chains.servers))]
    in_use = np.zeros(inst.num_servers, dtype=np.int64)
    env = simpy.Environment()

    def check():
        if slots is not None and np.any(in_use > slots):
            j = int(np.argmax(in_use - slots))
            raise AssertionError(f"cache slots over capacity on server {inst.servers[j].id}: {in_use[j]} > {slots[j]}")

    jobs = JobRunner(env, inst, rng, setup_s)

    def serve(i: int, k: int):
        start[i], chain_of[i] = env.now, k
        if debug:
            np.add.at(in_use, chains.servers[k], chains.blocks[k].astype(np.int64))
            check()
        c = client[i]
        if service == "exponential":
            dur = mean_T[c, k] * expo[i]
            first[i] = env.now + dur * chains.first_token_s(k, w.input_tokens_mean, c) / chains.service_s(
                k, w.input_tokens_mean, w.output_tokens_mean, c)
            yield env.timeout(dur)
        else:
            yield from jobs.run(chains.servers[k], chains.blocks[k], chains.comm[c], l_in[i], l_out[i],
                                lambda: first.__setitem__(i, env.now))
        done[i] = env.now
        if debug:
            np.subtract.at(in_use, chains.servers[k], chains.blocks[k].astype(np.int64))
        if pol.complete(k) is not None:
            nxt = central.popleft() if pol.central_queue else local[k].popleft()
            env.process(serve(nxt, k))

    def source():
        for i in range(n):
            yield env.timeout(t_arr[i] - env.now)
            k, started = pol.arrive(client[i])
            if started:
                env.process(serve(i, k))
            elif k is None:
                central.append(i)
            else:
                local[k].append(i)

    env.process(source())
    env.run()
    if debug and (np.isnan(done).any() or in_use.any()):
        raise AssertionError("requests lost or slots not released at the end of the run")
    return _records(inst, client, t_arr, start, first, done, chain_of,
                    np.array(["->".join(inst.servers[j].id for j in chains.servers[k]) for k in chain_of]), l_in,
                    l_out), (jobs.busy_s() if service == "model" else None)


class PathSimulation:
    """The state a path policy works on: time (simpy), the placement's free cache slots, the
    requests' draws and records. Path policies (:class:`optim.dispatch.PathPolicy`) call
    :meth:`begin` to start a request on hops, :meth:`route` for a shortest path, and read
    ``free``, ``running``, ``demand``, ``env``; the simulation calls the policy's ``arrive`` and
    ``released``.

    **Cache per request.** A slot is one session's cache in one block at the workload's maximum
    lengths (``Instance.cache_bytes_per_block_session``). A request holds ``demand[i]`` slots in
    every block it runs: 1 (the papers' reservation at the maximum lengths), or, for a policy whose
    ``cache_by_tokens`` is true (PETALS, whose server allocates ``max_length = l_in + l_out`` tokens
    per session from its ``attn_cache_tokens`` budget: ``MemoryCache`` at 22afba62), its own
    ``(l_in + l_out) / (l_in,max + l_out,max)``, at most 1, so short sessions share a server.
    """

    def __init__(self, inst: Instance, sol: Solution, arrivals: tuple[str, str], n: int, rng: np.random.Generator,
                 debug: bool, setup_s: float = 0.0):
        import simpy

        self.inst, self.debug, self.n, self.setup_s = inst, debug, n, setup_s
        self.start_b, self.end_b, self.cap = (a.astype(np.int64) for a in sol.spans(inst))
        self.m = self.end_b - self.start_b
        self.t_arr, self.l_in, self.l_out, self.client = _draw_arrivals(inst, arrivals, n, rng)
        self.comm = [hop_communication(inst, c) for c in range(inst.num_clients)]
        self.free = self.cap.astype(float)
        self.demand = np.ones(n)  #: slots per block request i holds (see the class docstring)
        self.running: list[tuple[float, list, int]] = []  # (finish time, hops, request) of requests holding slots
        self.start, self.first, self.done = (np.full(n, np.nan) for _ in range(3))
        self.hops_of = np.empty(n, dtype=object)
        self.rounds: dict[int, tuple[int, int]] = {}  # request -> (decode rounds done, of how many), once prefilled
        self.planned: dict[int, tuple[float, float]] = {}  # running request -> its times (self.times) on its hops
        self.env = simpy.Environment()
        self.jobs = JobRunner(self.env, inst, rng, setup_s)

    def times(self, i: int, hops: list) -> tuple[float, float]:
        """Time to first token and whole-request time of request i on ``hops`` without GPU contention
        (the one request-time model, :mod:`optim.perf.chains`), its set-up included, seconds."""
        pre, dec = job_parts_s(self.inst, self.comm[self.client[i]], [j for j, _, _ in hops],
                               [e - b for _, b, e in hops], self.l_in[i])
        pre += self.setup_s
        return pre, pre + (self.l_out[i] - 1) * dec

    def job_coefficients(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Request i's job time on server j running m blocks, ``A[j] + B[j] m`` seconds, shape (J,)
        each, at its own lengths and without contention (:func:`optim.perf.job_cost_coefficients`)."""
        inst, com, l_in, steps = self.inst, self.comm[self.client[i]], self.l_in[i], self.l_out[i] - 1
        A = com.prefill_s + com.prefill_s_per_token * l_in + steps * com.decode_s
        B = inst.prefill_s_fixed + inst.prefill_s_per_token * l_in + steps * inst.decode_s
        return A, B

    def expected_end_s(self, planned_end: float, i: int) -> float:
        """When running request i is expected to end, as a server tracking it can say (BPRR's remaining
        time ``T^j_r(t)``, arXiv 2512.21884 Sec. 6): its planned end (the contention-free model) while
        that is ahead; once the job is late (GPU contention slowed it), now plus its remaining work
        at the pace it has kept: ``elapsed x (T - done) / done``, with ``done`` the contention-free
        time of the part it has run (prefill, then decode rounds) and T its whole time; a job still
        in its prefill is given its whole time T again."""
        now = self.env.now
        if planned_end >= now:
            return planned_end
        first, total = self.planned[i]
        done = 0.0
        if i in self.rounds:
            k, steps = self.rounds[i]
            done = first + (total - first) * (k / steps if steps else 1.0)
        if done <= 0.0:
            return now + total
        return now + (now - self.start[i]) * max(total - done, 0.0) / done

    def fits(self, i: int, hops: list) -> bool:
        """Whether every server of ``hops`` has request i's cache free now (all its hops there
        together: a re-routed path may use one server twice)."""
        need: dict[int, float] = {}
        for j, b, e in hops:
            need[j] = need.get(j, 0.0) + (e - b) * self.demand[i]
        return all(self.free[j] >= n - 1e-9 for j, n in need.items())

    def begin(self, i: int, hops: list) -> None:
        """Start request i on ``hops``: take the slots, hold them for its whole time."""
        for j, b, e in hops:
            self.free[j] -= (e - b) * self.demand[i]
        if self.debug and np.any(self.free < -1e-9):
            raise AssertionError("cache slots over-committed")
        self.planned[i] = self.times(i, hops)
        dur = self.planned[i][1]
        self.start[i], self.hops_of[i] = self.env.now, hops
        self.running.append((self.env.now + dur, hops, i))  # the finish time policies expect (no contention)
        self.env.process(self._serve(i, hops))

    def _serve(self, i: int, hops: list):
        servers = np.array([j for j, _, _ in hops])
        blocks = np.array([e - b for _, b, e in hops], dtype=float)
        yield from self.jobs.run(servers, blocks, self.comm[self.client[i]], self.l_in[i], self.l_out[i],
                                 lambda: self.first.__setitem__(i, self.env.now),
                                 lambda k, steps: self.rounds.__setitem__(i, (k, steps)))
        self.rounds.pop(i, None)
        self.planned.pop(i, None)
        self.done[i] = self.env.now
        for j, b, e in hops:
            self.free[j] += (e - b) * self.demand[i]
        self.running.remove(next(r for r in self.running if r[2] == i))
        self.policy.released(self)

    def route(self, A: np.ndarray, B: np.ndarray, penalty: np.ndarray, first_block: int = 0,
              last_block: int | None = None, usable: np.ndarray | None = None) -> list | None:
        """Cheapest hops from block ``first_block`` to ``last_block`` (default L) over the ``usable``
        servers (all by default), a server's span cut to that range; None when there is no way."""
        from .routing import NoPathError, shortest_hops

        last = self.inst.num_blocks if last_block is None else last_block
        ok = (self.end_b > first_block) & (self.start_b < last) & (usable if usable is not None else True)
        s = np.where(ok, np.maximum(self.start_b, first_block) - first_block, 0)
        e = np.where(ok, np.minimum(self.end_b, last) - first_block, 0)
        try:
            hops = shortest_hops(s, e, last - first_block, A, B, penalty)[0]
        except NoPathError:
            return None
        return [(j, b + first_block, f + first_block) for j, b, f in hops]

    def run(self, policy: Any) -> dict[str, np.ndarray]:
        """Replay the arrivals through ``policy``; return the per-request records."""
        self.policy = policy
        if getattr(policy, "cache_by_tokens", False):
            w = self.inst.workload
            self.demand = np.minimum((self.l_in + self.l_out) / (w.input_tokens_max + w.output_tokens_max), 1.0)

        def source():
            for i in range(self.n):
                yield self.env.timeout(self.t_arr[i] - self.env.now)
                policy.arrive(self, i)

        self.env.process(source())
        self.env.run()
        if self.debug and (np.isnan(self.done).any() or not np.allclose(self.free, self.cap)):
            raise AssertionError("requests lost or slots not released at the end of the run")
        self.gpu_busy_s = self.jobs.busy_s()  #: each server's GPU busy seconds (JobRunner.busy_s)
        names = np.array(["->".join(self.inst.servers[j].id for j, _, _ in h) for h in self.hops_of])
        return _records(self.inst, self.client, self.t_arr, self.start, self.first, self.done, np.full(self.n, -1),
                        names, self.l_in, self.l_out)


def _simulate_paths(inst: Instance, sol: Solution, policy: str, arrivals: tuple[str, str], n: int,
                    rng: np.random.Generator,
                    debug: bool, setup_s: float = 0.0) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Path-based routing on the placement's cache slots, request by request (no chains), with the
    path policy registered as ``policy`` (:data:`optim.dispatch.POLICY_REGISTRY`): the records and
    each server's GPU busy seconds."""
    sim = PathSimulation(inst, sol, arrivals, n, rng, debug, setup_s)
    return sim.run(POLICY_REGISTRY[policy].factory()), sim.gpu_busy_s


def mean_service_s(chains: ChainSet, inst: Instance, service: str) -> np.ndarray:
    """Mean service time of a job of each client on each chain under the chosen service model
    (``model``: the BPRR request time at the workload's mean lengths; ``exponential``: Eq. 2's T_k,
    or with GPU contention the load-dependent T_k that ``optim evaluate`` bounds with, the same for
    every client), seconds, shape (C, K). The chains' total rate at the clients' mix is
    ``sum(chains.capacity / (p @ mean_service_s(...)))`` with p the clients' arrival shares."""
    C = inst.num_clients
    if service == "exponential":
        return chains.eq2_by_client if chains.loaded_s is None else np.tile(chains.loaded_s, (C, 1))
    w = inst.workload
    return np.array([[chains.service_s(k, w.input_tokens_mean, w.output_tokens_mean, c)
                      for k in range(len(chains.servers))] for c in range(C)])


def _stats(x: np.ndarray) -> dict[str, float]:
    return {"mean": float(np.mean(x)), "median": float(np.median(x)), "p95": float(np.percentile(x, 95)),
            "p99": float(np.percentile(x, 99))}


def check_policy(policy: str) -> str:
    """The policy name, or :class:`InvalidOptionError` listing the chain and path policies."""
    if policy not in POLICY_REGISTRY:
        raise InvalidOptionError(f"policy: {policy!r}; expected one of {', '.join(POLICY_REGISTRY)}")
    return policy


def check_simulable(inst: Instance, sol: Solution):
    """Validate a solution against the instance before simulating it; return its evaluation.

    Raises
    ------
    InvalidInstanceError
        The solution has no placement, or fails validation against ``inst`` (a solution of another
        instance, an unknown server, a partial chain, a memory over-commit, ...): every violation is
        named, up to ten.
    """
    from .errors import InvalidInstanceError
    from .validate import evaluate, violation_lines

    if not sol.has_solution:
        raise InvalidInstanceError(f"solution: no placement (status {sol.status.value}): nothing to simulate")
    ev = evaluate(inst, sol)
    if not ev.feasible:
        problems = violation_lines(ev.violations)
        problems.append(f"a solution must pass `optim evaluate` against instance {inst.name!r} before it is simulated")
        raise InvalidInstanceError(problems)
    return ev


def simulate(inst: Instance, sol: Solution, *, policy: str = "jffc", arrivals: str = "poisson",
             requests: int = 10_000, replications: int = 1, seed: int = 0, service: str = "model",
             lengths: str | None = None, warmup_fraction: float = 0.1, debug: bool = False,
             setup_s: float = 0.0, progress: Callable[[int], None] | None = None) -> SimulationResult:
    """Simulate ``requests`` requests through the solution's chains, ``replications`` times.

    Parameters
    ----------
    policy : {"jffc", "jsq", "sed", "petals", "ws-rr"}
        Chain policies dispatch over the chains; ``petals`` and ``ws-rr`` route each request over
        the placement's cache slots (see :func:`_simulate_paths`); ``service`` does not apply to them.
    arrivals : {"poisson", "trace"}
        Poisson at the instance's total rate, or the Azure trace scaled to that rate.
    service : {"model", "exponential"}
    lengths : {"instance", "trace"}, optional
        Token lengths of the requests: the instance's means (every request alike), or each
        request's own from the Azure trace, fitted to the model's context (:func:`trace_lengths`).
        Default: ``trace`` with trace arrivals, else ``instance``. The summary says which
        (``lengths``, ``input_tokens_mean``, ``output_tokens_mean``, and with trace lengths
        ``prompts_cut_to_context``), since trace lengths change every time the model predicts.
    warmup_fraction : float
        Leading share of requests left out of the statistics (the empty-system transient).
    debug : bool
        Check on every event that no server's cache slots are over-committed, and that every
        request completes exactly once.
    setup_s : float
        Seconds each request spends being set up once admitted, before its first step, holding its
        cache (default 0). The BPRR authors' simulator (arXiv 2512.21884's code,
        ``test_general_case_online.m``) adds such a constant "allocation delay" per request, 250 s
        under PETALS and 60 s under CG-BPRR, beside a 70 ms initial delay; it counts in the
        response and service times, in the chains' service rates (JFFC's order and the stability
        check) and in the durations WS-RR plans with.
    progress : callable, optional
        Called with the replication index after each replication.

    Returns
    -------
    SimulationResult
        Records of the first replication; ``summary`` with ``response_s``, ``waiting_s``,
        ``service_s`` statistics (mean, median, p95, p99), each averaged over replications with its
        95% confidence half-width (``mean_ci95``, ``p95_ci95``, ...; Student t; None for one replication).
        With GPU contention (some server's ``batching`` is ``none`` or ``continuous``) and model
        service, ``gpu_utilisation`` gives each such server's share of the run (first arrival to last
        completion) that its GPU was running steps, mean over replications: the load that
        contention turns into waiting for a step.

    Raises
    ------
    InvalidOptionError
        Unknown policy, arrival process or service model, or bad counts.
    InvalidInstanceError
        The solution fails validation against the instance (:func:`check_simulable`).
    UnstableSystemError
        lambda >= nu of the chains (the queue would grow without bound).

    Examples
    --------
    >>> from optim import solve
    >>> from optim.generators import clustered_instance
    >>> from optim.simulate import simulate
    >>> inst = clustered_instance("small")
    >>> res = simulate(inst, solve(inst, "gbp-cr"), policy="jffc", requests=500, seed=0)
    >>> res.summary["requests"], res.summary["response_s"]["mean"] > 0
    (500, True)
    """
    check_policy(policy)
    lengths = lengths or ("trace" if arrivals == "trace" else "instance")
    if lengths not in ("instance", "trace"):
        raise InvalidOptionError(f"lengths: {lengths!r}; expected 'instance' or 'trace'")
    draw = (arrivals, lengths)
    if arrivals not in ("poisson", "trace"):
        raise InvalidOptionError(f"arrivals: {arrivals!r}; expected 'poisson' or 'trace'")
    if service not in ("model", "exponential"):
        raise InvalidOptionError(f"service: {service!r}; expected 'model' or 'exponential'")
    if not (0.0 <= setup_s < 1e9):
        raise InvalidOptionError(f"setup_s: {setup_s!r}; expected seconds, at least 0 and finite")
    if not (1 <= requests <= MAX_COUNT) or not (1 <= replications <= 10_000):
        raise InvalidOptionError(f"requests, replications: {requests}, {replications}; expected 1 to {MAX_COUNT:,} "
                                 "requests and 1 to 10,000 replications")
    check_simulable(inst, sol)
    from .configure import configured_instance

    inst = configured_instance(inst, sol)  # the dtypes and TP degrees the solution chose
    cut = {"prompts_cut_to_context": trace_lengths(inst, requests)[2]} if lengths == "trace" else {}
    if POLICY_REGISTRY[policy].kind == "path":
        return _run_replications(inst, policy, arrivals, requests, replications, seed, warmup_fraction, progress,
                                 lambda rng: _simulate_paths(inst, sol, policy, draw, requests, rng, debug, setup_s),
                                 {"service": "model (per path)", "lengths": lengths, **cut, "setup_s": setup_s,
                                  "gpu_contention": has_contention(inst)})
    chains = chains_of(inst, sol)
    share = inst.arrival_rates / inst.total_arrival_rate
    nu = float(np.sum(chains.capacity / (share @ mean_service_s(chains, inst, service) + setup_s)))
    if inst.total_arrival_rate >= nu:
        raise UnstableSystemError(f"arrival rate {inst.total_arrival_rate:g}/s is not below the chains' total rate "
                                  f"nu = {nu:g}/s: queues grow without bound")
    slots = sol.spans(inst)[2] if debug else None
    return _run_replications(inst, policy, arrivals, requests, replications, seed, warmup_fraction, progress,
                             lambda rng: _simulate_once(inst, chains, policy, draw, requests, rng, service, debug,
                                                        slots, setup_s),
                             {"service": service, "lengths": lengths, **cut, "setup_s": setup_s, "nu_per_s": nu,
                              "gpu_contention": service == "model" and has_contention(inst),
                              "rho": inst.total_arrival_rate / nu, "chains": len(chains.servers)})


def _run_replications(inst, policy, arrivals, requests, replications, seed, warmup_fraction, progress, run_one,
                      extra) -> SimulationResult:
    """Run seeded replications and aggregate their statistics with 95% confidence half-widths."""
    per_rep, first_records, utilisation = [], None, []
    skip = int(warmup_fraction * requests)
    for r in range(replications):
        rec, busy = run_one(np.random.default_rng([seed, r]))
        if busy is not None:  # over the whole run, from the first arrival to the last completion
            utilisation.append(busy / (np.max(rec["completion_s"]) - np.min(rec["arrival_s"])))
        if first_records is None:
            first_records = rec
        per_rep.append({name: _stats(rec[col][skip:]) for name, col in
                        (("response_s", "response_s"), ("waiting_s", "waited_s"), ("service_s", "service_s"))})
        if progress is not None:
            progress(r)
    summary: dict[str, Any] = {"policy": policy, "arrivals": arrivals, "requests": requests,
                               "replications": replications, "seed": seed, **extra,
                               "input_tokens_mean": float(np.mean(first_records["input_tokens"])),
                               "output_tokens_mean": float(np.mean(first_records["output_tokens"]))}
    if utilisation:  # servers that share their GPU: the share of the run it was busy, mean over replications
        u = np.mean(utilisation, axis=0)
        summary["gpu_utilisation"] = {s.id: round(float(x), 4) for s, x in zip(inst.servers, u) if np.isfinite(x)}
    from scipy import stats as st

    for name in ("response_s", "waiting_s", "service_s"):
        entry: dict[str, Any] = {}
        for stat in ("mean", "median", "p95", "p99"):
            vals = np.array([p[name][stat] for p in per_rep])
            entry[stat] = float(vals.mean())
            entry[f"{stat}_ci95"] = (float(st.t.ppf(0.975, vals.size - 1) * vals.std(ddof=1) / np.sqrt(vals.size))
                                     if vals.size > 1 else None)
        summary[name] = entry
    return SimulationResult(first_records, summary, per_rep)

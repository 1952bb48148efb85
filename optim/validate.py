"""The validator: feasibility of any solution, and its metrics under the analytic models.

Feasibility (every violation is listed with the server or path, the constraint and the amount):

- ``span``: each server's blocks ``[start, end)`` lie inside ``[0, L)``;
- ``memory``: blocks plus reserved cache fit, ``s_m m_j + s_c slots_j <= M_j`` (Eq. 13b of
  arXiv 2512.21884; Eq. 1 of arXiv 2604.14993);
- ``coverage``: every block is hosted by at least one server;
- ``path``: every path starts at block 0, ends at block L, each hop continues where the
  previous one ended, adds at least one block, and runs only blocks its server hosts
  (Lemma 1 of arXiv 2512.21884: a_j <= a_i + m_i <= a_j + m_j - 1);
- ``routing``: every client with a positive rate has a path, and each client's paths carry its
  share of the |R| concurrent requests (:func:`optim.perf.request_shares`);
- ``cache``: no single request needs more cache slots on a server than it reserves;
- ``chain``: server chains (if the solution has them) are valid paths whose slots fit,
  ``sum_k m_ij c_k <= slots_j`` (Eq. 3 of arXiv 2604.14993).

Queueing: the chains (the solution's, or GCA's on its placement, :mod:`optim.perf.gca`) give
nu = sum mu_k c_k, rho = lambda / nu and the Theorem-4 bounds on the mean response time under JFFC
(:func:`optim.perf.ctmc.theorem4_bounds`), reported in ``Evaluation.queueing``.

Over-commitment of the cache by the |R| concurrent requests is not infeasible: the excess
requests wait (:mod:`optim.perf.contention`), and the waiting shows in the metrics.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, TypedDict

import numpy as np

from .instance import Instance
from .errors import UnstableSystemError
from .perf import admission_times, chain_service_time, path_times, request_shares
from .perf.chains import chain_job_time, chain_times_by_client
from .perf.capacity import servers_per_block
from .perf.batching import has_contention, jffc_equilibrium, loaded_job_times
from .perf.ctmc import jffc_chain_rates, multiclient_bounds, theorem4_bounds
from .perf.gca import chain_cost_coefficients, greedy_cache_allocation
from .solution import Chain, Path, Solution
from .units import GB

_REL_TOL = 1e-9


@dataclass(frozen=True)
class Violation:
    """One broken constraint: which, where, by how much (in the unit the message states)."""

    constraint: str
    where: str
    amount: float
    message: str


class ServerRow(TypedDict):
    """One server of an evaluation: its span, cache and memory (GB = 1e9 B)."""

    server: str
    gpu: str | None
    city: str | None
    start: int
    end: int
    blocks: int
    cache_slots: int
    cache_slots_in_use_at_start: int
    memory_used_gb: float
    memory_gb: float


class PathRow(TypedDict):
    """One routed path: its hops and its times under the BPRR model, seconds."""

    client: str
    servers: list[str]
    blocks: list[int]
    requests: int
    prefill_s: float
    decode_s_per_token: float
    inference_s: float
    chain_service_time_s: float


class ClientRow(TypedDict):
    """One client: its rate (requests/s), its share of |R| and its request-weighted mean times, seconds."""

    client: str
    arrival_rate_per_s: float
    requests: int
    inference_s: float
    prefill_s: float
    decode_s_per_token: float


class ChainRow(TypedDict, total=False):
    """One server chain: hops, capacity c_k, service time T_k (s, Eq. 2) and rate 1/T_k (1/s); with
    GPU contention also the load-dependent job time and the jobs/s JFFC sends it."""

    servers: list[str]
    blocks: list[int]
    capacity: int
    service_time_s: float
    rate_per_s: float
    service_time_s_by_client: dict[str, float]  #: T_k for a job of each client (several clients, no contention)
    loaded_service_time_s: float  #: T_k with GPU contention at the instance's load (optim.perf.batching)
    jobs_per_s: float  #: lambda_k, JFFC's split (optim.perf.ctmc.jffc_chain_rates)


class Summary(TypedDict, total=False):
    """Whole-solution metrics, seconds unless named otherwise (see :data:`optim.metrics.METRICS`)."""

    mean_inference_time_s: float  #: mean over the |R| concurrent requests, waiting included
    mean_inference_time_no_wait_s: float  #: arrival-rate-weighted mean of the paths' inference times
    mean_prefill_time_s: float
    mean_decode_time_per_token_s: float
    mean_waiting_time_s: float
    requests: int
    requests_waiting: int
    servers_used: int
    memory_used_gb: float
    tp_bytes_per_request: float  #: bytes TP all-reduces move inside the servers per request
    pp_bytes_per_request: float  #: bytes PP hops move per request: stage boundaries inside servers + network
    pp_network_bytes_per_request: float  #: of which over the network (client relay)


class Queueing(TypedDict, total=False):
    """The chains' service rate and the Theorem-4 bounds (arXiv 2604.14993) on the JFFC response time."""

    chains_from: str  #: "solution" or "gca"
    num_chains: int
    total_capacity: int
    nu_per_s: float
    arrival_rate_per_s: float
    rho: float
    response_time_lower_s: float
    response_time_upper_s: float
    #: the limit as lambda -> 0: each client's jobs on the chain fastest for it, rate-weighted
    response_time_light_load_s: float
    unstable: str  #: why no bound exists (lambda >= nu)
    gpu_utilisation: list[float]  #: per server, GPU time share of the chains' jobs (:func:`optim.perf.batching.loaded_job_times`)
    max_gpu_utilisation: float
    contention: bool  #: some server shares its GPU (batching none or continuous): times are load-dependent
    assumptions: str  #: what the bounds assume, and where the instance departs from it


@dataclass
class Evaluation:
    """Result of :func:`evaluate`: feasibility, violations, and the metrics, typed row by row
    (:class:`ServerRow`, :class:`PathRow`, :class:`ClientRow`, :class:`ChainRow`, :class:`Summary`,
    :class:`Queueing`); :meth:`to_dict` gives plain JSON-ready data."""

    feasible: bool
    violations: list[Violation] = field(default_factory=list)
    servers: list[ServerRow] = field(default_factory=list)
    paths: list[PathRow] = field(default_factory=list)
    clients: list[ClientRow] = field(default_factory=list)
    summary: Summary = field(default_factory=dict)  # type: ignore[assignment]
    chains: list[ChainRow] = field(default_factory=list)
    queueing: Queueing = field(default_factory=dict)  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def violation_lines(violations: list[Violation], limit: int = 10) -> list[str]:
    """Violations as the lines of an input error: ``solution WHERE [CONSTRAINT]: MESSAGE``, the first
    ``limit`` of them, then how many more there are."""
    lines = [f"solution {v.where} [{v.constraint}]: {v.message}" for v in violations[:limit]]
    if len(violations) > limit:
        lines.append(f"... and {len(violations) - limit} more violations")
    return lines


def _check_placement(inst: Instance, sol: Solution, out: list[Violation]):
    L, J = inst.num_blocks, inst.num_servers
    start = np.zeros(J, dtype=int)
    end = np.zeros(J, dtype=int)
    slots = np.zeros(J, dtype=np.int64)
    seen: set[str] = set()
    for p in sol.placement:
        j = inst.server_index.get(p.server)
        if j is None:
            out.append(Violation("span", p.server, 0, f"server {p.server!r} is not in the instance"))
            continue
        if p.server in seen:
            out.append(Violation("span", p.server, 0, f"server {p.server!r} is placed twice"))
            continue
        seen.add(p.server)
        if not (0 <= p.start <= p.end <= L):
            out.append(Violation("span", p.server, max(p.end - L, p.start - p.end, 0),
                                 f"server {p.server!r}: span [{p.start}, {p.end}) is not inside [0, {L})"))
            continue
        start[j], end[j], slots[j] = p.start, p.end, p.cache_slots
    m = end - start
    used = inst.server_block_bytes * m + inst.cache_bytes_per_block_session * slots
    for j in np.flatnonzero(used > inst.memory_bytes * (1 + _REL_TOL)):
        sid = inst.servers[j].id
        over = (used[j] - inst.memory_bytes[j]) / GB
        out.append(Violation("memory", sid, float(over),
                             f"server {sid!r}: {m[j]} blocks and {slots[j]} cache slots need {used[j] / GB:.3f} GB, "
                             f"{over:.3f} GB more than its {inst.memory_bytes[j] / GB:.3f} GB"))
    hosted = np.zeros(L + 1, dtype=int)
    np.add.at(hosted, start[m > 0], 1)
    np.add.at(hosted, end[m > 0], -1)
    hosted = np.cumsum(hosted)[:L]
    missing = np.flatnonzero(hosted == 0)
    if missing.size:
        out.append(Violation("coverage", "blocks", float(missing.size),
                             f"{missing.size} blocks are hosted by no server (first: {missing[:10].tolist()})"))
    return start, end, slots, used


def _check_path(inst: Instance, path, start, end, k_path: int, out: list[Violation], kind: str = "paths"):
    """Check one path (or chain); return (client index, server indices, blocks) or None if unusable."""
    where = f"{kind}[{k_path}]"
    c = inst.client_index.get(path.client)
    if c is None:
        out.append(Violation("path", where, 0, f"{where}: client {path.client!r} is not in the instance"))
        return None
    if not path.hops:
        out.append(Violation("path", where, 0, f"{where}: no hops"))
        return None
    servers, blocks = [], []
    expected = 0
    ok = True
    for h, hop in enumerate(path.hops):
        j = inst.server_index.get(hop.server)
        tag = f"{where}.hops[{h}]"
        if j is None:
            out.append(Violation("path", tag, 0, f"{tag}: server {hop.server!r} is not in the instance"))
            ok = False
            continue
        if hop.start != expected:
            out.append(Violation("path", tag, abs(hop.start - expected),
                                 f"{tag}: starts at block {hop.start}, expected {expected} (where the path stands)"))
            ok = False
        if hop.end <= hop.start:
            out.append(Violation("path", tag, hop.start - hop.end + 1,
                                 f"{tag}: runs no block ([{hop.start}, {hop.end})); every hop must add at least one"))
            ok = False
        if hop.start < start[j] or hop.end > end[j]:
            out.append(Violation("path", tag, max(start[j] - hop.start, hop.end - end[j], 0),
                                 f"{tag}: blocks [{hop.start}, {hop.end}) not all hosted by {hop.server!r} "
                                 f"(it hosts [{start[j]}, {end[j]}))"))
            ok = False
        servers.append(j)
        blocks.append(hop.end - hop.start)
        expected = hop.end
    if expected != inst.num_blocks:
        out.append(Violation("path", where, abs(inst.num_blocks - expected),
                             f"{where}: ends at block {expected}, expected {inst.num_blocks}"))
        ok = False
    return (c, np.array(servers), np.array(blocks)) if ok else None


@dataclass
class Checked:
    """Result of :func:`check`: the violations, and the placement as arrays for the metrics.

    ``start``, ``end``, ``slots`` (int) and ``used`` (bytes) have shape (J,); ``paths`` holds the
    usable paths as ``(path, client index, server indices, blocks per hop)``; ``chains`` the
    solution's own chains as ``(server indices, blocks, capacity, T_k)`` (None when it has none).
    """

    violations: list[Violation]
    start: np.ndarray | None = None
    end: np.ndarray | None = None
    slots: np.ndarray | None = None
    used: np.ndarray | None = None
    paths: list[tuple[Path, int, np.ndarray, np.ndarray]] = field(default_factory=list)
    carried: np.ndarray | None = None
    chains: list[tuple[np.ndarray, np.ndarray, int, float]] | None = None

    @property
    def feasible(self) -> bool:
        return not self.violations


def check(inst: Instance, sol: Solution) -> Checked:
    """Feasibility only: every violated constraint of the module docstring, no metrics.

    Parameters
    ----------
    inst : Instance
    sol : Solution

    Returns
    -------
    Checked
        ``feasible`` is False if any violation was found (all are listed) or the solution holds no
        placement.

    Examples
    --------
    >>> from optim import solve
    >>> from optim.generators import clustered_instance
    >>> from optim.validate import check
    >>> inst = clustered_instance("small")
    >>> sol = solve(inst, "cg-bprr")
    >>> check(inst, sol).feasible
    True
    >>> bad = sol.model_copy(update={"placement": sol.placement[1:]})  # a server's blocks dropped
    >>> sorted({v.constraint for v in check(inst, bad).violations})
    ['coverage', 'path']
    """
    violations: list[Violation] = []
    if not sol.has_solution:
        return Checked([Violation("status", sol.solver, 0, f"no solution: {sol.status.value}: {sol.message}")])
    start, end, slots, used = _check_placement(inst, sol, violations)
    usable = []
    for k, path in enumerate(sol.paths):
        checked = _check_path(inst, path, start, end, k, violations)
        if checked is not None:
            usable.append((path, *checked))
    shares = request_shares(inst)
    carried = np.zeros(inst.num_clients, dtype=int)
    has_path = np.zeros(inst.num_clients, dtype=bool)
    for path in sol.paths:
        c = inst.client_index.get(path.client)
        if c is not None:
            carried[c] += path.requests
            has_path[c] = True
    for c, cl in enumerate(inst.clients):
        if cl.arrival_rate_per_s > 0 and not has_path[c]:
            violations.append(Violation("routing", cl.id, 1, f"client {cl.id!r} has rate "
                                        f"{cl.arrival_rate_per_s} req/s but no path"))
        elif carried[c] != shares[c]:
            violations.append(Violation("routing", cl.id, abs(int(carried[c] - shares[c])),
                                        f"client {cl.id!r}: paths carry {carried[c]} requests, expected its share "
                                        f"{shares[c]} of the {inst.workload.concurrent_requests} concurrent requests"))
    for path, _, servers, blocks in usable:
        for j, k in zip(servers.tolist(), blocks.tolist()):
            if k > slots[j]:
                violations.append(Violation("cache", inst.servers[j].id, float(k - slots[j]),
                                            f"server {inst.servers[j].id!r}: one request on {path.client!r}'s path needs "
                                            f"{k} cache slots, it reserves {slots[j]}"))
    chains = _check_chains(inst, sol, start, end, slots, violations) if sol.chains else None
    return Checked(violations, start, end, slots, used, usable, carried, chains)


def _check_chains(inst: Instance, sol: Solution, start, end, slots, violations: list[Violation]):
    """The solution's chains: valid paths (Lemma 1), Eq. 2 service times, Eq. 3 slot use."""
    A, B = chain_cost_coefficients(inst)
    chains = []
    use = np.zeros(inst.num_servers, dtype=np.int64)
    for k, ch in enumerate(sol.chains):
        checked = _check_path(inst, _as_path(inst, ch), start, end, k, violations, kind="chains")
        if checked is None:
            continue
        _, servers, blocks = checked
        T = (float(np.sum(A[servers] + B[servers] * blocks)) if inst.communication.relay == "client"
             else chain_job_time(inst, servers, blocks))
        if abs(T - ch.service_time_s) > 1e-6 * max(T, 1e-9):
            violations.append(Violation("chain", f"chains[{k}]", abs(T - ch.service_time_s),
                                        f"chains[{k}]: service_time_s {ch.service_time_s:.6g} s, but Eq. 2 gives "
                                        f"{T:.6g} s"))
        np.add.at(use, servers, blocks * ch.capacity)
        chains.append((servers, blocks, ch.capacity, T))
    for j in np.flatnonzero(use > slots):
        sid = inst.servers[j].id
        violations.append(Violation("chain", sid, float(use[j] - slots[j]),
                                    f"server {sid!r}: chains hold {use[j]} cache slots, it has {slots[j]} (Eq. 3)"))
    return chains


def evaluate(inst: Instance, sol: Solution) -> Evaluation:
    """Check a solution's feasibility and compute its metrics.

    Parameters
    ----------
    inst : Instance
    sol : Solution

    Returns
    -------
    Evaluation
        ``feasible`` is False if any violation was found (all are listed) or if the solution
        holds no placement (e.g. status ``infeasible``).

    Notes
    -----
    Times follow the BPRR model (:func:`optim.perf.path_times`, arXiv 2512.21884 Sec. 2) and
    the chain service time of arXiv 2604.14993 Eq. 2; waiting follows
    :func:`optim.perf.admission_times`.

    Examples
    --------
    >>> from optim import evaluate, solve
    >>> from optim.generators import clustered_instance
    >>> inst = clustered_instance("small")
    >>> ev = evaluate(inst, solve(inst, "cg-bprr"))
    >>> ev.feasible, round(ev.summary["mean_decode_time_per_token_s"], 4)
    (True, 0.462)
    """
    from .configure import configured_instance
    from .errors import InvalidInstanceError

    try:
        inst = configured_instance(inst, sol)
    except InvalidInstanceError as err:
        return Evaluation(False, [Violation("configuration", "placement", 1.0, "; ".join(err.problems))])
    ck = check(inst, sol)
    if ck.start is None:
        return Evaluation(False, ck.violations)
    start, end, slots, used, carried = ck.start, ck.end, ck.slots, ck.used, ck.carried
    path_rows, needs, durations = [], [], []
    for path, c, servers, blocks in ck.paths:
        t = path_times(inst, c, servers, blocks)
        traffic = path_traffic(inst, servers, blocks)
        path_rows.append({"client": path.client, "servers": [inst.servers[j].id for j in servers],
                          "blocks": blocks.tolist(), "requests": path.requests, "prefill_s": t.prefill_s,
                          "decode_s_per_token": t.decode_s_per_token, "inference_s": t.inference_s,
                          "chain_service_time_s": chain_service_time(inst, c, servers, blocks),
                          "tp_bytes": traffic[0], "pp_bytes": traffic[1] + traffic[2],
                          "pp_network_bytes": traffic[2]})
        need: dict[int, int] = {}
        for j, k in zip(servers.tolist(), blocks.tolist()):
            need[j] = need.get(j, 0) + k
        needs.extend([need] * path.requests)
        durations.extend([t.inference_s] * path.requests)

    durations_a = np.array(durations)
    waits = np.zeros(len(needs))
    if ck.feasible and needs:
        waits = admission_times(slots, needs, durations_a)
    in_use = np.zeros(inst.num_servers, dtype=np.int64)
    for need, w in zip(needs, waits):
        if w == 0:
            for j, k in need.items():
                in_use[j] += k

    dtypes = inst.server_dtypes
    server_rows = [{"server": s.id, "gpu": s.gpu, "city": s.city, "dtype": dtypes[j], "gpu_count": s.gpu_count,
                    "tp_degree": s.tp, "start": int(start[j]), "end": int(end[j]),
                    "blocks": int(end[j] - start[j]), "cache_slots": int(slots[j]),
                    "cache_slots_in_use_at_start": int(in_use[j]),
                    "memory_used_gb": float(used[j] / GB), "memory_gb": s.memory_gb}
                   for j, s in enumerate(inst.servers)]

    client_rows, summary = [], {}
    if path_rows:
        per_client: dict[str, list] = {}
        for row in path_rows:
            per_client.setdefault(row["client"], []).append(row)
        rate_sum, acc = 0.0, np.zeros(6)
        for c, cl in enumerate(inst.clients):
            rows = per_client.get(cl.id, [])
            if not rows:
                continue
            w = np.array([max(r["requests"], 0) for r in rows], dtype=float)
            w = w / w.sum() if w.sum() > 0 else np.full(len(rows), 1 / len(rows))
            vals = np.array([[r["inference_s"], r["prefill_s"], r["decode_s_per_token"], r["tp_bytes"], r["pp_bytes"],
                              r["pp_network_bytes"]] for r in rows])
            mean = w @ vals
            client_rows.append({"client": cl.id, "arrival_rate_per_s": cl.arrival_rate_per_s,
                                "requests": int(carried[c]), "inference_s": mean[0], "prefill_s": mean[1],
                                "decode_s_per_token": mean[2]})
            acc += cl.arrival_rate_per_s * mean
            rate_sum += cl.arrival_rate_per_s
        acc /= max(rate_sum, 1e-300)
        summary = {"mean_inference_time_no_wait_s": float(acc[0]), "mean_prefill_time_s": float(acc[1]),
                   "mean_decode_time_per_token_s": float(acc[2]), "requests": len(needs),
                   "tp_bytes_per_request": float(acc[3]), "pp_bytes_per_request": float(acc[4]),
                   "pp_network_bytes_per_request": float(acc[5])}
        if ck.feasible and needs:
            summary.update({"mean_inference_time_s": float(np.mean(durations_a + waits)),
                            "mean_waiting_time_s": float(np.mean(waits)),
                            "requests_waiting": int(np.sum(waits > 0))})
    chain_rows, queueing = _queueing(inst, ck) if ck.feasible else ([], {})
    summary["servers_used"] = int(np.sum(end > start))
    summary["memory_used_gb"] = float(used.sum() / GB)
    return Evaluation(ck.feasible, ck.violations, server_rows, path_rows, client_rows, summary, chain_rows, queueing)


def path_traffic(inst: Instance, servers: np.ndarray, blocks: np.ndarray) -> tuple[float, float, float]:
    """Bytes one request moves on a path at the workload's mean lengths (:func:`optim.perf.parallelism.hop_traffic`).

    Parameters
    ----------
    servers, blocks : arrays of int, shape (H,)
        Server index and blocks run at each hop.

    Returns
    -------
    tp_bytes, pp_intra_bytes, pp_network_bytes : float
        TP all-reduces inside the servers; PP stage boundaries inside them; activations over the network
        (to each server and back, the client relaying), for ``l_in + l_out - 1`` token passes.
    """
    from .perf.parallelism import hop_traffic

    w = inst.workload
    tokens = w.input_tokens_mean + w.output_tokens_mean - 1.0
    hidden = inst.model.hidden_size or 0
    act = inst.communication.activation_bytes
    out = np.zeros(3)
    for j, k in zip(np.asarray(servers).tolist(), np.asarray(blocks).tolist()):
        s = inst.servers[j]
        h = hop_traffic(k, tokens, hidden, s.tp, s.gpu_count // s.tp, act)
        out += (h.tp_bytes, h.pp_intra_bytes, h.pp_network_bytes)
    return float(out[0]), float(out[1]), float(out[2])


def _queueing(inst: Instance, ck: Checked):
    """Chains (the solution's, else GCA's), nu, rho and the Theorem-4 bounds of a feasible solution."""
    if ck.chains is not None:
        chains, source = ck.chains, "solution"
    else:
        chains, source = [], "gca"
        for ch in greedy_cache_allocation(inst, ck.start, ck.end, ck.slots):
            hops = np.array(ch.hops)
            chains.append((hops[:, 0], hops[:, 2] - hops[:, 1], ch.capacity, ch.service_time_s))
    rows = [{"servers": [inst.servers[j].id for j in sv], "blocks": bl.tolist(), "capacity": int(c),
             "service_time_s": T, "rate_per_s": 1.0 / T} for sv, bl, c, T in chains]
    T = np.array([t for *_, t in chains])
    cap = np.array([c for _, _, c, _ in chains], dtype=np.int64)
    lam = inst.total_arrival_rate
    contention = has_contention(inst)
    q: dict[str, Any] = {"chains_from": source, "num_chains": len(chains), "total_capacity": int(cap.sum()),
                         "arrival_rate_per_s": lam, "contention": contention}
    if not chains or cap.sum() == 0:
        q.update(nu_per_s=0.0, rho=float("inf"))
        return rows, q
    servers = [np.asarray(sv, dtype=int) for sv, *_ in chains]
    blocks = [np.asarray(bl, dtype=float) for _, bl, _, _ in chains]
    loaded, rates, why, nu = T, None, None, None
    try:
        if contention:
            loaded, rates = jffc_equilibrium(inst, servers, blocks, T, cap, lam)
        else:
            rates = jffc_chain_rates(1.0 / T, cap, lam)
    except UnstableSystemError as err:
        why = str(err)
        if contention:  # the rate at the load-dependent times the equilibrium reached, not the contention-free one
            nu = err.nu_per_s
    mu = 1.0 / loaded
    rate = float(np.sum(mu * cap))  # the chains' total rate at the times in ``loaded``
    nu = rate if nu is None else float(nu)
    q.update(nu_per_s=nu, rho=lam / nu if nu > 0 else float("inf"))
    if contention:
        if rates is not None:  # unstable: the loaded times have no steady value
            for row, t, r in zip(rows, loaded, rates):
                row["loaded_service_time_s"], row["jobs_per_s"] = float(t), float(r)
        q["assumptions"] = ("Theorem 4 assumes Poisson arrivals, exponential service and service rates that do not "
                            "depend on the load; some servers share their GPU (batching none or continuous), so the "
                            "bounds use load-dependent job times (an approximation, optim.perf.batching): "
                            "`optim simulate` gives the response time step by step")
    else:
        q["assumptions"] = ("Theorem 4 assumes Poisson arrivals, exponential service and no GPU contention "
                            "(every server's batching is 'ideal')")
    by_client = chain_times_by_client(inst, servers, blocks) if inst.num_clients > 1 else T[None, :]
    share = inst.arrival_rates / lam
    q["response_time_light_load_s"] = float(share[share > 0] @ by_client[share > 0][:, cap > 0].min(axis=1))
    if inst.num_clients > 1:
        for row, t in zip(rows, by_client.T):
            row["service_time_s_by_client"] = {cl.id: float(x) for cl, x in zip(inst.clients, t)}
    if contention or inst.num_clients == 1:
        by_client = None
    else:
        q["assumptions"] += (f"; with {inst.num_clients} clients a chain's time is each client's own and JFFC "
                             "sends a job to the chain fastest for its client: the bounds are Theorem 4's argument "
                             "with every chain's fastest and slowest client rate (optim.perf.ctmc.multiclient_bounds)")
    if why is None:
        try:
            b = (theorem4_bounds(mu, cap, lam) if by_client is None
                 else multiclient_bounds(by_client, cap, inst.arrival_rates))  # = client_aware_bounds
            q.update(response_time_lower_s=b.lower_s, response_time_upper_s=b.upper_s)
        except UnstableSystemError as err:
            why = str(err)
    if why is not None:
        q["unstable"] = why
    split = rates if rates is not None else mu * cap / rate * lam
    util = loaded_job_times(inst, servers, blocks, T, split, cap).utilisation
    q["gpu_utilisation"] = util.tolist()
    q["max_gpu_utilisation"] = float(util.max())
    return rows, q


class FailureRow(TypedDict, total=False):
    """What the swarm looks like after one server fails (:func:`single_server_failures`)."""

    server: str
    start: int
    end: int
    served: bool  #: some chain still runs every block in order
    unserved_blocks: list[list[int]]  #: [start, end) ranges no remaining server holds
    num_chains: int
    nu_per_s: float
    response_time_lower_s: float  #: Theorem 4 on the remaining chains (GCA on the placement left)
    response_time_upper_s: float
    unstable: str


#: servers holding blocks above which :func:`single_server_failures` is not run by ``optim evaluate``
#: (it runs GCA once per server)
MAX_FAILURE_ANALYSIS_SERVERS = 1000


def single_server_failures(inst: Instance, sol: Solution,
                           progress: Callable[[int, int], None] | None = None) -> list[FailureRow]:
    """Each server holding blocks fails in turn; the rest of the placement, with its cache slots,
    is judged by the chains GCA finds on it and the Theorem-4 bounds (as :func:`evaluate` judges a
    solution without chains), the worst first.

    Parameters
    ----------
    inst : Instance
    sol : Solution
    progress : callable(done, total), optional
        Called after each server's failure is judged (about 50 ms each at 900 servers).

    Returns
    -------
    list of FailureRow
        One per server holding blocks, ordered worst first: a failure that leaves some block
        unserved, then the highest lower bound on the mean response time.

    Raises
    ------
    InvalidInstanceError
        The solution fails validation against the instance.
    """
    from dataclasses import replace

    from .errors import InvalidInstanceError

    ck = check(inst, sol)
    if not ck.feasible:
        raise InvalidInstanceError(violation_lines(ck.violations))
    L = inst.num_blocks
    rows: list[FailureRow] = []
    hosting = np.flatnonzero(ck.end > ck.start)
    for done, j in enumerate(hosting, start=1):
        start, end, slots = ck.start.copy(), ck.end.copy(), ck.slots.copy()
        start[j] = end[j] = slots[j] = 0
        gaps = np.flatnonzero(servers_per_block(start, end, L) == 0)
        ranges = [[int(r[0]), int(r[-1]) + 1] for r in np.split(gaps, np.flatnonzero(np.diff(gaps) > 1) + 1)] \
            if gaps.size else []
        _, q = _queueing(inst, replace(ck, start=start, end=end, slots=slots, chains=None))
        row: FailureRow = {"server": inst.servers[j].id, "start": int(ck.start[j]), "end": int(ck.end[j]),
                           "served": q["num_chains"] > 0, "unserved_blocks": ranges, "num_chains": q["num_chains"],
                           "nu_per_s": q["nu_per_s"]}
        for key in ("response_time_lower_s", "response_time_upper_s", "unstable"):
            if key in q:
                row[key] = q[key]
        rows.append(row)
        if progress is not None:
            progress(done, hosting.size)
    rows.sort(key=lambda r: (r["served"], "unstable" not in r, -r.get("response_time_lower_s", np.inf)))
    return rows


def _as_path(inst: Instance, ch: Chain) -> Path:
    """A chain's hops as a path, so the path checks (Lemma 1, spans) apply to it."""
    return Path(client=inst.clients[0].id, hops=ch.hops, requests=0)

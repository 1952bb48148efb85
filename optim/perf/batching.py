"""GPU contention: how one server runs the steps of the sessions it holds at the same time.

A request's job on a hop is a sequence of GPU *steps*: one prefill step (all input tokens through
the server's ``m`` blocks), then one decode step per output token. A server declares in the
instance (``Server.batching``) how concurrent sessions share its GPU:

``ideal``
    Every session runs as if alone: a step takes ``m (t_o + t^I l_in)`` (prefill) or ``m tau``
    (decode) whatever else the server holds. This is the analytic assumption of BPRR (arXiv
    2512.21884, Sec. 2) and of the server-chain paper (arXiv 2604.14993, Sec. 2: fixed mu_k per
    chain), kept to reproduce them.
``none``
    No batching, as PETALS' server runs inference (one step at a time from a queue,
    ``petals/server/task_pool.py``): a step waits for the steps ahead of it, first come first served.
``continuous``
    Continuous batching: the steps waiting when the GPU frees up run as one pass. A pass of ``n_d``
    decode steps and prefills of ``P`` input tokens in all costs, per block,
    ``max(tau + (n_d - 1) kappa, (n_d + P) t^I + n_p t_o)``: the weights are read once (tau) plus each
    further session's KV cache (kappa), until the pass is compute-bound. A pass of one session costs
    what the ``ideal`` model says, so batching only matters under load.

``kappa_j = tau_j x kv_bytes_per_token_per_block x l_ctx / s_m``: reading one session's KV cache at
the mean context ``l_ctx = l_in + l_out / 2`` takes the time of reading that many bytes at the
bandwidth that reads the block's s_m weight bytes in tau_j (decode is bandwidth-bound; arXiv
2604.14993 Sec. 2, t^O = s_m / b).

The simulator (:mod:`optim.simulate`) runs every step through each server's GPU with
:func:`pass_time_s`. The analytic model (:func:`loaded_step_times`) gives the load-dependent step
times from each server's step arrival rates: ``none`` as an M/G/1 FIFO queue of steps
(Pollaczek-Khinchine mean wait), ``continuous`` as a pass stretched by the other sessions' marginal
work, ``m tau / (1 - u_j)``. Both are approximations (steps of one session are not Poisson);
``tests/test_contention.py`` checks them against the simulator.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..instance import Instance
from ..units import MS

#: The ways a server may run concurrent sessions, as ``Server.batching`` names them.
BATCHING = ("ideal", "none", "continuous")


def kv_read_s(inst: Instance) -> np.ndarray:
    """kappa_j: seconds one more session's KV-cache read adds to a batched decode step, per block, (J,).

    ``tau_j x kv_bytes_per_token_per_block x (l_in + l_out / 2) / s_m`` (see the module docstring).
    """
    w = inst.workload
    ctx = w.input_tokens_mean + w.output_tokens_mean / 2.0
    return inst.decode_s * float(inst.model.kv_cache_bytes_per_token_per_block) * ctx / inst.server_block_bytes


def batching_modes(inst: Instance) -> np.ndarray:
    """Each server's ``batching`` as a string array, shape (J,)."""
    return np.array([s.batching for s in inst.servers])


def has_contention(inst: Instance) -> bool:
    """True when some server shares its GPU among sessions (``batching`` other than ``ideal``)."""
    return any(s.batching != "ideal" for s in inst.servers)


@dataclass(frozen=True)
class ServerGPU:
    """The constants of one server's GPU steps, seconds per block (see the module docstring)."""

    batching: str
    prefill_s: float  #: t_o, fixed per prefill
    prefill_s_per_token: float  #: t^I
    decode_s: float  #: tau
    kv_read_s: float  #: kappa

    def pass_time_s(self, blocks: np.ndarray, tokens: np.ndarray, prefill: np.ndarray) -> float:
        """Seconds of one GPU pass running the steps given as arrays of shape (n,): ``blocks`` each
        step runs, its ``tokens`` (the input length for a prefill, 1 for a decode step), and
        whether it is a ``prefill``.

        One step costs what the ``ideal`` model says: ``m (t_o + t^I l_in)`` or ``m tau``. A
        ``continuous`` pass of several costs ``max(tau max(m_d) + kappa (sum(m_d) - max(m_d)),
        t^I sum(m tokens) + t_o sum(m_p))`` (m_d: the decode steps' blocks, m_p: the prefills'):
        the weights of the deepest decode step read once, each other session's KV cache, or the
        compute, whichever is longer.

        Raises
        ------
        ValueError
            Several steps in one pass of a server that does not batch.
        """
        blocks = np.asarray(blocks, dtype=float)
        if blocks.size == 1:
            m, t = float(blocks[0]), float(np.asarray(tokens)[0])
            return m * (self.prefill_s + self.prefill_s_per_token * t) if bool(np.asarray(prefill)[0]) \
                else m * self.decode_s
        if self.batching != "continuous":
            raise ValueError(f"a server with batching {self.batching!r} runs one step per pass, not {blocks.size}")
        prefill = np.asarray(prefill, dtype=bool)
        compute = self.prefill_s_per_token * float(blocks @ np.asarray(tokens, dtype=float)) \
            + self.prefill_s * float(blocks[prefill].sum())
        md = blocks[~prefill]
        memory = self.decode_s * md.max() + self.kv_read_s * (md.sum() - md.max()) if md.size else 0.0
        return float(max(memory, compute))


def server_gpus(inst: Instance) -> list[ServerGPU]:
    """The :class:`ServerGPU` of every server, in instance order."""
    kappa = kv_read_s(inst)
    return [ServerGPU(s.batching, s.prefill_ms_per_block * MS, s.prefill_ms_per_block_per_token * MS,
                      s.decode_ms_per_block_per_token * MS, float(kappa[j])) for j, s in enumerate(inst.servers)]


@dataclass(frozen=True)
class LoadedJobs:
    """Load-dependent job times from :func:`loaded_job_times`.

    Attributes
    ----------
    utilisation : ndarray, shape (J,)
        Share of each server's GPU time the jobs take (for ``continuous``, decode steps count their
        marginal KV read). 1 or more: the GPU cannot keep up.
    job_s : ndarray, shape (K,)
        Each chain's mean job time with contention, seconds (inf where a GPU is overloaded).
    extra_s : ndarray, shape (K,)
        What contention adds to the contention-free job time T_k, seconds.
    """

    utilisation: np.ndarray
    job_s: np.ndarray
    extra_s: np.ndarray


def loaded_job_times(inst: Instance, servers: list[np.ndarray], blocks: list[np.ndarray], job_s: np.ndarray,
                     job_rates: np.ndarray, capacity: np.ndarray | None = None) -> LoadedJobs:
    """Mean job time of each chain when chain k carries ``job_rates[k]`` Poisson jobs/s.

    Parameters
    ----------
    servers, blocks : list of int arrays, length K
        The hops of each chain: server indices and blocks run there.
    job_s : array, shape (K,)
        T_k, the contention-free job time of each chain (:func:`optim.perf.chain_service_time`), s.
    job_rates : array, shape (K,)
        Jobs per second on each chain.
    capacity : array of int, shape (K,), optional
        c_k, the most jobs chain k runs at once. A server then never has more than
        ``N_j = sum_{k through j} c_k`` sessions, so a job there waits for at most the other
        ``N_j - 1`` sessions' work: ``T^L_k <= T_k + sum_j (N_j - 1) w_kj`` (w_kj: the job's GPU
        work at j). The open-queue estimate is capped by this closed-system one, which keeps an
        overloaded GPU's chains finite (slower) instead of unstable.

    Returns
    -------
    LoadedJobs

    Notes
    -----
    An approximation, checked against the step-by-step simulator in ``tests/test_contention.py``.
    Prefills are long (``s_p = m (t_o + t^I l_in)``) and run alone, so they dominate: a job is held
    up once by each other prefill that occupies a server of its chain while it needs that server,
    for about the prefill's length. Prefills start at server j at rate ``Lambda_j`` (Poisson
    arrivals see time averages), so over a job's life T the expected hold-up at j is
    ``a_j T + b_j`` with ``a_j = sum_k lambda_k s_p,kj`` (the prefill utilisation) and
    ``b_j = sum_k lambda_k s_p,kj^2 / 2`` (a prefill already running at arrival, its residual).
    Decode steps of other sessions add, per own step, the M/G/1 wait among decode steps
    ``sum lambda (l_out - 1) s_d^2 / (2 (1 - rho_j))`` (``none``), or their KV reads joining the
    pass, ``kappa m`` times the decode steps arriving in one pass (``continuous``). With
    ``x_k`` the decode terms summed over the hops, ``T^L_k = (T_k + sum_j b_j + x_k) / (1 - max_j a_j)``:
    the prefills at the chain's servers are mostly the same newcomers passing along it, and each
    holds the job up about once (its prefill transfers put it behind the job after the first
    server), so the largest prefill utilisation on the chain, not their sum, stretches the job.
    ``ideal`` servers add nothing.
    """
    w = inst.workload
    decode_steps = w.output_tokens_mean - 1.0
    tau, prefill, kappa = inst.decode_s, inst.prefill_s, kv_read_s(inst)
    J, K = inst.num_servers, len(servers)
    job_s = np.asarray(job_s, dtype=float)
    # every hop of every chain as flat arrays: server, blocks, chain
    sv = np.concatenate([np.asarray(x, dtype=np.int64) for x in servers]) if K else np.zeros(0, dtype=np.int64)
    m = np.concatenate([np.asarray(x, dtype=float) for x in blocks]) if K else np.zeros(0)
    k = np.repeat(np.arange(K), [len(x) for x in servers])
    lam = np.asarray(job_rates, dtype=float)[k]
    s_p, s_d = m * prefill[sv], m * tau[sv]
    per_server = lambda v: np.bincount(sv, weights=v, minlength=J)  # noqa: E731
    a = per_server(lam * s_p)
    b = per_server(lam * s_p ** 2 / 2.0)
    rho = per_server(lam * (s_p + decode_steps * s_d))
    d2 = per_server(lam * decode_steps * s_d ** 2 / 2.0)
    d_rate = per_server(lam * decode_steps)
    marginal = per_server(lam * (s_p + decode_steps * m * kappa[sv]))
    modes = batching_modes(inst)
    shared = modes != "ideal"
    cont = modes == "continuous"
    util = np.where(cont, marginal, rho)
    with np.errstate(divide="ignore", invalid="ignore"):
        decode_wait = np.where(rho < 1.0, d2 / (1.0 - rho), np.inf)
    on = shared[sv]
    per_chain = lambda v: np.bincount(k, weights=np.where(on, v, 0.0), minlength=K)  # noqa: E731
    closed = np.full(K, np.inf)
    if capacity is not None:
        sessions = np.bincount(sv, weights=np.asarray(capacity, dtype=float)[k], minlength=J)
        work = m * (prefill[sv] + decode_steps * np.where(cont[sv], kappa[sv], tau[sv]))
        closed = job_s + per_chain(np.maximum(sessions[sv] - 1.0, 0.0) * work)
    overloaded = per_chain((util[sv] >= 1.0).astype(float)) > 0
    a_max = np.zeros(K)
    np.maximum.at(a_max, k, np.where(on, a[sv], 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        per_step = np.where(cont[sv], kappa[sv] * m * d_rate[sv] * m * tau[sv], decode_wait[sv])
        x = decode_steps * per_chain(per_step)
        open_ = np.where(overloaded | (a_max >= 1.0), np.inf, (job_s + per_chain(b[sv]) + x) / (1.0 - a_max))
    any_on = per_chain(np.ones(sv.size)) > 0
    loaded = np.where(any_on, np.minimum(open_, closed), job_s)
    extra = loaded - job_s
    return LoadedJobs(util, loaded, extra)


def jffc_equilibrium(inst: Instance, servers: list[np.ndarray], blocks: list[np.ndarray], job_s: np.ndarray,
                     capacity: np.ndarray, arrival_rate: float, rtol: float = 1e-6,
                     max_iterations: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Chain job times with GPU contention under JFFC's split of lambda, at their equilibrium.

    The load-dependent times (:func:`loaded_job_times`) depend on the jobs/s of each chain, and
    JFFC's split (:func:`optim.perf.ctmc.jffc_chain_rates`) on the times: JFFC fills the chains in
    the order of their contention-free rates (what it knows), and a slot stays busy for the loaded
    time. Damped iteration from the contention-free times.

    Parameters
    ----------
    servers, blocks : list of int arrays, length K
        The chains' hops.
    job_s : array, shape (K,)
        T_k without contention, seconds.
    capacity : array of int, shape (K,)
        c_k.
    arrival_rate : float
        lambda, jobs/s.
    rtol, max_iterations :
        Stop when no loaded time changes by more than ``rtol`` (relative) in a step, or after
        ``max_iterations`` steps.

    Returns
    -------
    job_s : ndarray, shape (K,)
        Loaded job times, seconds.
    rates : ndarray, shape (K,)
        Jobs/s on each chain; they sum to lambda.

    Raises
    ------
    UnstableSystemError
        lambda reaches the chains' total rate at their loaded times.
    """
    from .ctmc import jffc_chain_rates

    T = np.asarray(job_s, dtype=float)
    loaded = T
    for _ in range(max_iterations):
        rates = jffc_chain_rates(1.0 / loaded, capacity, arrival_rate, priority=1.0 / T)
        new = 0.5 * loaded + 0.5 * loaded_job_times(inst, servers, blocks, T, rates, capacity).job_s
        done = np.allclose(new, loaded, rtol=rtol, atol=0.0)
        loaded = new
        if done:
            break
    return loaded, jffc_chain_rates(1.0 / loaded, capacity, arrival_rate, priority=1.0 / T)

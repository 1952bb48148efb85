"""Mean response time of server chains under JFFC: the Theorem-4 bounds and an exact CTMC.

Sun, He, Hou, arXiv 2604.14993, Sec. 4, Theorem 4, Eqs. 16-18. K chains with
service rates mu_1 >= ... >= mu_K and capacities c_l (concurrent jobs); Poisson arrivals at rate
lambda, exponential work; JFFC sends an arrival to the fastest chain with a free slot, else to a
central FIFO queue. With C = sum c_l, nu = sum mu_l c_l and rho = lambda / nu < 1, the number of jobs
is bounded by birth-death chains with birth rate lambda and death rates

- fastest-first ``nu_bar_n = sum_l mu_l min(c_l, (n - sum_{l' < l} c_l')_+)`` (lower bound, Eq. 17),
- slowest-first ``nu_low_n = sum_l mu_l min(c_l, (n - sum_{l' > l} c_l')_+)`` (upper bound, Eq. 18),
- ``nu`` for n >= C,

with stationary law (Eq. 16) ``phi_n = phi_0 prod_{i <= n} lambda / nu_i`` (n <= C), ``phi_n = phi_C rho^(n - C)``
beyond, and ``E[N] = sum_{n < C} n phi_n + phi_C (rho / (1 - rho)^2 + C / (1 - rho))``; by Little's law
the mean response time is ``E[N] / lambda``. Products are taken in log space, so C up to 1e5 is fine.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.special import logsumexp

from ..errors import UnstableSystemError


def _check(rates: np.ndarray, caps: np.ndarray, arrival_rate: float) -> tuple[np.ndarray, np.ndarray, float]:
    mu = np.asarray(rates, dtype=float)
    c = np.asarray(caps, dtype=np.int64)
    if mu.shape != c.shape or mu.ndim != 1 or mu.size == 0:
        raise ValueError(f"rates and capacities must be 1-D of equal, positive length; got {mu.shape} and {c.shape}")
    if np.any(mu <= 0) or np.any(c < 0) or not c.sum() > 0:
        raise ValueError("rates must be positive and capacities non-negative with a positive total")
    nu = float(np.sum(mu * c))
    if not arrival_rate < nu:
        raise UnstableSystemError(f"arrival rate lambda = {arrival_rate:g}/s is not below the total service rate "
                                  f"nu = {nu:g}/s (rho = {arrival_rate / nu:.3f}): no steady state exists",
                                  nu_per_s=nu)
    return mu, c, nu


def _occupancy(death: np.ndarray, arrival_rate: float, nu: float) -> np.ndarray:
    """phi_n, n = 0..C, of the birth-death chain with death rates death[n-1] for n = 1..C and nu
    beyond (Eq. 16); sum_{n >= C} phi_n = phi_C / (1 - rho)."""
    C = death.size
    rho = arrival_rate / nu
    log_phi = np.concatenate(([0.0], np.cumsum(np.log(arrival_rate) - np.log(death))))  # n = 0..C, unnormalised
    log_tail = log_phi[C] - np.log1p(-rho)  # sum_{n >= C} phi_n
    log_norm = np.logaddexp(logsumexp(log_phi[:C]), log_tail)
    return np.exp(log_phi - log_norm)


def _mean_jobs(death: np.ndarray, arrival_rate: float, nu: float) -> float:
    """E[N] of the birth-death chain with death rates death[n-1] for n = 1..C, nu beyond (Eqs. 16-17)."""
    C = death.size
    rho = arrival_rate / nu
    phi = _occupancy(death, arrival_rate, nu)
    n = np.arange(C + 1)
    return float(np.sum(n[:C] * phi[:C]) + phi[C] * (rho / (1 - rho) ** 2 + C / (1 - rho)))


def slot_rates(rates: np.ndarray, caps: np.ndarray, fastest_first: bool) -> np.ndarray:
    """Death rates nu_n for n = 1..C when busy slots are the fastest (or slowest) ones. Shape (C,)."""
    per_slot = np.repeat(np.asarray(rates, dtype=float), np.asarray(caps, dtype=np.int64))
    per_slot = np.sort(per_slot)[::-1] if fastest_first else np.sort(per_slot)
    return np.cumsum(per_slot)


def jffc_chain_rates(rates: np.ndarray, caps: np.ndarray, arrival_rate: float,
                     priority: np.ndarray | None = None) -> np.ndarray:
    """Jobs/s each chain serves under JFFC, with busy slots always the first ones, shape (K,).

    The birth-death chain of Theorem 4's lower bound (arXiv 2604.14993, Eq. 16 with nu-bar): with
    N jobs in the system the first N slots are busy, so slot i is busy with probability P(N >= i)
    and chain k serves ``mu_k sum_{i in k} P(N >= i)``; the rates sum to lambda. JFFC sends each
    arrival to the fastest chain with a free slot, so this is its split up to the order in which
    slots free up.

    ``priority`` (shape (K,), higher first; default ``rates``) is the order JFFC fills the chains
    in: the rates it knows (contention-free), while ``rates`` are those the chains serve at
    (with contention, slower).

    Raises
    ------
    UnstableSystemError
        lambda >= nu.
    """
    mu, c, nu = _check(rates, caps, arrival_rate)
    order = np.argsort(-(mu if priority is None else np.asarray(priority, dtype=float)), kind="stable")
    phi = _occupancy(np.cumsum(np.repeat(mu[order], c[order])), arrival_rate, nu)
    busy = 1.0 - np.cumsum(phi)[:-1]  # P(N >= i), i = 1..C
    out = np.zeros(mu.size)
    ends = np.cumsum(c[order])
    for k, e, ck in zip(order, ends, c[order]):
        out[k] = mu[k] * busy[e - ck:e].sum()
    return out


@dataclass(frozen=True)
class ResponseTimeBounds:
    """Theorem-4 bounds on the mean response time under JFFC, seconds, and the load."""

    lower_s: float
    upper_s: float
    rho: float
    total_rate_per_s: float  #: nu
    total_capacity: int  #: C


def theorem4_bounds(rates: np.ndarray, caps: np.ndarray, arrival_rate: float) -> ResponseTimeBounds:
    """Lower and upper bounds on the mean response time under JFFC (arXiv 2604.14993, Thm 4, Eqs. 16-18).

    Parameters
    ----------
    rates : array, shape (K,)
        mu_k = 1 / T_k, jobs/s per slot of each chain.
    caps : array of int, shape (K,)
        c_k, concurrent jobs of each chain.
    arrival_rate : float
        lambda, jobs/s.

    Returns
    -------
    ResponseTimeBounds

    Raises
    ------
    UnstableSystemError
        lambda >= nu = sum mu_k c_k.

    Notes
    -----
    O(C log C) for C = sum c_k slots (sorting the slot rates).
    """
    mu, c, nu = _check(rates, caps, arrival_rate)
    lower = _mean_jobs(slot_rates(mu, c, True), arrival_rate, nu) / arrival_rate
    upper = _mean_jobs(slot_rates(mu, c, False), arrival_rate, nu) / arrival_rate
    return ResponseTimeBounds(float(lower), float(upper), float(arrival_rate / nu), float(nu), int(c.sum()))


def multiclient_bounds(times: np.ndarray, caps: np.ndarray, arrival_rates: np.ndarray) -> ResponseTimeBounds:
    """Bounds on the mean response time under client-aware JFFC, seconds: Theorem 4 generalised to
    clients whose chain times differ.

    With several clients (orchestrators) a chain's job time depends on whose job it is (its RTTs):
    ``T[c, k]``. Client-aware JFFC sends a job of client c to the free chain of least ``T[c, k]``,
    else to the central FIFO queue. Assuming Poisson arrivals and exponential service:

    - **upper**: Theorem 4's slowest-first chain (arXiv 2604.14993, Sec. 4, Eq. 18) at every chain's
      slowest client rate ``mu_min[k] = min_c 1 / T[c, k]``: JFFC never leaves a slot idle while a
      job waits, so with n jobs at least the n slowest slots' rates complete. Infinite when
      lambda >= nu_min (the argument then gives no bound).
    - **lower**, the largest of: Theorem 4's fastest-first chain (Eq. 17) at the fastest client rate
      ``mu_max[k] = max_c 1 / T[c, k]``; and the least mean service time any split of the jobs over
      the chains allows, ``min sum_ck x_ck T[c, k] / lambda`` over ``x >= 0`` with
      ``sum_k x_ck = lambda_c`` and, by Little's law per chain, ``sum_c x_ck T[c, k] <= c_k`` (a
      linear program, HiGHS through scipy; as lambda -> 0 it is ``sum_c lambda_c min_k T[c, k] /
      lambda``, the exact limit).

    With one client the upper and the first lower bound are Theorem 4's, and the second lower bound
    is below it.

    Parameters
    ----------
    times : array, shape (C, K)
        T[c, k], seconds, positive.
    caps : array of int, shape (K,)
        c_k, concurrent jobs of each chain.
    arrival_rates : array, shape (C,)
        lambda_c, jobs/s of each client.

    Returns
    -------
    ResponseTimeBounds
        ``total_rate_per_s`` is nu at the clients' mix (``sum_k c_k / sum_c (lambda_c / lambda) T[c, k]``)
        and ``rho = lambda / nu``.

    Raises
    ------
    UnstableSystemError
        No split of the jobs keeps every chain within its capacity (lambda beyond what the chains serve).
    ValueError
        Shapes disagree or a time is not positive.
    """
    from scipy.optimize import linprog
    from scipy.sparse import csr_array

    T = np.atleast_2d(np.asarray(times, dtype=float))
    lam_c = np.asarray(arrival_rates, dtype=float).ravel()
    c = np.asarray(caps, dtype=np.int64)
    if (T.shape[0] != lam_c.size or T.shape[1:] != c.shape or np.any(~(T > 0)) or np.any(lam_c < 0)
            or not lam_c.sum() > 0 or np.any(c < 0) or not c.sum() > 0):
        raise ValueError(f"times must be (C, K) positive with C = {lam_c.size} non-negative client rates of positive "
                         f"total and K = {c.size} non-negative capacities; got {T.shape}")
    T, lam_c = T[lam_c > 0], lam_c[lam_c > 0]
    lam = float(lam_c.sum())
    C, K = T.shape
    nu_mix = float(np.sum(c / (lam_c @ T / lam)))
    if C == 1:
        b = theorem4_bounds(1.0 / T[0], c, lam)
        return ResponseTimeBounds(b.lower_s, b.upper_s, b.rho, b.total_rate_per_s, b.total_capacity)
    # the least mean service time of any split (x[c, k] flattened row-major); sparse rows, since
    # with thousands of chains and tens of clients the dense matrices take gigabytes
    cols = np.arange(C * K)
    eq = csr_array((np.ones(C * K), (np.repeat(np.arange(C), K), cols)), shape=(C, C * K))
    ub = csr_array((T.ravel(), (np.tile(np.arange(K), C), cols)), shape=(K, C * K))
    lp = linprog(T.ravel(), A_ub=ub, b_ub=c.astype(float), A_eq=eq, b_eq=lam_c, bounds=(0, None), method="highs")
    if lp.status == 2:
        raise UnstableSystemError(f"arrival rate lambda = {lam:g}/s: no split of the clients' jobs over the chains keeps "
                                  "every chain within its capacity (Little's law): no steady state exists")
    if lp.status != 0:
        raise ValueError(f"the split LP failed: {lp.message}")
    service = float(lp.fun) / lam
    mu_max, mu_min = (1.0 / T).max(axis=0), (1.0 / T).min(axis=0)
    nu_max, nu_min = float(np.sum(mu_max * c)), float(np.sum(mu_min * c))
    lower = service
    if lam < nu_max:
        lower = max(lower, _mean_jobs(slot_rates(mu_max, c, True), lam, nu_max) / lam)
    upper = _mean_jobs(slot_rates(mu_min, c, False), lam, nu_min) / lam if lam < nu_min else float("inf")
    return ResponseTimeBounds(float(lower), float(upper), lam / nu_mix, nu_mix, int(c.sum()))


def erlang_c_response_time(servers: int, rate: float, arrival_rate: float) -> float:
    """Mean response time of M/M/c (c servers of rate mu), seconds: 1/mu + P_wait / (c mu - lambda).

    Erlang's C formula, computed in log space.
    """
    c, mu, lam = int(servers), float(rate), float(arrival_rate)
    a = lam / mu
    if not lam < c * mu:
        raise UnstableSystemError(f"lambda = {lam:g} is not below c mu = {c * mu:g}")
    k = np.arange(c)
    log_terms = k * np.log(a) - np.cumsum(np.log(np.maximum(k, 1)))
    log_last = c * np.log(a) - np.sum(np.log(np.arange(1, c + 1))) - np.log1p(-a / c)
    p_wait = np.exp(log_last - np.logaddexp(logsumexp(log_terms), log_last))
    return 1.0 / mu + p_wait / (c * mu - lam)


def exact_jffc_response_time(rates: np.ndarray, caps: np.ndarray, arrival_rate: float,
                             tail: float = 1e-12) -> float:
    """Exact mean response time of JFFC from its CTMC, for small systems (the yardstick of Thm 4).

    State: jobs on each chain (z_1..z_K, ordered fastest first) and the queue length q, which is
    positive only when every chain is full. The queue is truncated at Q with ``rho^Q <= tail``:
    while all chains are full it drains at rate nu, so states beyond Q carry at most ``tail`` of the
    mass; their contribution to E[N] is added in closed form (geometric tail).

    Raises
    ------
    UnstableSystemError
        lambda >= nu.
    ValueError
        More than 200,000 states.
    """
    mu, c, nu = _check(rates, caps, arrival_rate)
    order = np.argsort(-mu, kind="stable")
    mu, c = mu[order], c[order]
    rho = arrival_rate / nu
    Q = int(np.ceil(np.log(tail) / np.log(rho))) if rho > 0 else 1
    shape = tuple(int(x) + 1 for x in c)
    n_chain_states = int(np.prod(shape))
    if n_chain_states + Q > 200_000:
        raise ValueError(f"{n_chain_states + Q} states: too large for the exact CTMC; use theorem4_bounds")
    # states 0..n_chain_states-1: chain occupancies; then Q queue states with all chains full
    full = n_chain_states - 1
    rows, cols, vals = [], [], []
    occ = np.array(np.unravel_index(np.arange(n_chain_states), shape)).T  # (S, K)
    for s, z in enumerate(occ):
        free = np.flatnonzero(z < c)
        if free.size:  # arrival to the fastest chain with a free slot
            z2 = z.copy()
            z2[free[0]] += 1
            rows.append(s), cols.append(int(np.ravel_multi_index(z2, shape))), vals.append(arrival_rate)
        else:
            rows.append(s), cols.append(n_chain_states), vals.append(arrival_rate)  # queue 1
        for l in np.flatnonzero(z > 0):
            z2 = z.copy()
            z2[l] -= 1
            rows.append(s), cols.append(int(np.ravel_multi_index(z2, shape))), vals.append(z[l] * mu[l])
    for q in range(1, Q + 1):
        s = n_chain_states + q - 1
        rows.append(s), cols.append(full if q == 1 else s - 1), vals.append(nu)  # completion: head of queue starts
        if q < Q:
            rows.append(s), cols.append(s + 1), vals.append(arrival_rate)
    n = n_chain_states + Q
    G = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
    G = G - sp.diags(np.asarray(G.sum(axis=1)).ravel())
    A = G.T.tolil()
    A[0, :] = 1.0  # replace one balance equation by the normalisation
    b = np.zeros(n)
    b[0] = 1.0
    pi = spla.spsolve(A.tocsc(), b)
    jobs = np.concatenate((occ.sum(axis=1), c.sum() + np.arange(1, Q + 1)))
    mean = float(pi @ jobs)
    # geometric tail beyond Q (pi_{Q+k} = pi_Q rho^k), added in closed form
    p_Q = pi[-1]
    mean += p_Q * (rho * (c.sum() + Q) / (1 - rho) + rho / (1 - rho) ** 2)
    return mean / arrival_rate

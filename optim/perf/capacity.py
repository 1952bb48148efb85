"""Attention-cache capacity of servers under a placement, and the split of |R| among clients.

Memory of server j (arXiv 2512.21884, Sec. 2, Eq. 13b; arXiv 2604.14993, Eq. 1):
``s_m m_j + s_c * (cache slots in use) <= M_j``, where one cache slot is one session's KV cache in
one block (s_c bytes) and a request run for k_j blocks on j holds k_j slots there.
"""
from __future__ import annotations

import numpy as np

from ..instance import Instance


def servers_per_block(start: np.ndarray, end: np.ndarray, num_blocks: int) -> np.ndarray:
    """How many servers hold each block under the spans ``[start_j, end_j)``, shape (L,)."""
    start, end = np.asarray(start, dtype=np.int64), np.asarray(end, dtype=np.int64)
    used = end > start
    held = np.zeros(num_blocks + 1, dtype=np.int64)  # a difference array: +1 at a span's start, -1 at its end
    np.add.at(held, start[used], 1)
    np.add.at(held, end[used], -1)
    return np.cumsum(held)[:num_blocks]


def free_cache_slots(inst: Instance, num_blocks: np.ndarray) -> np.ndarray:
    """Cache slots that fit beside the blocks: ``floor((M_j - s_m m_j) / s_c)`` (M~_j of arXiv 2604.14993 A1).

    Parameters
    ----------
    num_blocks : array of int, shape (J,)
        m_j, blocks hosted by each server.

    Returns
    -------
    ndarray of int, shape (J,)
        Negative where the blocks alone exceed the memory.
    """
    m = np.asarray(num_blocks, dtype=float)
    free = inst.memory_bytes - inst.server_block_bytes * m
    return np.floor(free / inst.cache_bytes_per_block_session + 1e-9).astype(np.int64)


def free_cache_slot_table(inst: Instance) -> np.ndarray:
    """``FS[j, k]``: :func:`free_cache_slots` of server j holding k blocks, for k = 0..L.

    Returns
    -------
    ndarray of int, shape (J, L + 1)
        Negative where k blocks alone exceed the memory.
    """
    J = inst.num_servers
    return np.stack([free_cache_slots(inst, np.full(J, k)) for k in range(inst.num_blocks + 1)], axis=1)


def hop_block_limits(inst: Instance, table: np.ndarray | None = None) -> np.ndarray:
    """``K_j``: the most blocks server j can run for one request with that request's cache beside
    them, the largest ``k <= L`` with ``free_cache_slots(k) >= k`` (Eq. 13b of arXiv 2512.21884 with
    one request; the longest hop of arXiv 2604.14993's chains).

    Parameters
    ----------
    table : ndarray of int, shape (J, L + 1), optional
        :func:`free_cache_slot_table`, if already computed.

    Returns
    -------
    ndarray of int, shape (J,)
        0 where not even one block fits with its cache.
    """
    fs = free_cache_slot_table(inst) if table is None else table
    ks = np.arange(fs.shape[1])
    return np.where(fs >= ks[None, :], ks[None, :], 0).max(axis=1)


def session_capacity(inst: Instance, num_blocks: np.ndarray) -> np.ndarray:
    """Sessions a server can host running all its blocks: ``floor((M_j - s_m m_j) / (s_c m_j))``
    (s_j of CG-BPRR, arXiv 2512.21884 Alg. 1). Zero for servers without blocks. Shape (J,)."""
    m = np.asarray(num_blocks, dtype=np.int64)
    slots = free_cache_slots(inst, m)
    out = np.zeros_like(m)
    np.floor_divide(np.maximum(slots, 0), m, out=out, where=m > 0)
    return out


def largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers summing to ``total`` in proportion to ``weights`` (largest-remainder rounding;
    ties go to the lower index). Shape like ``weights``."""
    w = np.asarray(weights, dtype=float)
    exact = total * w / w.sum()
    base = np.floor(exact).astype(np.int64)
    order = np.lexsort((np.arange(w.size), -(exact - base)))
    base[order[: total - int(base.sum())]] += 1
    return base


def request_shares(inst: Instance) -> np.ndarray:
    """Split the |R| concurrent requests among clients in proportion to their arrival rates.

    Largest-remainder rounding of ``|R| lambda_c / lambda``; ties go to the lower client index.

    Returns
    -------
    ndarray of int, shape (C,)
        Sums to ``workload.concurrent_requests``.
    """
    return largest_remainder(inst.workload.concurrent_requests, inst.arrival_rates)

"""Cache contention among the |R| concurrent requests of a routing.

All |R| requests are present at once (the bounded-load worst case BPRR designs for, arXiv
2512.21884 Sec. 6). Each needs k_j cache slots on every server of its path (Sec. 2) for its whole
inference time, and a session runs without a break. Requests are taken in routing order, and each
starts at the earliest time at which every server on its path has those slots free for its whole
duration, given the requests placed before it: a request whose servers are free starts at once even
when an earlier one waits for other servers, and it may use slots before a waiting request's start
when it ends in time (the evaluation of the BPRR authors' simulator, ``total_inference_time.m`` in
TingyangSunJeff/LLM_inference_simulator). PETALS' servers, too, admit sessions each on its own,
without waiting for other servers; on one server PETALS admits them in order (one allocation waits
at a time, ``memory_cache.py``), where this model lets a later request use slots that end before a
waiting one's start. When the routing fits in the cache all start at once and nobody waits; when it
over-commits a server (as PETALS' routing may), requests through it wait. This is the static,
deterministic counterpart of the waiting time t^W of WS-RR (Sec. 6).
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right

import numpy as np


def admission_times(capacity: np.ndarray, needs: list[dict[int, int]], durations: np.ndarray) -> np.ndarray:
    """Start time of each request, placed in order at the earliest time its servers hold its slots
    for its whole duration (module docstring).

    Parameters
    ----------
    capacity : array of int, shape (J,)
        Cache slots of each server.
    needs : list of dict, length R
        For each request, slots needed per server index.
    durations : array of float, shape (R,)
        Service (inference) time of each request, seconds.

    Returns
    -------
    ndarray, shape (R,)
        Start times in seconds (0 for requests admitted at once).

    Raises
    ------
    ValueError
        A request needs more slots on a server than it has even when idle.

    Notes
    -----
    Each server keeps its slots in use as a step function of time (breakpoints and levels). A
    candidate start t is tried on each server of the path; the first step in ``[t, t + d)`` with
    too few free slots moves t to that step's end, until every server accepts. The prefix of a
    server's timeline with too few slots for the smallest need any request has there is dropped,
    so a server whose requests queue keeps only the steps still open to some request; and a request
    starts its search at the start of the last one with the same needs and duration, which it
    cannot precede. 200,000 requests over 50 paths of 1-4 servers, all waiting, take seconds.
    """
    cap = np.asarray(capacity).tolist()
    smallest: dict[int, int] = {}
    for r, need in enumerate(needs):
        for j, k in need.items():
            if k > cap[j]:
                raise ValueError(f"request {r} needs {k} cache slots on server {j}, which has {cap[j]}")
            smallest[j] = min(smallest.get(j, k), k)
    # per server: breakpoints T (ascending) and slots in use U[i] on [T[i], T[i + 1]), U[-1] until forever
    T: dict[int, list[float]] = {j: [0.0] for j in smallest}
    U: dict[int, list[int]] = {j: [0] for j in smallest}
    starts = np.zeros(len(needs))
    last: dict[tuple, float] = {}  # start of the last request with the same needs and duration
    for r, need in enumerate(needs):
        d = float(durations[r])
        t = max(T[j][0] for j in need) if need else 0.0
        # a request never starts before an earlier one that needs the same: that one found no room
        # before its start with fewer slots taken than this one sees (routings repeat a path |R| times)
        key = (tuple(sorted(need.items())), d)
        t = max(t, last.get(key, 0.0))
        while True:  # until every server of the path has room for all of [t, t + d)
            for j, k in need.items():
                later = _end_of_first_full_step(T[j], U[j], t, d, cap[j] - k)
                if later is not None:
                    t = later
                    break
            else:
                break
        starts[r] = last[key] = t
        for j, k in need.items():
            tj, uj = T[j], U[j]
            lo = _breakpoint(tj, uj, t)
            hi = _breakpoint(tj, uj, t + d)
            for i in range(lo, hi):
                uj[i] += k
            keep = cap[j] - smallest[j]
            drop = 0
            while drop < len(uj) - 1 and uj[drop] > keep:
                drop += 1
            if drop:  # no request fits there any more
                del tj[:drop], uj[:drop]
    return starts


def _end_of_first_full_step(times: list[float], used: list[int], t: float, d: float, room: int) -> float | None:
    """End of the first step of a server's step function in ``[t, t + d)`` using more than ``room``
    slots (the earliest start that could avoid it), or None if every step there has room."""
    i = bisect_right(times, t) - 1
    while i < len(times) and times[i] < t + d:
        if used[i] > room:  # the last step is 0 slots until forever, so a full one has an end
            return times[i + 1]
        i += 1
    return None


def _breakpoint(times: list[float], used: list[int], t: float) -> int:
    """Index of breakpoint ``t`` in a server's step function, inserted (with the level it splits) if new."""
    i = bisect_left(times, t)
    if i < len(times) and times[i] == t:
        return i
    times.insert(i, t)
    used.insert(i, used[i - 1])
    return i

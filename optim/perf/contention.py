"""Cache contention among the |R| concurrent requests of a routing.

All |R| requests are present at once (the bounded-load worst case BPRR designs for, arXiv
2512.21884 Sec. 6). They are admitted first come, first served in routing order: a request
starts when every server on its path has the cache slots it needs (k_j per hop, Sec. 2) and
no earlier request is still waiting; it holds them for its whole inference time. When the
routing fits in the cache all start at once and nobody waits; when it over-commits a server
(as PETALS' routing may), later requests wait for earlier ones to finish. This is the static,
deterministic counterpart of the waiting time t^W of WS-RR (Sec. 6).
"""
from __future__ import annotations

import numpy as np


def admission_times(capacity: np.ndarray, needs: list[dict[int, int]], durations: np.ndarray) -> np.ndarray:
    """Start time of each request under FCFS admission with finite cache slots.

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
    O(R H log R) for R requests of H hops: admission is FCFS, so start times never decrease, and
    the slots in use at a later time are those of a subset of the requests running now; a heap of
    finish times frees slots as the admission clock advances.
    """
    import heapq

    cap = np.asarray(capacity)
    used = np.zeros(cap.shape, dtype=np.int64)
    starts = np.zeros(len(needs))
    running: list[tuple[float, int]] = []  # (finish time, request) heap
    t = 0.0
    for r, need in enumerate(needs):
        for j, k in need.items():
            if k > cap[j]:
                raise ValueError(f"request {r} needs {k} cache slots on server {j}, which has {cap[j]}")
        while True:
            while running and running[0][0] <= t:  # finished by now: slots free again
                _, q = heapq.heappop(running)
                for j, k in needs[q].items():
                    used[j] -= k
            if all(used[j] + k <= cap[j] for j, k in need.items()):
                break
            t = running[0][0]  # wait for the next request to finish
        starts[r] = t
        for j, k in need.items():
            used[j] += k
        heapq.heappush(running, (t + float(durations[r]), r))
    return starts

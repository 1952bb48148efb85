"""Dispatch policies over server chains: JFFC, JSQ, SED (arXiv 2604.14993, Alg. 3 and its baselines).

Each policy is a small state machine over K chains with service rates mu_k and capacities c_k:
``arrive()`` places a job and returns ``(chain, started)``: the chain it starts on, or the chain
whose queue it joined (None for JFFC's central queue) with ``started`` False;
``complete(k)`` frees a slot on chain k and returns k if a waiting job (from the central queue, or
chain k's own) starts there, else None.
They hold counts only (no clock), so a simulator owns time and randomness.

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
from typing import Literal

import numpy as np


class _Policy:
    name = ""
    central_queue = False  #: True when waiting jobs share one FIFO queue

    def __init__(self, rates: np.ndarray, capacities: np.ndarray):
        self.mu = np.asarray(rates, dtype=float)
        self.cap = np.asarray(capacities, dtype=np.int64)
        if self.mu.shape != self.cap.shape or np.any(self.mu <= 0) or np.any(self.cap < 0):
            raise ValueError("rates must be positive and capacities non-negative, of equal length")
        self.busy = np.zeros(self.mu.size, dtype=np.int64)

    @property
    def waiting(self) -> int:
        raise NotImplementedError


class JFFC(_Policy):
    """Join the Fastest Free Chain with a central FIFO queue (Alg. 3)."""

    name = "jffc"
    central_queue = True

    def __init__(self, rates, capacities):
        super().__init__(rates, capacities)
        self.order = np.argsort(-self.mu, kind="stable")
        self.queue = 0

    @property
    def waiting(self) -> int:
        return self.queue

    def arrive(self) -> tuple[int | None, bool]:
        free = self.order[self.busy[self.order] < self.cap[self.order]]
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

    def _score(self) -> np.ndarray:
        raise NotImplementedError

    def arrive(self) -> tuple[int | None, bool]:
        score = self._score()
        score[self.cap == 0] = np.inf
        k = int(np.lexsort((-self.mu, score))[0])
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

    def _score(self) -> np.ndarray:
        return (self.busy + self.queued) / np.maximum(self.cap, 1)


class SED(_LocalQueues):
    """Smallest expected delay, per-chain FIFO queues."""

    name = "sed"

    def _score(self) -> np.ndarray:
        n = self.busy + self.queued
        return np.where(n < self.cap, 1.0 / self.mu, (n + 1) / (np.maximum(self.cap, 1) * self.mu))


#: chain dispatch policies (classes over the chains' counts)
POLICIES = {p.name: p for p in (JFFC, JSQ, SED)}


@dataclass(frozen=True)
class PolicyInfo:
    """A simulator policy: its name, whether it dispatches over chains or routes over the
    placement's cache slots (paths), and what it does."""

    name: str
    kind: Literal["chain", "path"]
    description: str


#: every policy the simulator knows, in one place (``optim simulate --policy``, sweep specs)
POLICY_REGISTRY: dict[str, PolicyInfo] = {p.name: p for p in (
    PolicyInfo("jffc", "chain", "Join the Fastest Free Chain, central FIFO queue (arXiv 2604.14993 Alg. 3)"),
    PolicyInfo("jsq", "chain", "join the shortest queue (jobs per slot), per-chain FIFO queues"),
    PolicyInfo("sed", "chain", "smallest expected delay, per-chain FIFO queues"),
    PolicyInfo("petals", "path", "PETALS' min-latency routing with its 10 s penalty, bans and retries"),
    PolicyInfo("ws-rr", "path", "BPRR's waiting-penalised shortest path, FCFS (arXiv 2512.21884 Sec. 6)"),
)}

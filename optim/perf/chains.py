"""The one request-time model of a whole job on a chain of hops, and the chain service time T_k.

Every consumer (validator, GCA, gbp-cr, the Theorem-4 bounds, bpca-milp, NSGA-II, the simulator)
gets the time of one job from :func:`job_cost_coefficients`: running ``m`` blocks on server j for
a job of client c costs ``A[c, j] + B[j] m`` seconds, and a chain's time is the sum over its hops,
T_k of Eq. 2 of arXiv 2604.14993 (Sun, He, Hou, Sec. 2). ``B[j] = tau^p_j = t_o + t^I_j l_in +
t^O_j (l_out - 1)``, the per-block compute of a whole job. The communication term follows the
instance's ``communication.round_trips``:

- ``per_token`` (default): the prefill transfer, then one round trip per decode step,
  ``A[c, j] = t^I_cj + (l_out - 1) t_cj`` (BPRR, arXiv 2512.21884, Sec. 2), so T_k is the BPRR
  inference time of a request on the chain;
- ``per_job``: one round trip per job and hop, ``A[c, j] = rtt_cj + chain_overhead``, as the
  server-chain paper's code counts it (for reproducing its numbers).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..instance import Instance
from ..units import MS


@dataclass(frozen=True)
class HopCommunication:
    """Communication of one job with each server, split as the simulator replays it, seconds, shape (J,).

    A hop's prefill costs ``prefill_s + prefill_s_per_token l_in`` of communication, and each of the
    ``l_out - 1`` decode steps ``decode_s`` (0 with ``round_trips = "per_job"``). At the workload's mean
    lengths the sum is ``A[c, j]`` of :func:`job_cost_coefficients`.
    """

    prefill_s: np.ndarray
    prefill_s_per_token: np.ndarray
    decode_s: np.ndarray
    client: int | None = None  #: whose communication this is (None: rate-weighted over the clients)

    def hops(self, inst: Instance, servers) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The three parts per hop of a path through ``servers``, shapes (H,): these arrays at the
        servers with the client relaying; :func:`optim.perf.latency.hop_parts` with direct relaying,
        where a hop's communication depends on the hop before."""
        if inst.communication.relay == "direct":
            from .latency import hop_parts

            return hop_parts(inst, self.client, servers)
        s = np.asarray(servers, dtype=int)
        return self.prefill_s[s], self.prefill_s_per_token[s], self.decode_s[s]


def client_weights(inst: Instance, client: int | None) -> np.ndarray:
    """Weights over the clients, shape (C,): one-hot for ``client``, or the arrival-rate shares (None)."""
    return np.eye(inst.num_clients)[client] if client is not None else inst.arrival_rates / inst.total_arrival_rate


def hop_communication(inst: Instance, client: int | None = None) -> HopCommunication:
    """Per-hop communication of a job of ``client``, or rate-weighted over the clients (None).

    Raises
    ------
    IndexError
        ``client`` is not a client index.
    """
    w = client_weights(inst, client)
    com = inst.communication
    rtt = w @ inst.rtt_s
    if com.round_trips == "per_job":
        zero = np.zeros(inst.num_servers)
        return HopCommunication(rtt + com.chain_overhead_ms * MS, zero, zero, client)
    return HopCommunication(rtt + com.prefill_overhead_ms * MS + inst.stage_fixed_s, w @ inst.comm_s_per_input_token,
                            w @ inst.decode_comm_s, client)


def per_block_job_time(inst: Instance) -> np.ndarray:
    """tau^p_j, seconds of compute for one whole job in one block, shape (J,):
    prefill at the mean input length plus (l_out - 1) decode steps (arXiv 2604.14993, Sec. 5)."""
    return inst.prefill_s + (inst.workload.output_tokens_mean - 1.0) * inst.decode_s


def job_cost_coefficients(inst: Instance) -> tuple[np.ndarray, np.ndarray]:
    """Per-hop time of one whole job at the workload's mean lengths: ``A[c, j] + B[j] m``.

    With ``communication.relay = "direct"`` a hop's communication depends on the hop before it,
    so ``A`` (the client-relay cost) is only what searches over chains use to rank them (GCA,
    gbp-cr); every time reported is the exact one of :func:`chain_service_time`.

    Returns
    -------
    A : ndarray, shape (C, J)
        Communication of a job of client c with server j, seconds (see the module docstring).
    B : ndarray, shape (J,)
        tau^p_j, compute of a job per block, seconds.
    """
    B = per_block_job_time(inst)
    com = inst.communication
    if com.round_trips == "per_job":
        return inst.rtt_s + com.chain_overhead_ms * MS, B
    return inst.prefill_comm_s + (inst.workload.output_tokens_mean - 1.0) * inst.decode_comm_s, B


def chain_service_time(inst: Instance, client: int, servers: np.ndarray, blocks: np.ndarray) -> float:
    """T_k of Eq. 2 for the chain of ``servers`` running ``blocks`` (m_ij) each, seconds.

    Parameters
    ----------
    client : int
        The orchestrator (client) index whose RTTs give the communication term.
    servers, blocks : arrays of int, shape (H,)

    Examples
    --------
    >>> import numpy as np
    >>> from optim.generators import clustered_instance
    >>> from optim.perf import chain_service_time, path_times
    >>> inst = clustered_instance("small")
    >>> servers, blocks = np.array([0]), np.array([70])
    >>> t = chain_service_time(inst, 0, servers, blocks)  # per_token: the BPRR request time
    >>> bool(np.isclose(t, path_times(inst, 0, servers, blocks).inference_s))
    True
    """
    return chain_job_time(inst, servers, blocks, client)


def chain_job_time(inst: Instance, servers, blocks, client: int | None = None) -> float:
    """T_k of Eq. 2 (arXiv 2604.14993): the job time of the chain of ``servers`` running ``blocks``
    each, for ``client``, or for a chain shared by every client (None: the communication weighted
    by the arrival rates), seconds. With ``relay = "direct"`` each hop's communication comes from
    the hop before (:func:`optim.perf.latency.hop_parts`).

    Parameters
    ----------
    servers, blocks : arrays of int, shape (H,)
    client : int, optional
    """
    servers = np.asarray(servers, dtype=int)
    b = np.asarray(blocks, dtype=float)
    B = per_block_job_time(inst)
    if inst.communication.relay == "direct":
        from .latency import hop_parts

        pf, pt, dec = hop_parts(inst, client, servers)
        w = inst.workload
        return float(np.sum(pf + pt * w.input_tokens_mean + dec * (w.output_tokens_mean - 1.0) + B[servers] * b))
    A, _ = job_cost_coefficients(inst)
    a = client_weights(inst, client) @ A
    return float(np.sum(a[servers] + B[servers] * b))


def chain_times_by_client(inst: Instance, servers: list, blocks: list) -> np.ndarray:
    """T_k of Eq. 2 (arXiv 2604.14993) for a job of each client on each chain, seconds, shape (C, K).

    The paper has one orchestrator; with several clients a chain's communication term is the
    client's own (its RTTs to the chain's servers), so the same chain is faster for a nearby client.

    Parameters
    ----------
    servers, blocks : lists of K arrays of int, shapes (H_k,)
        Each chain's servers and the blocks each runs.
    """
    K = len(servers)
    out = np.zeros((inst.num_clients, K))
    if inst.communication.relay == "direct":
        for c in range(inst.num_clients):
            out[c] = [chain_job_time(inst, s, b, c) for s, b in zip(servers, blocks)]
        return out
    A, B = job_cost_coefficients(inst)
    for k, (s, b) in enumerate(zip(servers, blocks)):
        s = np.asarray(s, dtype=int)
        out[:, k] = A[:, s].sum(axis=1) + float(np.sum(B[s] * np.asarray(b, dtype=float)))
    return out


def client_aware_bounds(inst: Instance, servers: list, blocks: list, caps: np.ndarray):
    """Bounds on the mean response time of client-aware JFFC over these chains, seconds
    (:func:`optim.perf.ctmc.multiclient_bounds` on :func:`chain_times_by_client`; Theorem 4 of
    arXiv 2604.14993 with one client). Assumes Poisson arrivals, exponential service and no GPU
    contention.

    Returns
    -------
    ResponseTimeBounds

    Raises
    ------
    UnstableSystemError
        No split of the clients' jobs over the chains keeps every chain within its capacity.
    """
    from .ctmc import multiclient_bounds

    return multiclient_bounds(chain_times_by_client(inst, servers, blocks), caps, inst.arrival_rates)

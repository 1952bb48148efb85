"""BPRR per-request inference time on a path (Sun, He, Ji, Parag, arXiv 2512.21884, Sec. 2, Eqs. 1-3).

For a request from client c on path p, where server j runs k_j blocks::

    prefill   = sum_{j in p} ( t^I_cj + k_j tau^I_j(l_in) )                 (first token)
    decode    = sum_{j in p} ( t_cj  + k_j tau_j )                          (each later token)
    inference = prefill + (l_out - 1) * decode

Communication is hub-and-spoke: the client relays activations between consecutive servers, so
every hop costs the client-server RTT plus the per-hop overheads of ``instance.communication``.
Lengths are the workload means.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..instance import Instance


@dataclass(frozen=True)
class PathTimes:
    """Times of one request on one path, in seconds."""

    prefill_s: float  #: time to first token
    decode_s_per_token: float  #: per decode step
    inference_s: float  #: prefill + (l_out - 1) x decode


def path_times(inst: Instance, client: int, servers: np.ndarray, blocks: np.ndarray) -> PathTimes:
    """BPRR inference time of one request on a path (arXiv 2512.21884, Sec. 2).

    Parameters
    ----------
    inst : Instance
    client : int
        Client index c.
    servers : array of int, shape (H,)
        Server index of each hop, in order.
    blocks : array of int, shape (H,)
        Blocks k_j computed at each hop.

    Returns
    -------
    PathTimes
        Prefill, per-token decode and total inference time, seconds.
    """
    servers = np.asarray(servers, dtype=int)
    k = np.asarray(blocks, dtype=float)
    prefill = float(np.sum(inst.prefill_comm_s[client, servers] + k * inst.prefill_s[servers]))
    decode = float(np.sum(inst.decode_comm_s[client, servers] + k * inst.decode_s[servers]))
    return PathTimes(prefill, decode, prefill + (inst.workload.output_tokens_mean - 1.0) * decode)


def hop_cost_coefficients(inst: Instance, objective: str = "inference") -> tuple[np.ndarray, np.ndarray]:
    """Per-hop cost ``A[c, j] + B[j] * k`` of running k blocks on server j for client c.

    Parameters
    ----------
    objective : {"inference", "decode"}
        ``"inference"``: the whole request time (prefill + (l_out - 1) decode steps);
        ``"decode"``: the per-token decode time ``t_cj + tau_j k`` of the BPRR objective (13a).

    Returns
    -------
    A : ndarray, shape (C, J), seconds
    B : ndarray, shape (J,), seconds per block
    """
    if objective == "decode":
        return inst.decode_comm_s, inst.decode_s
    if objective == "inference":
        steps = inst.workload.output_tokens_mean - 1.0
        return inst.prefill_comm_s + steps * inst.decode_comm_s, inst.prefill_s + steps * inst.decode_s
    raise ValueError(f"objective: {objective!r}; expected 'inference' or 'decode'")

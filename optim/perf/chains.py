"""Server-chain service time (Sun, He, Hou, arXiv 2604.14993, Sec. 2, Eq. 2).

``T_k = sum_{(i,j) in k} ( tau^c_j + tau^p_j m_ij )`` with per-job totals
``tau^c_j = rtt(orchestrator, j) + chain_overhead`` (one RTT per job and hop, as the paper models
it) and ``tau^p_j = t_o + t^I_j l_in + t^O_j (l_out - 1)`` the per-block compute time of a whole job.
"""
from __future__ import annotations

import numpy as np

from ..instance import Instance
from ..units import MS


def per_block_job_time(inst: Instance) -> np.ndarray:
    """tau^p_j, seconds of compute for one whole job in one block, shape (J,):
    prefill at the mean input length plus (l_out - 1) decode steps (arXiv 2604.14993, Sec. 5)."""
    return inst.prefill_s + (inst.workload.output_tokens_mean - 1.0) * inst.decode_s


def chain_service_time(inst: Instance, client: int, servers: np.ndarray, blocks: np.ndarray) -> float:
    """T_k of Eq. 2 for the chain of ``servers`` running ``blocks`` (m_ij) each, seconds.

    Parameters
    ----------
    client : int
        The orchestrator (client) index whose RTTs give tau^c_j.
    servers, blocks : arrays of int, shape (H,)
    """
    servers = np.asarray(servers, dtype=int)
    comm = inst.rtt_s[client, servers] + inst.communication.chain_overhead_ms * MS
    return float(np.sum(comm + per_block_job_time(inst)[servers] * np.asarray(blocks, dtype=float)))

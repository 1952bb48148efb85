"""BPRR per-request inference time on a path (Sun, He, Ji, Parag, arXiv 2512.21884, Sec. 2, Eqs. 1-3).

For a request from client c on path p, where server j runs k_j blocks::

    prefill   = sum_{j in p} ( t^I_cj + k_j tau^I_j(l_in) )                 (first token)
    decode    = sum_{j in p} ( t_cj  + k_j tau_j )                          (each later token)
    inference = prefill + (l_out - 1) * decode

Communication is hub-and-spoke by default (``communication.relay = "client"``): the client relays
activations between consecutive servers, so every hop costs the client-server RTT plus the per-hop
overheads of ``instance.communication``. With ``relay = "direct"`` each server sends its output to
the next server and the last one back to the client (:func:`hop_parts`): hop h costs half the RTT
of the link from its predecessor (the client for the first hop), the last hop also half the RTT
back, and each link's transfer crosses it once. Lengths are the workload means.
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


def hop_parts(inst: Instance, client: int | None, servers) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Communication of one job on a path, per hop: the fixed part of its prefill, the part per
    input token, and each decode step, seconds, shapes (H,) each.

    Parameters
    ----------
    client : int or None
        The client; None: rate-weighted over the clients (the chains of arXiv 2604.14993).
    servers : array of int, shape (H,)
        The path's servers in order.

    Notes
    -----
    ``relay = "client"`` (BPRR, arXiv 2512.21884 Sec. 2): hop j costs ``rtt_cj + overheads`` and
    the transfer of each token to j and back. ``relay = "direct"``: hop h costs
    ``rtt(p_h, s_h) / 2 + overheads`` and one transfer over the link ``p_h -> s_h``
    (``hidden x activation_bytes x 8 / min(bandwidth_p, bandwidth_s)`` seconds per token), where
    ``p_h`` is the previous server (the client for h = 0); the last hop adds ``rtt(s_H, c) / 2`` and
    one transfer back. Stage terms of servers with pipeline stages inside are added per hop in both.
    ``round_trips = "per_job"`` keeps one RTT (relay) or the link's one-way delays (direct) plus
    ``chain_overhead_ms`` per hop and job.
    """
    from .chains import client_weights, hop_communication

    servers = np.asarray(servers, dtype=int)
    com = inst.communication
    if com.relay == "client":
        c = hop_communication(inst, client)
        return c.prefill_s[servers], c.prefill_s_per_token[servers], c.decode_s[servers]
    w = client_weights(inst, client)
    H = servers.size
    if H == 0:
        z = np.zeros(0)
        return z, z, z
    rtt_c = (w @ inst.rtt_s)[servers]
    one_way = np.empty(H)
    one_way[0] = rtt_c[0] / 2
    one_way[1:] = inst.server_rtt_s[servers[:-1], servers[1:]] / 2
    cli_bw, srv_bw = inst.bandwidth_bits_per_s
    bits = _token_bits(inst)
    xfer = np.empty(H)
    xfer[0] = float(w @ (bits / np.minimum(cli_bw, srv_bw[servers[0]])))
    xfer[1:] = bits / np.minimum(srv_bw[servers[:-1]], srv_bw[servers[1:]])
    pre_fixed, pre_tok, decode = direct_link_parts(inst, one_way, xfer, servers)
    back = direct_back_parts(inst, rtt_c[-1] / 2, float(w @ (bits / np.minimum(cli_bw, srv_bw[servers[-1]]))))
    pre_fixed[-1] += back[0]
    pre_tok[-1] += back[1]
    decode[-1] += back[2]
    return pre_fixed, pre_tok, decode


def _token_bits(inst: Instance) -> float:
    """Bits of one token's activations on a link, one way (0 without bandwidth modelling)."""
    com, hidden = inst.communication, inst.model.hidden_size
    return hidden * com.activation_bytes * 8.0 if com.include_bandwidth and hidden else 0.0


def direct_link_parts(inst: Instance, one_way, xfer, servers) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """With direct relaying, entering server(s) ``servers`` over a link of one-way delay ``one_way``
    and per-token transfer ``xfer`` (seconds, broadcastable): the fixed prefill part, the part per
    input token and each decode step, seconds. The one formula :func:`hop_parts` and the routing's
    pairwise costs (:func:`direct_comm_matrices`) share."""
    from ..units import MS

    com = inst.communication
    one_way, xfer = np.asarray(one_way, dtype=float), np.asarray(xfer, dtype=float)
    if com.round_trips == "per_job":
        return one_way + com.chain_overhead_ms * MS + 0 * xfer, 0 * (one_way + xfer), 0 * (one_way + xfer)
    sf, st = inst.stage_fixed_s[servers], inst.stage_s_per_token[servers]
    return (one_way + com.prefill_overhead_ms * MS + sf + 0 * xfer,
            com.prefill_overhead_ms_per_token * MS + xfer + st + 0 * one_way,
            one_way + com.decode_overhead_ms * MS + xfer + sf + st)


def direct_back_parts(inst: Instance, one_way, xfer) -> tuple:
    """With direct relaying, the last server's answer back to the client: (fixed prefill part, per
    input token, per decode step), seconds (broadcastable)."""
    if inst.communication.round_trips == "per_job":
        return one_way, 0 * np.asarray(xfer), 0 * np.asarray(xfer)
    return one_way, xfer, np.asarray(one_way) + np.asarray(xfer)


def direct_comm_matrices(inst: Instance, client: int) -> tuple[tuple, tuple]:
    """Pairwise direct-relay communication for the routing: entering server j from predecessor p
    (row 0: the client, row i + 1: server i), parts of shape (J + 1, J), and the answer back to
    the client after server j, parts of shape (J,); each part as in :func:`direct_link_parts`."""
    J = inst.num_servers
    cli_bw, srv_bw = inst.bandwidth_bits_per_s
    bits = _token_bits(inst)
    rtt_c = inst.rtt_s[client]
    one_way = np.vstack([rtt_c[None, :], inst.server_rtt_s]) / 2
    bw = np.concatenate([[cli_bw[client]], srv_bw])
    xfer = bits / np.minimum(bw[:, None], srv_bw[None, :])
    into = direct_link_parts(inst, one_way, xfer, np.arange(J))
    back = direct_back_parts(inst, rtt_c / 2, bits / np.minimum(cli_bw[client], srv_bw))
    return into, back


def path_comm(inst: Instance, client: int | None, servers) -> tuple[np.ndarray, np.ndarray]:
    """Per-hop communication of a request at the mean input length: prefill and per decode step,
    seconds, shapes (H,) (:func:`hop_parts`)."""
    pf, pt, dec = hop_parts(inst, client, servers)
    return pf + pt * inst.workload.input_tokens_mean, dec


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
    if inst.communication.relay == "client":
        pre_comm, dec_comm = inst.prefill_comm_s[client, servers], inst.decode_comm_s[client, servers]
    else:
        pre_comm, dec_comm = path_comm(inst, client, servers)
    prefill = float(np.sum(pre_comm + k * inst.prefill_s[servers]))
    decode = float(np.sum(dec_comm + k * inst.decode_s[servers]))
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

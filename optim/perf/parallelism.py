"""Tensor, pipeline and hybrid parallelism inside a server, and the data each moves.

A server may be several identical GPUs (``Server.gpu_count`` G) joined by an intra-server link
(NVLink or PCIe). It runs its block span with a tensor-parallel (TP) degree p that divides G: every
block is split across p GPUs (Megatron-LM style), and the G / p TP groups form q = G / p pipeline
(PP) stages inside the server, each holding an equal share of the span. Across servers the swarm is
a pipeline too: those PP hops carry the activations through the client, as the one request-time
model already counts (:mod:`optim.perf.chains`, ``Instance.transfer_s_per_token``).

Per block and token, TP adds two all-reduces of the hidden state (after attention and after the MLP;
Shoeybi et al., Megatron-LM, arXiv 1909.08053, Sec. 3). A ring all-reduce of S bytes over p GPUs
takes ``2 (p - 1)`` steps, each sending ``S / p`` bytes per GPU (Patarasuk and Yuan, J. Parallel
Distrib. Comput. 69(2), 2009)::

    t_AR(S, p) = 2 (p - 1) alpha + 2 (p - 1) / p x S / B      bytes sent = 2 (p - 1) S over the group

with B the link's bandwidth per GPU and direction and alpha its per-step latency. The roofline of
arXiv 2604.14993 (Sec. 2) is divided across the TP group: prefill ``F / (p f)`` per token (compute
bound), decode ``s_m / (p b)`` per token (bandwidth bound), plus ``t_o`` fixed per block. So per
block::

    prefill(n) = t_o + 4 (p - 1) alpha + n [F / (p f) + 4 (p - 1) / p x h a / B]
    decode     = s_m / (p b eta_d) + 4 (p - 1) alpha + 4 (p - 1) / p x h a / B

(h the hidden size, a the bytes per activation value). Each of the q - 1 stage boundaries inside the
server moves the activations of the tokens once over the link: ``alpha + n h a / B`` per hop.

These are the patterns "Characterizing Communication Patterns in Distributed LLM Inference"
(arXiv, cs.DC, July 2025) measures: TP moves far more data (two all-reduces per block and token)
but divides every block's time by p, so it answers short sequences fastest; PP moves only the
activations at stage boundaries (the least data) but runs the blocks one GPU after another.

Quantised weights (int8, nf4) change the bytes per block s_m(d) and so the decode time; prefill
dequantises each block's weights to fp16 once per pass: ``(s_m(d) + 2 P) / (p b)`` more per block
and request (read the quantised weights, write fp16; P parameters per block). ``eta_d`` is the share
of the bandwidth roofline the dtype's decode kernel reaches: 1 for fp16 and int8, and 0.90 for nf4,
from bitsandbytes 0.40.0's release note (batch-1 4-bit kernels 3.4x faster than 16-bit on Ampere,
against the 16 / 4.25 = 3.76x the bytes allow).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..gpu import ROOFLINE_FIXED_S, BlockTimes, GPUProfile
from ..modelcard import ModelCard
from ..units import GB_PER_S, TFLOPS

#: Intra-server links: per-GPU bandwidth per direction (bytes/s) and per-step latency (s).
#: NVLink 3 (A100): 600 GB/s per GPU both directions together, 300 GB/s each way (NVIDIA A100
#: datasheet); PCIe 4.0 x16: 32 GB/s each way (PCI-SIG). The latencies (5 us NVLink, 10 us PCIe,
#: per ring step, kernel launch and synchronisation included) are the order NCCL's small-message
#: all-reduces show; they matter only for decode, where the messages are a few KB.
INTERCONNECTS: dict[str, tuple[float, float]] = {
    "nvlink": (300.0 * GB_PER_S, 5e-6),
    "pcie": (32.0 * GB_PER_S, 10e-6),
}

#: Share of the bandwidth roofline each dtype's decode kernel reaches (see the module docstring).
DECODE_EFFICIENCY = {"fp16": 1.0, "int8": 1.0, "nf4": 3.4 / (16.0 / 4.25)}


@dataclass(frozen=True)
class Link:
    """An intra-server GPU link: bandwidth per GPU and direction (bytes/s), latency per step (s)."""

    bandwidth_bytes_per_s: float
    latency_s: float


def link_of(interconnect: str, bandwidth_gb_per_s: float | None = None) -> Link:
    """The :class:`Link` of a named interconnect, with its bandwidth optionally overridden (GB/s).

    Raises
    ------
    ValueError
        An unknown interconnect name.
    """
    if interconnect not in INTERCONNECTS:
        raise ValueError(f"interconnect: {interconnect!r}; expected one of {', '.join(INTERCONNECTS)}")
    bw, lat = INTERCONNECTS[interconnect]
    return Link(bandwidth_gb_per_s * GB_PER_S if bandwidth_gb_per_s else bw, lat)


def allreduce_time_s(size_bytes: float, tp: int, link: Link) -> float:
    """Ring all-reduce time of ``size_bytes`` over ``tp`` GPUs: ``2 (p-1) alpha + 2 (p-1)/p S / B``,
    seconds (0 for p = 1). Patarasuk and Yuan (2009)."""
    if tp <= 1:
        return 0.0
    return 2.0 * (tp - 1) * link.latency_s + 2.0 * (tp - 1) / tp * size_bytes / link.bandwidth_bytes_per_s


def allreduce_bytes(size_bytes: float, tp: int) -> float:
    """Bytes a ring all-reduce of ``size_bytes`` sends over the links of a TP group of ``tp`` GPUs
    (all GPUs together): ``2 (p - 1) S``."""
    return 2.0 * (tp - 1) * size_bytes if tp > 1 else 0.0


def parallel_block_times(gpu: GPUProfile, card: ModelCard, dtype: str, tp: int = 1, link: Link | None = None,
                         activation_bytes: float = 2.0) -> BlockTimes:
    """Per-block times of ``card`` in ``dtype`` on a TP group of ``tp`` GPUs of profile ``gpu``.

    Parameters
    ----------
    gpu : GPUProfile
        One GPU of the group (the roofline constants f and b).
    card : ModelCard
        F = 2 P FLOPs per token per block, s_m(dtype) bytes, hidden size h.
    dtype : {"fp16", "int8", "nf4"}
    tp : int
        Tensor-parallel degree p >= 1.
    link : Link, optional
        The intra-server link (required for p > 1).
    activation_bytes : float
        Bytes per activation value in the all-reduces (fp16: 2).

    Returns
    -------
    BlockTimes
        ``prefill_s`` (fixed per block per request), ``prefill_s_per_token``,
        ``decode_s_per_token``, seconds; the formulas of the module docstring.

    Raises
    ------
    ValueError
        ``tp`` below 1, or p > 1 without a link.
    """
    if tp < 1:
        raise ValueError(f"tp: {tp}; expected a degree >= 1")
    if tp > 1 and link is None:
        raise ValueError("link: a tensor-parallel group needs its intra-server link")
    link = link or Link(1.0, 0.0)
    f, b = gpu.fp16_tflops * TFLOPS, gpu.memory_bandwidth_gb_per_s * GB_PER_S
    s_m = float(card.block_bytes[dtype])
    token = card.hidden_size * activation_bytes
    ar_fixed = 2.0 * allreduce_time_s(0.0, tp, link)  # the latency part of two all-reduces
    ar_per_token = 2.0 * (allreduce_time_s(token, tp, link) - allreduce_time_s(0.0, tp, link))
    dequant = 0.0 if dtype == "fp16" else (s_m + 2.0 * card.params_per_block) / (tp * b)
    return BlockTimes(
        prefill_s=ROOFLINE_FIXED_S + ar_fixed + dequant,
        prefill_s_per_token=card.flops_per_token_per_block / (tp * f) + ar_per_token,
        decode_s_per_token=s_m / (tp * b * DECODE_EFFICIENCY[dtype]) + ar_fixed + ar_per_token,
    )


def stage_transfer_s(tokens: float, hidden_size: int, stages: int, link: Link, activation_bytes: float = 2.0) -> float:
    """Time to move ``tokens`` tokens' activations across the ``stages - 1`` PP stage boundaries
    inside one server: ``(q - 1) (alpha + n h a / B)`` seconds (0 for one stage)."""
    if stages <= 1:
        return 0.0
    return (stages - 1) * (link.latency_s + tokens * hidden_size * activation_bytes / link.bandwidth_bytes_per_s)


@dataclass(frozen=True)
class HopTraffic:
    """Bytes one request moves at one hop, split by kind."""

    tp_bytes: float  #: TP all-reduces inside the server, all GPUs together
    pp_intra_bytes: float  #: PP stage boundaries inside the server
    pp_network_bytes: float  #: activations to the server and back over the network (client relay)


def hop_traffic(blocks: float, tokens: float, hidden_size: int, tp: int, stages: int,
                activation_bytes: float = 2.0) -> HopTraffic:
    """Bytes a request moves at a hop running ``blocks`` blocks over ``tokens`` token passes
    (``l_in + l_out - 1``: the prompt, then one per decode step).

    TP: two all-reduces of the tokens' hidden state per block, ``2 (p - 1) S`` bytes each;
    PP inside the server: ``(q - 1) S``; network: ``2 S`` (to the server and back, the client relaying).
    ``S = tokens x h x a``.
    """
    size = tokens * hidden_size * activation_bytes
    return HopTraffic(tp_bytes=blocks * 2.0 * allreduce_bytes(size, tp),
                      pp_intra_bytes=max(stages - 1, 0) * size,
                      pp_network_bytes=2.0 * size)

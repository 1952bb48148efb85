"""GPU profiles and the roofline that turns a profile and a model into per-block times.

Roofline (Sun, He, Hou, arXiv 2604.14993, Sec. 2):
prefill is compute-bound, ``t^I = F / f`` seconds per token per block with F the block's FLOPs
per token and f the GPU's FP16 FLOP/s; decode is bandwidth-bound, ``t^O = s_m / b`` seconds per
token per block with s_m the block's bytes and b the memory bandwidth; plus a fixed
``t_o = 1 ms`` per block per request. A profile may carry measured constants instead
(the BPRR paper's A100 and MIG 1g.10gb), valid only for the model and dtype they were measured on.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .errors import UnknownGPUError
from .modelcard import ModelCard
from .units import GB, GB_PER_S, GIB, MS, TFLOPS

#: Fixed per-block, per-request compute overhead t_o of the roofline model (arXiv 2604.14993 Sec. 5).
ROOFLINE_FIXED_S = 1.0 * MS


class MeasuredTimes(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    model: str
    dtype: str
    prefill_ms_per_block: float = Field(ge=0)
    prefill_ms_per_block_per_token: float = Field(ge=0)
    decode_ms_per_block_per_token: float = Field(gt=0)


class GPUProfile(BaseModel):
    """A GPU (or MIG slice): its memory, dense FP16 peak and memory bandwidth.

    Memory is given as the vendor states it, ``memory_gib`` (binary gigabytes: "80GB" is 80 GiB =
    85.9e9 B), or, for the BPRR paper's measured servers, as the paper gives it, ``memory_gb``
    (decimal, 1e9 B). :attr:`memory_bytes` is the one value the rest of optim uses.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    memory_gib: float | None = Field(None, gt=0, description="device memory, GiB (2^30 B), as the vendor states it")
    memory_gb: float | None = Field(None, gt=0, description="memory in decimal GB (1e9 B), as a paper states it")
    fp16_tflops: float = Field(gt=0)
    memory_bandwidth_gb_per_s: float = Field(gt=0)
    tier: str
    source: str
    measured: MeasuredTimes | None = None

    @model_validator(mode="after")
    def _one_memory(self) -> "GPUProfile":
        if (self.memory_gib is None) == (self.memory_gb is None):
            raise ValueError(f"GPU profile {self.name!r}: give exactly one of memory_gib and memory_gb")
        return self

    @property
    def memory_bytes(self) -> float:
        """Device memory in bytes."""
        return self.memory_gib * GIB if self.memory_gib is not None else self.memory_gb * GB


@dataclass(frozen=True)
class BlockTimes:
    """Per-block compute times of one server for one model, in seconds.

    The prefill of ``n`` input tokens through one block takes
    ``prefill_s + prefill_s_per_token * n``; each decode step takes ``decode_s_per_token``.
    """

    prefill_s: float
    prefill_s_per_token: float
    decode_s_per_token: float


@lru_cache(maxsize=None)
def gpu_profiles() -> dict[str, GPUProfile]:
    """All known GPU profiles by name."""
    raw = json.loads(resources.files("optim.data").joinpath("gpus.json").read_text())
    return {p["name"]: GPUProfile.model_validate(p) for p in raw["profiles"]}


def get_gpu(name: str) -> GPUProfile:
    """Look up a GPU profile by name.

    Raises
    ------
    UnknownGPUError
        The name is not a known profile; the message lists the known ones.
    """
    profiles = gpu_profiles()
    if name not in profiles:
        raise UnknownGPUError(f"gpu: unknown GPU profile {name!r}; known: {', '.join(profiles)}")
    return profiles[name]


def block_times(gpu: GPUProfile, card: ModelCard, dtype: str) -> BlockTimes:
    """Per-block prefill and decode times of ``card`` in ``dtype`` on ``gpu``.

    Measured constants are used when the profile has them; otherwise the roofline
    ``t^I = 2 P / f`` (P parameters per block, f FLOP/s) and ``t^O = s_m / b``
    (arXiv 2604.14993, Sec. 3, tau^p_j = t_o + t^I l_in + t^O (l_out - 1)).

    Raises
    ------
    UnknownGPUError
        The profile's measured constants were taken on another model or dtype.
    """
    if gpu.measured is not None:
        m = gpu.measured
        if m.model != card.name or m.dtype != dtype:
            raise UnknownGPUError(
                f"gpu: profile {gpu.name!r} carries times measured on {m.model} ({m.dtype}), not "
                f"{card.name} ({dtype}); use a roofline profile such as {gpu.name.removesuffix('-BPRR')!r}")
        return BlockTimes(m.prefill_ms_per_block * MS, m.prefill_ms_per_block_per_token * MS,
                          m.decode_ms_per_block_per_token * MS)
    return BlockTimes(
        prefill_s=ROOFLINE_FIXED_S,
        prefill_s_per_token=card.flops_per_token_per_block / (gpu.fp16_tflops * TFLOPS),
        decode_s_per_token=card.block_bytes[dtype] / (gpu.memory_bandwidth_gb_per_s * GB_PER_S),
    )

"""Pieces every generator shares: servers from GPU profiles, the workload, assembly and validation."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidOptionError
from ..gpu import GPUProfile, block_times, get_gpu
from ..instance import MAX_CONCURRENT_REQUESTS, Instance, instance_from_dict
from ..modelcard import load_model_card
from ..units import MS


def server_record(sid: str, gpu_name: "str | GPUProfile", card_name: str, dtype: str, *, city: str | None = None,
                  latitude: float | None = None, longitude: float | None = None,
                  bandwidth_mbps: float | None = None) -> dict[str, Any]:
    """A server's instance entry: memory from the GPU profile, per-block times from
    :func:`optim.gpu.block_times` (roofline or measured constants); ``gpu_name`` is a profile
    name or a :class:`~optim.gpu.GPUProfile` (a user's own)."""
    gpu = gpu_name if isinstance(gpu_name, GPUProfile) else get_gpu(gpu_name)
    times = block_times(gpu, load_model_card(card_name), dtype)
    rec = {"id": sid, "gpu": gpu.name, "city": city, "latitude": latitude, "longitude": longitude,
           "memory_gb": round(gpu.memory_bytes / 1e9, 6),
           "prefill_ms_per_block": round(times.prefill_s / MS, 6),
           "prefill_ms_per_block_per_token": round(times.prefill_s_per_token / MS, 9),
           "decode_ms_per_block_per_token": round(times.decode_s_per_token / MS, 6),
           "bandwidth_mbps": bandwidth_mbps}
    return {k: v for k, v in rec.items() if v is not None}


def gpu_mix(num_servers: int, eta: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of high-performance servers: ``round(eta J)`` of them, at random positions."""
    if not 0 <= eta <= 1:
        raise InvalidOptionError(f"eta: {eta}; expected a fraction in [0, 1]")
    high = np.zeros(num_servers, dtype=bool)
    high[rng.permutation(num_servers)[: int(round(eta * num_servers))]] = True
    return high


def workload_record(input_tokens: float, output_tokens: float, concurrent_requests: int, *,
                    input_tokens_max: int | None = None, output_tokens_max: int | None = None,
                    target_load: float = 0.7) -> dict[str, Any]:
    """The instance's workload entry; maxima default to the means rounded up."""
    return {"input_tokens_mean": input_tokens, "input_tokens_max": int(input_tokens_max or np.ceil(input_tokens)),
            "output_tokens_mean": output_tokens, "output_tokens_max": int(output_tokens_max or np.ceil(output_tokens)),
            "concurrent_requests": concurrent_requests, "target_load": target_load}


def check_sizes(num_servers: int, num_clients: int, concurrent_requests: int, seed: int, *,
                max_servers: int, max_clients: int = 10_000) -> None:
    """Refuse sizes beyond reason up front, before they exhaust memory or time.

    Raises
    ------
    InvalidOptionError
        Naming the parameter, the value and the allowed range.
    """
    for name, value, lo, hi in (("num_servers", num_servers, 1, max_servers), ("num_clients", num_clients, 1, max_clients),
                                ("concurrent_requests", concurrent_requests, 1, MAX_CONCURRENT_REQUESTS),
                                ("seed", seed, 0, 2**32 - 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
            raise InvalidOptionError(f"{name}: {value!r}; expected an integer from {lo:,} to {hi:,}")


def check_positive(name: str, value: float) -> None:
    """Raise :class:`InvalidOptionError` naming ``name`` unless ``value`` is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not 0 < value < float("inf"):
        raise InvalidOptionError(f"{name}: {value}; expected a positive number")


def assemble(name: str, description: str, provenance: dict, model: dict, servers: list, clients: list,
             rtt: dict, workload: dict, communication: dict) -> Instance:
    """Build and validate the instance (generators never emit an unvalidated instance)."""
    return instance_from_dict({"format": "optim-instance/1", "name": name, "description": description,
                               "provenance": provenance, "model": model, "servers": servers, "clients": clients,
                               "rtt": rtt, "workload": workload, "communication": communication},
                              source=f"generator {name}")

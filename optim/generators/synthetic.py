"""Random synthetic instances for scaling studies (up to 10,000 servers and more).

Servers and clients are placed uniformly in a square of ``extent_km``; RTT = ``base_rtt_ms`` +
distance / 100 km per ms (light in fibre, about 200 km/ms one way, so 1 ms of RTT per 100 km).
Only the client x server RTT block is stored, so the file grows as C x J, not (C + J)^2.
"""
from __future__ import annotations

import numpy as np

from ..instance import Instance
from .common import assemble, check_positive, check_sizes, gpu_mix, server_record, workload_record

KM_PER_MS_RTT = 100.0
#: the largest random instance (client x server RTTs, so memory grows linearly)
MAX_RANDOM_SERVERS = 200_000


def random_instance(num_servers: int = 100, num_clients: int = 1, *, model: str = "llama-2-70b",
                    dtype: str = "nf4", eta: float = 0.2, high_gpu: str = "A100-80GB", low_gpu: str = "L4",
                    extent_km: float = 3000.0, base_rtt_ms: float = 2.0, arrival_rate: float = 1.0,
                    input_tokens: float = 512, output_tokens: float = 128, concurrent_requests: int = 32,
                    hop_overhead_ms: float = 18.0, seed: int = 0, name: str | None = None) -> Instance:
    """A random instance: positions uniform in a square, RTT from distance, GPU mix eta.

    Raises
    ------
    InvalidOptionError
        Non-positive counts, extent or rate; eta outside [0, 1]; more than ``MAX_RANDOM_SERVERS``
        servers; a seed outside 0 .. 2^32 - 1.

    Examples
    --------
    >>> from optim.generators import random_instance
    >>> inst = random_instance(num_servers=1000, seed=0)
    >>> inst.num_servers, inst.rtt.ids is None  # client x server RTTs: memory linear in servers
    (1000, True)
    """
    check_sizes(num_servers, num_clients, concurrent_requests, seed, max_servers=MAX_RANDOM_SERVERS)
    check_positive("extent_km", extent_km)
    check_positive("arrival_rate", arrival_rate)
    rng = np.random.default_rng(seed)
    high = gpu_mix(num_servers, eta, rng)
    pos_s = rng.uniform(0, extent_km, (num_servers, 2))
    pos_c = rng.uniform(0, extent_km, (num_clients, 2))
    width = len(str(num_servers - 1))
    records = {g: server_record("x", g, model, dtype) for g in {high_gpu, low_gpu}}
    servers = [{**records[high_gpu if high[j] else low_gpu], "id": f"s{j:0{width}d}"} for j in range(num_servers)]
    clients = [{"id": f"c{i}", "arrival_rate_per_s": arrival_rate / num_clients} for i in range(num_clients)]
    dist = np.linalg.norm(pos_c[:, None, :] - pos_s[None, :, :], axis=2)
    rtt = np.round(base_rtt_ms + dist / KM_PER_MS_RTT, 3)
    name = name or f"random-{num_servers}"
    provenance = {"generator": "optim.generators.synthetic", "seed": seed,
                  "command": (f"optim generate random --servers {num_servers} --clients {num_clients} --model {model} "
                              f"--dtype {dtype} --eta {eta} --seed {seed}"),
                  "rtt_model": f"{base_rtt_ms} ms + distance / {KM_PER_MS_RTT} km per ms, uniform in {extent_km} km square"}
    return assemble(name, f"random synthetic instance, {num_servers} servers, {model} ({dtype})", provenance,
                    {"card": model, "dtype": dtype}, servers, clients,
                    {"rows": [c["id"] for c in clients], "cols": [s["id"] for s in servers], "rtt_ms": rtt.tolist()},
                    workload_record(input_tokens, output_tokens, concurrent_requests),
                    {"decode_overhead_ms": hop_overhead_ms, "prefill_overhead_ms": hop_overhead_ms,
                     "chain_overhead_ms": hop_overhead_ms})

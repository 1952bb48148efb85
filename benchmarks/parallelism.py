"""Tensor, pipeline and hybrid parallelism inside one 8-GPU server: data moved and latency.

Usage: ``python benchmarks/parallelism.py [--model llama-2-70b] [--gpu A100-80GB] [--output-tokens 128]``

LLaMA-2-70B in fp16 on one server of 8 GPUs, run as TP8, TP4 x PP2, TP2 x PP4 and PP8 (TP degree
p, 8 / p pipeline stages inside the server; ``Server.tp_degree``), over NVLink (300 GB/s per GPU and
direction) and PCIe 4.0 x16 (32 GB/s), for input lengths 128 to 8,192 and 128 output tokens. One
client 10 ms away relays the activations (the PP hop to the server, as in every optim instance).
Every figure comes from ``optim.evaluate`` on a one-server instance (:mod:`optim.perf.parallelism`):
prefill time (time to first token), decode time per token, and the bytes moved per token
(``(tp_bytes + pp_bytes) / (l_in + l_out - 1)``), split into TP all-reduces and PP transfers.

The question of "Characterizing Communication Patterns in Distributed LLM Inference" (arXiv, cs.DC,
July 2025): TP moves far more data but answers short sequences fastest; PP moves the least data but
adds latency; hybrids sit between and need tuning.
"""
from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from optim import evaluate, instance_from_dict
from optim.gpu import get_gpu
from optim.modelcard import load_model_card
from optim.perf.parallelism import link_of, parallel_block_times
from optim.solution import Hop, Path, ServerPlacement, Solution, Status

LAYOUTS = [("TP8", 8), ("TP4 x PP2", 4), ("TP2 x PP4", 2), ("PP8", 1)]


def one_server(model: str, gpu: str, tp: int, link: str, l_in: int, l_out: int):
    card, g = load_model_card(model), get_gpu(gpu)
    t = parallel_block_times(g, card, "fp16", tp, link_of(link))
    inst = instance_from_dict({
        "name": f"{model}-8x{gpu}-tp{tp}-{link}", "model": {"card": model, "dtype": "fp16"},
        "servers": [{"id": "s", "gpu": gpu, "memory_gb": 8 * g.memory_bytes / 1e9, "gpu_count": 8, "tp_degree": tp,
                     "interconnect": link, "dtype": "fp16", "prefill_ms_per_block": t.prefill_s * 1e3,
                     "prefill_ms_per_block_per_token": t.prefill_s_per_token * 1e3,
                     "decode_ms_per_block_per_token": t.decode_s_per_token * 1e3}],
        "clients": [{"id": "c", "arrival_rate_per_s": 0.1}],
        "rtt": {"ids": ["c", "s"], "rtt_ms": [[0, 10], [10, 0]]},
        "workload": {"input_tokens_mean": l_in, "input_tokens_max": l_in, "output_tokens_mean": l_out,
                     "output_tokens_max": l_out, "concurrent_requests": 1},
        "communication": {"decode_overhead_ms": 0, "prefill_overhead_ms": 0}})
    L = inst.num_blocks
    sol = Solution(instance=inst.name, solver="layout", status=Status.FEASIBLE,
                   placement=[ServerPlacement(server="s", start=0, end=L, cache_slots=L)],
                   paths=[Path(client="c", requests=1, hops=[Hop(server="s", start=0, end=L)])])
    ev = evaluate(inst, sol)
    assert ev.feasible, ev.violations
    return ev.summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="llama-2-70b")
    ap.add_argument("--gpu", default="A100-80GB")
    ap.add_argument("--output-tokens", type=int, default=128)
    args = ap.parse_args()
    console = Console(highlight=False, width=200)
    lengths = [128, 512, 2048, 8192]
    for link in ("nvlink", "pcie"):
        t = Table(title=f"{args.model} fp16 on 8 x {args.gpu} over {link}, {args.output_tokens} output tokens: "
                        "time to first token (s) / decode (ms per token) / MB moved per token (TP + PP)")
        t.add_column("layout")
        for l_in in lengths:
            t.add_column(f"l_in = {l_in}", justify="right")
        for name, tp in LAYOUTS:
            cells = []
            for l_in in lengths:
                s = one_server(args.model, args.gpu, tp, link, l_in, args.output_tokens)
                tokens = l_in + args.output_tokens - 1
                cells.append(f"{s['mean_prefill_time_s']:.3f} / {1e3 * s['mean_decode_time_per_token_s']:.1f} / "
                             f"{s['tp_bytes_per_request'] / tokens / 1e6:.2f} + {s['pp_bytes_per_request'] / tokens / 1e6:.3f}")
            t.add_row(name, *cells)
        console.print(t)


if __name__ == "__main__":
    main()

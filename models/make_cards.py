"""Write the model cards in this folder from each model's published configuration.

Run ``python models/make_cards.py`` after editing ``CONFIGS``; never hand-edit the JSON cards.
Parameters per block are counted from the architecture (below, per family) and checked against
the published total parameter count in the tests. Bytes per block follow PETALS'
``get_block_size``: parameters x bytes per value x 1.01, with nf4 at 4.25 bits per value.
KV-cache bytes per token per block are 2 (K and V) x n_kv_heads x head_dim x 2 bytes (fp16 cache).
``context_tokens`` is the longest sequence (prompt plus output) the model takes: the configuration's
``max_position_embeddings``; BLOOM (ALiBi, no such field) has its training sequence length, 2048.
"""
from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

BYTES_PER_VALUE = {"fp16": 2.0, "int8": 1.0, "nf4": 4.25 / 8}
PETALS_BLOCK_OVERHEAD = 1.01
KV_CACHE_DTYPE_BYTES = 2  # fp16 attention cache, whatever the weight dtype


def params_per_block(c: dict) -> int:
    """Count the parameters of one transformer block from a published configuration."""
    h, hd, kv, heads = c["hidden_size"], c["head_dim"], c["num_kv_heads"], c["num_attention_heads"]
    arch = c["architecture"]
    if arch == "llama":  # q, k, v, o projections; gated MLP (gate, up, down); 2 RMSNorms
        attention = h * heads * hd + 2 * h * kv * hd + heads * hd * h
        return attention + 3 * h * c["intermediate_size"] + 2 * h
    if arch == "mixtral":  # llama attention; E gated experts; router; 2 RMSNorms
        attention = h * heads * hd + 2 * h * kv * hd + heads * hd * h
        experts = c["num_experts"] * 3 * h * c["intermediate_size"]
        return attention + experts + h * c["num_experts"] + 2 * h
    if arch == "bloom":  # fused qkv + dense with biases, 4h MLP with biases, 2 LayerNorms
        return 3 * h * h + 3 * h + h * h + h + 2 * (4 * h * h) + 4 * h + h + 2 * 2 * h
    if arch == "falcon":  # new decoder architecture: fused qkv (MQA groups), dense, 4h MLP, no biases,
        # separate ln_attn and ln_mlp LayerNorms with bias
        return h * (heads + 2 * kv) * hd + h * h + 2 * (4 * h * h) + 2 * 2 * h
    raise ValueError(f"unknown architecture {arch!r}")


CONFIGS = [
    dict(name="llama-2-7b", context_tokens=4096, display_name="LLaMA-2-7B", architecture="llama", num_blocks=32,
         hidden_size=4096, num_attention_heads=32, num_kv_heads=32, head_dim=128,
         intermediate_size=11008, vocab_size=32000, published_total_params=6.74e9,
         source="https://huggingface.co/meta-llama/Llama-2-7b-hf/blob/main/config.json"),
    dict(name="llama-2-13b", context_tokens=4096, display_name="LLaMA-2-13B", architecture="llama", num_blocks=40,
         hidden_size=5120, num_attention_heads=40, num_kv_heads=40, head_dim=128,
         intermediate_size=13824, vocab_size=32000, published_total_params=13.0e9,
         source="https://huggingface.co/meta-llama/Llama-2-13b-hf/blob/main/config.json"),
    dict(name="llama-2-70b", context_tokens=4096, display_name="LLaMA-2-70B", architecture="llama", num_blocks=80,
         hidden_size=8192, num_attention_heads=64, num_kv_heads=8, head_dim=128,
         intermediate_size=28672, vocab_size=32000, published_total_params=69.0e9,
         source="https://huggingface.co/meta-llama/Llama-2-70b-hf/blob/main/config.json"),
    dict(name="bloom-176b", context_tokens=2048, display_name="BLOOM-176B", architecture="bloom", num_blocks=70,
         hidden_size=14336, num_attention_heads=112, num_kv_heads=112, head_dim=128,
         intermediate_size=4 * 14336, vocab_size=250880, published_total_params=176.2e9,
         source="https://huggingface.co/bigscience/bloom/blob/main/config.json"),
    dict(name="falcon-180b", context_tokens=2048, display_name="Falcon-180B", architecture="falcon", num_blocks=80,
         hidden_size=14848, num_attention_heads=232, num_kv_heads=8, head_dim=64,
         intermediate_size=4 * 14848, vocab_size=65024, published_total_params=179.5e9,
         source="https://huggingface.co/tiiuae/falcon-180B/blob/main/config.json"),
    dict(name="mixtral-8x7b", context_tokens=32768, display_name="Mixtral-8x7B", architecture="mixtral", num_blocks=32,
         hidden_size=4096, num_attention_heads=32, num_kv_heads=8, head_dim=128,
         intermediate_size=14336, num_experts=8, vocab_size=32000, published_total_params=46.7e9,
         source="https://huggingface.co/mistralai/Mixtral-8x7B-v0.1/blob/main/config.json"),
    dict(name="llama-3.1-405b", context_tokens=131072, display_name="LLaMA-3.1-405B", architecture="llama", num_blocks=126,
         hidden_size=16384, num_attention_heads=128, num_kv_heads=8, head_dim=128,
         intermediate_size=53248, vocab_size=128256, published_total_params=405.9e9,
         source="https://huggingface.co/meta-llama/Llama-3.1-405B/blob/main/config.json"),
]


def card(c: dict) -> dict:
    """A card: the published configuration plus the derived per-block sizes."""
    p = params_per_block(c)
    out = dict(c)
    out["params_per_block"] = p
    out["block_bytes"] = {d: round(p * b * PETALS_BLOCK_OVERHEAD) for d, b in BYTES_PER_VALUE.items()}
    out["kv_cache_bytes_per_token_per_block"] = 2 * c["num_kv_heads"] * c["head_dim"] * KV_CACHE_DTYPE_BYTES
    out["derivation"] = ("block_bytes = params_per_block x bytes_per_value x 1.01 (PETALS get_block_size; "
                         "nf4 = 4.25 bits); kv_cache_bytes_per_token_per_block = 2 x num_kv_heads x head_dim "
                         "x 2 bytes (fp16 cache); written by models/make_cards.py")
    return out


if __name__ == "__main__":
    for c in CONFIGS:
        (HERE / f"{c['name']}.json").write_text(json.dumps(card(c), indent=2) + "\n")
        print(c["name"], card(c)["params_per_block"], card(c)["block_bytes"])

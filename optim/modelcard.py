"""Model cards: the published configuration of an LLM and the sizes optim derives from it.

Cards live in ``models/`` (installed as ``optim.cards``) and are written by
``models/make_cards.py``; never edit the numbers by hand.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .errors import UnknownModelError

Dtype = Literal["fp16", "int8", "nf4"]


class ModelCard(BaseModel):
    """One model's published configuration and derived per-block sizes.

    Attributes
    ----------
    num_blocks : int
        Transformer blocks L.
    params_per_block : int
        Parameters in one block (embeddings and the LM head stay at the client).
    block_bytes : dict
        Bytes of one block per weight dtype: params x bytes per value x 1.01 (PETALS
        ``get_block_size``; nf4 = 4.25 bits). BLOOM-176B nf4 gives 1.3234e9 B, the s_m of
        arXiv 2512.21884 Sec. 7.
    kv_cache_bytes_per_token_per_block : int
        2 x num_kv_heads x head_dim x 2 bytes (fp16 K and V for one token in one block).
    context_tokens : int
        The longest sequence, prompt plus output, in tokens: the published configuration's
        ``max_position_embeddings`` (BLOOM: its training sequence length, 2048).
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    name: str
    display_name: str
    architecture: str
    num_blocks: int = Field(ge=1)
    hidden_size: int = Field(ge=1)
    num_attention_heads: int = Field(ge=1)
    num_kv_heads: int = Field(ge=1)
    head_dim: int = Field(ge=1)
    params_per_block: int = Field(ge=1)
    block_bytes: dict[Dtype, int]
    kv_cache_bytes_per_token_per_block: int = Field(ge=1)
    context_tokens: int = Field(ge=1)
    published_total_params: float
    source: str

    @property
    def num_kv_groups(self) -> int:
        """Query heads per KV head (1 for multi-head attention)."""
        return self.num_attention_heads // self.num_kv_heads

    @property
    def flops_per_token_per_block(self) -> float:
        """Forward FLOPs for one token in one block, 2 x params (arXiv 2604.14993 Sec. 5
        quotes F = 5 GFLOPs for BLOOM-176B; 2 x 2.466e9 = 4.93e9)."""
        return 2.0 * self.params_per_block


@lru_cache(maxsize=None)
def list_model_cards() -> tuple[str, ...]:
    """Names of the shipped model cards, sorted."""
    files = resources.files("optim.cards")
    return tuple(sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".json")))


@lru_cache(maxsize=None)
def load_model_card(name: str) -> ModelCard:
    """Load a shipped model card by name (e.g. ``"bloom-176b"``).

    Raises
    ------
    UnknownModelError
        No card of that name is shipped; the message lists the shipped ones.
    """
    key = name.lower()
    if key not in list_model_cards():
        raise UnknownModelError(
            f"unknown model {name!r}; shipped model cards: {', '.join(list_model_cards())}")
    data = json.loads(resources.files("optim.cards").joinpath(f"{key}.json").read_text())
    return ModelCard.model_validate(data)

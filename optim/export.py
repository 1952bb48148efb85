"""Turn a solution into the commands that start the servers: PETALS (bigscience-workshop/petals).

Each server that holds blocks gets ``python -m petals.cli.run_server MODEL --block_indices a:b``
(PETALS' own ``start:end`` syntax, ``petals/server/server.py``), its weight format (``--quant_type``
none, int8 or nf4, ``--torch_dtype float16``), and the attention cache the placement reserves,
``--attn_cache_tokens`` (PETALS' budget of cache tokens per block: the server's cache slots per
hosted block times the instance's longest sequence). A server started with ``--block_indices``
keeps those blocks: PETALS does not move it when it rebalances.

Beside each command: the requests per second the solution's chains through that server can
complete (``sum c_k / T_k`` over the chains, the server's share of nu, arXiv 2604.14993 Eq. 4).
"""
from __future__ import annotations

import re
import shlex
from typing import Any

import numpy as np

from .instance import Instance
from .solution import Solution

#: the instance's weight dtype as PETALS' --quant_type
QUANT_TYPE = {"fp16": "none", "int8": "int8", "nf4": "nf4"}


def hf_model_name(inst: Instance) -> str:
    """The Hugging Face repository of the instance's model card (from the card's source address),
    or the model's name when the card gives none (an inline model)."""
    from .modelcard import load_model_card

    if inst.model.card:
        source = getattr(load_model_card(inst.model.card), "source", "") or ""
        m = re.match(r"https://huggingface\.co/([^/]+/[^/]+)", source)
        if m:
            return m.group(1)
    return inst.model.name or "MODEL"


def petals_commands(inst: Instance, sol: Solution, initial_peers: list[str] | None = None) -> list[dict[str, Any]]:
    """One PETALS server command per server holding blocks.

    Parameters
    ----------
    inst, sol : the instance and a feasible solution of it.
    initial_peers : list of str, optional
        Multiaddresses of the private swarm's bootstrap peers (``--initial_peers``); None joins
        the public swarm, as PETALS does by default.

    Returns
    -------
    list of dict
        ``server``, ``start``, ``end`` (0-based, end exclusive), ``attn_cache_tokens``,
        ``expected_requests_per_s``, ``command`` (a shell-quoted string) and ``argv``.

    Raises
    ------
    InvalidInstanceError
        The solution fails validation against the instance.
    """
    from .errors import InvalidInstanceError
    from .validate import evaluate, violation_lines

    from .configure import configured_instance

    ev = evaluate(inst, sol)
    if not ev.feasible or not sol.has_solution:
        raise InvalidInstanceError(violation_lines(ev.violations) or ["solution: no placement to export"])
    inst = configured_instance(inst, sol)  # each server's chosen dtype
    start, end, slots = sol.spans(inst)
    rate = np.zeros(inst.num_servers)
    for ch in ev.chains:
        for sv in ch["servers"]:
            rate[inst.server_index[sv]] += ch["capacity"] * ch["rate_per_s"]
    seq = inst.workload.input_tokens_max + inst.workload.output_tokens_max
    model = hf_model_name(inst)
    out = []
    for j, s in enumerate(inst.servers):
        m = int(end[j] - start[j])
        if m <= 0:
            continue
        cache_tokens = int(slots[j] // m) * seq
        argv = ["python", "-m", "petals.cli.run_server", model, "--block_indices", f"{int(start[j])}:{int(end[j])}",
                "--torch_dtype", "float16", "--quant_type", QUANT_TYPE[inst.server_dtypes[j]],
                "--attn_cache_tokens", str(cache_tokens), "--public_name", s.id]
        if initial_peers:
            argv += ["--initial_peers", *initial_peers]
        out.append({"server": s.id, "start": int(start[j]), "end": int(end[j]), "attn_cache_tokens": cache_tokens,
                    "expected_requests_per_s": float(rate[j]), "argv": argv, "command": shlex.join(argv)})
    return out

"""Shared fixtures and hypothesis strategies for optim's tests."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
INSTANCES = ROOT / "instances"


@pytest.fixture(scope="session")
def instances_dir() -> Path:
    return INSTANCES


def solve_and_validate(inst, solver: str):
    """Solve with a heuristic; return ``(solution, evaluation)`` after asserting that the solution is
    feasible and passes the validator, or ``(solution, None)`` when it is infeasible with a reason."""
    from optim import evaluate, solve
    from optim.solution import Status

    sol = solve(inst, solver)
    assert sol.status in (Status.FEASIBLE, Status.INFEASIBLE), sol.message
    if sol.status is Status.INFEASIBLE:
        assert sol.message
        return sol, None
    ev = evaluate(inst, sol)
    assert ev.feasible, ev.violations
    return sol, ev


@st.composite
def small_instance_dicts(draw, max_servers: int = 6, max_blocks: int = 8, max_clients: int = 2):
    """Random small instances as plain dicts (inline model, explicit times, square RTT)."""
    L = draw(st.integers(2, max_blocks))
    J = draw(st.integers(1, max_servers))
    C = draw(st.integers(1, max_clients))
    block_gb = draw(st.sampled_from([0.5, 1.0, 2.0]))
    servers = []
    for j in range(J):
        servers.append({
            "id": f"s{j}",
            "memory_gb": draw(st.floats(0.5, block_gb * (L + 2), allow_nan=False)),
            "prefill_ms_per_block": draw(st.floats(0, 50)),
            "prefill_ms_per_block_per_token": draw(st.floats(0, 1)),
            "decode_ms_per_block_per_token": draw(st.floats(0.5, 30)),
        })
    clients = [{"id": f"c{i}", "arrival_rate_per_s": draw(st.floats(0.01, 2))} for i in range(C)]
    ids = [c["id"] for c in clients] + [s["id"] for s in servers]
    n = len(ids)
    rtt = [[0.0 if a == b else draw(st.floats(0, 200)) for b in range(n)] for a in range(n)]
    l_in = draw(st.integers(1, 64))
    l_out = draw(st.integers(1, 64))
    return {
        "format": "optim-instance/1", "name": "hyp",
        "model": {"name": "toy", "num_blocks": L, "block_bytes": block_gb * 1e9,
                  "kv_cache_bytes_per_token_per_block": draw(st.sampled_from([1e4, 1e5, 1e6])),
                  "hidden_size": 1024, "num_kv_groups": 1},
        "servers": servers, "clients": clients, "rtt": {"ids": ids, "rtt_ms": rtt},
        "workload": {"input_tokens_mean": l_in, "input_tokens_max": l_in, "output_tokens_mean": l_out,
                     "output_tokens_max": l_out, "concurrent_requests": draw(st.integers(1, 6))},
        "communication": {"decode_overhead_ms": draw(st.floats(0, 100)), "prefill_overhead_ms": draw(st.floats(0, 100)),
                          "prefill_overhead_ms_per_token": draw(st.floats(0, 1))},
    }

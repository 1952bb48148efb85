"""The redundancy option of cg-bprr: every block on at least r servers (issue 16, item 5)."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings

from optim import evaluate, instance_from_dict, load_instance, solve
from optim.perf.capacity import servers_per_block
from optim.validate import single_server_failures

from conftest import INSTANCES, small_instance_dicts


def test_two_copies_survive_any_single_failure():
    inst = load_instance(INSTANCES / "geo-world-40.json")
    sol = solve(inst, "cg-bprr", redundancy=2)
    assert evaluate(inst, sol).feasible
    s, e, _ = sol.spans(inst)
    assert servers_per_block(s, e, inst.num_blocks).min() >= 2
    assert all(row["served"] and not row["unserved_blocks"] for row in single_server_failures(inst, sol))
    assert sol.details["theorem2_bound_s_per_token"] is None  # Theorem 2 is proved for Alg. 1's placement only


def test_alg1_placement_kept_when_it_already_holds_every_block_twice():
    """chains-europe-20: the extended rule runs out of servers, but Alg. 1's own placement holds
    every block at least twice, so it is the answer (with its Theorem-2 bound)."""
    inst = load_instance(INSTANCES / "chains-europe-20.json")
    sol, plain = solve(inst, "cg-bprr", redundancy=2), solve(inst, "cg-bprr")
    assert [(p.start, p.end) for p in sol.placement] == [(p.start, p.end) for p in plain.placement]
    assert sol.details["theorem2_bound_s_per_token"] == plain.details["theorem2_bound_s_per_token"]
    assert solve(inst, "cg-bprr", redundancy=3).status.value == "infeasible"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(d=small_instance_dicts(max_servers=5, max_blocks=6))
def test_redundancy_holds_or_the_reason_is_given(d):
    inst = instance_from_dict(d)
    for r in (2, 3):
        sol = solve(inst, "cg-bprr", redundancy=r)
        if not sol.has_solution:
            assert sol.status.value == "infeasible" and sol.message
            continue
        assert evaluate(inst, sol).feasible
        s, e, _ = sol.spans(inst)
        assert servers_per_block(s, e, inst.num_blocks).min() >= r

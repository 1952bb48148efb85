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
    assert sol.details["theorem2_bound_s_per_token"] is None  # Theorem 2 is for Alg. 1's own placement


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

"""throughput-milp: optimum equals brute force (every placement, max flow) on tiny instances."""
import itertools

import numpy as np
import pytest

from optim import evaluate, instance_from_dict, load_instance, solve
from optim.solution import Status
from optim.solvers.throughput_milp import edge_capacity, max_flow_on_placement, node_throughput

from conftest import INSTANCES
from test_bprr_milp import tiny_instance


def brute_force_throughput(inst):
    T, C = node_throughput(inst), edge_capacity(inst)
    L = inst.num_blocks
    options = [[(0, 0)] + [(a, e) for a in range(L) for e in range(a + 1, L + 1) if T[j, e - a] > 0]
               for j in range(inst.num_servers)]
    best = 0.0
    for spans in itertools.product(*options):
        start = np.array([a for a, _ in spans])
        end = np.array([e for _, e in spans])
        best = max(best, max_flow_on_placement(inst, start, end, T, C)[0])
    return best


@pytest.mark.parametrize("seed", range(10))
def test_throughput_milp_equals_brute_force(seed):
    d = tiny_instance(np.random.default_rng(seed))
    d["servers"] = [{**s, "bandwidth_mbps": float(b)} for s, b in
                    zip(d["servers"], np.random.default_rng(seed).uniform(1, 50, len(d["servers"])))]
    inst = instance_from_dict(d)
    expected = brute_force_throughput(inst)
    sol = solve(inst, "throughput-milp", mip_gap=0.0)
    if expected == 0:
        assert sol.status is not Status.OPTIMAL or sol.objective == pytest.approx(0, abs=1e-6)
        return
    assert sol.status is Status.OPTIMAL, sol.message
    assert sol.objective == pytest.approx(expected, rel=1e-6)
    assert sol.bound >= sol.objective * (1 - 1e-6)


@pytest.mark.slow
def test_throughput_milp_at_least_petals_and_valid():
    inst = load_instance(INSTANCES / "bprr-clustered-9.json")
    sol = solve(inst, "throughput-milp", time_limit=5)
    assert sol.status in (Status.OPTIMAL, Status.TIME_LIMIT)
    assert sol.objective >= sol.details["warm_start_tokens_per_s"] * (1 - 1e-9)
    assert sol.bound >= sol.objective
    assert evaluate(inst, sol).feasible

"""Direct server-to-server relaying (issue 16, item 6): the model, the routing, the simulator."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optim import evaluate, instance_from_dict, load_instance, solve
from optim.errors import InvalidInstanceError, InvalidOptionError
from optim.perf import path_times
from optim.perf.chains import chain_job_time
from optim.routing import NoPathError, direct_hop_costs, shortest_hops_direct

from conftest import INSTANCES


def _three(relay: str, bandwidth: bool = False) -> dict:
    """Client c; servers a, b, s (spare); RTT c-a 20, c-b 40, a-b 10 ms; 4 blocks."""
    ids = ["c", "a", "b", "s"]
    rtt = [[0, 20, 40, 30], [20, 0, 10, 15], [40, 10, 0, 25], [30, 15, 25, 0]]
    srv = {"memory_gb": 100, "prefill_ms_per_block": 1.0, "prefill_ms_per_block_per_token": 0.0,
           "decode_ms_per_block_per_token": 2.0, "bandwidth_mbps": 8.0}
    return {"format": "optim-instance/1", "name": "three",
            "model": {"name": "toy", "num_blocks": 4, "block_bytes": 1e9, "kv_cache_bytes_per_token_per_block": 1e3,
                      "hidden_size": 1024},
            "servers": [{"id": x, **srv} for x in ("a", "b", "s")],
            "clients": [{"id": "c", "arrival_rate_per_s": 0.01, "bandwidth_mbps": 8.0}],
            "rtt": {"ids": ids, "rtt_ms": rtt},
            "workload": {"input_tokens_mean": 1, "input_tokens_max": 1, "output_tokens_mean": 3,
                         "output_tokens_max": 3, "concurrent_requests": 1},
            "communication": {"relay": relay, "include_bandwidth": bandwidth}}


def test_hand_computed_three_server_path():
    """Path a[0, 2) -> b[2, 4). Per decode token: client relaying 20 + 40 = 60 ms of RTT; direct
    20/2 + 10/2 + 40/2 = 35 ms. With 8 Mbit/s everywhere one token (1024 x 2 B) crosses a link in
    2.048 ms: relaying moves it 4 times (to a and back, to b and back), direct 3 times."""
    servers, blocks = np.array([0, 1]), np.array([2, 2])
    compute = 4 * 2.0e-3
    relay = path_times(instance_from_dict(_three("client")), 0, servers, blocks)
    direct = path_times(instance_from_dict(_three("direct")), 0, servers, blocks)
    assert relay.decode_s_per_token == pytest.approx(0.060 + compute)
    assert direct.decode_s_per_token == pytest.approx(0.035 + compute)
    tok = 1024 * 2 * 8 / 8e6
    relay_bw = path_times(instance_from_dict(_three("client", True)), 0, servers, blocks)
    direct_bw = path_times(instance_from_dict(_three("direct", True)), 0, servers, blocks)
    assert relay_bw.decode_s_per_token == pytest.approx(0.060 + 4 * tok + compute)
    assert direct_bw.decode_s_per_token == pytest.approx(0.035 + 3 * tok + compute)
    # prefill: 1 token, 1 ms fixed per block, the same links
    assert direct_bw.prefill_s == pytest.approx(0.035 + 3 * tok + 4 * 1e-3)
    # one hop: direct equals relaying (there and back over the same link)
    one = np.array([0]), np.array([4])
    assert path_times(instance_from_dict(_three("direct", True)), 0, *one).inference_s == pytest.approx(
        path_times(instance_from_dict(_three("client", True)), 0, *one).inference_s)


def test_solvers_route_directly_and_the_validator_agrees():
    inst = instance_from_dict(_three("direct"))
    sol = solve(inst, "cg-bprr")
    ev = evaluate(inst, sol)
    assert ev.feasible
    for p in ev.paths:  # the validator's times are the model's for the path taken
        t = path_times(inst, 0, np.array([inst.server_index[s] for s in p["servers"]]), np.array(p["blocks"]))
        assert p["inference_s"] == pytest.approx(t.inference_s)
    assert chain_job_time(inst, [0, 1], [2, 2]) == pytest.approx(
        path_times(inst, 0, np.array([0, 1]), np.array([2, 2])).inference_s)


def _brute(start, end, L, P, back, B):
    """Every valid path (Lemma 1: each hop starts where the last ended, inside its span), cheapest."""
    J = start.size
    best = (np.inf, None)
    for r in range(1, J + 1):
        for order in itertools.permutations(range(J), r):
            b, prev, cost, hops = 0, -1, 0.0, []
            ok = True
            for j in order:
                if not (start[j] <= b < end[j]):
                    ok = False
                    break
                cost += P[prev + 1, j] + B[j] * (end[j] - b)
                hops.append((j, b, int(end[j])))
                b, prev = int(end[j]), j
            if ok and b == L:
                cost += back[prev]
                if cost < best[0] - 1e-12:
                    best = (cost, hops)
    return best


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_direct_shortest_path_equals_brute_force(data):
    J, L = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 5))
    start = np.array([data.draw(st.integers(0, L - 1)) for _ in range(J)])
    end = np.array([data.draw(st.integers(int(a) + 1, L)) for a in start])
    fl = st.floats(0, 10, allow_nan=False)
    P = np.array([[data.draw(fl) for _ in range(J)] for _ in range(J + 1)])
    back = np.array([data.draw(fl) for _ in range(J)])
    B = np.array([data.draw(fl) for _ in range(J)])
    cost, hops = _brute(start, end, L, P, back, B)
    if hops is None:
        with pytest.raises(NoPathError):
            shortest_hops_direct(start, end, L, P, back, B)
        return
    got, c = shortest_hops_direct(start, end, L, P, back, B)
    assert c == pytest.approx(cost)


def test_direct_costs_match_the_model_on_a_geo_instance():
    inst = load_instance(INSTANCES / "chains-europe-20.json")
    d = inst.model_copy(update={"communication": inst.communication.model_copy(update={"relay": "direct"})})
    sol = solve(d, "cg-bprr")
    ev = evaluate(d, sol)
    assert ev.feasible
    P, back, B = direct_hop_costs(d, 0, "inference")
    for p in ev.paths:  # the routing's cost of the chosen path is its modelled inference time
        servers = [d.server_index[s] for s in p["servers"]]
        prev = [-1] + servers[:-1]
        cost = sum(P[i + 1, j] + B[j] * k for i, j, k in zip(prev, servers, p["blocks"])) + back[servers[-1]]
        assert cost == pytest.approx(p["inference_s"], rel=1e-9)
    relay = evaluate(inst, solve(inst, "cg-bprr")).summary["mean_inference_time_s"]
    assert ev.summary["mean_inference_time_s"] < relay  # 7 hops: direct saves half the client round trips


def test_simulated_service_equals_the_chain_times():
    from optim.simulate import chains_of, mean_service_s, simulate

    inst = load_instance(INSTANCES / "chains-europe-20.json")
    d = inst.model_copy(update={"communication": inst.communication.model_copy(update={"relay": "direct"})})
    sol = solve(d, "gbp-cr")
    chains = chains_of(d, sol)
    for k, (s, b) in enumerate(zip(chains.servers, chains.blocks)):
        assert mean_service_s(chains, d, "model")[0, k] == pytest.approx(chain_job_time(d, s, b), rel=1e-9)
    res = simulate(d, sol, requests=2000, replications=2, seed=1)
    ev = evaluate(d, sol)
    assert ev.queueing["response_time_lower_s"] * 0.99 <= res.summary["response_s"]["mean"]


def test_milps_refuse_direct_and_block_rtt_layout_is_rejected():
    inst = instance_from_dict(_three("direct"))
    for solver in ("bprr-milp", "bprr-chains"):
        with pytest.raises(InvalidOptionError, match="client relaying"):
            solve(inst, solver)
    d = _three("direct")
    d["rtt"] = {"rows": ["c"], "cols": ["a", "b", "s"], "rtt_ms": [[20, 40, 30]]}
    with pytest.raises(InvalidInstanceError, match="communication.relay: 'direct' needs the server-server RTTs"):
        instance_from_dict(d)

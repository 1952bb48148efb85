"""The simulator against queueing theory, and its bookkeeping."""
import numpy as np
import pytest

from optim import evaluate, instance_from_dict, load_instance, solve
from optim.errors import UnstableSystemError
from optim.perf.ctmc import erlang_c_response_time
from optim.simulate import simulate, trace_arrivals
from optim.solution import Chain, Hop, Path, ServerPlacement, Solution, Status

from conftest import INSTANCES


def chain_system(rates_s, caps, lam):
    """An instance with one single-block server per chain, so chain k has service time rates_s[k]."""
    J = len(rates_s)
    servers = [{"id": f"s{j}", "memory_gb": 100.0, "prefill_ms_per_block": 1000.0 * T,
                "prefill_ms_per_block_per_token": 0.0, "decode_ms_per_block_per_token": 1e-9} for j, T in enumerate(rates_s)]
    ids = ["c0"] + [s["id"] for s in servers]
    inst = instance_from_dict({
        "name": "mmc", "model": {"name": "toy", "num_blocks": 1, "block_bytes": 1e9, "kv_cache_bytes_per_token_per_block": 1e6},
        "servers": servers, "clients": [{"id": "c0", "arrival_rate_per_s": lam}],
        "rtt": {"ids": ids, "rtt_ms": np.zeros((J + 1, J + 1)).tolist()},
        "workload": {"input_tokens_mean": 1, "input_tokens_max": 1, "output_tokens_mean": 1, "output_tokens_max": 1,
                     "concurrent_requests": 1},
        "communication": {"chain_overhead_ms": 0.0}})
    sol = Solution(instance="mmc", solver="hand", status=Status.FEASIBLE,
                   placement=[ServerPlacement(server=f"s{j}", start=0, end=1, cache_slots=int(c)) for j, c in enumerate(caps)],
                   paths=[Path(client="c0", requests=1, hops=[Hop(server="s0", start=0, end=1)])],
                   chains=[Chain(hops=[Hop(server=f"s{j}", start=0, end=1)], capacity=int(c), service_time_s=float(T))
                           for j, (T, c) in enumerate(zip(rates_s, caps))])
    return inst, sol


@pytest.mark.slow
def test_mmc_matches_erlang_c_within_3_percent():
    inst, sol = chain_system([2.0, 2.0], [3, 2], lam=2.0)  # M/M/5, mu = 0.5, rho = 0.8
    r = simulate(inst, sol, policy="jffc", requests=60_000, replications=4, seed=1, service="exponential")
    expected = erlang_c_response_time(5, 0.5, 2.0)
    assert r.summary["response_s"]["mean"] == pytest.approx(expected, rel=0.03)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_jffc_within_theorem4_bounds(seed):
    rng = np.random.default_rng(seed)
    K = int(rng.integers(2, 4))
    T = rng.uniform(0.5, 3, K)
    c = rng.integers(1, 4, K)
    lam = 0.7 * float(np.sum(c / T))
    inst, sol = chain_system(T.tolist(), c.tolist(), lam)
    q = evaluate(inst, sol).queueing
    r = simulate(inst, sol, policy="jffc", requests=40_000, replications=4, seed=seed, service="exponential")
    mean, half = r.summary["response_s"]["mean"], r.summary["response_s"]["mean_ci95"]
    slack = max(3 * half, 0.01 * mean)
    assert q["response_time_lower_s"] - slack <= mean <= q["response_time_upper_s"] + slack


@pytest.mark.parametrize("policy", ["jffc", "jsq", "sed"])
def test_every_request_completes_once_and_slots_hold(policy):
    inst = load_instance(INSTANCES / "chains-europe-20.json")
    sol = solve(inst, "cg-bprr")  # chains from GCA on a placement with many of them
    r = simulate(inst, sol, policy=policy, requests=3000, seed=3, debug=True)
    rec = r.records
    assert len(rec["request"]) == 3000 and len(set(rec["request"].tolist())) == 3000
    assert np.all(np.isfinite(rec["completion_s"]))
    assert np.all(rec["start_s"] >= rec["arrival_s"]) and np.all(rec["completion_s"] > rec["start_s"])
    assert np.all(rec["first_token_s"] <= rec["completion_s"])


def test_same_seed_same_output():
    inst = load_instance(INSTANCES / "chains-europe-20.json")
    sol = solve(inst, "gbp-cr")
    a = simulate(inst, sol, requests=2000, seed=7)
    b = simulate(inst, sol, requests=2000, seed=7)
    c = simulate(inst, sol, requests=2000, seed=8)
    assert np.array_equal(a.records["completion_s"], b.records["completion_s"])
    assert not np.array_equal(a.records["completion_s"], c.records["completion_s"])


def test_unstable_is_refused():
    inst, sol = chain_system([1.0], [1], lam=1.5)
    with pytest.raises(UnstableSystemError, match="not below"):
        simulate(inst, sol, requests=10)


def test_trace_is_scaled_to_the_target_rate():
    t, lin, lout = trace_arrivals(1.0, 8819)  # the whole trace: its mean rate becomes 1 req/s
    assert len(t) / (t[-1] + (t[-1] - t[0]) / (len(t) - 1)) == pytest.approx(1.0, rel=1e-9)
    t2, _, _ = trace_arrivals(2.57, 20_000)  # longer than the trace: repeated
    assert len(t2) == 20_000 and np.all(np.diff(t2) >= 0)


@pytest.mark.parametrize("solver,policy", [("petals", "petals"), ("cg-bprr", "ws-rr")])
def test_path_policies_complete_every_request(solver, policy):
    inst = load_instance(INSTANCES / "bprr-clustered-9.json")
    sol = solve(inst, solver)
    r = simulate(inst, sol, policy=policy, requests=200, seed=1, debug=True)
    rec = r.records
    assert np.all(np.isfinite(rec["completion_s"])) and len(rec["request"]) == 200
    assert np.all(rec["waited_s"] >= 0) and np.all(rec["service_s"] > 0)
    again = simulate(inst, sol, policy=policy, requests=200, seed=1)
    assert np.array_equal(rec["completion_s"], again.records["completion_s"])


def test_petals_waits_more_than_cg_bprr_under_load():
    """The BPRR paper's finding in simulation: PETALS' placement runs out of cache and requests wait."""
    inst = load_instance(INSTANCES / "bprr-clustered-9.json")
    pe = simulate(inst, solve(inst, "petals"), policy="petals", requests=300, seed=2)
    cg = simulate(inst, solve(inst, "cg-bprr"), policy="ws-rr", requests=300, seed=2)
    assert pe.summary["waiting_s"]["mean"] > cg.summary["waiting_s"]["mean"]
    assert pe.summary["response_s"]["mean"] > cg.summary["response_s"]["mean"]

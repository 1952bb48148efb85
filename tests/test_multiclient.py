"""Several clients: a chain's time is its client's own, JFFC sends each job to the chain fastest for
its client, and solve, evaluate and simulate agree on a placement's mean response time (issue 13)."""
import numpy as np
import pytest

from optim import evaluate, instance_from_dict, load_instance, solve
from optim.dispatch import JFFC
from optim.perf import largest_remainder
from optim.perf.ctmc import exact_jffc_response_time, multiclient_bounds, theorem4_bounds
from optim.simulate import chains_of, mean_service_s, simulate
from optim.solution import Chain, Hop, Path, ServerPlacement, Solution, Status

from conftest import INSTANCES


def two_client_system(compute_s, rtt_ms, caps, rates):
    """One single-block server per chain (compute ``compute_s[k]`` seconds per job) and clients whose
    RTT to server k is ``rtt_ms[c][k]``; one round trip per job (``per_job``), so a job of client c on
    chain k takes ``rtt_ms[c][k] / 1000 + compute_s[k]`` seconds."""
    J, C = len(compute_s), len(rates)
    servers = [{"id": f"s{j}", "memory_gb": 100.0, "prefill_ms_per_block": 1000.0 * t,
                "prefill_ms_per_block_per_token": 0.0, "decode_ms_per_block_per_token": 1e-9}
               for j, t in enumerate(compute_s)]
    ids = [f"c{c}" for c in range(C)] + [s["id"] for s in servers]
    rtt = np.zeros((C + J, C + J))
    rtt[:C, C:] = rtt_ms
    rtt[C:, :C] = np.transpose(rtt_ms)
    inst = instance_from_dict({
        "name": "two-clients", "model": {"name": "toy", "num_blocks": 1, "block_bytes": 1e9,
                                         "kv_cache_bytes_per_token_per_block": 1e6},
        "servers": servers, "clients": [{"id": f"c{c}", "arrival_rate_per_s": r} for c, r in enumerate(rates)],
        "rtt": {"ids": ids, "rtt_ms": rtt.tolist()},
        "workload": {"input_tokens_mean": 1, "input_tokens_max": 1, "output_tokens_mean": 1, "output_tokens_max": 1,
                     "concurrent_requests": C},
        "communication": {"chain_overhead_ms": 0.0, "round_trips": "per_job", "include_bandwidth": False}})
    T = np.asarray(rtt_ms) / 1000.0 + np.asarray(compute_s)  # (C, K)
    share = np.asarray(rates) / np.sum(rates)  # a chain's recorded T_k: at the clients' rate-weighted RTTs
    sol = Solution(instance="two-clients", solver="hand", status=Status.FEASIBLE,
                   placement=[ServerPlacement(server=f"s{j}", start=0, end=1, cache_slots=int(c))
                              for j, c in enumerate(caps)],
                   paths=[Path(client=f"c{c}", requests=int(n), hops=[Hop(server=f"s{c % J}", start=0, end=1)])
                          for c, n in enumerate(largest_remainder(C, np.asarray(rates)))],
                   chains=[Chain(hops=[Hop(server=f"s{j}", start=0, end=1)], capacity=int(c),
                                 service_time_s=float(share @ T[:, j])) for j, c in enumerate(caps)])
    return inst, sol


def test_each_client_is_timed_with_its_own_rtts_and_served_on_its_fastest_chain():
    # c0 is next to s0 and 2 s from s1, c1 the other way round: T = [[1, 3], [3, 1]] s by hand
    inst, sol = two_client_system([1.0, 1.0], [[0.0, 2000.0], [2000.0, 0.0]], [5, 5], [0.001, 0.001])
    chains = chains_of(inst, sol)
    np.testing.assert_allclose(chains.eq2_by_client, [[1.0, 3.0], [3.0, 1.0]])
    np.testing.assert_allclose(mean_service_s(chains, inst, "model"), [[1.0, 3.0], [3.0, 1.0]])
    ev = evaluate(inst, sol)
    assert ev.queueing["response_time_light_load_s"] == pytest.approx(1.0)
    assert ev.chains[0]["service_time_s_by_client"] == pytest.approx({"c0": 1.0, "c1": 3.0})
    # at light load every job runs on its own client's near chain: 1 s each, never the 2 s of one
    # orchestrator at the clients' mean RTT
    r = simulate(inst, sol, requests=400, replications=1, seed=0, service="model")
    assert r.summary["response_s"]["mean"] == pytest.approx(1.0, abs=1e-9)
    assert set(r.records["servers"][r.records["client"] == "c0"]) == {"s0"}
    assert set(r.records["servers"][r.records["client"] == "c1"]) == {"s1"}


def test_client_aware_jffc_dispatch():
    pol = JFFC(1.0 / np.array([[1.0, 3.0], [3.0, 1.0]]), np.array([1, 1]))
    assert pol.arrive(1) == (1, True)  # client 1's fastest chain
    assert pol.arrive(1) == (0, True)  # then the other one
    assert pol.arrive(0) == (None, False)  # both busy: the central queue
    assert pol.complete(1) == 1  # the head of the queue starts on the slot freed
    # one row of rates is the paper's single-orchestrator JFFC
    single = JFFC(np.array([1.0, 2.0]), np.array([1, 1]))
    assert single.arrive() == (1, True)


@pytest.mark.parametrize("seed", range(5))
def test_one_client_gives_theorem4(seed):
    rng = np.random.default_rng(seed)
    K = int(rng.integers(1, 6))
    T, c = rng.uniform(0.5, 5, K), rng.integers(1, 5, K)
    lam = 0.8 * float(np.sum(c / T))
    a, b = multiclient_bounds(T[None, :], c, [lam]), theorem4_bounds(1.0 / T, c, lam)
    assert (a.lower_s, a.upper_s, a.rho) == pytest.approx((b.lower_s, b.upper_s, b.rho), rel=1e-12)


def test_identical_clients_bracket_the_exact_jffc():
    # two clients with the same times are one class: the bounds must hold around the exact CTMC
    T, c, lam = np.array([1.0, 2.0, 4.0]), np.array([2, 1, 2]), 1.2
    b = multiclient_bounds(np.vstack([T, T]), c, [0.5 * lam, 0.5 * lam])
    exact = exact_jffc_response_time(1.0 / T, c, lam)
    assert b.lower_s <= exact <= b.upper_s


def test_light_load_limit_and_instability():
    T = np.array([[1.0, 3.0], [3.0, 1.0]])
    b = multiclient_bounds(T, np.array([2, 2]), [1e-6, 3e-6])
    assert b.lower_s == pytest.approx(1.0, rel=1e-5)  # every job on its client's fastest chain
    from optim.errors import UnstableSystemError

    with pytest.raises(UnstableSystemError):  # 4 slots of at least 1 s cannot serve 5 jobs/s
        multiclient_bounds(T, np.array([2, 2]), [2.5, 2.5])


@pytest.mark.parametrize("seed", range(3))
def test_simulated_client_aware_jffc_lies_within_the_bounds(seed):
    rng = np.random.default_rng(seed)
    K = int(rng.integers(2, 4))
    compute = rng.uniform(0.5, 2.0, K)
    rtt = rng.uniform(0.0, 1500.0, (2, K))
    caps = rng.integers(1, 4, K)
    T = rtt / 1000.0 + compute
    nu = float(np.sum(caps / T.mean(axis=0)))
    share = rng.uniform(0.2, 0.8)
    rates = np.array([share, 1 - share]) * 0.6 * nu
    inst, sol = two_client_system(compute.tolist(), rtt.tolist(), caps.tolist(), rates.tolist())
    q = evaluate(inst, sol).queueing
    r = simulate(inst, sol, requests=20_000, replications=3, seed=seed, service="exponential")
    mean, half = r.summary["response_s"]["mean"], r.summary["response_s"]["mean_ci95"]
    assert q["response_time_lower_s"] - half <= mean <= q["response_time_upper_s"] + half


LIGHT = [("geo-europe-20", "cg-bprr"), ("geo-world-40", "cg-bprr"), ("geo-world-40", "gbp-cr"),
         ("geo-world-40", "petals"), ("chains-europe-20", "gbp-cr"), ("chains-europe-20", "cg-bprr"),
         ("bprr-clustered-9", "cg-bprr"), ("bprr-clustered-26", "gbp-cr")]


@pytest.mark.parametrize("name,solver", LIGHT)
def test_solve_evaluate_and_simulate_agree_at_light_load(name, solver):
    """The first acceptance line of issue 13: at light load (the instance's clients at 1% of the
    chains' rate) the response time ``optim solve`` and ``optim evaluate`` print equals the
    simulated mean, exponential and model service, within the simulator's 95% interval."""
    base = load_instance(INSTANCES / f"{name}.json")
    sol = solve(base, solver)
    nu = evaluate(base, sol).queueing["nu_per_s"]
    d = base.model_dump(mode="json", exclude_none=True)
    for cl in d["clients"]:
        cl["arrival_rate_per_s"] *= 0.01 * nu / base.total_arrival_rate
    inst = instance_from_dict(d)
    predicted = evaluate(inst, sol).queueing["response_time_light_load_s"]
    for service, n in (("exponential", 20_000), ("model", 3000)):
        r = simulate(inst, sol, requests=n, replications=3, seed=0, service=service)
        mean, half = r.summary["response_s"]["mean"], r.summary["response_s"]["mean_ci95"]
        assert abs(mean - predicted) <= max(half, 1e-6 * predicted), (service, mean, half, predicted)


def test_solve_and_evaluate_print_the_same_response_time(tmp_path):
    from click.testing import CliRunner

    from optim.cli import main

    out = tmp_path / "sol.json"
    inst = INSTANCES / "geo-world-40.json"
    solved = CliRunner().invoke(main, ["solve", str(inst), "-o", str(out)])
    evaluated = CliRunner().invoke(main, ["evaluate", str(inst), str(out)])
    assert solved.exit_code == 0 and evaluated.exit_code == 0, solved.output + evaluated.output
    expected = evaluate(load_instance(inst), solve(load_instance(inst), "cg-bprr")).queueing
    line = (f"mean response time (Poisson arrivals, JFFC on the chains): "
            f"{expected['response_time_light_load_s']:.3f} s at light load")
    assert line in solved.output and line in evaluated.output

"""GPU contention (optim.perf.batching): hand-computed steps and timelines, and the analytic
load-dependent job times against the step-by-step simulator."""
import numpy as np
import pytest
import simpy

from optim import evaluate, instance_from_dict, load_instance, solve
from optim.perf.batching import ServerGPU, kv_read_s, loaded_job_times
from optim.perf.chains import hop_communication
from optim.perf.ctmc import jffc_chain_rates
from optim.simulate import JobRunner, _SharedGPU, chains_of, simulate
from test_latency import HAND

from conftest import ROOT


def with_batching(data: dict, mode: str) -> dict:
    return dict(data, servers=[dict(s, batching=mode) for s in data["servers"]])


def test_pass_times_hand_computed():
    """t_o = 1 ms, t^I = 1 ms/token, tau = 50 ms, kappa = 10 ms per block; two blocks."""
    g = ServerGPU("continuous", 0.001, 0.001, 0.05, 0.01)
    assert g.pass_time_s(np.array([2.0]), np.array([100.0]), np.array([True])) == pytest.approx(2 * (0.001 + 0.1))
    assert g.pass_time_s(np.array([2.0]), np.array([1.0]), np.array([False])) == pytest.approx(0.1)
    # two decode steps of 2 blocks: weights once (2 x 50 ms) + the second session's KV (2 x 10 ms)
    assert g.pass_time_s(np.array([2.0, 2.0]), np.ones(2), np.zeros(2, bool)) == pytest.approx(0.12)
    # a prefill of 100 tokens with a decode step riding along: compute-bound, 2 x (101 x 1 ms + 1 ms)
    assert g.pass_time_s(np.array([2.0, 2.0]), np.array([100.0, 1.0]), np.array([True, False])) == pytest.approx(0.204)
    with pytest.raises(ValueError, match="one step per pass"):
        ServerGPU("none", 0.001, 0.001, 0.05, 0.01).pass_time_s(np.array([2.0, 2.0]), np.ones(2), np.zeros(2, bool))


@pytest.mark.parametrize("mode, done", [("none", (0.2, 0.3, 0.4)), ("continuous", (0.2, 0.32, 0.32))])
def test_shared_gpu_queues_or_batches(mode, done):
    """A 200 ms prefill runs from t = 0; two decode steps arrive at 50 ms and wait for it. Without
    batching they run one after the other (100 ms each); batched, together in 120 ms."""
    env = simpy.Environment()
    gpu = _SharedGPU(env, ServerGPU(mode, 0.0, 0.001, 0.05, 0.01))
    finished = []

    def job(delay, tokens, prefill):
        yield env.timeout(delay)
        yield gpu.step(2.0, tokens, prefill)
        finished.append(env.now)

    env.process(job(0.0, 100.0, True))
    env.process(job(0.05, 1.0, False))
    env.process(job(0.05, 1.0, False))
    env.run()
    assert finished == pytest.approx(list(done))
    assert gpu.busy_s == pytest.approx(0.4 if mode == "none" else 0.32)


@pytest.mark.parametrize("mode", ["ideal", "none", "continuous"])
def test_two_jobs_on_a_three_server_chain_hand_computed(mode):
    """Two jobs start at t = 0 on the chain a[0,3) -> b[3,4) of the hand instance, l_in = 10, l_out = 2.

    Per hop: prefill communication a 30 ms (20 RTT + 5 + 0.5 x 10), b 50 ms; prefill compute a
    3 x (2 + 0.1 x 10) = 9 ms, b 1 x (4 + 2) = 6 ms; decode communication a 30, b 50 ms; decode
    compute a 3 x 5 = 15, b 10 ms. Alone, a job takes 95 ms to its first token and 200 ms in all.
    Sharing the GPUs one step at a time (``none``), the second job's prefill at a waits 9 ms, and
    its decode step at a waits for the first job's (arriving 6 ms earlier, 15 ms long): it ends at
    215 ms. Continuous batching runs the same passes here (no two steps wait together)."""
    inst = instance_from_dict(with_batching(HAND, mode))
    env = simpy.Environment()
    runner = JobRunner(env, inst, np.random.default_rng(0))
    comm = hop_communication(inst, 0)
    first, done = [], []

    def job():
        yield from runner.run(np.array([0, 1]), np.array([3.0, 1.0]), comm, 10.0, 2.0, lambda: first.append(env.now))
        done.append(env.now)

    env.process(job())
    env.process(job())
    env.run()
    if mode == "ideal":
        assert first == pytest.approx([0.095, 0.095]) and done == pytest.approx([0.2, 0.2])
    else:
        assert first == pytest.approx([0.095, 0.104]) and done == pytest.approx([0.2, 0.215])


def test_kv_read_hand_computed():
    """kappa = tau x kv bytes/token/block x (l_in + l_out / 2) / s_m = 5 ms x 1e6 x 12.5 / 1e9."""
    inst = instance_from_dict(HAND)
    assert kv_read_s(inst) == pytest.approx(np.array([5e-3, 10e-3, 20e-3]) * 1e6 * 12.5 / 1e9)


def test_jffc_split_fills_the_fastest_chains_first():
    rates = jffc_chain_rates(np.array([1.0, 0.5, 2.0]), np.array([2, 3, 1]), 2.0)
    assert rates.sum() == pytest.approx(2.0)
    light = jffc_chain_rates(np.array([1.0, 0.5, 2.0]), np.array([2, 3, 1]), 1e-4)
    assert light[2] / light.sum() == pytest.approx(1.0, abs=1e-3)  # nearly every job finds the fastest free


def test_ideal_servers_add_nothing():
    inst = instance_from_dict(HAND)
    lj = loaded_job_times(inst, [np.array([0, 1])], [np.array([3, 1])], np.array([0.2]), np.array([3.0]))
    assert lj.job_s == pytest.approx([0.2]) and lj.extra_s == pytest.approx([0.0])


@pytest.mark.parametrize("mode", ["none", "continuous"])
def test_analytic_contention_matches_the_simulator(mode):
    """geo-europe-20, gbp-cr with c = 73 (one chain, one server), lambda = 0.2/s: a job's GPU work
    is 26% of the server's time. Contention adds 0.6-0.7 s to the 2.49 s job; the analytic time
    (evaluate) is within 5% of the step-by-step simulation."""
    inst = load_instance(ROOT / "instances" / "geo-europe-20.json")
    inst = inst.model_copy(update={"servers": [s.model_dump() | {"batching": mode} for s in inst.servers]})
    sol = solve(load_instance(ROOT / "instances" / "geo-europe-20.json"), "gbp-cr")  # the placement without contention
    assert len(sol.chains) == 1
    q = evaluate(inst, sol)
    row = q.chains[0]
    assert row["loaded_service_time_s"] > row["service_time_s"] * 1.15
    assert q.queueing["contention"] and "load-dependent" in q.queueing["assumptions"]
    sim = simulate(inst, sol, requests=3000, replications=2, seed=3).summary["response_s"]["mean"]
    assert sim > row["service_time_s"] * 1.15
    assert row["loaded_service_time_s"] == pytest.approx(sim, rel=0.05)
    assert q.queueing["response_time_lower_s"] == pytest.approx(row["loaded_service_time_s"], rel=1e-6)


def test_ideal_instances_simulate_as_before():
    """Without contention the simulator holds each job for its model time: mean service = T_k."""
    inst = load_instance(ROOT / "instances" / "geo-europe-20.json")
    sol = solve(inst, "gbp-cr")
    r = simulate(inst, sol, requests=500, seed=0).summary
    assert r["service_s"]["mean"] == pytest.approx(chains_of(inst, sol).eq2_s[0], rel=1e-9)


@pytest.mark.parametrize("mode", ["none", "continuous"])
def test_gbp_cr_spreads_sessions_that_share_a_gpu(mode):
    """With contention gbp-cr's bound is taken at the loaded times, so it spreads the sessions over
    more servers than the one chain it picks without contention; the simulated mean lies within
    5% of the (loaded) Theorem-4 bounds."""
    base = load_instance(ROOT / "instances" / "geo-europe-20.json")
    inst = base.model_copy(update={"servers": [s.model_dump() | {"batching": mode} for s in base.servers]})
    sol = solve(inst, "gbp-cr")
    used = sum(p.end > p.start for p in sol.placement)
    assert used > sum(p.end > p.start for p in solve(base, "gbp-cr").placement)
    q = evaluate(inst, sol).queueing
    sim = simulate(inst, sol, requests=3000, replications=2, seed=3).summary["response_s"]["mean"]
    assert 0.95 * q["response_time_lower_s"] <= sim <= 1.05 * q["response_time_upper_s"]


def test_simulated_gpu_utilisation_against_evaluate():
    """The simulator's busy share of each GPU (``gpu_utilisation``) against evaluate's analytic one
    on the one-server chain of geo-europe-20. One step at a time (``none``) the GPU's busy time is the
    jobs' work, lambda x 1.30 s = 26%: within 5%. With continuous batching evaluate counts every
    decode step at its marginal KV read (19%), as if always batched; at this load steps seldom meet,
    so the simulated share lies between that and the unbatched 26%. Servers without jobs are idle."""
    base = load_instance(ROOT / "instances" / "geo-europe-20.json")
    sol = solve(base, "gbp-cr")
    got = {}
    for mode in ("none", "continuous"):
        inst = base.model_copy(update={"servers": [s.model_dump() | {"batching": mode} for s in base.servers]})
        util = np.array(evaluate(inst, sol).queueing["gpu_utilisation"])
        sim = simulate(inst, sol, requests=3000, replications=2, seed=3).summary["gpu_utilisation"]
        got[mode] = (util, np.array([sim[s.id] for s in inst.servers]))
    (u_none, s_none), (u_cont, s_cont) = got["none"], got["continuous"]
    j = int(np.argmax(u_none))
    assert u_none[j] == pytest.approx(0.26, abs=0.01) and u_cont[j] == pytest.approx(0.193, abs=0.01)
    assert s_none[j] == pytest.approx(u_none[j], rel=0.05)
    assert u_cont[j] < s_cont[j] <= s_none[j] * 1.05
    assert np.all(s_none[u_none == 0] == 0) and np.all(s_cont[u_none == 0] == 0)


def test_busy_seconds_hand_computed():
    """The two jobs of the hand chain keep server a busy 2 x (9 + 15) ms and b 2 x (6 + 10) ms."""
    inst = instance_from_dict(with_batching(HAND, "none"))
    env = simpy.Environment()
    runner = JobRunner(env, inst, np.random.default_rng(0))
    comm = hop_communication(inst, 0)
    for _ in range(2):
        env.process(runner.run(np.array([0, 1]), np.array([3.0, 1.0]), comm, 10.0, 2.0, lambda: None))
    env.run()
    assert runner.busy_s() == pytest.approx([0.048, 0.032, 0.0])
    assert JobRunner(env, instance_from_dict(HAND), np.random.default_rng(0)).busy_s() is None


def test_unstable_under_contention_reports_the_loaded_rate(tmp_path):
    """Past what shared GPUs can serve, ``evaluate`` gives the total rate at the load-dependent job
    times (the one the arrival rate was compared with), not the contention-free one, and no loaded
    times (they have no steady value); the CLI says so, and says what 'ideal' batching hides."""
    from click.testing import CliRunner

    from optim.cli import main

    d = load_instance(ROOT / "instances" / "geo-europe-20.json").model_dump(mode="json", exclude_none=True)
    d["clients"][0]["arrival_rate_per_s"] = 50.0
    ideal = instance_from_dict(d)
    shared = instance_from_dict(with_batching(d, "none"))
    sol = solve(ideal, "cg-bprr")
    free = evaluate(ideal, sol).queueing
    q = evaluate(shared, sol).queueing
    assert "unstable" not in free and free["rho"] < 1
    assert "unstable" in q and q["nu_per_s"] < 50.0 < free["nu_per_s"]
    assert f"nu = {q['nu_per_s']:g}/s" in q["unstable"]
    assert q["rho"] == pytest.approx(50.0 / q["nu_per_s"])
    assert all("loaded_service_time_s" not in row for row in evaluate(shared, sol).chains)
    import json

    (tmp_path / "i.json").write_text(json.dumps(d))
    out = CliRunner().invoke(main, ["solve", str(tmp_path / "i.json")]).output
    assert "GPU cannot keep up" in out and "every server's batching is 'ideal'" in out
    (tmp_path / "shared.json").write_text(json.dumps(with_batching(d, "none")))
    (tmp_path / "s.json").write_text(sol.model_dump_json())
    out = CliRunner().invoke(main, ["simulate", str(tmp_path / "shared.json"), str(tmp_path / "s.json"),
                                    "--requests", "50", "--replications", "1"]).output
    assert "no steady state at this load" in out


def test_gbp_cr_ties_go_to_the_larger_rate():
    """Lower bounds within the tolerance tie and the larger total rate nu wins; a bound lower by
    more wins whatever its rate. The tolerance is TIE_RTOL only where the bounds come from the
    load-dependent times."""
    from types import SimpleNamespace

    from optim.solvers.gbp_cr import EXACT_TIE_RTOL, TIE_RTOL, _better, _tie_rtol

    def res(lower, nu):
        return (lower, None, None, None, SimpleNamespace(total_rate_per_s=nu))

    tol = TIE_RTOL
    assert _better(res(10.0, 1.0), None, tol)
    assert not _better(None, res(10.0, 1.0), tol)
    assert _better(res(10.0 * (1 + tol / 2), 2.0), res(10.0, 1.0), tol)  # a tie: more rate wins
    assert not _better(res(10.0 * (1 - tol / 2), 0.5), res(10.0, 1.0), tol)  # a tie: less rate loses
    assert _better(res(10.0 * (1 - 2 * tol), 0.5), res(10.0, 1.0), tol)  # clearly lower
    assert not _better(res(10.0 * (1 + 2 * tol), 2.0), res(10.0, 1.0), tol)  # clearly higher
    assert not _better(res(10.0 * (1 + tol / 2), 2.0), res(10.0, 1.0), EXACT_TIE_RTOL)  # exact: higher loses
    assert _better(res(10.0, 2.0), res(10.0, 1.0), EXACT_TIE_RTOL)  # exact tie: more rate wins
    base = load_instance(ROOT / "instances" / "geo-europe-20.json")
    assert _tie_rtol(base) == EXACT_TIE_RTOL
    shared = base.model_copy(update={"servers": [s.model_dump() | {"batching": "none"} for s in base.servers]})
    assert _tie_rtol(shared) == TIE_RTOL


def test_gbp_cr_choice_does_not_hang_on_the_last_digits():
    """On the Table-I testbed at c = 35 the placements with two and with three GBP-CR chains have
    lower bounds equal to 1e-5 (the extra chains are the slowest, which the fastest-first bound
    barely sees). The choice used to flip between them as the compute factor moved by 0.3%; it is
    now the one with more capacity at every factor."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from reproduce_chains import table1_instance
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    for factor in (1.85, 1.855, 1.86):
        sol = solve(table1_instance(0, "none", factor), "gbp-cr", c=35)
        assert [ch.capacity for ch in sol.chains] == [36, 36, 1, 35]

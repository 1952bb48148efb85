"""One request-time model (issue 13): the simulator, the chain service time T_k, the validator and
the bounds agree on a placement, per model term."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from optim import evaluate, instance_from_dict, load_instance, solve
from optim.cli import main
from optim.simulate import simulate

from conftest import INSTANCES
from test_latency import HAND


@pytest.mark.parametrize("name,solver", [("chains-europe-20", "gbp-cr"), ("geo-europe-20", "gbp-cr"),
                                         ("bprr-clustered-9", "gbp-cr"), ("geo-europe-20", "cg-bprr")])
def test_simulated_service_time_of_every_chain_equals_its_t_k(name, solver):
    inst = load_instance(INSTANCES / f"{name}.json")
    sol = solve(inst, solver)
    ev = evaluate(inst, sol)
    T = sorted(ch["service_time_s"] for ch in ev.chains if ch["capacity"] > 0)
    res = simulate(inst, sol, policy="jffc", requests=3000, seed=0, service="model", warmup_fraction=0.0)
    rec = res.records
    for k in np.unique(rec["chain"]):
        served = rec["service_s"][rec["chain"] == k]
        assert served.mean() == pytest.approx(T[k], rel=0.01)


def test_per_token_chain_time_is_the_path_inference_time():
    inst = instance_from_dict(HAND)
    from optim.perf import chain_service_time, path_times

    for servers, blocks in (([0, 1], [3, 1]), ([2], [4]), ([0, 2], [1, 3])):
        t = path_times(inst, 0, np.array(servers), np.array(blocks))
        assert chain_service_time(inst, 0, np.array(servers), np.array(blocks)) == pytest.approx(t.inference_s)


def test_trace_lengths_are_said_in_the_output_and_the_json(tmp_path):
    inst_path = INSTANCES / "bprr-clustered-9.json"
    sol = tmp_path / "s.json"
    r = CliRunner().invoke(main, ["solve", str(inst_path), "--solver", "gbp-cr", "--output", str(sol)])
    assert r.exit_code == 0
    r = CliRunner().invoke(main, ["simulate", str(inst_path), str(sol), "--arrivals", "trace", "--requests", "300",
                                  "--replications", "1"])
    assert r.exit_code == 0 and "token lengths from the Azure trace" in r.output
    r = CliRunner().invoke(main, ["simulate", str(inst_path), str(sol), "--arrivals", "trace", "--lengths", "instance",
                                  "--requests", "300", "--replications", "1", "--json"])
    data = json.loads(r.output)
    s = data["simulations"]["jffc"]
    w = load_instance(inst_path).workload
    assert s["lengths"] == "instance" and s["input_tokens_mean"] == pytest.approx(w.input_tokens_mean)
    r = CliRunner().invoke(main, ["simulate", str(inst_path), str(sol), "--lengths", "trace", "--requests", "300",
                                  "--replications", "1", "--json"])
    assert json.loads(r.output)["simulations"]["jffc"]["lengths"] == "trace"


def test_bandwidth_term_hand_computed():
    """2 x hidden 1000 x 2 B x 8 = 32,000 bits per token and hop; the client has 8 Mbit/s, server a 16 and
    b 4: 4 ms per token on a (the client's 8 binds), 8 ms on b (its own 4 binds)."""
    d = json.loads(json.dumps(HAND))
    d["model"]["hidden_size"] = 1000
    d["clients"][0]["bandwidth_mbps"] = 8
    d["servers"][0]["bandwidth_mbps"] = 16
    d["servers"][1]["bandwidth_mbps"] = 4
    inst = instance_from_dict(d)
    assert inst.transfer_s_per_token[0, :2] == pytest.approx([0.004, 0.008])
    assert inst.transfer_s_per_token[0, 2] == pytest.approx(32_000 / 8e6)  # server c: the 1 Gbit/s default, client binds
    from test_latency import hand_solution

    p = evaluate(inst, hand_solution()).paths[0]
    # prefill 95 ms + 10 tokens x (4 + 8) ms = 215 ms; decode 105 + 4 + 8 = 117 ms/token; 215 + 4 x 117 = 683 ms
    assert p["prefill_s"] == pytest.approx(0.215)
    assert p["decode_s_per_token"] == pytest.approx(0.117)
    assert p["inference_s"] == pytest.approx(0.683)
    assert p["chain_service_time_s"] == pytest.approx(0.683)
    off = instance_from_dict({**d, "communication": {**d["communication"], "include_bandwidth": False}})
    assert evaluate(off, hand_solution()).paths[0]["inference_s"] == pytest.approx(0.515)


def test_bandwidth_reaches_the_simulator():
    d = json.loads(json.dumps(HAND))
    d["model"]["hidden_size"] = 1000
    d["clients"][0]["bandwidth_mbps"] = 8
    inst = instance_from_dict(d)
    sol = solve(inst, "gbp-cr")
    ev = evaluate(inst, sol)
    T = sorted(ch["service_time_s"] for ch in ev.chains if ch["capacity"] > 0)
    res = simulate(inst, sol, requests=500, seed=0, warmup_fraction=0.0)
    for k in np.unique(res.records["chain"]):
        assert res.records["service_s"][res.records["chain"] == k].mean() == pytest.approx(T[k], rel=0.01)
    for policy in ("petals", "ws-rr"):  # path policies: the simulated service equals the validator's path time
        r = simulate(inst, sol, policy=policy, requests=200, seed=0, warmup_fraction=0.0)
        from optim.perf import path_times

        for servers, service, row in zip(r.records["servers"], r.records["service_s"], range(len(r.records["servers"]))):
            ids = servers.split("->")
            # hops of a request: its servers in order, each running to its span's end (Lemma 1)
            idx = [inst.server_index[s] for s in ids]
            spans = sol.spans(inst)
            b, blocks = 0, []
            for j in idx:
                blocks.append(int(spans[1][j]) - b if j != idx[-1] else inst.num_blocks - b)
                b = int(spans[1][j])
            t = path_times(inst, int(np.flatnonzero([c.id == r.records["client"][row] for c in inst.clients])[0]),
                           np.array(idx), np.array(blocks))
            assert service == pytest.approx(t.inference_s, rel=1e-6)


def test_calibration_recovers_known_constants_and_its_intervals_cover_them(tmp_path):
    from optim.calibrate import calibrate

    rng = np.random.default_rng(3)
    n = 80
    k, l_in, l_out = rng.integers(5, 70, n), rng.integers(16, 2048, n), rng.integers(1, 128, n)
    truth = {"fixed_s": 0.2, "prefill_s_per_block": 0.02, "prefill_s_per_block_per_token": 7.4e-5,
             "decode_s_per_block_per_token": 0.0032}
    t = truth["fixed_s"] + k * (truth["prefill_s_per_block"] + truth["prefill_s_per_block_per_token"] * l_in
                                + truth["decode_s_per_block_per_token"] * (l_out - 1))
    exact = calibrate(k, l_in, l_out, t)
    for name, v in truth.items():
        assert exact.values[name] == pytest.approx(v, rel=1e-6)
    noisy = calibrate(k, l_in, l_out, t + rng.normal(0, 0.01, n))
    for name, v in truth.items():
        assert abs(noisy.values[name] - v) <= noisy.ci95[name]
    p = tmp_path / "m.csv"
    p.write_text("blocks,input_tokens,output_tokens,time_s\n" + "\n".join(f"{a},{b},{c},{d}" for a, b, c, d in
                                                                         zip(k, l_in, l_out, t)))
    out = tmp_path / "fit.json"
    r = CliRunner().invoke(main, ["calibrate", str(p), "--gpu", "lab", "--model", "bloom-176b", "--dtype", "nf4",
                                  "-o", str(out)])
    assert r.exit_code == 0, r.output
    fit = json.loads(out.read_text())
    assert fit["measured"]["decode_ms_per_block_per_token"] == pytest.approx(3.2)


def test_calibration_fits_the_contention_constant(tmp_path):
    """With concurrent_sessions in the measurements, each other session's share of a decode step
    (c = 2.9 ms per block per token here, about tau for a server that runs one step at a time) is
    fitted beside the four constants, and the CLI prints it."""
    from optim.calibrate import CONTENTION, calibrate

    rng = np.random.default_rng(5)
    n = 120
    k, l_in, l_out = rng.integers(5, 70, n), rng.integers(16, 2048, n), rng.integers(1, 128, n)
    sessions = rng.integers(1, 9, n)
    t = 0.2 + k * (0.02 + 7.4e-5 * l_in + 0.0032 * (l_out - 1)) + k * (l_out - 1) * (sessions - 1) * 0.0029
    fit = calibrate(k, l_in, l_out, t + rng.normal(0, 0.01, n), sessions)
    assert abs(fit.values[CONTENTION] - 0.0029) <= fit.ci95[CONTENTION] and fit.ci95[CONTENTION] < 1e-4
    assert CONTENTION not in calibrate(k, l_in, l_out, t - k * (l_out - 1) * (sessions - 1) * 0.0029).values
    p = tmp_path / "m.csv"
    p.write_text("blocks,input_tokens,output_tokens,concurrent_sessions,time_s\n" + "\n".join(
        f"{a},{b},{c},{d},{e}" for a, b, c, d, e in zip(k, l_in, l_out, sessions, t)))
    r = CliRunner().invoke(main, ["calibrate", str(p), "--gpu", "lab"])
    assert r.exit_code == 0 and "contention" in r.output, r.output


def test_calibration_refuses_bad_measurements(tmp_path):
    cases = {"missing column": "blocks,input_tokens,time_s\n1,2,3\n",
             "negative time": "blocks,input_tokens,output_tokens,time_s\n" + "2,10,5,-1\n" * 6,
             "text": "blocks,input_tokens,output_tokens,time_s\n" + "two,10,5,1\n" * 6,
             "one length": "blocks,input_tokens,output_tokens,time_s\n" + "2,10,5,1\n3,10,5,1.4\n" * 4}
    for what, text in cases.items():
        p = tmp_path / "m.csv"
        p.write_text(text)
        r = CliRunner().invoke(main, ["calibrate", str(p), "--gpu", "x"])
        assert r.exit_code == 2 and "Traceback" not in r.output, (what, r.output)
    # every bad cell is named with its row (as in the file), column and value, not only the first
    p.write_text("blocks,input_tokens,output_tokens,time_s\n8,128,16,abc\n-1,1,1,1\n" + "2,10,5,1\n" * 6)
    r = CliRunner().invoke(main, ["calibrate", str(p), "--gpu", "x"])
    assert r.exit_code == 2 and "2 bad values" in r.output
    assert "row 2, column time_s: 'abc'" in r.output and "row 3, column blocks: -1;" in r.output


def test_gpu_utilisation_hand_computed():
    """One chain a[0,3) -> b[3,4) taking all of lambda = 1/s: u_a = 3 x tau^p_a, u_b = 1 x tau^p_b, with
    tau^p_a = 2 + 0.1 x 10 + 4 x 5 = 23 ms and tau^p_b = 4 + 2 + 4 x 10 = 46 ms."""
    from optim.perf.batching import loaded_job_times

    inst = instance_from_dict(HAND)
    u = loaded_job_times(inst, [np.array([0, 1])], [np.array([3, 1])], np.array([0.5]), np.array([1.0])).utilisation
    assert u == pytest.approx([0.069, 0.046, 0.0])
    sol = solve(inst, "gbp-cr")
    q = evaluate(inst, sol).queueing
    assert 0 < q["max_gpu_utilisation"] == pytest.approx(max(q["gpu_utilisation"]))

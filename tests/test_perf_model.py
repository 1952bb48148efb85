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

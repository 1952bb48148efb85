"""The command line: acceptance flows, and malformed inputs that must exit 2 naming the field."""
import copy
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from optim.cli import main

from test_latency import HAND


def run(*args):
    r = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return r.exit_code, r.output + (getattr(r, "stderr", "") or "")


def write(tmp_path, data, name="inst.json"):
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return p


def mutate(fn):
    d = copy.deepcopy(HAND)
    fn(d)
    return d


MALFORMED = {
    "invalid json": ('{"model": ', "not valid JSON"),
    "wrong type": (mutate(lambda d: d["servers"][0].update(memory_gb="lots")), "servers[0].memory_gb"),
    "missing field": (mutate(lambda d: d.pop("workload")), "workload: Field required"),
    "negative memory": (mutate(lambda d: d["servers"][1].update(memory_gb=-4)), "servers[1].memory_gb"),
    "NaN token": (json.dumps(HAND).replace('"memory_gb": 10', '"memory_gb": NaN', 1), "NaN is not a number"),
    "NaN string": (mutate(lambda d: d["servers"][0].update(decode_ms_per_block_per_token="nan")),
                   "servers[0].decode_ms_per_block_per_token"),
    "non-square rtt": (mutate(lambda d: d["rtt"]["rtt_ms"][2].pop()), "rtt.rtt_ms[2]"),
    "duplicate ids": (mutate(lambda d: d["servers"][2].update(id="a")), "duplicate id 'a'"),
    "unknown model": (mutate(lambda d: d.update(model={"card": "gpt-17"})), "unknown model 'gpt-17'"),
    "zero blocks": (mutate(lambda d: d["model"].update(num_blocks=0)), "model.num_blocks"),
    "negative rtt": (mutate(lambda d: d["rtt"]["rtt_ms"][0].__setitem__(1, -3)), "rtt.rtt_ms[0][1]"),
    "zero tokens": (mutate(lambda d: d["workload"].update(input_tokens_max=0)), "workload.input_tokens_max"),
    "mean above max": (mutate(lambda d: d["workload"].update(output_tokens_mean=9)), "workload.output_tokens_mean"),
    "unknown field": (mutate(lambda d: d["servers"][0].update(memory_GB=3)), "servers[0].memory_GB"),
    "rtt id missing": (mutate(lambda d: d["rtt"].update(ids=["x", "a", "b", "q"])), "rtt.ids"),
    "wrong format": (mutate(lambda d: d.update(format="optim-instance/9")), "format"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_exits_2_naming_field(tmp_path, case):
    data, needle = MALFORMED[case]
    path = write(tmp_path, data)
    out_file = tmp_path / "s.json"
    code, out = run("solve", path, "--output", out_file)
    assert code == 2, out
    assert needle in out, out
    assert "Traceback" not in out
    assert not out_file.exists()  # nothing written on bad input


def test_malformed_in_real_process_has_no_traceback(tmp_path):
    path = write(tmp_path, MALFORMED["non-square rtt"][0])
    r = subprocess.run([sys.executable, "-m", "optim.cli", "solve", str(path)], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 2
    assert "rtt.rtt_ms[2]" in r.stderr and "Traceback" not in r.stderr + r.stdout


def test_missing_file_exits_2(tmp_path):
    code, out = run("solve", tmp_path / "nope.json")
    assert code == 2 and "cannot read file" in out


@pytest.mark.parametrize("solver", ["cg-bprr", "petals"])
def test_solve_then_evaluate_geo_europe(tmp_path, instances_dir, solver):
    out = tmp_path / "s.json"
    code, text = run("solve", instances_dir / "geo-europe-20.json", "--solver", solver, "--output", out)
    assert code == 0, text
    assert "mean inference time" in text
    code, text = run("evaluate", instances_dir / "geo-europe-20.json", out, "--json")
    assert code == 0
    assert json.loads(text)["feasible"] is True


def test_generated_geo_instance_solves(tmp_path):
    inst = tmp_path / "g.json"
    code, text = run("generate", "geo", "--servers", 12, "--clients", 2, "--region", "asia", "--seed", 5, "-o", inst)
    assert code == 0, text
    for solver in ("cg-bprr", "petals"):
        out = tmp_path / f"{solver}.json"
        assert run("solve", inst, "--solver", solver, "-o", out)[0] == 0
        code, text = run("evaluate", inst, out, "--json")
        assert code == 0 and json.loads(text)["feasible"] is True


def test_long_placement_table_says_what_it_leaves_out_below_it(tmp_path):
    inst = tmp_path / "g.json"
    assert run("generate", "geo", "--servers", 70, "--region", "world", "-o", inst)[0] == 0
    code, text = run("solve", inst)
    lines = text.splitlines()
    assert code == 0 and "(60 of 70 servers)" in text
    note = next(i for i, line in enumerate(lines) if "10 more servers" in line)
    assert lines[note - 1].startswith("└")  # under the table's bottom edge, not a row of it
    header = next(line for line in lines if "server" in line and "GPU" in line)
    assert len(header.split("┃")[1]) < 12  # the server column is as wide as the ids


def test_generators_are_deterministic(tmp_path):
    a = run("generate", "geo", "--servers", 8, "--seed", 4)[1]
    b = run("generate", "geo", "--servers", 8, "--seed", 4)[1]
    c = run("generate", "geo", "--servers", 8, "--seed", 5)[1]
    assert a == b and a != c
    assert run("generate", "random", "--servers", 30, "--seed", 1)[1] == run("generate", "random", "--servers", 30,
                                                                               "--seed", 1)[1]


def test_infeasible_exit_code_1(tmp_path):
    path = write(tmp_path, mutate(lambda d: [s.update(memory_gb=1) for s in d["servers"]]))
    code, text = run("solve", path)
    assert code == 1 and "below one model copy" in text


def test_overloaded_instance_says_unstable_where_it_gives_the_light_load_mean(tmp_path, instances_dir):
    d = json.loads((instances_dir / "geo-europe-20.json").read_text())
    for c in d["clients"]:
        c["arrival_rate_per_s"] = 1e6
    code, text = run("solve", write(tmp_path, d))
    light = next(line for line in text.splitlines() if "at light load" in line)
    assert code == 0 and "unstable at lambda = 1e+06/s" in light
    # the offered load is thousands of times the capacity: said as a factor, not as millions of percent
    assert "times what it can serve" in text and "%;" not in text.split("GPU utilisation")[1].splitlines()[0]


def test_solution_of_another_instance_is_named(tmp_path, instances_dir):
    sol = tmp_path / "sol.json"
    assert run("solve", instances_dir / "geo-europe-20.json", "-o", sol)[0] == 0
    code, text = run("evaluate", instances_dir / "geo-world-40.json", sol)
    assert code == 1 and "was solved for instance 'geo-europe-20'; it is used with 'geo-world-40'" in text
    assert "solved for instance" not in run("evaluate", instances_dir / "geo-europe-20.json", sol)[1]


def test_schema_and_listings():
    code, text = run("schema", "instance")
    assert code == 0 and "memory_gb" in json.loads(text)["$defs"]["Server"]["properties"]
    code, text = run("solvers", "--json")
    assert {r["name"] for r in json.loads(text)} >= {"cg-bprr", "petals"}
    assert run("models")[0] == 0 and run("gpus")[0] == 0


def test_solve_json_output(instances_dir):
    code, text = run("solve", instances_dir / "bprr-clustered-9.json", "--json")
    d = json.loads(text)
    assert code == 0 and d["status"] == "feasible" and d["feasible"] is True
    assert d["solution"]["details"]["theorem2_bound_s_per_token"] > 0


def test_simulate_command_agrees_with_bounds(tmp_path, instances_dir):
    sol = tmp_path / "s.json"
    assert run("solve", instances_dir / "geo-europe-20.json", "--solver", "gbp-cr", "-o", sol)[0] == 0
    png, rec = tmp_path / "cdf.png", tmp_path / "r.csv"
    code, text = run("simulate", instances_dir / "geo-europe-20.json", sol, "--requests", 4000, "--service",
                     "exponential", "--plot", png, "--records", rec)
    assert code == 0, text
    assert "is within them" in text
    assert png.stat().st_size > 1000 and rec.read_text().startswith("request,client,arrival_s")
    code, text = run("simulate", instances_dir / "geo-europe-20.json", sol, "--policy", "nope", "--requests", 10)
    assert code == 2 and "policy" in text


def test_solve_dtypes_and_routing_options(tmp_path, instances_dir):
    inst = instances_dir / "bprr-clustered-9.json"
    code, text = run("solve", inst, "--dtypes", "fp16,int4")
    assert code == 2 and "--dtypes" in text and "int4" in text
    out = tmp_path / "s.json"
    code, text = run("solve", inst, "--dtypes", "fp16,nf4", "--routing", "nsga2-chains", "--output", out)
    assert code == 0, text
    sol = json.loads(out.read_text())
    assert sol["details"]["routing"]["method"].startswith("nsga2-chains")
    assert {p["dtype"] for p in sol["placement"] if p["end"] > p["start"]} <= {"fp16", "nf4"}
    code, text = run("evaluate", inst, out)
    assert code == 0, text


def test_simulate_help_lists_every_registered_policy():
    """``--help`` is a fixed string (the CLI does not import the simulator to print it): it must name
    every policy the registry holds."""
    from optim.dispatch import POLICY_REGISTRY

    text = " ".join(run("simulate", "--help")[1].split())
    for name in POLICY_REGISTRY:
        assert name in text, name


def test_clustered_script_timing_and_setup_from_the_command_line(tmp_path):
    """`optim generate clustered --timing clustered-script` writes the script's constants and records
    the flag; `optim simulate --setup-s` adds the set-up to every request and says so in the JSON;
    trace lengths cut to BLOOM's 2,048-token context are counted on screen."""
    inst = tmp_path / "c.json"
    code, out = run("generate", "clustered", "--timing", "clustered-script", "--client-clusters", "0",
                    "--arrival-rate", "0.1", "-o", inst)
    assert code == 0, out
    d = json.loads(inst.read_text())
    assert d["servers"][0]["decode_ms_per_block_per_token"] == 2.2197
    assert "--timing clustered-script" in d["provenance"]["command"]
    sol = tmp_path / "s.json"
    assert run("solve", inst, "--solver", "cg-bprr", "-o", sol)[0] == 0
    code, out = run("simulate", inst, sol, "--policy", "ws-rr", "--requests", "20", "--replications", "1",
                    "--setup-s", "60", "--json")
    assert code == 0, out
    summary = json.loads(out)["simulations"]["ws-rr"]
    assert summary["setup_s"] == 60.0 and summary["service_s"]["mean"] > 60.0
    code, out = run("simulate", inst, sol, "--policy", "ws-rr", "--arrivals", "trace", "--requests", "50",
                    "--replications", "1")
    assert code == 0 and "trace prompts were cut to fit the model's context of 2,048 tokens" in out
    assert run("simulate", inst, sol, "--setup-s", "-1")[0] == 2
    assert run("generate", "clustered", "--timing", "fast")[0] == 2

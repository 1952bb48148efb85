"""The solver contract (issue 12): one regression test per measured defect, each failing on the old code."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from optim import evaluate, load_instance, solve
from optim.cli import main
from optim.errors import InvalidInstanceError, InvalidOptionError
from optim.solution import Solution, Status

from conftest import INSTANCES


def run(*args, **kw):
    r = CliRunner().invoke(main, [str(a) for a in args], **kw)
    return r.exit_code, r.output + (getattr(r, "stderr", "") or "")


@pytest.fixture(scope="module")
def europe():
    return load_instance(INSTANCES / "geo-europe-20.json")


@pytest.fixture(scope="module")
def clustered():
    return load_instance(INSTANCES / "bprr-clustered-9.json")


# 1. editing an instance in code -------------------------------------------------------------------
def test_changed_instance_is_validated_again_and_its_arrays_are_fresh(europe):
    sid = europe.servers[0].id
    _ = europe.memory_bytes  # the old code cached this array and kept it in every copy
    for changed in (europe.replace_server(sid, memory_gb=10),
                    europe.model_copy(update={"servers": [europe.servers[0].model_copy(update={"memory_gb": 10}),
                                                          *europe.servers[1:]]})):
        assert changed.memory_bytes[0] == 10e9
        sol = solve(changed, "cg-bprr")
        assert evaluate(changed, sol).feasible
        start, end, slots = sol.spans(changed)
        used = changed.block_bytes * (end[0] - start[0]) + changed.cache_bytes_per_block_session * slots[0]
        assert used <= 10e9
    with pytest.raises(InvalidInstanceError, match=r"servers\[0\]\.memory_gb"):
        europe.replace_server(sid, memory_gb=-1)
    with pytest.raises(InvalidInstanceError, match="no server has id"):
        europe.replace_server("nope", memory_gb=1)
    with pytest.raises(ValueError):
        europe.memory_bytes[0] = 1.0  # derived arrays are read-only views of an immutable instance


# 2. two-level status ------------------------------------------------------------------------------
def test_time_limit_without_incumbent_is_time_limit_with_no_solution_not_error(clustered):
    sol = solve(clustered, "bprr-milp", time_limit=0.2, skip_if_too_large=False, warm_start=False)
    assert sol.status is Status.TIME_LIMIT and not sol.has_solution
    assert sol.bound is not None  # the one-hop bound is still reported
    tight = load_instance(INSTANCES / "chains-europe-20.json")  # cg-bprr twice the chain bound: no early proof
    sol2 = solve(tight, "bprr-milp", time_limit=0.5, skip_if_too_large=False)
    assert sol2.status is Status.TIME_LIMIT and sol2.has_solution and evaluate(tight, sol2).feasible


def test_has_solution_is_written_and_read_back(clustered, tmp_path):
    sol = solve(clustered, "cg-bprr")
    data = sol.model_dump(mode="json")
    assert data["has_solution"] is True
    assert Solution.model_validate(data).has_solution
    empty = Solution(instance="x", solver="bprr-milp", status=Status.TIME_LIMIT)
    assert not empty.has_solution


# 3. option values are checked ---------------------------------------------------------------------
BAD_OPTIONS = [
    ("cg-bprr", {"concurrent_requests": -3}), ("cg-bprr", {"concurrent_requests": "many"}),
    ("cg-bprr", {"routing_objective": "latency"}), ("cg-bprr", {"dummy_margin_s": -1}),
    ("cg-bprr", {"dummy_margin_s": float("nan")}),
    ("petals", {"join_order": "foo"}), ("petals", {"balance_quality": "abc"}), ("petals", {"seed": "abc"}),
    ("petals", {"seed": 2**64}), ("petals", {"seed": -1}), ("petals", {"max_rebalance_rounds": -2}),
    ("petals", {"alloc_penalty_s": -1}), ("petals", {"hop_overhead_s": "x"}), ("petals", {"attn_cache_tokens": 0}),
    ("petals", {"balance_quality": float("inf")}),
    ("bprr-milp", {"objective": "latency"}), ("bprr-milp", {"time_limit": -3}), ("bprr-milp", {"time_limit": 0}),
    ("bprr-milp", {"mip_gap": 2}), ("bprr-milp", {"threads": 0}), ("bprr-milp", {"backend": "gurobi"}),
    ("bprr-milp", {"warm_start": "perhaps"}),
    ("throughput-milp", {"time_limit": -3}), ("throughput-milp", {"prune_links": 0}),
    ("throughput-milp", {"mip_gap": -0.1}), ("throughput-milp", {"backend": 3}),
    ("gbp-cr", {"c": 0}), ("gbp-cr", {"c": 1.5}), ("gbp-cr", {"c": "ten"}),
    ("bpca-milp", {"placement_solver": "nope"}), ("bpca-milp", {"placement_solver": "bpca-milp"}),
    ("bpca-milp", {"max_chains": 0}), ("bpca-milp", {"time_limit": "soon"}),
    ("nsga2", {"objectives": "latency,foo"}), ("nsga2", {"objectives": "latency"}),
    ("nsga2", {"objectives": "latency,latency"}), ("nsga2", {"population": 1}), ("nsga2", {"generations": 0}),
    ("nsga2", {"seed_solvers": "petals,nope"}), ("nsga2", {"time_limit": -1}),
    ("chain-milp", {"objective": "latency"}), ("chain-milp", {"max_labels": 10}), ("chain-milp", {"time_limit": 0}),
    ("chain-milp", {"max_cut_rounds": -1}),
]


def test_forty_malformed_option_values_are_refused_naming_the_option(clustered):
    assert len(BAD_OPTIONS) >= 40
    for solver, opts in BAD_OPTIONS:
        (name,) = opts
        with pytest.raises(InvalidOptionError, match=name):
            solve(clustered, solver, **opts)


@pytest.mark.parametrize("solver,opts", BAD_OPTIONS[::3])
def test_malformed_option_on_the_command_line_exits_2_naming_it(solver, opts):
    (name, value), = opts.items()
    text = value if isinstance(value, str) else json.dumps(value) if value == value and abs(value) != float("inf") \
        else str(value)
    code, out = run("solve", INSTANCES / "bprr-clustered-9.json", "--solver", solver, "--option", f"{name}={text}")
    assert code == 2 and name in out and "Traceback" not in out, out


def test_list_options_are_accepted_the_same_way_everywhere(clustered):
    a = solve(clustered, "nsga2", objectives="latency,nu", population=8, generations=2)
    b = solve(clustered, "nsga2", objectives=["latency", "nu"], population=8, generations=2)
    assert a.options["objectives"] == b.options["objectives"] == ("latency", "nu")
    code, out = run("solve", INSTANCES / "bprr-clustered-9.json", "--solver", "nsga2", "--option",
                    "objectives=latency,nu", "--option", "generations=2", "--option", "population=8")
    assert code == 0, out


def test_solvers_name_lists_every_option_with_type_and_meaning():
    code, out = run("solvers", "petals")
    assert code == 0
    for opt in ("balance_quality", "join_order", "seed", "attn_cache_tokens"):
        assert opt in out
    assert "rebalancing threshold" in out
    code, out = run("solvers", "nope")
    assert code == 2 and "registered solvers" in out


# 4. one error map ---------------------------------------------------------------------------------
def test_internal_error_exits_3_with_one_line_and_debug_shows_the_traceback(monkeypatch):
    import optim.solvers.cg_bprr as cg

    def boom(*a, **k):
        raise ZeroDivisionError("deliberate")

    monkeypatch.setattr(cg, "cg_placement", boom)
    code, out = run("solve", INSTANCES / "bprr-clustered-9.json")
    assert code == 3 and "internal error" in out and "please report" in out and "Traceback" not in out
    code, out = run("--debug", "solve", INSTANCES / "bprr-clustered-9.json")
    assert code == 3 and "Traceback" in out and "ZeroDivisionError" in out


def test_ctrl_c_exits_130_without_traceback(monkeypatch):
    import optim.solvers.cg_bprr as cg

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cg, "cg_placement", interrupted)
    code, out = run("solve", INSTANCES / "bprr-clustered-9.json")
    assert code == 130 and "Traceback" not in out


# 5 and 14. sweeps ---------------------------------------------------------------------------------
def _spec(tmp_path, text, name="s.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


SPEC = ("name: t\ninstances:\n  - generator: random\n    params: {{servers: 6}}\n    seeds: {seeds}\n"
        "solvers:\n  - name: cg-bprr\n{extra}")


def test_misspelled_simulate_policy_is_refused_before_any_run(tmp_path):
    spec = _spec(tmp_path, SPEC.format(seeds="[0]", extra="simulate: {policy: jfcc, requests: 50}\n"))
    code, out = run("bench", spec, "--output", tmp_path / "r.csv")
    assert code == 2 and "simulate.policy" in out and "jfcc" in out
    assert not (tmp_path / "r.csv").exists()


def test_sweep_with_failed_runs_exits_nonzero_with_a_count(tmp_path, monkeypatch):
    import optim.bench as bench

    def fail(run):
        raise RuntimeError("solver crashed")

    monkeypatch.setattr(bench, "build_instance", fail)
    spec = _spec(tmp_path, SPEC.format(seeds="[0, 1]", extra=""))
    code, out = run("bench", spec, "--output", tmp_path / "r.csv")
    assert code == 1 and "2 of 2 runs" in out and "failed" in out
    assert len(bench.read_results(tmp_path / "r.csv")) == 2  # the failures are recorded, not lost


def test_sweep_spec_values_checked_up_front(tmp_path):
    for extra, needle in (("", None), ):
        pass
    bad = {
        "seeds: [0, 0]": ("[0, 0]", "repeat"),
        "seed 2^64": (str(2**64), "seeds"),
        "negative seed": ("[-1]", "seeds"),
    }
    for what, (seeds, needle) in bad.items():
        spec = _spec(tmp_path, SPEC.format(seeds=seeds if seeds.startswith("[") else f"[{seeds}]", extra=""))
        code, out = run("bench", spec, "--output", tmp_path / "r.csv")
        assert code == 2 and needle in out, (what, out)
    spec = _spec(tmp_path, "name: t\ninstances:\n  - generator: random\n    params: {servers: 6}\n"
                           "solvers:\n  - name: petals\n    options: {balance_quality: abc}\n")
    code, out = run("bench", spec, "--output", tmp_path / "r.csv")
    assert code == 2 and "balance_quality" in out


def test_yaml_alias_bomb_is_refused(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    spec = _spec(tmp_path, bomb + "name: t\n")
    code, out = run("bench", spec, "--output", tmp_path / "r.csv")
    assert code == 2 and "aliases are not supported" in out


def test_truncated_csv_row_is_run_again(tmp_path):
    from optim.bench import load_sweep, read_results, run_sweep

    spec = load_sweep(_spec(tmp_path, SPEC.format(seeds="[0, 1]", extra="")))
    out = tmp_path / "r.csv"
    run_sweep(spec, out)
    text = out.read_text()
    out.write_text(text[: text.rstrip("\n").rfind("\n") + 40])  # the last row cut mid-way
    assert len(read_results(out)) == 1
    res = run_sweep(spec, out)
    assert res.ran == 1 and len(res.table) == 2 and res.table["objective"].notna().all()


def test_interrupt_before_the_first_run_loses_nothing(tmp_path, monkeypatch):
    import optim.bench as bench

    def interrupt(run):
        raise KeyboardInterrupt

    monkeypatch.setattr(bench, "run_one", interrupt)
    spec = bench.load_sweep(_spec(tmp_path, SPEC.format(seeds="[0]", extra="")))
    with pytest.raises(KeyboardInterrupt):
        bench.run_sweep(spec, tmp_path / "r.parquet")


def test_missing_output_folder_is_reported_before_solving(tmp_path):
    code, out = run("solve", INSTANCES / "bprr-clustered-9.json", "--solver", "bprr-milp", "--output",
                    tmp_path / "no" / "such" / "sol.json")
    assert code == 2 and "does not exist" in out and ".tmp" not in out and "status:" not in out


def test_replaced_file_keeps_its_permissions(tmp_path):
    from optim.io import write_json_atomic

    p = tmp_path / "secret.json"
    p.write_text("{}")
    os.chmod(p, 0o600)
    write_json_atomic(p, {"a": 1})
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600 and json.loads(p.read_text()) == {"a": 1}


def test_admission_is_fast_and_equal_to_the_brute_force_reference():
    from optim.perf.contention import admission_times

    rng = np.random.default_rng(0)
    for trial in range(300):
        J, R = int(rng.integers(1, 5)), int(rng.integers(1, 25))
        cap = rng.integers(1, 6, J)
        needs = [{int(j): int(rng.integers(1, cap[j] + 1)) for j in rng.choice(J, rng.integers(1, J + 1), replace=False)}
                 for _ in range(R)]
        dur = rng.uniform(0.1, 3, R).round(1) if trial % 2 else np.ones(R)
        starts, placed = np.zeros(R), []  # brute force: every candidate start, the slots in use checked at each step
        for r, need in enumerate(needs):
            for t in sorted({0.0} | {e for _, e, _ in placed}):
                def fits(j, k, t=t, d=dur[r]):
                    points = [t] + [s for s, _, nd in placed if j in nd and t < s < t + d]
                    return all(sum(nd[j] for s, e, nd in placed if j in nd and s <= p < e) + k <= cap[j] for p in points)
                if all(fits(j, k) for j, k in need.items()):
                    starts[r] = t
                    placed.append((t, t + dur[r], need))
                    break
        assert np.allclose(starts, admission_times(cap, needs, dur))
    big = admission_times(np.array([10]), [{0: 1}] * 200_000, np.ones(200_000))  # took minutes when quadratic
    assert big[-1] == pytest.approx(19_999)


# 6. placements by server id -----------------------------------------------------------------------
def test_placement_in_another_server_order_gives_the_same_answers(clustered, tmp_path):
    sol = solve(clustered, "gbp-cr")
    shuffled = sol.model_copy(update={"placement": list(reversed(sol.placement))})
    assert evaluate(clustered, shuffled).summary == evaluate(clustered, sol).summary
    a, b = sol.spans(clustered), shuffled.spans(clustered)
    assert all((x == y).all() for x, y in zip(a, b))
    # bpca-milp takes another solver's output through solve(), so the order cannot matter
    assert solve(clustered, "bpca-milp").status is Status.OPTIMAL


# 7. gbp-cr keeps the servers of an unfinished last chain ------------------------------------------
def test_gbp_cr_keeps_the_last_unfinished_chain():
    from optim.generators import random_instance
    from optim.solvers.gbp_cr import gbp_cr_placement

    kept = 0
    for seed in range(40):
        inst = random_instance(num_servers=5, eta=0.0, arrival_rate=5.0, seed=seed)
        for c in (1, 2, 4):
            start, end, chains = gbp_cr_placement(inst, c)
            m = np.minimum(np.floor(inst.memory_bytes / (inst.block_bytes + inst.cache_bytes_per_block_session * c)),
                           inst.num_blocks)
            if chains and m.sum() % inst.num_blocks and (end > start).sum() == (m > 0).sum():
                kept += 1
            # every server that got blocks from m_j keeps them when the target nu was not reached
            assert ((end - start) <= m).all()
    assert kept > 0


# 8. GPU memory in binary units, PETALS' block count ------------------------------------------------
def test_a100_80gb_has_80_gib_and_petals_puts_53_bloom_blocks_on_it():
    from optim.generators import geo_instance
    from optim.gpu import get_gpu
    from optim.solvers.petals import petals_block_counts

    assert get_gpu("A100-80GB").memory_bytes == 80 * 2**30
    inst = geo_instance(num_servers=3, model="bloom-176b", eta=1.0, high_gpu="A100-80GB", seed=0)
    assert inst.servers[0].memory_gb == pytest.approx(85.899346, abs=1e-6)
    m, _ = petals_block_counts(inst)
    assert (m == 53).all()  # what the BPRR paper reports for real PETALS (arXiv 2512.21884, Sec. 7)


# 9. PETALS fidelity -------------------------------------------------------------------------------
def test_balance_quality_above_one_always_rebalances():
    from optim.solvers.petals import should_move

    start, end = np.array([0, 0]), np.array([4, 4])
    thr = np.array([1.0, 1.0])
    rng = np.random.default_rng(0)
    assert should_move(0, start, end, thr, 8, 1.5, rng)
    assert not should_move(0, start, end, thr, 4, 0.75, rng)


def test_petals_client_retries_at_once_bans_the_server_and_reroutes_only_the_failed_segment():
    from optim.routing import BAN_TIMEOUT_S, petals_retry_delay

    assert [petals_retry_delay(a) for a in range(8)] == [0, 1, 2, 4, 8, 16, 32, 60]
    assert BAN_TIMEOUT_S == 15.0
    from optim.simulate import simulate

    inst = load_instance(INSTANCES / "bprr-clustered-9.json")
    sol = solve(inst, "petals")
    res = simulate(inst, sol, policy="petals", requests=300, seed=1, debug=True)
    assert np.isfinite(res.records["response_s"]).all()


# 10. time limits ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_milp_reports_progress_and_the_cli_prints_bound_and_gap(clustered):
    events = []
    sol = solve(clustered, "bprr-milp", time_limit=3, skip_if_too_large=False, progress=events.append)
    assert events and {"incumbent", "bound", "gap", "time_s"} <= set(events[-1])
    code, out = run("solve", INSTANCES / "bprr-clustered-9.json", "--solver", "bprr-milp", "--time-limit", "3",
                    "--option", "skip_if_too_large=false")
    assert code == 0 and "lower bound:" in out and "optimality gap" in out
    assert sol.gap is not None


# 12. simulate validates first ---------------------------------------------------------------------
def _bad_solutions(inst, sol):
    d = sol.model_dump(mode="json")
    empty_hops = json.loads(json.dumps(d))
    empty_hops["paths"][0]["hops"] = []
    partial = json.loads(json.dumps(d))
    if partial["chains"]:
        partial["chains"][0]["hops"] = partial["chains"][0]["hops"][:1]
    over = json.loads(json.dumps(d))
    over["placement"][0]["cache_slots"] = 10**9
    unknown = json.loads(json.dumps(d))
    if unknown["chains"]:
        unknown["chains"][0]["hops"][0]["server"] = "ghost"
    huge = json.loads(json.dumps(d))
    if huge["chains"]:
        huge["chains"][0]["capacity"] = 10**12
    return {"empty hops": empty_hops, "partial chain": partial, "memory over-commit": over,
            "unknown server": unknown, "capacity 1e12": huge}


def test_simulate_refuses_solutions_that_fail_validation(tmp_path):
    inst_path = INSTANCES / "bprr-clustered-9.json"
    inst = load_instance(inst_path)
    sol = solve(inst, "gbp-cr")
    for what, data in _bad_solutions(inst, sol).items():
        p = tmp_path / "bad.json"
        p.write_text(json.dumps(data))
        code, out = run("simulate", inst_path, p, "--requests", 100, "--replications", 1)
        assert code == 2 and "Traceback" not in out, (what, out)
    other = solve(load_instance(INSTANCES / "geo-europe-20.json"), "cg-bprr")
    p = tmp_path / "other.json"
    p.write_text(other.model_dump_json())
    code, out = run("simulate", inst_path, p, "--requests", 100)
    assert code == 2 and "not in the instance" in out


# 13. hostile files --------------------------------------------------------------------------------
def test_hostile_files_exit_2(tmp_path):
    good = (INSTANCES / "bprr-clustered-9.json").read_text()
    cases = {
        "utf16.json": good.encode("utf-16"),
        "latin1.json": good.replace('"name": "', '"name": "caf\u00e9 ', 1).encode("latin-1"),
        "deep.json": b"[" * 50_000 + b"]" * 50_000,
        "list.json": b"[1, 2]",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    code, out = run("evaluate", tmp_path / "utf16.json", tmp_path / "list.json")
    assert code == 2 and "solution" in out  # UTF-16 read fine; a list is no solution
    for name in ("latin1.json", "deep.json", "list.json"):
        code, out = run("solve", tmp_path / name)
        assert code == 2 and "Traceback" not in out, (name, out)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    code, out = run("solve", fifo)
    assert code == 2 and "not a regular file" in out
    code, out = run("solve", "/dev/urandom")
    assert code == 2 and "not a regular file" in out


def test_sizes_beyond_reason_are_refused_up_front(tmp_path):
    d = json.loads((INSTANCES / "bprr-clustered-9.json").read_text())
    d["workload"]["concurrent_requests"] = 10**7
    p = tmp_path / "big.json"
    p.write_text(json.dumps(d))
    code, out = run("solve", p)
    assert code == 2 and "concurrent_requests" in out
    code, out = run("generate", "geo", "--servers", 1_000_000)
    assert code == 2 and "num_servers" in out
    code, out = run("generate", "random", "--seed", 2**64)
    assert code == 2 and "seed" in out


def test_server_named_like_rich_markup_is_printed_literally(tmp_path):
    d = json.loads((INSTANCES / "bprr-clustered-9.json").read_text())
    old = d["servers"][0]["id"]
    d["servers"][0]["id"] = "[/]"
    d["rtt"]["ids"] = ["[/]" if x == old else x for x in d["rtt"]["ids"]]
    p = tmp_path / "markup.json"
    p.write_text(json.dumps(d))
    code, out = run("solve", p)
    assert code == 0 and "[/]" in out


# 15. docstrings cite papers, not files users do not have -----------------------------------------
def test_no_source_points_to_shared_files():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "optim"
    offenders = [str(p) for p in root.rglob("*.py") if "shared/papers" in p.read_text() or
                 "shared/design" in p.read_text()]
    assert not offenders


# lazy imports ------------------------------------------------------------------------------------
def test_help_and_heuristic_solve_load_no_heavy_library():
    code = ("import sys, optim.cli; from click.testing import CliRunner; "
            "CliRunner().invoke(optim.cli.main, ['--help']); "
            "heavy = [m for m in ('pyomo', 'pymoo', 'dask', 'distributed', 'simpy', 'pandas', 'rich.console', "
            "'pydantic', 'numpy') if m in sys.modules]; "
            "from optim import load_instance, solve; "
            f"solve(load_instance({str(INSTANCES / 'geo-europe-20.json')!r}), 'cg-bprr'); "
            "late = [m for m in ('pyomo', 'pymoo', 'dask', 'distributed', 'simpy') if m in sys.modules]; "
            "print(heavy, late)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] []"


def test_cli_defaults_repeat_the_nsga2_defaults():
    from optim import cli
    from optim.solvers.nsga2 import DEFAULT_OBJECTIVES, SEED_SOLVERS

    assert cli.DEFAULT_OBJECTIVES == DEFAULT_OBJECTIVES and cli.SEED_SOLVERS == SEED_SOLVERS


# metrics have a direction -------------------------------------------------------------------------
def test_report_ranks_higher_nu_as_better():
    import pandas as pd

    from optim.bench import comparison

    df = pd.DataFrame([
        {"run_id": "a", "instance_id": "i", "solver": "fast", "status": "feasible", "feasible": True, "nu_per_s": 10.0,
         "solve_time_s": 1.0},
        {"run_id": "b", "instance_id": "i", "solver": "slow", "status": "feasible", "feasible": True, "nu_per_s": 2.0,
         "solve_time_s": 1.0}])
    table = comparison(df, "nu_per_s")
    assert table.loc["fast", "mean_rank"] == 1 and table.loc["fast", "wins"] == 1
    assert table.loc["slow", "mean_gap_to_best_pct"] == pytest.approx(80.0)
    code, out = run("bench", "report", "nope.csv", "--metric", "bogus")
    assert code == 2 and "bogus" in out


# 40 malformed option values across the commands ----------------------------------------------------
CLI_BAD = [
    (["solve", "{i}", "--time-limit", "-3"], "--time-limit"), (["solve", "{i}", "--time-limit", "abc"], "--time-limit"),
    (["solve", "{i}", "--mip-gap", "2"], "--mip-gap"), (["solve", "{i}", "--threads", "0"], "--threads"),
    (["solve", "{i}", "--seed", "-1"], "--seed"), (["solve", "{i}", "--seed", str(2**64)], "--seed"),
    (["solve", "{i}", "--solver", "nope"], "nope"), (["solve", "{i}", "--option", "noequals"], "--option"),
    (["solve", "{i}", "--solver", "petals", "--option", "bogus=1"], "bogus"),
    (["solve", "{i}", "--solver", "bprr-milp", "--backend", "gurobi"], "backend"),
    (["solve", "{i}", "--solver", "cg-bprr", "--front", "f.json"], "--front"),
    (["simulate", "{i}", "{s}", "--policy", "fifo"], "policy"), (["simulate", "{i}", "{s}", "--policy", ","], "--policy"),
    (["simulate", "{i}", "{s}", "--requests", "0"], "--requests"),
    (["simulate", "{i}", "{s}", "--replications", "0"], "--replications"),
    (["simulate", "{i}", "{s}", "--arrivals", "bursty"], "--arrivals"),
    (["simulate", "{i}", "{s}", "--service", "gamma"], "--service"), (["simulate", "{i}", "{s}", "--seed", "x"], "--seed"),
    (["pareto", "{i}", "--objectives", "latency"], "objectives"), (["pareto", "{i}", "--objectives", "a,b"], "objectives"),
    (["pareto", "{i}", "--population", "1"], "--population"), (["pareto", "{i}", "--generations", "0"], "--generations"),
    (["pareto", "{i}", "--time-limit", "0"], "--time-limit"), (["pareto", "{i}", "--solvers", "nope"], "nope"),
    (["bound", "{i}", "--time-limit", "-1"], "--time-limit"), (["bound", "{i}", "--objective", "latency"], "--objective"),
    (["generate", "geo", "--servers", "0"], "--servers"), (["generate", "geo", "--eta", "2"], "--eta"),
    (["generate", "geo", "--region", "mars"], "region"), (["generate", "geo", "--model", "gpt-5"], "gpt-5"),
    (["generate", "geo", "--arrival-rate", "-1"], "--arrival-rate"), (["generate", "geo", "--dtype", "fp8"], "--dtype"),
    (["generate", "geo", "--high-gpu", "TPU"], "TPU"), (["generate", "geo", "--concurrent-requests", "0"],
                                                        "--concurrent-requests"),
    (["generate", "clustered", "--size", "huge"], "--size"), (["generate", "clustered", "--client-clusters", "7"],
                                                               "client_clusters"),
    (["generate", "random", "--servers", "-5"], "--servers"), (["generate", "random", "--input-tokens", "x"], None),
    (["bench", "report", "{r}", "--metric", "bogus"], "bogus"), (["bench", "{w}", "--output", "x.csv", "--workers", "0"],
                                                                 "--workers"),
    (["solvers", "nope"], "nope"),
]


def test_forty_malformed_command_options_exit_2_naming_the_option(tmp_path):
    inst = INSTANCES / "bprr-clustered-9.json"
    sol = tmp_path / "s.json"
    assert run("solve", inst, "--solver", "gbp-cr", "--output", sol)[0] == 0
    spec = _spec(tmp_path, SPEC.format(seeds="[0]", extra=""))
    results = tmp_path / "r.csv"
    assert run("bench", spec, "--output", results)[0] == 0
    assert len(CLI_BAD) >= 40
    for args, needle in CLI_BAD:
        args = [a.format(i=inst, s=sol, r=results, w=spec) for a in args]
        if args[:2] == ["generate", "random"] and needle is None:
            args, needle = ["generate", "random", "--arrival-rate", "x"], "--arrival-rate"
        code, out = run(*args)
        assert code == 2, (args, out)
        assert needle in out and "Traceback" not in out, (args, out)


def test_tables_never_cut_server_ids_at_80_columns():
    from rich.console import Console

    from optim import cli

    long_id = "server-in-frankfurt-am-main-rack-42-gpu-7"
    t = cli.Table(title="placement")
    for col in ("server", "GPU", "city", "blocks", "span", "cache slots", "memory GB"):
        t.add_column(col)
    t.add_row(long_id, "A100-80GB", "Frankfurt am Main", "43", "[0, 43)", "120", "79.10 / 85.90")
    console = Console(width=80, record=True, file=open("/dev/null", "w"))
    console.print(t)
    assert long_id in console.export_text()


@pytest.mark.slow
def test_time_limited_milp_in_a_process_returns_near_its_limit_and_exits_cleanly():
    """A HiGHS presolve that overruns the deadline is left behind; the process must still exit 0
    (a HiGHS thread alive at exit used to abort it with 'terminate called without an active exception')."""
    r = subprocess.run([sys.executable, "-m", "optim.cli", "solve", str(INSTANCES / "geo-europe-20.json"), "--solver",
                        "bprr-milp", "--time-limit", "12", "--option", "skip_if_too_large=false"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "status: time_limit, with a solution" in r.stdout or "status: optimal" in r.stdout


@pytest.mark.slow
def test_ctrl_c_during_a_milp_keeps_a_solution_and_stops_within_seconds():
    """Ctrl-C used to wait 21-31 s for HiGHS and then throw the incumbent away."""
    import signal
    import time

    p = subprocess.Popen([sys.executable, "-m", "optim.cli", "solve", str(INSTANCES / "bprr-clustered-26.json"),
                          "--solver", "bprr-milp", "--time-limit", "120", "--option", "skip_if_too_large=false",
                          "--option", "mip_gap=0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(6)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err[-2000:]
    assert "status: interrupted, with a solution" in out or "status: optimal" in out
    assert "lower bound:" in out and "Traceback" not in err


def test_petals_retries_never_overflow_and_an_unservable_load_ends_with_a_message(monkeypatch):
    from optim import dispatch
    from optim.errors import UnstableSystemError
    from optim.generators import clustered_instance
    from optim.routing import petals_retry_delay
    from optim.simulate import simulate

    assert petals_retry_delay(10_000) == 60.0
    inst = clustered_instance("small", client_clusters=(0,), arrival_rate=0.5, output_tokens=128)
    # sessions that reserve 4096 tokens per block: one per server, far below the load
    inst = inst.replace(workload=inst.workload.model_copy(update={"input_tokens_max": 4096 - 128}))
    monkeypatch.setattr(dispatch, "MAX_RETRY_SPAN_S", 600.0)
    with pytest.raises(UnstableSystemError, match="retried"):
        simulate(inst, solve(inst, "petals"), policy="petals", requests=200, seed=0)


def test_without_servers_drops_their_rtt_rows_and_names_unknown_ids():
    """geo-europe-20 without its four A100s: 16 L4s, the RTT matrix cut to match (the client-server
    RTTs kept), and cg-bprr's best chain is then two L4s, 6.676 s; an unknown id and removing every
    server are named."""
    inst = load_instance(INSTANCES / "geo-europe-20.json")
    a100 = [s.id for s in inst.servers if s.gpu == "A100-80GB"]
    sub = inst.without_servers(a100)
    assert sub.num_servers == 16 and {s.gpu for s in sub.servers} == {"L4"}
    keep = [inst.server_index[s.id] for s in sub.servers]
    np.testing.assert_array_equal(sub.rtt_s, inst.rtt_s[:, keep])
    sol = solve(sub, "cg-bprr")
    assert evaluate(sub, sol).summary["mean_inference_time_s"] == pytest.approx(6.676, abs=1e-3)
    with pytest.raises(InvalidInstanceError, match="no server has id 'nope'"):
        inst.without_servers(["s00", "nope"])
    with pytest.raises(InvalidInstanceError, match="leaves none"):
        inst.without_servers([s.id for s in inst.servers])

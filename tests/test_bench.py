"""optim bench: sweeps expand, run, record failures, resume, and give the same rows on Dask."""
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from optim.bench import (TIMING_COLUMNS, InvalidSweepError, SweepSpec, comparison, expand, load_sweep,
                         read_results, run_sweep)
from optim.cli import main
from optim.solvers.base import REGISTRY, register

SPEC = {
    "name": "test",
    "instances": [
        {"generator": "geo", "params": {"servers": 6, "region": "europe"}, "seeds": [0, 1]},
        {"generator": "random", "params": {"servers": 8, "clients": 2}, "seeds": [0, 1]},
    ],
    "solvers": [{"name": "cg-bprr"}, {"name": "petals"}, {"name": "gbp-cr"}],
}


def deterministic(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in TIMING_COLUMNS if c in df.columns]).reset_index(drop=True)


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "local.parquet"
    return out, run_sweep(SweepSpec.model_validate(SPEC), out)


def test_sweep_gives_one_validated_row_per_run(local):
    out, res = local
    df = res.table
    assert len(df) == 12 and res.ran == 12 and res.failed == 0
    assert df["run_id"].is_unique and df["instance_id"].nunique() == 4
    assert set(df["solver"]) == {"cg-bprr", "petals", "gbp-cr"}
    assert df["feasible"].all() and (df["status"] == "feasible").all()
    assert (df["mean_inference_time_s"] > 0).all() and (df["nu_per_s"] > 0).all()
    assert (df["response_time_lower_s"] <= df["response_time_upper_s"]).all()
    assert set(df.loc[df.generator == "geo", "servers"]) == {6}
    pd.testing.assert_frame_equal(deterministic(read_results(out)), deterministic(df), check_dtype=False)


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_rows(local, tmp_path):
    _, res = local
    dask = run_sweep(SweepSpec.model_validate(SPEC), tmp_path / "dask.parquet", workers=2)
    assert dask.ran == 12
    pd.testing.assert_frame_equal(deterministic(dask.table), deterministic(res.table), check_dtype=False)


def test_a_run_that_raises_is_recorded_and_the_sweep_goes_on(tmp_path):
    @register("test-explodes", "raises, for the test")
    def explodes(inst, *, seed: int = 0):
        raise RuntimeError("boom")

    try:
        spec = SweepSpec.model_validate({**SPEC, "solvers": [{"name": "test-explodes"}, {"name": "cg-bprr"}]})
        res = run_sweep(spec, tmp_path / "r.csv")
    finally:
        del REGISTRY["test-explodes"]
    df = res.table
    assert len(df) == 8 and res.failed == 4
    bad = df[df.solver == "test-explodes"]
    assert (bad["status"] == "failed").all() and bad["error"].str.contains("RuntimeError: boom").all()
    assert (df[df.solver == "cg-bprr"]["status"] == "feasible").all()
    row = comparison(df).loc["test-explodes"]
    assert row["failed"] == 4 and row["wins"] == 0


def test_interrupted_sweep_resumes_with_only_the_missing_runs(local, tmp_path):
    _, full = local
    out = tmp_path / "r.parquet"
    spec = SweepSpec.model_validate(SPEC)

    def interrupt(done, total, row):
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, out, progress=interrupt)
    assert len(read_results(out)) == 5  # saved on the way out
    res = run_sweep(spec, out)
    assert res.ran == 7 and res.skipped == 5
    pd.testing.assert_frame_equal(deterministic(res.table), deterministic(full.table), check_dtype=False)
    again = run_sweep(spec, out)
    assert again.ran == 0 and again.skipped == 12


def test_expand_crosses_lists_and_ids_are_stable():
    spec = SweepSpec.model_validate({"name": "x", "instances": [
        {"generator": "random", "params": {"servers": [5, 10], "eta": [0.1, 0.3]}, "seeds": [0, 1, 2]}],
        "solvers": [{"name": "cg-bprr"}, {"name": "petals", "label": "petals-1", "options": {"seed": 1}}]})
    runs = expand(spec)
    assert len(runs) == 2 * 2 * 3 * 2
    assert len({r["run_id"] for r in runs}) == len(runs)
    assert [r["run_id"] for r in expand(spec)] == [r["run_id"] for r in runs]


def test_bad_specs_name_the_field(tmp_path):
    cases = {
        "unknown param": ({**SPEC, "instances": [{"generator": "geo", "params": {"servrs": 5}}]}, "instances[0].params.servrs"),
        "unknown solver": ({**SPEC, "solvers": [{"name": "nope"}]}, "solvers[0].name"),
        "bad option": ({**SPEC, "solvers": [{"name": "petals", "options": {"time_limit": 3}}]}, "solvers[0].options"),
        "bad generator": ({**SPEC, "instances": [{"generator": "grid"}]}, "instances.0.generator"),
        "repeated label": ({**SPEC, "solvers": [{"name": "petals"}, {"name": "petals"}]}, "label"),
    }
    for what, (data, field) in cases.items():
        p = tmp_path / "s.json"
        p.write_text(json.dumps(data))
        with pytest.raises(InvalidSweepError, match=field.replace("[", r"\[").replace("]", r"\]")):
            load_sweep(p)
        r = CliRunner().invoke(main, ["bench", str(p), "--output", str(tmp_path / "o.csv")])
        assert r.exit_code == 2 and field in r.output and "Traceback" not in r.output, what


def test_cli_bench_and_report(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("name: cli\ninstances:\n  - generator: random\n    params: {servers: [6, 12]}\n"
                    "solvers:\n  - name: cg-bprr\n  - name: petals\nsimulate: {requests: 100}\n")
    out = tmp_path / "r.csv"
    r = CliRunner().invoke(main, ["bench", str(spec), "--output", str(out)])
    assert r.exit_code == 0, r.output
    assert "4 runs; 4 run now (0 failed)" in r.output
    df = read_results(out)
    assert df["sim_mean_response_s"].notna().all() and (df["sim_p95_response_s"] >= 0).all()
    r = CliRunner().invoke(main, ["bench", "report", str(out), "--plots", str(tmp_path / "plots")])
    assert r.exit_code == 0, r.output
    assert "mean rank" in r.output and "cg-bprr" in r.output
    assert {p.name for p in (tmp_path / "plots").iterdir()} == {"objective_vs_servers.png", "time_vs_servers.png",
                                                                 "response_vs_load.png"}
    rep = json.loads(CliRunner().invoke(main, ["bench", "report", str(out), "--json",
                                               "--plots", str(tmp_path / "p2")]).output)
    ranks = {r["solver"]: r["mean_rank"] for r in rep["comparison"]}
    assert np.isclose(sum(ranks.values()), 1 + 2)  # two solvers: the mean ranks share 1 + 2


def test_shipped_sweeps_load():
    from conftest import ROOT

    specs = sorted((ROOT / "benchmarks" / "sweeps").glob("*.yaml"))
    assert {p.stem for p in specs} >= {"quick", "bprr-paper", "chains-paper", "scaling"}
    for p in specs:
        runs = expand(load_sweep(p))
        assert runs and len({r["run_id"] for r in runs}) == len(runs)


def test_comparison_by_hand():
    rows = []
    for iid, vals in (("i1", {"a": 1.0, "b": 2.0, "c": 2.0}), ("i2", {"a": 3.0, "b": 1.5, "c": None})):
        for s, v in vals.items():
            rows.append({"instance_id": iid, "solver": s, "status": "feasible" if v else "failed",
                         "feasible": bool(v), "mean_inference_time_s": v, "solve_time_s": 1.0,
                         "mean_decode_time_per_token_s": v and v / 10, "gap": None,
                         "objective_name": "mean_decode_time_per_token_s" if s == "a" else "x",
                         "bound": 0.08 if s == "a" else None})
    t = comparison(pd.DataFrame(rows))
    assert t.loc["a", "mean_rank"] == pytest.approx((1 + 2) / 2)
    assert t.loc["b", "mean_rank"] == pytest.approx((2.5 + 1) / 2)  # ties share the average rank
    assert t.loc["c", "mean_rank"] == pytest.approx((2.5 + 3) / 2)  # a failure ranks last
    assert list(t["wins"].loc[["a", "b", "c"]]) == [1, 1, 0] and t.loc["c", "failed"] == 1
    assert t.loc["a", "mean_gap_to_best_pct"] == pytest.approx(100 * (0 + 1.0) / 2)
    # a's bound 0.08 s/token on both instances: decode times 0.1/0.3 (a), 0.2/0.15 (b), 0.2 (c)
    assert t.loc["a", "mean_gap_to_bound_pct"] == pytest.approx(100 * ((0.1 / 0.08 - 1) + (0.3 / 0.08 - 1)) / 2)
    assert t.loc["c", "mean_gap_to_bound_pct"] == pytest.approx(100 * (0.2 / 0.08 - 1))


def test_report_plot_says_when_a_line_hides_another(tmp_path, monkeypatch):
    """Two solvers with the same means draw one line over the other: the legend says so."""
    import optim.io
    from optim.bench import plot_report

    legends = {}

    def keep(fig, path):
        legends[str(path).rsplit("/", 1)[-1]] = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]

    monkeypatch.setattr(optim.io, "save_figure_atomic", keep)
    rows = [{"instance_id": f"i{n}", "solver": s, "generator": "geo", "num_servers": n, "status": "feasible",
             "feasible": True, "mean_inference_time_s": v, "solve_time_s": 0.1}
            for n in (8, 16) for s, v in (("a", 2.0 + n), ("b", 2.0 + n), ("c", 3.0 + n))]
    plot_report(pd.DataFrame(rows), tmp_path)
    assert legends["objective_vs_servers.png"][:3] == ["a", "b, same as a", "c"]

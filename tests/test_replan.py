"""Re-planning with a move budget (issue 16, item 3)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from optim import evaluate, instance_from_dict, load_instance, solve
from optim.cli import main
from optim.errors import InvalidOptionError
from optim.replan import replan, replan_sweep, spans_solution

from conftest import INSTANCES, small_instance_dicts


def _spans(inst, sol):
    s, e, _ = sol.spans(inst)
    return list(zip(s.tolist(), e.tolist()))


@pytest.mark.parametrize("name", ["bprr-clustered-9", "geo-europe-20"])
def test_zero_moves_returns_the_current_placement(name):
    inst = load_instance(INSTANCES / f"{name}.json")
    now = solve(inst, "petals")
    for method in ("heuristic", "both"):
        r = replan(inst, now, 0, method=method)
        assert r.moved == [] and r.blocks_loaded == 0
        assert _spans(inst, r.solution) == _spans(inst, now)
        assert r.objective_s == r.current_objective_s


def test_clustered_9_two_moves_recover_cg_bprr_and_the_validator_agrees():
    inst = load_instance(INSTANCES / "bprr-clustered-9.json")
    now = solve(inst, "petals")
    rows = replan_sweep(inst, now, 3, method="heuristic")
    values = [r.objective_s for r in rows]
    assert values == sorted(values, reverse=True)  # more moves never do worse
    assert [len(r.moved) <= k for k, r in enumerate(rows)] == [True] * 4
    best = evaluate(inst, solve(inst, "cg-bprr")).summary["mean_inference_time_s"]
    assert rows[2].objective_s == pytest.approx(best, rel=1e-9)  # the two A100s moved: cg-bprr's answer
    for r in rows:
        ev = evaluate(inst, r.solution)
        assert ev.feasible, ev.violations
        assert ev.summary["mean_inference_time_s"] == pytest.approx(r.objective_s, rel=1e-12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(d=small_instance_dicts(max_servers=4, max_blocks=5), data=st.data())
def test_more_moves_never_do_worse_and_respect_the_budget(d, data):
    """From a random current placement (a drawn block count, up to one session's, at a drawn start)."""
    inst = instance_from_dict(d)
    L = inst.num_blocks
    m1 = np.minimum(np.floor(inst.memory_bytes / (inst.server_block_bytes + inst.cache_bytes_per_block_session)),
                    L).astype(int)
    m = np.array([data.draw(st.integers(1, k)) if k > 0 else 0 for k in m1])
    start = np.array([data.draw(st.integers(0, L - k)) if k > 0 else 0 for k in m])
    end = start + m
    covered = np.zeros(L, dtype=bool)
    for a, e in zip(start, end):
        covered[a:e] = True
    assume(covered.all())
    now = spans_solution(inst, start, end)
    prev = replan(inst, now, 0, method="heuristic")
    assert _spans(inst, prev.solution) == _spans(inst, now)
    for k in range(1, inst.num_servers + 1):
        r = replan(inst, now, k, method="heuristic")
        assert len(r.moved) <= k
        assert r.objective_s <= prev.objective_s + 1e-12
        ev = evaluate(inst, r.solution)
        assert ev.feasible, ev.violations
        assert ev.summary["mean_inference_time_s"] == pytest.approx(r.objective_s, rel=1e-9)
        prev = r


def test_milp_move_budget_row_zero_and_unlimited():
    """bprr-milp with the move-budget row: K = 0 can only keep the current spans; K = J is the
    unconstrained bprr-milp (objective inference)."""
    from optim.solvers.bprr_milp import _bprr_milp

    inst = load_instance(INSTANCES / "bprr-clustered-9.json")
    now = solve(inst, "petals")
    s0, e0, _ = now.spans(inst)
    warm = spans_solution(inst, s0, e0)
    if warm.details["requests_routed_short_of_cache"]:
        warm = None
    zero = _bprr_milp(inst, "inference", 60, 1e-4, None, warm is not None, "highs", 1, "arrays", False, None,
                      warm_override=warm, move_budget=(s0, e0, 0))
    if zero.has_solution:
        assert _spans(inst, zero) == _spans(inst, now)
    free = _bprr_milp(inst, "inference", 60, 1e-4, None, True, "highs", 1, "arrays", False, None,
                      move_budget=(s0, e0, inst.num_servers))
    plain = solve(inst, "bprr-milp", objective="inference", time_limit=60)
    assert free.objective == pytest.approx(plain.objective, rel=1e-6)


def test_bad_options():
    inst = load_instance(INSTANCES / "bprr-clustered-9.json")
    now = solve(inst, "petals")
    with pytest.raises(InvalidOptionError, match="max_moves: -1"):
        replan(inst, now, -1)
    with pytest.raises(InvalidOptionError, match="method: 'x'"):
        replan(inst, now, 1, method="x")


def test_cli_replan_sweep_table_plot_and_output(tmp_path):
    cur = tmp_path / "cur.json"
    r = CliRunner().invoke(main, ["solve", str(INSTANCES / "bprr-clustered-9.json"), "--solver", "petals", "-o", str(cur)])
    assert r.exit_code == 0, r.output
    out, png = tmp_path / "new.json", tmp_path / "sweep.png"
    r = CliRunner().invoke(main, ["replan", str(INSTANCES / "bprr-clustered-9.json"), str(cur), "-k", "2", "--sweep",
                                  "--method", "heuristic", "--plot", str(png), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "re-planning with a move budget" in r.output and "62.2%" in r.output
    assert png.stat().st_size > 10_000
    new = json.loads(out.read_text())
    assert new["solver"] == "replan" and len(new["details"]["moved"]) == 2
    r = CliRunner().invoke(main, ["replan", str(INSTANCES / "bprr-clustered-9.json"), str(cur), "-k", "1",
                                  "--plot", str(png)])
    assert r.exit_code == 2 and "--plot draws the sweep" in r.output
    js = CliRunner().invoke(main, ["replan", str(INSTANCES / "bprr-clustered-9.json"), str(cur), "-k", "0",
                                   "--json", "--method", "heuristic"])
    rows = json.loads(js.stdout)["rows"]
    assert rows[0]["moved"] == 0 and np.isclose(rows[0]["improvement"], 0.0)


def test_move_budget_milp_keeps_identical_servers_apart():
    """Symmetry breaking relabels identical servers, which a move budget tells apart: with it the
    MILP claimed 'optimal' at 61.527 s with a bound of 63.304 s (and K = 1 infeasible); without it
    the bound meets the optimum."""
    inst = load_instance(INSTANCES / "bprr-clustered-9.json")
    now = solve(inst, "petals")
    r = replan(inst, now, 2, method="both")
    assert r.milp["status"] == "optimal"
    assert r.milp["bound"] <= r.milp["objective"] + 1e-9
    assert r.milp["objective"] == pytest.approx(61.527, abs=1e-3)


@pytest.mark.slow
def test_a_whole_target_chain_is_moved_when_single_steps_stall():
    """chains-europe-20 from PETALS: one-server steps stall at 25.87 s (4 moves); moving the 7 servers of
    cg-bprr's chain together reaches 20.49 s, below cg-bprr's own 20.95 s (the rest still helps)."""
    inst = load_instance(INSTANCES / "chains-europe-20.json")
    now = solve(inst, "petals")
    r6, r7 = replan(inst, now, 6, method="heuristic"), replan(inst, now, 7, method="heuristic")
    assert r6.objective_s == pytest.approx(25.866, abs=1e-3) and len(r6.moved) == 4
    assert len(r7.moved) == 7 and r7.objective_s == pytest.approx(20.491, abs=1e-3)
    assert r7.objective_s < evaluate(inst, solve(inst, "cg-bprr")).summary["mean_inference_time_s"]


def test_single_server_price_trades_mean_time_for_blocks_held_twice():
    """bprr-clustered-9 from PETALS: 17 of 70 blocks have one server (the MIG servers' spans). One move
    at no price takes the best mean time and leaves 26 such blocks; at 100 s per block the move leaves
    7, for a worse mean time, and its full cost (plan_cost) is the lower one."""
    from optim.replan import _coverage, plan_cost

    inst = load_instance(INSTANCES / "bprr-clustered-9.json")
    now = solve(inst, "petals")
    s0, e0, _ = now.spans(inst)
    single = lambda r: int(np.sum(_coverage(*r.solution.spans(inst)[:2], inst.num_blocks) == 1))  # noqa: E731
    assert int(np.sum(_coverage(s0, e0, inst.num_blocks) == 1)) == 17
    free = replan(inst, now, 1, method="heuristic")
    priced = replan(inst, now, 1, method="heuristic", single_server_s_per_block=100.0)
    assert single(free) == 26 and single(priced) == 7 and len(priced.moved) == 1
    assert priced.objective_s > free.objective_s
    cost = lambda r: plan_cost(inst, r.objective_s, *r.solution.spans(inst)[:2], s0, e0, 0.0, 100.0)  # noqa: E731
    assert cost(priced) == pytest.approx(priced.objective_s + 100.0 * 7) and cost(priced) < cost(free)
    ev = evaluate(inst, priced.solution)
    assert ev.feasible and ev.summary["mean_inference_time_s"] == pytest.approx(priced.objective_s, rel=1e-12)
    with pytest.raises(InvalidOptionError, match="single_server_s_per_block: -1"):
        replan(inst, now, 1, single_server_s_per_block=-1.0)


def test_a_spent_time_limit_still_returns_a_valid_placement_no_worse_than_the_current(monkeypatch):
    """The heuristic checks its deadline between candidate moves: with the clock past it after
    the first candidate scored, the answer is still a feasible placement within K moves, never
    worse than the current one."""
    import time

    import optim.replan as rp

    inst = load_instance(INSTANCES / "chains-europe-20.json")
    now = solve(inst, "petals")
    calls = {"n": 0}
    real = time.monotonic

    def clock():  # time runs normally until the scorer has been called 4 times (twice inside the search), then
        return real() + (3600.0 if calls["n"] >= 4 else 0.0)  # jumps an hour

    score = rp._Scorer.__call__

    def counted(self, start, end):
        calls["n"] += 1
        return score(self, start, end)

    monkeypatch.setattr(rp._Scorer, "__call__", counted)
    monkeypatch.setattr(time, "monotonic", clock)
    r = replan(inst, now, 3, method="heuristic", time_limit=600)
    assert len(r.moved) <= 3 and evaluate(inst, r.solution).feasible
    assert r.objective_s <= r.current_objective_s + 1e-12
    assert calls["n"] <= 6  # it stopped where the clock jumped, not after a whole pass over the servers


def test_sweep_shares_one_time_budget(monkeypatch):
    """``time_limit`` is the budget of the whole sweep: each K's limit ends by the sweep's deadline (a
    share of what is left; time a K does not use goes to the next ones)."""
    import time

    import optim.replan as rp

    inst = load_instance(INSTANCES / "geo-europe-20.json")
    now = solve(inst, "petals")
    given = []
    real = rp.replan

    def spy(*a, time_limit, **kw):
        given.append((time.monotonic(), time_limit))
        return real(*a, time_limit=time_limit, **kw)

    monkeypatch.setattr(rp, "replan", spy)
    t0 = time.monotonic()
    rows = replan_sweep(inst, now, 3, method="heuristic", time_limit=8.0)
    assert len(rows) == len(given) == 4
    assert given[0][1] == pytest.approx(2.0, rel=0.05)  # K = 0 of four: a quarter
    assert all(at - t0 + limit <= 8.0 + 1e-3 for at, limit in given)
    with pytest.raises(InvalidOptionError, match="time_limit"):
        replan_sweep(inst, now, 1, time_limit=0.0)


def test_a_price_per_server_steers_the_move_to_another_server():
    """bprr-clustered-9 from PETALS, one move: a price of 0 for every server gives the same move as the
    scalar 0; pricing the moved server out (inf per block) makes the search move another server (or
    none), never that one; plan_cost adds each moved server's blocks at its own price."""
    from optim.replan import plan_cost, replan_spans, target_spans

    inst = load_instance(INSTANCES / "bprr-clustered-9.json")
    s0, e0, _ = solve(inst, "petals").spans(inst)
    s0, e0 = s0.astype(np.int64), e0.astype(np.int64)
    ts, te = target_spans(inst, "cg-bprr", s0, e0)
    s1, e1, _ = replan_spans(inst, s0, e0, 1, tstart=ts, tend=te)
    moved = np.flatnonzero((s1 != s0) | (e1 != e0))
    assert len(moved) == 1
    s2, e2, _ = replan_spans(inst, s0, e0, 1, tstart=ts, tend=te, downtime_s_per_block=np.zeros(inst.num_servers))
    assert np.array_equal(s2, s1) and np.array_equal(e2, e1)
    price = np.zeros(inst.num_servers)
    price[moved[0]] = np.inf
    s3, e3, _ = replan_spans(inst, s0, e0, 1, tstart=ts, tend=te, downtime_s_per_block=price)
    assert s3[moved[0]] == s0[moved[0]] and e3[moved[0]] == e0[moved[0]]
    j = moved[0]
    price = np.full(inst.num_servers, 7.0)
    price[j] = 0.5
    assert plan_cost(inst, 1.0, s1, e1, s0, e0, price) == pytest.approx(1.0 + 0.5 * (e1[j] - s1[j]))
    assert plan_cost(inst, 1.0, s0, e0, s0, e0, price) == 1.0  # nothing moved, nothing loaded


def test_replan_priced_by_the_load():
    """bprr-clustered-9 from PETALS, K = 2, each server's price from the load (2 s per block, one
    hour): an A100's block costs 2 x (T without it - T) / 3600 s of mean, T from the validator; the MIG
    servers whose blocks no other server holds are never moved. Moving a100-0 to [0, 44) gains 99 s for
    44 x 0.0514 s; a100-1's move to [26, 44 + 26) would gain 1.94 s for 2.26 s, so it is declined."""
    inst = load_instance(INSTANCES / "bprr-clustered-9.json")
    now = solve(inst, "petals")
    r = replan(inst, now, 2, method="heuristic", downtime_s_per_block="model")
    assert r.moved == ["a100-0"] and r.blocks_loaded == 44 and r.objective_s == pytest.approx(63.585, abs=1e-3)
    prices = r.solution.details["move_prices_s_per_block"]
    s0, e0, _ = now.spans(inst)
    k = inst.server_index["a100-0"]
    s, e = s0.copy(), e0.copy()
    s[k] = e[k] = 0
    without = evaluate(inst, spans_solution(inst, s, e)).summary["mean_inference_time_s"]
    assert prices["a100-0"] == pytest.approx(2.0 * (without - r.current_objective_s) / 3600.0, rel=1e-9)
    assert prices["a100-0"] == pytest.approx(0.0514, abs=1e-4)
    assert [sid for sid, v in prices.items() if v is None] == [f"mig-{i}" for i in range(5)]
    assert r.solution.details["plan_horizon_s"] == 3600.0 and r.solution.details["downtime_s_per_block"] == "model"
    free = replan(inst, now, 2, method="heuristic")
    assert free.moved == ["a100-0", "a100-1"] and free.objective_s < r.objective_s
    with pytest.raises(InvalidOptionError, match="downtime_s_per_block: 'x'; expected a number >= 0 or 'model'"):
        replan(inst, now, 1, downtime_s_per_block="x")
    with pytest.raises(InvalidOptionError, match="plan_horizon_s: 0"):
        replan(inst, now, 1, downtime_s_per_block="model", plan_horizon_s=0)


def test_cli_replan_prints_the_load_prices(tmp_path):
    path = str(INSTANCES / "bprr-clustered-9.json")
    cur = tmp_path / "petals.json"
    assert CliRunner().invoke(main, ["solve", path, "--solver", "petals", "-o", str(cur)]).exit_code == 0
    r = CliRunner().invoke(main, ["replan", path, str(cur), "-k", "2", "--method", "heuristic",
                                  "--downtime-s-per-block", "model", "--plan-horizon-s", "3600"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())  # the console wraps long lines
    assert "a100-0 0.0514" in text and "never moved (a block would have no server while it loads): mig-0" in text
    r = CliRunner().invoke(main, ["replan", path, str(cur), "-k", "1", "--downtime-s-per-block", "free"])
    assert r.exit_code == 2 and "'free'; expected a number of seconds >= 0 or 'model'" in r.output
    r = CliRunner().invoke(main, ["replan", path, str(cur), "-k", "1", "--load-s-per-block", "3"])
    assert r.exit_code == 2 and "--load-s-per-block: read only with --downtime-s-per-block model" in r.output

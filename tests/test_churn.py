"""Churn: servers joining and leaving while requests are served (issue 16, item 4)."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from optim import load_instance, solve
from optim.churn import _Swarm, simulate_churn
from optim.cli import main
from optim.errors import InvalidOptionError

from conftest import INSTANCES
from test_request_fidelity import two_session_server

SCHEDULE = [(10.0, "mig-2", "leave"), (200.0, "mig-2", "join")]  # mig-2 alone holds blocks [0, 4)


@pytest.fixture(scope="module")
def inst():
    return load_instance(INSTANCES / "bprr-clustered-9.json")


def test_static_is_unserved_from_the_leave_until_the_server_has_loaded_again(inst):
    spans = {p.server: (p.start, p.end) for p in solve(inst, "petals").placement}
    assert spans["mig-2"] == (0, 4) and all(a >= 4 for s, (a, b) in spans.items() if s != "mig-2")
    r = simulate_churn(inst, "static", requests=150, seed=0, schedule=SCHEDULE, load_s_per_block=2.0)
    s = r.summary
    assert s["time_unserved_s"] == pytest.approx(200.0 - 10.0 + 4 * 2.0)  # back online after loading 4 blocks
    assert s["completed"] == 150 and s["moves"] == 0 and s["blocks_moved"] == 0
    assert [e["event"] for e in r.events] == ["leave", "join", "online"]


def test_replan_repairs_the_swarm_sooner_and_petals_rebalances(inst):
    static = simulate_churn(inst, "static", requests=150, seed=0, schedule=SCHEDULE).summary
    replan = simulate_churn(inst, "replan", requests=150, seed=0, schedule=SCHEDULE)
    s = replan.summary
    moves = [e for e in replan.events if e["event"] == "move"]
    assert moves and moves[0]["time_s"] == pytest.approx(10.0)  # re-planned at the leave
    assert moves[0]["span"][0] == 0  # the moved server covers block 0 again
    assert s["time_unserved_s"] < static["time_unserved_s"]
    assert s["response_s"]["mean"] < static["response_s"]["mean"]
    petals = simulate_churn(inst, "petals", requests=150, seed=0, schedule=SCHEDULE).summary
    assert petals["completed"] == 150
    for summary in (s, petals, static):  # the same arrivals and events for every strategy
        assert summary["leaves"] == 1 and summary["joins"] == 1 and summary["horizon_s"] == static["horizon_s"]


def test_cache_slots_are_never_over_committed_and_all_return(inst, monkeypatch):
    """Every start and end of a request, every leave and move: 0 <= free <= cap on every server."""
    checks = []
    orig = _Swarm._dispatch

    def checked(self):
        orig(self)
        assert np.all(self.free >= 0) and np.all(self.free <= self.cap)
        checks.append(1)

    monkeypatch.setattr(_Swarm, "_dispatch", checked)
    r = simulate_churn(inst, "replan", requests=100, seed=3, mean_uptime_s=150, mean_downtime_s=50)
    assert len(checks) > 100 and r.summary["completed"] == 100 and r.summary["leaves"] > 3


def test_bad_options(inst):
    with pytest.raises(InvalidOptionError, match="strategy: 'x'"):
        simulate_churn(inst, "x")
    with pytest.raises(InvalidOptionError, match=r"schedule\[0\]: server 'nobody'"):
        simulate_churn(inst, "static", schedule=[(1.0, "nobody", "leave")])
    with pytest.raises(InvalidOptionError, match="mean_uptime_s"):
        simulate_churn(inst, "static", mean_uptime_s=0)


def test_cli_churn_table_and_schedule(tmp_path):
    sched = tmp_path / "s.csv"
    sched.write_text("time_s,server,event\n10,mig-2,leave\n200,mig-2,join\n")
    r = CliRunner().invoke(main, ["churn", str(INSTANCES / "bprr-clustered-9.json"), "--requests", "100",
                                  "--schedule", str(sched)])
    assert r.exit_code == 0, r.output
    assert "1 leaves, 1 joins" in r.output and "replan" in r.output and "time unserved s" in r.output
    assert "replan: at most 1 move(s) after each event, 0.1 s of mean per block loaded" in r.output
    r = CliRunner().invoke(main, ["churn", str(INSTANCES / "bprr-clustered-9.json"), "--strategy", "nope"])
    assert r.exit_code == 2 and "expected some of static, petals, replan" in r.output


def test_a_server_that_leaves_while_loading_and_returns_loads_again(inst):
    """mig-2 leaves at 10 s, comes back at 20 s (loading 4 blocks: 8 s), leaves at 25 s and comes back at
    26 s: the first load's end at 28 s must not bring it online; the second load ends at 34 s."""
    sched = [(10.0, "mig-2", "leave"), (20.0, "mig-2", "join"), (25.0, "mig-2", "leave"), (26.0, "mig-2", "join")]
    r = simulate_churn(inst, "static", requests=100, seed=0, schedule=sched, load_s_per_block=2.0)
    online = [e["time_s"] for e in r.events if e["event"] == "online"]
    assert online == [pytest.approx(34.0)]
    assert r.summary["time_unserved_s"] == pytest.approx(24.0)


@pytest.mark.parametrize("kw, msg", [({"routing": "x"}, "routing: 'x'"), ({"replan_when": "x"}, "replan_when: 'x'"),
                                     ({"max_moves": -1}, "max_moves: -1"), ({"requests": 0}, "requests: 0"),
                                     ({"downtime_s_per_block": -1.0}, "downtime_s_per_block: -1.0"),
                                     ({"single_server_s_per_block": -1.0}, "single_server_s_per_block: -1.0")])
def test_bad_churn_options_are_named(inst, kw, msg):
    with pytest.raises(InvalidOptionError, match=msg):
        simulate_churn(inst, "replan", **kw)



def test_churn_runs_steps_on_shared_gpus_as_the_simulator_does():
    """Without churn, two requests arrive microseconds apart on a server running one step at a time
    (``none``): prefills 0-1 s and 1-2 s, then the decode steps alternate, so the requests end at
    2.1 + 9 x 0.2 = 3.9 s and 4.0 s, as in ``optim simulate``'s step-by-step run. On an ``ideal``
    server each takes its 2 s as if alone."""
    inst, sol = two_session_server("none", rate=1e6)
    r = simulate_churn(inst, "static", requests=2, seed=0, schedule=[], initial=sol).summary
    assert r["response_s"]["mean"] == pytest.approx((3.9 + 4.0) / 2, abs=1e-3)
    assert r["failed_attempts"] == 0 and r["completed"] == 2
    inst, sol = two_session_server("ideal", rate=1e6)
    r = simulate_churn(inst, "static", requests=2, seed=0, schedule=[], initial=sol).summary
    assert r["response_s"]["mean"] == pytest.approx(2.0, abs=1e-3)


def test_move_prices_from_the_load_hand_computed():
    """Three servers on 4 blocks, [0,4) [0,2) [2,4); a made-up mean time of 5 s plus 3, 1 and 0.5 s for
    each server away. Loading 2 s per block over a 100 s horizon: server 0's block costs 2 x 3 / 100 =
    0.06 s of mean, server 1's 0.02 s, server 2's 0.01 s (but here it may not move: 0). Without
    server 0 in [0,4) [0,2) [0,2), blocks 2-3 have no server: inf. With a block already unserved, or
    loads that take no time, nothing is priced."""
    from optim.replan import move_prices

    weight = np.array([3.0, 1.0, 0.5])

    def score(start, end):
        held = np.zeros(4, dtype=int)
        for a, b in zip(start, end):
            held[a:b] += 1
        return np.inf if np.any(held == 0) else 5.0 + float(weight[end - start == 0].sum())

    start, end = np.array([0, 0, 2]), np.array([4, 2, 4])
    p = move_prices(score, start, end, np.array([True, True, False]), 2.0, 100.0)
    assert p == pytest.approx([0.06, 0.02, 0.0])
    p = move_prices(score, np.array([0, 0, 0]), np.array([4, 2, 2]), np.ones(3, bool), 2.0, 100.0)
    assert p[0] == np.inf and p[1:] == pytest.approx([0.02, 0.01])
    assert not move_prices(score, np.array([0, 0, 0]), np.array([2, 2, 2]), np.ones(3, bool), 2.0, 100.0).any()
    assert not move_prices(score, np.array([0, 0, 0]), np.array([4, 2, 2]), np.ones(3, bool), 0.0, 100.0).any()


def test_replan_priced_by_the_model_repairs_and_reports_its_price(inst):
    """The schedule of the first test with the load's prices: the leave is repaired at once, as with
    the constant price, and the summary records the price and the horizon (the mean uptime)."""
    r = simulate_churn(inst, "replan", requests=150, seed=0, schedule=SCHEDULE, downtime_s_per_block="model",
                       mean_uptime_s=900.0)
    s = r.summary
    moves = [e for e in r.events if e["event"] == "move"]
    assert moves and moves[0]["time_s"] == pytest.approx(10.0) and moves[0]["span"][0] == 0
    assert s["downtime_s_per_block"] == "model" and s["plan_horizon_s"] == 900.0 and s["completed"] == 150
    static = simulate_churn(inst, "static", requests=150, seed=0, schedule=SCHEDULE).summary
    assert s["time_unserved_s"] < static["time_unserved_s"] and static["downtime_s_per_block"] is None
    with pytest.raises(InvalidOptionError, match="downtime_s_per_block: 'x'; expected a number >= 0 or 'model'"):
        simulate_churn(inst, "replan", downtime_s_per_block="x")
    with pytest.raises(InvalidOptionError, match="plan_horizon_s: 0"):
        simulate_churn(inst, "replan", downtime_s_per_block="model", plan_horizon_s=0)


def test_cli_churn_takes_a_model_price_and_names_a_bad_one():
    path = str(INSTANCES / "bprr-clustered-9.json")
    r = CliRunner().invoke(main, ["churn", path, "--requests", "50", "--strategy", "replan",
                                  "--downtime-s-per-block", "model", "--plan-horizon-s", "600", "--json"])
    assert r.exit_code == 0, r.output
    assert '"downtime_s_per_block": "model"' in r.output and '"plan_horizon_s": 600.0' in r.output
    r = CliRunner().invoke(main, ["churn", path, "--requests", "50", "--strategy", "static,replan",
                                  "--downtime-s-per-block", "model"])
    assert r.exit_code == 0 and "each server's price per block from the load over 3600 s" in r.output
    r = CliRunner().invoke(main, ["churn", path, "--downtime-s-per-block", "cheap"])
    assert r.exit_code == 2 and "'cheap'; expected a number of seconds >= 0 or 'model'" in r.output
    r = CliRunner().invoke(main, ["churn", path, "--plan-horizon-s", "60"])  # the constant price ignores it
    assert r.exit_code == 2 and "--plan-horizon-s: read only with --downtime-s-per-block model" in r.output

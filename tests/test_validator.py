"""The validator lists every violation with the server or path and the amount."""
import json

import numpy as np

from optim import evaluate, instance_from_dict, load_instance, solve
from optim.solution import Hop, Path, ServerPlacement, Solution, Status

from conftest import INSTANCES
from test_latency import HAND


def sol(placement, paths):
    return Solution(instance="hand-3", solver="t", status=Status.FEASIBLE, placement=placement, paths=paths)


def test_reports_each_violation():
    inst = instance_from_dict(HAND)
    s = sol([ServerPlacement(server="a", start=0, end=2, cache_slots=10_000),  # 2 GB + 150 GB of cache
             ServerPlacement(server="b", start=3, end=5, cache_slots=0),  # span outside [0, 4)
             ServerPlacement(server="zz", start=0, end=1, cache_slots=0)],  # unknown server
            [Path(client="x", requests=2, hops=[Hop(server="a", start=0, end=2), Hop(server="a", start=1, end=4)]),
             Path(client="ghost", requests=0, hops=[Hop(server="a", start=0, end=4)])])
    ev = evaluate(inst, s)
    assert not ev.feasible
    kinds = {(v.constraint, v.where) for v in ev.violations}
    assert ("memory", "a") in kinds
    assert ("span", "b") in kinds
    assert ("span", "zz") in kinds
    assert ("coverage", "blocks") in kinds
    assert ("path", "paths[0].hops[1]") in kinds  # starts at 1, expected 2; and runs blocks a lacks
    assert ("path", "paths[1]") in kinds  # unknown client
    mem = next(v for v in ev.violations if v.constraint == "memory")
    assert mem.amount == __import__("pytest").approx(2 + 150 - 10)


def test_routing_share_and_missing_path():
    inst = instance_from_dict(HAND)
    s = sol([ServerPlacement(server="c", start=0, end=4, cache_slots=10)],
            [Path(client="x", requests=1, hops=[Hop(server="c", start=0, end=4)])])
    ev = evaluate(inst, s)
    assert [v.constraint for v in ev.violations] == ["routing"]
    s = sol([ServerPlacement(server="c", start=0, end=4, cache_slots=10)], [])
    ev = evaluate(inst, s)
    assert any(v.constraint == "routing" and "no path" in v.message for v in ev.violations)


def test_single_request_larger_than_cache_is_infeasible():
    inst = instance_from_dict(HAND)
    s = sol([ServerPlacement(server="c", start=0, end=4, cache_slots=3)],
            [Path(client="x", requests=2, hops=[Hop(server="c", start=0, end=4)])])
    ev = evaluate(inst, s)
    assert [v.constraint for v in ev.violations] == ["cache"]


def test_infeasible_status_is_not_feasible():
    inst = instance_from_dict(HAND)
    ev = evaluate(inst, Solution(instance="x", solver="t", status=Status.INFEASIBLE, message="why"))
    assert not ev.feasible and "why" in ev.violations[0].message


def test_single_server_failures_name_the_unserved_blocks_and_the_worst_server():
    """bprr-clustered-9 with cg-bprr: the blocks each failure leaves unserved are those no other
    server holds (computed here from the spans), and a failure that leaves a gap ranks first."""
    from optim.validate import single_server_failures

    inst = load_instance(INSTANCES / "bprr-clustered-9.json")
    sol = solve(inst, "cg-bprr")
    start, end, _ = sol.spans(inst)
    calls = []
    rows = single_server_failures(inst, sol, progress=lambda done, total: calls.append((done, total)))
    assert len(rows) == int(np.sum(end > start))
    assert calls == [(k, len(rows)) for k in range(1, len(rows) + 1)]  # one progress report per server judged
    for row in rows:
        j = inst.server_index[row["server"]]
        others = [(a, b) for i, (a, b) in enumerate(zip(start, end)) if i != j and b > a]
        missing = [blk for blk in range(inst.num_blocks) if not any(a <= blk < b for a, b in others)]
        got = [blk for a, b in row["unserved_blocks"] for blk in range(a, b)]
        assert got == missing
        if missing:
            assert not row["served"]
    assert not rows[0]["served"] and rows[0]["unserved_blocks"]
    served = [r for r in rows if r["served"] and "response_time_lower_s" in r]
    assert served == sorted(served, key=lambda r: -r["response_time_lower_s"])


def test_cli_evaluate_reports_the_worst_single_server_failure(tmp_path):
    from click.testing import CliRunner

    from optim.cli import main

    inst_file = INSTANCES / "geo-europe-20.json"
    out = tmp_path / "s.json"
    assert CliRunner().invoke(main, ["solve", str(inst_file), "-o", str(out)]).exit_code == 0
    r = CliRunner().invoke(main, ["evaluate", str(inst_file), str(out)])
    assert r.exit_code == 0 and "worst single-server failure: s07" in r.output and "still served" in r.output
    r = CliRunner().invoke(main, ["evaluate", str(inst_file), str(out), "--json"])
    assert json.loads(r.output)["single_server_failures"][0]["server"] == "s07"

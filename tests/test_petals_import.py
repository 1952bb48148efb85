"""PETALS import: a health-monitor state becomes an instance and its current placement (issue 16, item 2)."""
from __future__ import annotations

import copy
import json

import pytest
from click.testing import CliRunner

from optim import evaluate, load_instance, solve
from optim.cli import main
from optim.errors import InvalidInstanceError
from optim.export import petals_commands
from optim.petals_import import import_petals_state, load_petals_state
from optim.solution import Status

from conftest import INSTANCES, ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "petals_state.json"


@pytest.fixture()
def state() -> dict:
    return load_petals_state(str(FIXTURE))


def _rows(state: dict) -> list[dict]:
    return state["model_reports"][1]["server_rows"]


def test_fixture_swarm_imports_with_petals_own_measurements(state):
    imp = import_petals_state(state)
    inst = imp.instance
    assert inst.model.card == "llama-2-70b"  # matched from meta-llama/Llama-2-70b-chat-hf
    assert [s.id for s in inst.servers] == ["alice-a100", "bob-3090", "carol-a6000", "dave-t4"]  # public names
    assert {d["state"] for d in imp.dropped} == {"offline", "unreachable"}
    alice = inst.servers[0]
    assert alice.decode_ms_per_block_per_token == pytest.approx(1e3 / 1500)  # 1 / inference_rps
    assert alice.prefill_ms_per_block_per_token == pytest.approx(1e3 / 60000)  # 1 / forward_rps
    assert alice.bandwidth_mbps == pytest.approx(12000 * 8192 * 16 / 1e6)  # network_rps x hidden x 16 bit
    assert alice.batching == "none" and alice.dtype == "nf4"
    # memory: 40 nf4 blocks plus 16384 cache tokens per block
    from optim.modelcard import load_model_card

    card = load_model_card("llama-2-70b")
    assert alice.memory_gb == pytest.approx(40 * (card.block_bytes["nf4"] + 16384 * card.kv_cache_bytes_per_token_per_block) / 1e9,
                                            rel=1e-6)
    # dave reports only throughput: forward_rps = throughput (m + 1) / 2, decode from the median ratio
    dave = inst.servers[3]
    fwd = 300.0 * (18 + 1) / 2
    assert dave.prefill_ms_per_block_per_token == pytest.approx(1e3 / fwd)
    ratio = sorted([1500 / 60000, 700 / 20000, 900 / 30000])[1]
    assert dave.decode_ms_per_block_per_token == pytest.approx(1e3 / (fwd * ratio))
    assert any("dave-t4: forward_rps from throughput" in f for f in imp.fills)
    # RTTs: alice -> bob measured both ways (20 and 21 ms): the mean; bob -> dave's Infinity is no ping
    rtt = inst.rtt.rtt_ms
    assert rtt[1][2] == pytest.approx(20.5)
    assert rtt[2][4] == pytest.approx(30.0)  # bob's next_pings to dave (30 ms)
    assert rtt[3][4] == pytest.approx(30.0)  # carol-dave unmeasured: the median of the measured pings
    # today's swarm evaluates, and a solver improves on it
    assert imp.solution.status is Status.FEASIBLE
    ev = evaluate(inst, imp.solution)
    assert ev.feasible, ev.violations
    spans = {p.server: (p.start, p.end) for p in imp.solution.placement}
    assert spans == {"alice-a100": (0, 40), "bob-3090": (40, 62), "carol-a6000": (30, 80), "dave-t4": (62, 80)}
    better = solve(inst, "cg-bprr")
    assert better.objective < ev.summary["mean_inference_time_s"]


def test_no_pings_unknown_model_and_broken_swarm(state):
    bare = copy.deepcopy(state)
    for row in _rows(bare):
        row["pings_to_me"] = {}
        row["span"]["server_info"].pop("next_pings", None)
    imp = import_petals_state(bare)
    assert all(v == 50.0 for row in imp.instance.rtt.rtt_ms for v in row if v), "no ping: the 50 ms default"
    assert any("no ping was measured" in f for f in imp.fills)

    unknown = copy.deepcopy(state)
    unknown["model_reports"][1].update(name="someone/secret-model-70b", repository="https://huggingface.co/someone/x",
                                       short_name="x")
    with pytest.raises(InvalidInstanceError, match=r"model_reports\[1\].name: 'someone/secret-model-70b' matches no "
                                                   r"shipped model card .* give the card with --model"):
        import_petals_state(unknown)
    assert import_petals_state(unknown, card="llama-2-70b").instance.num_servers == 4

    broken = copy.deepcopy(state)
    _rows(broken)[2]["state"] = "offline"  # carol held [30, 80); dave [62, 80) and bob [40, 62) remain
    _rows(broken)[1]["state"] = "offline"
    imp = import_petals_state(broken)
    assert imp.solution.status is Status.INFEASIBLE
    assert "blocks [40, 62) are held by no online server" in imp.solution.message

    wrong = copy.deepcopy(state)
    wrong["model_reports"][1]["num_blocks"] = 70
    with pytest.raises(InvalidInstanceError, match="num_blocks: 70; model card llama-2-70b has 80 blocks"):
        import_petals_state(wrong)

    gone = copy.deepcopy(state)
    for row in _rows(gone):
        row["state"] = "offline"
    with pytest.raises(InvalidInstanceError, match="no server is online or joining"):
        import_petals_state(gone)


def _state_from_export(inst, rows) -> dict:
    """What the health monitor would publish for servers started with optim's exported commands."""
    server_rows = []
    for r in rows:
        s = inst.servers[inst.server_index[r["server"]]]
        argv = r["argv"]
        quant = argv[argv.index("--quant_type") + 1]
        start, end = r["start"], r["end"]
        info = {"state": 2, "throughput": 1.0, "public_name": argv[argv.index("--public_name") + 1],
                "inference_rps": 1e3 / s.decode_ms_per_block_per_token,
                "forward_rps": 1e3 / s.prefill_ms_per_block_per_token, "quant_type": quant}
        server_rows.append({"peer_id": f"12D3KooW{r['server']}", "state": "online",
                            "span": {"start": start, "end": end, "length": end - start, "server_info": info},
                            "pings_to_me": {},
                            "cache_tokens_left_per_block": r["attn_cache_tokens"]})
    return {"model_reports": [{"name": "meta-llama/Llama-2-70b-hf", "num_blocks": inst.num_blocks,
                               "server_rows": server_rows}]}


def test_a_measurement_that_is_not_a_positive_number_is_named_and_filled(state):
    bad = copy.deepcopy(state)
    info = _rows(bad)[0]["span"]["server_info"]
    info.update(inference_rps=-5, throughput="fast")
    imp = import_petals_state(bad)
    sid = imp.instance.servers[0].id
    assert f"{sid}: inference_rps -5 is not a positive number; taken as missing" in imp.fills
    assert f"{sid}: throughput 'fast' is not a positive number; taken as missing" in imp.fills
    assert any(f.startswith(f"{sid}: inference_rps = forward_rps x") for f in imp.fills)  # then filled, as said
    assert imp.instance.servers[0].decode_ms_per_block_per_token > 0


@pytest.mark.parametrize("solver", ["cg-bprr", "petals"])
def test_export_then_import_round_trips_the_spans(solver):
    inst = load_instance(INSTANCES / "geo-europe-20.json")
    sol = solve(inst, solver)
    rows = petals_commands(inst, sol)
    imp = import_petals_state(_state_from_export(inst, rows))
    exported = {r["server"]: (r["start"], r["end"]) for r in rows}
    imported = {p.server: (p.start, p.end) for p in imp.solution.placement}
    assert imported == exported
    for s in imp.instance.servers:  # PETALS' measured times are the instance's
        orig = inst.servers[inst.server_index[s.id]]
        assert s.decode_ms_per_block_per_token == pytest.approx(orig.decode_ms_per_block_per_token, rel=1e-6)
    assert evaluate(imp.instance, imp.solution).feasible


def test_cli_import_prints_today_and_the_improvement(tmp_path):
    inst_out, sol_out = tmp_path / "swarm.json", tmp_path / "current.json"
    r = CliRunner().invoke(main, ["import", "petals", str(FIXTURE), "-o", str(inst_out), "--solution", str(sol_out)])
    assert r.exit_code == 0, r.output
    assert "today's swarm: mean inference time" in r.output
    assert "% better than today's swarm" in r.output
    assert "dropped 12D3KooWEveEEEEEE: offline" in r.output
    r = CliRunner().invoke(main, ["evaluate", str(inst_out), str(sol_out), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["feasible"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"servers": []}')
    r = CliRunner().invoke(main, ["import", "petals", str(bad)])
    assert r.exit_code == 2 and "model_reports: missing" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["import", "petals", str(FIXTURE), "--memory-gb", "nobody=3"])
    assert r.exit_code == 2 and "nobody are not servers of the swarm" in r.output

"""Tensor/pipeline parallelism inside a server and the dtype as a decision, on hand-computed cases."""
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optim import evaluate, instance_from_dict, solve
from optim.simulate import simulate
from optim.configure import Configuration, configure, has_choices, server_options
from optim.gpu import get_gpu
from optim.modelcard import load_model_card
from optim.perf.parallelism import INTERCONNECTS, hop_traffic, link_of, parallel_block_times
from optim.solution import Hop, Path, ServerPlacement, Solution, Status

from conftest import solve_and_validate

CARD = load_model_card("llama-2-7b")
A100 = get_gpu("A100-80GB")
F, B = A100.fp16_tflops * 1e12, A100.memory_bandwidth_gb_per_s * 1e9
H, P = CARD.hidden_size, CARD.params_per_block
SM = {d: float(CARD.block_bytes[d]) for d in ("fp16", "int8", "nf4")}
NV_BW, NV_LAT = 300e9, 5e-6


def test_two_gpu_tp_block_times_by_hand():
    t = parallel_block_times(A100, CARD, "fp16", 2, link_of("nvlink"))
    # two ring all-reduces per block of S = n h 2 bytes over 2 GPUs: each 2 (p-1) alpha + 2 (p-1)/p S / B
    ar_fixed = 2 * (2 * 1 * NV_LAT)
    ar_token = 2 * (2 * 1 / 2 * H * 2 / NV_BW)
    assert t.prefill_s == pytest.approx(1e-3 + ar_fixed)
    assert t.prefill_s_per_token == pytest.approx(2 * P / (2 * F) + ar_token)
    assert t.decode_s_per_token == pytest.approx(SM["fp16"] / (2 * B) + ar_fixed + ar_token)
    one = parallel_block_times(A100, CARD, "fp16", 1)
    assert one.decode_s_per_token == pytest.approx(SM["fp16"] / B)  # the plain roofline
    assert INTERCONNECTS["nvlink"] == (NV_BW, NV_LAT)


def test_nf4_dequantises_in_prefill_and_reads_fewer_bytes_in_decode():
    t = parallel_block_times(A100, CARD, "nf4", 1)
    assert t.prefill_s == pytest.approx(1e-3 + (SM["nf4"] + 2 * P) / B)
    assert t.decode_s_per_token == pytest.approx(SM["nf4"] / (B * 3.4 / (16 / 4.25)))


def test_hop_traffic_by_hand():
    tokens, blocks = 100 + 20 - 1, 8
    S = tokens * H * 2
    h = hop_traffic(blocks, tokens, H, tp=2, stages=2)
    assert h.tp_bytes == pytest.approx(blocks * 2 * (2 * 1 * S))  # 2 all-reduces per block, 2 (p-1) S each
    assert h.pp_intra_bytes == pytest.approx(S)  # one stage boundary inside the server
    assert h.pp_network_bytes == pytest.approx(2 * S)  # to the server and back, client relaying


def _server(sid, gpu_count=1, tp=None, memory_gb=80.0, dtype="fp16", link="nvlink", gpu="A100-80GB", **extra):
    t = parallel_block_times(get_gpu(gpu), CARD, dtype, tp or gpu_count, link_of(link))
    return {"id": sid, "gpu": gpu, "memory_gb": memory_gb, "gpu_count": gpu_count,
            **({"tp_degree": tp} if tp else {}), "interconnect": link, "dtype": dtype,
            "prefill_ms_per_block": t.prefill_s * 1e3, "prefill_ms_per_block_per_token": t.prefill_s_per_token * 1e3,
            "decode_ms_per_block_per_token": t.decode_s_per_token * 1e3, **extra}


def _instance(servers, rtt_ms, penalty=None, dtypes=None, input_tokens=100, output_tokens=20):
    ids = ["c"] + [s["id"] for s in servers]
    n = len(ids)
    M = [[0.0] * n for _ in range(n)]
    for k, r in enumerate(rtt_ms, start=1):
        M[0][k] = M[k][0] = r
    model = {"card": "llama-2-7b", "dtype": "fp16"}
    if dtypes:
        model["dtypes"] = dtypes
    if penalty:
        model["quality_penalty_ms_per_block_per_token"] = penalty
    return instance_from_dict({
        "name": "par", "model": model, "servers": servers, "clients": [{"id": "c", "arrival_rate_per_s": 0.1}],
        "rtt": {"ids": ids, "rtt_ms": M},
        "workload": {"input_tokens_mean": input_tokens, "input_tokens_max": input_tokens,
                     "output_tokens_mean": output_tokens, "output_tokens_max": output_tokens, "concurrent_requests": 1},
        "communication": {"decode_overhead_ms": 0, "prefill_overhead_ms": 0, "include_bandwidth": False}})


def test_pipeline_stages_inside_a_server_and_traffic_in_evaluate():
    """A 4-GPU server at TP2 has 2 PP stages inside: one stage boundary per token pass (alpha + h a / B),
    and evaluate reports the TP and PP bytes of the request."""
    inst = _instance([_server("s", gpu_count=4, tp=2, memory_gb=4 * 85.9)], [10.0])
    assert inst.stage_fixed_s[0] == pytest.approx(NV_LAT)
    assert inst.stage_s_per_token[0] == pytest.approx(H * 2 / NV_BW)
    L = inst.num_blocks
    sol = Solution(instance="par", solver="hand", status=Status.FEASIBLE,
                   placement=[ServerPlacement(server="s", start=0, end=L, cache_slots=L)],
                   paths=[Path(client="c", requests=1, hops=[Hop(server="s", start=0, end=L)])])
    ev = evaluate(inst, sol)
    assert ev.feasible
    s = inst.servers[0]
    decode = 10e-3 + NV_LAT + H * 2 / NV_BW + L * s.decode_ms_per_block_per_token * 1e-3
    assert ev.summary["mean_decode_time_per_token_s"] == pytest.approx(decode)
    prefill = 10e-3 + NV_LAT + 100 * H * 2 / NV_BW + L * (s.prefill_ms_per_block + 100 * s.prefill_ms_per_block_per_token) * 1e-3
    assert ev.summary["mean_prefill_time_s"] == pytest.approx(prefill)
    S = (100 + 20 - 1) * H * 2
    assert ev.summary["tp_bytes_per_request"] == pytest.approx(L * 2 * 2 * S)
    assert ev.summary["pp_bytes_per_request"] == pytest.approx(S + 2 * S)
    assert ev.summary["pp_network_bytes_per_request"] == pytest.approx(2 * S)
    assert ev.servers[0]["tp_degree"] == 2 and ev.servers[0]["dtype"] == "fp16"


def test_tp_degree_is_a_choice_and_the_times_rescale_by_the_roofline():
    inst = _instance([_server("s", gpu_count=2, tp=1, memory_gb=2 * 85.9, tp_degrees=[1, 2])], [10.0])
    assert server_options(inst, 0) == [Configuration("fp16", 1), Configuration("fp16", 2)]
    two = configure(inst, {"s": Configuration("fp16", 2)})
    t2 = parallel_block_times(A100, CARD, "fp16", 2, link_of("nvlink"))
    assert two.decode_s[0] == pytest.approx(t2.decode_s_per_token)
    assert two.stage_fixed_s[0] == 0.0 and inst.stage_fixed_s[0] == pytest.approx(NV_LAT)
    sol = solve(inst, "cg-bprr")
    assert sol.placement[0].tp_degree == 2  # TP2 beats two pipeline stages for a 20-token answer
    assert evaluate(inst, sol).feasible


def test_a_dtype_mix_beats_both_fixed_dtypes():
    """Server a (A100) fits 28 fp16 blocks, server b (L4, 300 GB/s) only 4; nf4 costs a quality penalty
    of 0.5 ms per block and token, more than nf4 saves on the A100 (0.20 -> 0.06 ms per block) and less
    than it saves on the L4 (1.37 -> 0.41 ms). All fp16: 10 + 28 x 0.20 + 4 x 1.37 = 21.1 ms per token;
    all nf4: a alone, 5 + 32 x (0.06 + 0.5) = 22.9 ms; the mix (a fp16, b nf4) 10 + 5.6 + 4 x 0.91 =
    19.2 ms beats both, and bprr-milp with the choice as a variable finds the best of the four fixed
    configurations (brute force)."""
    blocks_fp16 = lambda n: n * SM["fp16"] + n * CARD.kv_cache_bytes_per_token_per_block * 120 + 1e6
    a = _server("a", memory_gb=blocks_fp16(28) / 1e9)
    b = _server("b", memory_gb=blocks_fp16(4) / 1e9, gpu="L4")
    penalty = {"nf4": 0.5}
    inst = _instance([a, b], [5.0, 5.0], penalty=penalty, dtypes=["fp16", "nf4"])
    assert has_choices(inst)
    values = {}
    for da, db in itertools.product(("fp16", "nf4"), repeat=2):
        fixed = configure(inst, {"a": Configuration(da, 1), "b": Configuration(db, 1)})
        fixed = fixed.replace(model=fixed.model.model_copy(update={"dtypes": None}),
                              servers=[s.model_copy(update={"dtypes": [s.dtype]}) for s in fixed.servers])
        assert not has_choices(fixed)
        sol = solve(fixed, "bprr-milp", time_limit=60)
        if sol.has_solution:
            pen = sum(fixed.quality_penalty_s[fixed.server_index[h.server]] * (h.end - h.start)
                      for h in sol.paths[0].hops)
            values[(da, db)] = sol.objective + pen
    assert values[("fp16", "nf4")] < min(values[("fp16", "fp16")], values[("nf4", "nf4")])
    assert values[("fp16", "fp16")] == pytest.approx(21.1e-3, abs=0.1e-3)
    assert values[("nf4", "nf4")] == pytest.approx(22.9e-3, abs=0.1e-3)
    assert values[("fp16", "nf4")] == pytest.approx(19.2e-3, abs=0.1e-3)
    best = min(values.values())
    chosen = solve(inst, "bprr-milp", time_limit=60)
    assert chosen.status is Status.OPTIMAL
    assert chosen.objective == pytest.approx(best, rel=1e-6)
    conf = {p.server: p.dtype for p in chosen.placement if p.end > p.start}
    assert conf == {"a": "fp16", "b": "nf4"}
    ev = evaluate(inst, chosen)
    assert ev.feasible and [r["dtype"] for r in ev.servers] == ["fp16", "nf4"]
    heur = solve(inst, "cg-bprr")  # the heuristic's search finds the mix too
    assert {p.server: p.dtype for p in heur.placement if p.end > p.start} == {"a": "fp16", "b": "nf4"}


def test_solve_evaluate_and_simulate_agree_on_a_configured_solution():
    inst = _instance([_server("s", gpu_count=2, tp=1, memory_gb=2 * 85.9, tp_degrees=[1, 2])], [10.0])
    sol = solve(inst, "cg-bprr")
    ev = evaluate(inst, sol)
    r = simulate(inst, sol, policy="jffc", requests=500, seed=1)
    assert r.summary["service_s"]["mean"] == pytest.approx(ev.summary["mean_inference_time_no_wait_s"], rel=1e-6)


def test_a_configuration_the_server_does_not_allow_fails_validation():
    inst = _instance([_server("s", gpu_count=2, tp=2, memory_gb=2 * 85.9)], [10.0])
    L = inst.num_blocks
    sol = Solution(instance="par", solver="hand", status=Status.FEASIBLE,
                   placement=[ServerPlacement(server="s", start=0, end=L, cache_slots=L, dtype="nf4")],
                   paths=[Path(client="c", requests=1, hops=[Hop(server="s", start=0, end=L)])])
    ev = evaluate(inst, sol)
    assert not ev.feasible and "cannot run nf4/tp2" in ev.violations[0].message


def test_bad_tp_degree_is_named():
    from optim.errors import InvalidInstanceError

    with pytest.raises(InvalidInstanceError, match=r"servers\[0\].tp_degree: 3 does not divide gpu_count 4"):
        _instance([_server("s", gpu_count=4, tp_degree=3)], [10.0])


@st.composite
def configurable_instances(draw):
    """2-4 servers of random GPUs, 1-4 GPUs each, allowing a random subset of dtypes and TP degrees."""
    servers = []
    for j in range(draw(st.integers(2, 4))):
        gpu = draw(st.sampled_from(["A100-80GB", "L4", "T4"]))
        count = draw(st.sampled_from([1, 2, 4]))
        tps = draw(st.lists(st.sampled_from([t for t in (1, 2, 4) if count % t == 0]), min_size=1, unique=True))
        dts = draw(st.lists(st.sampled_from(["fp16", "int8", "nf4"]), min_size=1, unique=True))
        per_gpu = get_gpu(gpu).memory_bytes / 1e9 * draw(st.floats(0.05, 0.6))
        servers.append(_server(f"s{j}", gpu_count=count, tp=tps[0], memory_gb=count * per_gpu, dtype=dts[0],
                               gpu=gpu, link=draw(st.sampled_from(["nvlink", "pcie"])), tp_degrees=tps, dtypes=dts))
    rtt = [draw(st.floats(1.0, 150.0)) for _ in servers]
    penalty = {d: draw(st.floats(0.0, 2.0)) for d in ("int8", "nf4")}
    return _instance(servers, rtt, penalty=penalty, input_tokens=draw(st.integers(1, 200)),
                     output_tokens=draw(st.integers(1, 50)))


@pytest.mark.parametrize("solver", ["cg-bprr", "gbp-cr"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=configurable_instances())
def test_solvers_choose_allowed_configurations_that_fit(solver, inst):
    """Whatever the solvers choose passes the validator, is one of the server's allowed (dtype, TP)
    pairs, and fits memory recomputed here from the model card's bytes per block of that dtype."""
    sol, ev = solve_and_validate(inst, solver)
    if ev is None:
        return
    by_id = {s.id: s for s in inst.servers}
    slot_bytes = CARD.kv_cache_bytes_per_token_per_block * (inst.workload.input_tokens_max
                                                            + inst.workload.output_tokens_max)
    for p in sol.placement:
        if p.end == p.start:
            continue
        s = by_id[p.server]
        dtype, tp = p.dtype or s.dtype, p.tp_degree or s.tp  # None: the server runs as stated
        assert dtype in s.dtypes and tp in s.tp_degrees, (p, s.dtypes, s.tp_degrees)
        used = CARD.block_bytes[dtype] * (p.end - p.start) + slot_bytes * p.cache_slots
        assert used <= s.memory_gb * 1e9 * (1 + 1e-9)
    rows = {r["server"]: r for r in ev.servers}
    assert all(rows[p.server]["dtype"] == (p.dtype or by_id[p.server].dtype) for p in sol.placement if p.end > p.start)

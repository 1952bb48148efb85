"""What a request really needs from the servers: the model's context, PETALS' cache by tokens,
and WS-RR's calendar of promised slots (each against a hand-computed case or the raw trace)."""
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from optim import instance_from_dict
from optim.modelcard import load_model_card
from optim.dispatch import WaitingShortestPath
from optim.errors import InvalidOptionError
from optim.simulate import azure_trace, simulate, trace_lengths
from optim.solution import Hop, Path, ServerPlacement, Solution, Status

from conftest import small_instance_dicts


def one_server(context_tokens=None, input_mean=1000, output_mean=24, rate=1000.0):
    """One server holding the one block, cache for exactly one session at the maximum lengths
    (2,000 + 48 tokens), no communication and 1 s of prefill: every request takes 1 s alone."""
    model = {"name": "toy", "num_blocks": 1, "block_bytes": 1e9, "kv_cache_bytes_per_token_per_block": 1e3}
    if context_tokens is not None:
        model["context_tokens"] = context_tokens
    inst = instance_from_dict({
        "name": "one", "model": model,
        "servers": [{"id": "s0", "memory_gb": 2.0, "prefill_ms_per_block": 1000.0,
                     "prefill_ms_per_block_per_token": 0.0, "decode_ms_per_block_per_token": 1e-9}],
        "clients": [{"id": "c0", "arrival_rate_per_s": rate}],
        "rtt": {"ids": ["c0", "s0"], "rtt_ms": [[0.0, 0.0], [0.0, 0.0]]},
        "workload": {"input_tokens_mean": input_mean, "input_tokens_max": 2000, "output_tokens_mean": output_mean,
                     "output_tokens_max": 48, "concurrent_requests": 1},
        "communication": {"chain_overhead_ms": 0.0, "decode_overhead_ms": 0.0, "prefill_overhead_ms": 0.0,
                          "include_bandwidth": False}})
    sol = Solution(instance="one", solver="hand", status=Status.FEASIBLE,
                   placement=[ServerPlacement(server="s0", start=0, end=1, cache_slots=1)],
                   paths=[Path(client="c0", requests=1, hops=[Hop(server="s0", start=0, end=1)])])
    return inst, sol


def two_session_server(batching: str, rate: float = 1000.0):
    """:func:`one_server` with cache for two sessions of 10 tokens in and 11 out, 1 s of prefill and
    0.1 s per decode step (a request alone takes 1 + 10 x 0.1 = 2 s), its GPU run as ``batching``
    says; with the placement holding both sessions."""
    inst, _ = one_server(input_mean=10, output_mean=11, rate=rate)
    d = inst.model_dump(mode="json", exclude_none=True)
    d["servers"][0].update(batching=batching, decode_ms_per_block_per_token=100.0)
    d["workload"].update(input_tokens_max=10, output_tokens_max=11)
    sol = Solution(instance="one", solver="hand", status=Status.FEASIBLE,
                   placement=[ServerPlacement(server="s0", start=0, end=1, cache_slots=2)],
                   paths=[Path(client="c0", requests=1, hops=[Hop(server="s0", start=0, end=1)])])
    return instance_from_dict(d), sol


def test_cards_state_their_context():
    assert load_model_card("llama-2-7b").context_tokens == 4096
    assert load_model_card("llama-2-70b").context_tokens == 4096
    assert load_model_card("bloom-176b").context_tokens == 2048
    assert load_model_card("llama-3.1-405b").context_tokens == 131072


def test_trace_prompts_are_cut_to_the_context_and_counted():
    inst, _ = one_server(context_tokens=4096)
    l_in, l_out, cut = trace_lengths(inst, 1000)
    _, raw_in, raw_out = azure_trace()
    raw_in, raw_out = raw_in[:1000], raw_out[:1000]
    over = raw_in + raw_out > 4096
    assert cut == int(over.sum()) == 169  # 16.9% of the first 1,000 code-trace requests
    assert np.all(l_in + l_out <= 4096) and np.array_equal(l_out, raw_out)
    assert np.array_equal(l_in[~over], raw_in[~over]) and np.all(l_in[over] == 4096 - raw_out[over])
    no_ctx, _ = one_server()
    assert trace_lengths(no_ctx, 1000)[2] == 0  # a model without a stated context is taken as it is


def test_simulate_says_how_many_prompts_it_cut():
    inst, sol = one_server(context_tokens=4096, rate=0.01)
    r = simulate(inst, sol, policy="petals", arrivals="trace", requests=50, seed=0)
    _, raw_in, raw_out = azure_trace()
    assert r.summary["prompts_cut_to_context"] == int(np.sum(raw_in[:50] + raw_out[:50] > 4096))
    assert simulate(inst, sol, policy="petals", requests=5, seed=0).summary.get("prompts_cut_to_context") is None


def test_petals_sessions_share_a_server_by_tokens():
    """Two requests of 1,024 tokens each arrive within milliseconds. PETALS allocates each its own
    1,024 tokens of the server's 2,048: both start at once. WS-RR reserves a whole slot per request,
    as BPRR's model does: the second waits the first's 1 s."""
    inst, sol = one_server()
    pe = simulate(inst, sol, policy="petals", requests=2, seed=0, debug=True).records
    assert pe["waited_s"] == pytest.approx([0.0, 0.0], abs=1e-12)
    assert pe["service_s"] == pytest.approx([1.0, 1.0])
    ws = simulate(inst, sol, policy="ws-rr", requests=2, seed=0, debug=True).records
    gap = ws["arrival_s"][1] - ws["arrival_s"][0]
    assert ws["waited_s"] == pytest.approx([0.0, 1.0 - gap])
    # a request as long as the maximum takes the whole server under PETALS too
    full, sol = one_server(input_mean=2000, output_mean=48)
    assert simulate(full, sol, policy="petals", requests=2, seed=0).records["waited_s"][1] > 0.5


def test_ws_rr_wait_counts_the_slots_promised_to_waiting_requests():
    """Server 0 holds 2 slots, both busy until 10 s and 20 s. A request already waiting was
    promised one slot from 10 s to 30 s. A newcomer needing one slot gets it at 20 s, not 10 s."""
    sim = SimpleNamespace(env=SimpleNamespace(now=0.0), cap=np.array([2.0]), free=np.array([0.0]),
                          demand=np.ones(3), running=[(10.0, [(0, 0, 1)], 0), (20.0, [(0, 0, 1)], 1)])
    sim.expected_end_s = lambda end, i: end if end >= sim.env.now else sim.env.now  # a late job: about to end
    ws = WaitingShortestPath()
    assert ws._wait_until_free(sim, 0, 1.0) == 10.0
    ws.queue.append((2, [(0, 0, 1)], 10.0, 30.0))
    assert ws._wait_until_free(sim, 0, 1.0) == 20.0
    assert ws._wait_until_free(sim, 0, 2.0) == 30.0
    assert ws._wait_until_free(sim, 0, 3.0) == 3600.0  # more than the server ever holds
    sim.env.now = 25.0  # requests past their expected ends end now (as said above); the waiting one holds 1
    assert ws._wait_until_free(sim, 0, 1.0) == 0.0
    assert ws._wait_until_free(sim, 0, 2.0) == 5.0


def test_setup_time_holds_the_cache_and_counts_everywhere():
    """2 s of set-up before the 1 s job: service 3 s, first token 3 s after the start, and under
    WS-RR the second request waits for the first's whole 3 s (the set-up holds the slot)."""
    inst, sol = one_server()
    ws = simulate(inst, sol, policy="ws-rr", requests=2, seed=0, setup_s=2.0, debug=True)
    rec = ws.records
    gap = rec["arrival_s"][1] - rec["arrival_s"][0]
    assert rec["service_s"] == pytest.approx([3.0, 3.0])
    assert rec["first_token_s"] - rec["start_s"] == pytest.approx([3.0, 3.0])
    assert rec["waited_s"] == pytest.approx([0.0, 3.0 - gap])
    assert ws.summary["setup_s"] == 2.0
    light, sol = one_server(rate=0.05)  # JFFC over GCA's one chain of one slot: a FCFS single server
    jf = simulate(light, sol, policy="jffc", requests=40, seed=0, setup_s=2.0, warmup_fraction=0.0).records
    assert jf["service_s"] == pytest.approx(np.full(40, 3.0))
    wait, expected = 0.0, [0.0]  # Lindley: W' = max(0, W + S - gap), S = 3 s with the set-up
    for gap in np.diff(jf["arrival_s"]):
        wait = max(0.0, wait + 3.0 - gap)
        expected.append(wait)
    assert jf["waited_s"] == pytest.approx(expected, abs=1e-9) and max(expected) > 0
    with pytest.raises(InvalidOptionError, match="setup_s"):
        simulate(light, sol, policy="jffc", requests=5, setup_s=-1.0)


def test_clustered_script_timing_gives_the_papers_simulator_figure():
    """The authors' clustered script: a Cluster0 request on CG-BPRR's two A100s takes, by hand,
    60 s of set-up + a prefill of 2 x (100 + 55) ms + 70 x 7.2197 ms + 127 decode steps of
    2 x (100 + 50) ms + 70 x 2.2197 ms = 118.6485 s: 0.927 s per token (the paper's simulator: 0.92)."""
    from optim import solve
    from optim.generators import clustered_instance

    inst = clustered_instance("small", client_clusters=(0,), arrival_rate=0.1, output_tokens=128,
                              timing="clustered-script")
    assert {s.gpu: s.decode_ms_per_block_per_token for s in inst.servers} == {
        "A100-80GB-BPRR": 2.2197, "A100-MIG-1g.10gb-BPRR": 16.2488}
    r = simulate(inst, solve(inst, "cg-bprr"), policy="ws-rr", requests=1, seed=0, setup_s=60.0).records
    assert r["servers"][0].count("a100") == 2
    hand = 60.0 + (2 * 155.0 + 70 * 7.2197) / 1e3 + 127 * (2 * 150.0 + 70 * 2.2197) / 1e3
    assert r["response_s"][0] == pytest.approx(hand, rel=1e-9)
    assert r["response_s"][0] / 128 == pytest.approx(0.92694, abs=1e-5)
    with pytest.raises(InvalidOptionError, match="timing"):
        clustered_instance("small", timing="fast")



def test_a_late_job_is_expected_to_end_at_the_pace_it_has_kept():
    """One server running one step at a time: 1 s prefill, 0.1 s per decode token, 10 decode steps,
    so a request alone takes 2 s. Two start at t = 0: prefills 0-1 s and 1-2 s, then their decode
    steps alternate (request 0's end at 2.1, 2.3, 2.5, ...). At 2.45 s request 0 is past its planned
    end (2 s) with 2 rounds done: done = 1 + 2 x 0.1 = 1.2 s of its 2 s, so it is expected to end
    at 2.45 + 2.45 x 0.8 / 1.2 = 4.083 s (it ends at 3.9 s); WS-RR reads its calendar with this."""
    from optim.simulate import PathSimulation

    inst, sol = two_session_server("none")
    sim = PathSimulation(inst, sol, ("poisson", "instance"), 2, np.random.default_rng(0), debug=True)
    sim.t_arr[:] = 0.0
    seen = {}

    class StartAtOnce:
        def arrive(self, sim_, i):
            sim_.begin(i, [(0, 0, 1)])

        def released(self, sim_):
            pass

    def watch():
        yield sim.env.timeout(2.45)
        planned = sim.running[0][0]
        seen.update(planned=planned, rounds=sim.rounds[0], expected=sim.expected_end_s(planned, 0),
                    on_time=sim.expected_end_s(10.0, 0))

    sim.env.process(watch())
    sim.run(StartAtOnce())
    assert sim.times(0, [(0, 0, 1)]) == pytest.approx((1.0, 2.0))
    assert seen["planned"] == pytest.approx(2.0) and seen["rounds"] == (2, 10)
    assert seen["expected"] == pytest.approx(2.45 + 2.45 * 0.8 / 1.2)
    assert seen["on_time"] == 10.0  # a job not yet late keeps its planned end
    assert sim.done == pytest.approx([3.9, 4.0])


#: found by the test below: PETALS' client re-routed a failed hop's segment through s1, which a kept hop
#: already used; each hop alone fitted s1's free cache, the two together did not
REROUTE_THROUGH_A_KEPT_SERVER = {
    "format": "optim-instance/1", "name": "hyp",
    "model": {"name": "toy", "num_blocks": 4, "block_bytes": 5e8, "kv_cache_bytes_per_token_per_block": 1e6,
              "hidden_size": 1024, "num_kv_groups": 1},
    "servers": [{"id": sid, "memory_gb": mem, "prefill_ms_per_block": 0.0, "prefill_ms_per_block_per_token": 0.0,
                 "decode_ms_per_block_per_token": dec} for sid, mem, dec in (("s0", 0.625, 2.0), ("s1", 2.625, 2.0),
                                                                           ("s2", 2.0, 1.0))],
    "clients": [{"id": "c0", "arrival_rate_per_s": 2.0}],
    "rtt": {"ids": ["c0", "s0", "s1", "s2"], "rtt_ms": [[0.0] * 4] * 4},
    "workload": {"input_tokens_mean": 15, "input_tokens_max": 15, "output_tokens_mean": 64, "output_tokens_max": 64,
                 "concurrent_requests": 1},
    "communication": {"decode_overhead_ms": 0.0, "prefill_overhead_ms": 0.0, "prefill_overhead_ms_per_token": 0.0}}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(d=small_instance_dicts(max_servers=4, max_blocks=5), mode=st.sampled_from(["none", "continuous"]),
       scale=st.sampled_from([1.0, 20.0]))
@example(d=REROUTE_THROUGH_A_KEPT_SERVER, mode="none", scale=20.0)
def test_path_policies_under_contention_lose_nothing(d, mode, scale):
    """Random small instances whose servers share their GPU, at their rate and 20 times it: under
    WS-RR (whose calendar expects late jobs at their own pace) and PETALS' client, with debug checks
    (no server's cache over-committed, every request completes once): every request completes and
    waits no less than 0, and every GPU's busy share is between 0 and 1."""
    from optim import solve
    from optim.errors import UnstableSystemError

    d = dict(d, servers=[dict(s, batching=mode) for s in d["servers"]],
             clients=[dict(c, arrival_rate_per_s=c["arrival_rate_per_s"] * scale) for c in d["clients"]])
    inst = instance_from_dict(d)
    sol = solve(inst, "cg-bprr")
    assume(sol.has_solution)
    for policy in ("ws-rr", "petals"):
        try:
            r = simulate(inst, sol, policy=policy, requests=40, seed=1, debug=True, warmup_fraction=0.0)
        except UnstableSystemError:
            continue
        rec = r.records
        assert np.all(np.isfinite(rec["completion_s"])) and np.all(rec["waited_s"] >= 0)
        util = r.summary["gpu_utilisation"]
        assert all(0 <= u <= 1 + 1e-9 for u in util.values())

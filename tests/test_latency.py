"""The BPRR latency model on a hand-computed 3-server instance, and the contention model."""
import numpy as np
import pytest

from optim import evaluate, instance_from_dict
from optim.perf import admission_times, request_shares
from optim.solution import Hop, Path, ServerPlacement, Solution, Status

HAND = {
    "name": "hand-3",
    "model": {"name": "toy", "num_blocks": 4, "block_bytes": 1e9, "kv_cache_bytes_per_token_per_block": 1e6},
    "servers": [
        {"id": "a", "memory_gb": 10, "prefill_ms_per_block": 2, "prefill_ms_per_block_per_token": 0.1,
         "decode_ms_per_block_per_token": 5},
        {"id": "b", "memory_gb": 10, "prefill_ms_per_block": 4, "prefill_ms_per_block_per_token": 0.2,
         "decode_ms_per_block_per_token": 10},
        {"id": "c", "memory_gb": 10, "prefill_ms_per_block": 1, "prefill_ms_per_block_per_token": 0.1,
         "decode_ms_per_block_per_token": 20},
    ],
    "clients": [{"id": "x", "arrival_rate_per_s": 1.0}],
    "rtt": {"ids": ["x", "a", "b", "c"],
            "rtt_ms": [[0, 20, 40, 60], [20, 0, 5, 5], [40, 5, 0, 5], [60, 5, 5, 0]]},
    "workload": {"input_tokens_mean": 10, "input_tokens_max": 10, "output_tokens_mean": 5, "output_tokens_max": 5,
                 "concurrent_requests": 2},
    "communication": {"decode_overhead_ms": 10, "prefill_overhead_ms": 5, "prefill_overhead_ms_per_token": 0.5,
                      "chain_overhead_ms": 18},
}


def hand_solution(requests=2, slots=(100, 100, 100)):
    return Solution(instance="hand-3", solver="hand", status=Status.FEASIBLE,
                    placement=[ServerPlacement(server="a", start=0, end=3, cache_slots=slots[0]),
                               ServerPlacement(server="b", start=2, end=4, cache_slots=slots[1]),
                               ServerPlacement(server="c", start=0, end=4, cache_slots=slots[2])],
                    paths=[Path(client="x", requests=requests,
                                hops=[Hop(server="a", start=0, end=3), Hop(server="b", start=3, end=4)])])


def test_hand_computed_latency():
    inst = instance_from_dict(HAND)
    ev = evaluate(inst, hand_solution())
    assert ev.feasible, ev.violations
    p = ev.paths[0]
    # prefill: hop a (20 + 5 + 0.5*10) + 3 blocks x (2 + 0.1*10); hop b (40 + 5 + 5) + 1 x (4 + 0.2*10) = 95 ms
    assert p["prefill_s"] == pytest.approx(0.095)
    # decode per token: (20 + 10) + 3 x 5 + (40 + 10) + 1 x 10 = 105 ms
    assert p["decode_s_per_token"] == pytest.approx(0.105)
    # inference: 95 + (5 - 1) x 105 = 515 ms
    assert p["inference_s"] == pytest.approx(0.515)
    # one request-time model: T_k of the chain (round_trips = per_token, the default) is the inference time
    assert p["chain_service_time_s"] == pytest.approx(0.515)
    assert ev.summary["mean_inference_time_s"] == pytest.approx(0.515)
    assert ev.summary["requests_waiting"] == 0
    # memory of a: 3 blocks x 1 GB + 100 slots x 1e6 x 15 tokens = 4.5 GB
    assert ev.servers[0]["memory_used_gb"] == pytest.approx(4.5)


def test_per_job_round_trips_reproduce_the_chain_papers_code():
    """communication.round_trips = per_job: one RTT + chain overhead per job and hop (arXiv 2604.14993's code)."""
    inst = instance_from_dict({**HAND, "communication": {**HAND["communication"], "round_trips": "per_job"}})
    p = evaluate(inst, hand_solution()).paths[0]
    # tau^p_a = 2 + 0.1*10 + 5*4 = 23, tau^p_b = 4 + 2 + 40 = 46; (20+18) + 3*23 + (40+18) + 46 = 211 ms
    assert p["chain_service_time_s"] == pytest.approx(0.211)
    assert p["inference_s"] == pytest.approx(0.515)  # the BPRR path metrics are the same model's per-token view


def test_cache_overcommit_makes_requests_wait():
    """b reserves 1 slot; each request needs 1 there, so the second waits the first's 515 ms."""
    inst = instance_from_dict(HAND)
    ev = evaluate(inst, hand_solution(requests=2, slots=(100, 1, 100)))
    assert ev.feasible
    assert ev.summary["requests_waiting"] == 1
    assert ev.summary["mean_waiting_time_s"] == pytest.approx(0.515 / 2)
    assert ev.summary["mean_inference_time_s"] == pytest.approx(0.515 * 1.5)


def test_admission_times_earliest_fit():
    """Each request in order at the earliest time its servers have its slots for its whole time (the
    BPRR authors' total_inference_time.m): r0, r1 start at 0; r2 needs server 1, held by r1 until 5;
    r3 needs both slots of server 0, free once r1 ends at 5; r4 needs one slot of server 0 for 1 s,
    free from 3 (r0 ends) until r3 takes both at 5, so it starts at 3, before r3; r5 needs server 1,
    held by r1 and then r2 until 6; r6 needs server 0 only, for 4 s: from 7 (r3 ends)."""
    cap = np.array([2, 1])
    needs = [{0: 1}, {0: 1, 1: 1}, {1: 1}, {0: 2}, {0: 1}, {1: 1}, {0: 1}]
    starts = admission_times(cap, needs, np.array([3.0, 5.0, 1.0, 2.0, 1.0, 1.0, 4.0]))
    assert starts.tolist() == [0.0, 0.0, 5.0, 5.0, 3.0, 6.0, 7.0]
    with pytest.raises(ValueError, match="needs 3 cache slots"):
        admission_times(cap, [{0: 3}], np.array([1.0]))


def test_request_shares_largest_remainder():
    d = dict(HAND, clients=[{"id": "x", "arrival_rate_per_s": 1.0}, {"id": "y", "arrival_rate_per_s": 2.0}],
             rtt={"ids": ["x", "y", "a", "b", "c"], "rtt_ms": [[0] * 5] * 5},
             workload={**HAND["workload"], "concurrent_requests": 10})
    inst = instance_from_dict(d)
    assert request_shares(inst).tolist() == [3, 7]

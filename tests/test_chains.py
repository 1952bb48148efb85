"""Server chains: Theorem-4 bounds, exact CTMC, Erlang-C, GBP-CR (Theorem 2), GCA."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings

from optim import evaluate, instance_from_dict, load_instance, solve
from optim.errors import UnstableSystemError
from optim.perf.ctmc import erlang_c_response_time, exact_jffc_response_time, theorem4_bounds
from optim.perf.gca import chain_cost_coefficients, greedy_cache_allocation
from optim.solution import Status
from optim.solvers.gbp_cr import gbp_cr_placement

from conftest import INSTANCES, small_instance_dicts


@pytest.mark.parametrize("seed", range(60))
def test_bounds_bracket_exact_ctmc(seed):
    rng = np.random.default_rng(seed)
    K = int(rng.integers(1, 4))
    mu = rng.uniform(0.1, 3, K)
    c = rng.integers(1, 4, K)
    lam = rng.uniform(0.05, 0.95) * float(np.sum(mu * c))
    b = theorem4_bounds(mu, c, lam)
    exact = exact_jffc_response_time(mu, c, lam)
    assert b.lower_s <= exact * (1 + 1e-8)
    assert exact <= b.upper_s * (1 + 1e-8)


@pytest.mark.parametrize("servers,rate,load", [(1, 1.0, 0.5), (4, 0.5, 0.75), (16, 2.0, 0.9), (200, 0.1, 0.95)])
def test_equal_chains_give_erlang_c(servers, rate, load):
    lam = load * servers * rate
    caps = np.array([servers // 2, servers - servers // 2]) if servers > 1 else np.array([1])
    b = theorem4_bounds(np.full(caps.size, rate), caps, lam)
    expected = erlang_c_response_time(servers, rate, lam)
    assert b.lower_s == pytest.approx(expected, rel=1e-9)
    assert b.upper_s == pytest.approx(expected, rel=1e-9)


def test_mm1_closed_form_and_unstable():
    b = theorem4_bounds([2.0], [1], 1.0)
    assert b.lower_s == pytest.approx(1 / (2.0 - 1.0))  # M/M/1: 1 / (mu - lambda)
    with pytest.raises(UnstableSystemError, match="not below"):
        theorem4_bounds([1.0, 1.0], [1, 1], 2.0)


def test_large_capacity_is_stable_numerically():
    mu = np.linspace(1, 2, 1000)
    b = theorem4_bounds(mu, np.full(1000, 100), 0.9 * float(np.sum(mu * 100)))
    assert np.isfinite(b.lower_s) and np.isfinite(b.upper_s) and 0 < b.lower_s <= b.upper_s
    assert b.total_capacity == 100_000


def equal_memory_instance(rng):
    J, L = int(rng.integers(2, 7)), int(rng.integers(2, 7))
    servers = [{"id": f"s{j}", "memory_gb": 3.0, "prefill_ms_per_block": float(rng.uniform(0, 50)),
                "prefill_ms_per_block_per_token": 0.1, "decode_ms_per_block_per_token": float(rng.uniform(0.3, 8))}
               for j in range(J)]
    ids = ["c0"] + [s["id"] for s in servers]
    rtt = rng.uniform(1, 100, (len(ids), len(ids)))
    return instance_from_dict({
        "name": "eq", "model": {"name": "toy", "num_blocks": L, "block_bytes": 1e9,
                                "kv_cache_bytes_per_token_per_block": 1e7},
        "servers": servers, "clients": [{"id": "c0", "arrival_rate_per_s": float(rng.uniform(0.3, 8))}],
        "rtt": {"ids": ids, "rtt_ms": rtt.round(2).tolist()},
        "workload": {"input_tokens_mean": 8, "input_tokens_max": 8, "output_tokens_mean": 8, "output_tokens_max": 8,
                     "concurrent_requests": 1}})


def min_disjoint_chains(inst, c):
    """Brute force for Eq. 7: fewest disjoint server sets, each holding >= L blocks, whose
    sum of 1 / (sum t_j) reaches lambda / (rho-bar c); None if no partition does."""
    L = inst.num_blocks
    m = np.minimum(np.floor(inst.memory_bytes / (inst.block_bytes + inst.cache_bytes_per_block_session * c)), L)
    A, B = chain_cost_coefficients(inst)
    t = A + B * m
    target = inst.total_arrival_rate / (inst.workload.target_load * c)
    J = inst.num_servers
    best = None
    # assign each server to one of up to J chains or to none (label 0)
    for labels in itertools.product(range(J + 1), repeat=J):
        k = max(labels)
        if k == 0 or set(range(1, k + 1)) - set(labels) or (best is not None and k >= best):
            continue
        ok, rate = True, 0.0
        for g in range(1, k + 1):
            members = [j for j in range(J) if labels[j] == g]
            if m[members].sum() < L:
                ok = False
                break
            rate += 1.0 / t[members].sum()
        if ok and rate >= target * (1 - 1e-12):
            best = k
    return best


@pytest.mark.parametrize("seed", range(20))
def test_gbp_cr_optimal_for_equal_memory(seed):
    """Theorem 2 of arXiv 2604.14993: with equal M_j, GBP-CR solves Eq. 7 (fewest disjoint chains)."""
    inst = equal_memory_instance(np.random.default_rng(seed))
    for c in (1, 2):
        _, _, k, nu = gbp_cr_placement(inst, c, with_rate=True)
        target = inst.total_arrival_rate / (inst.workload.target_load * c)
        best = min_disjoint_chains(inst, c)
        if best is None:
            assert nu < target * (1 + 1e-12)  # GBP-CR does not reach the target either
        else:
            assert nu >= target * (1 - 1e-12) and k == best


@settings(max_examples=60, deadline=None)
@given(d=small_instance_dicts())
def test_gca_respects_slots_and_chain_count(d):
    inst = instance_from_dict(d)
    for name in ("cg-bprr", "petals"):
        sol = solve(inst, name)
        if not sol.has_solution:
            continue
        start = np.array([p.start for p in sol.placement])
        end = np.array([p.end for p in sol.placement])
        slots = np.array([p.cache_slots for p in sol.placement])
        chains = greedy_cache_allocation(inst, start, end, slots)
        used = np.zeros(inst.num_servers, dtype=int)
        for ch in chains:
            assert sum(e - b for _, b, e in ch.hops) == inst.num_blocks
            for j, b, e in ch.hops:
                used[j] += (e - b) * ch.capacity
        assert np.all(used <= slots)
        assert len(chains) <= inst.num_servers ** 2


def reference_gca(inst, start, end, slots):
    """GCA as Alg. 2 states it: a full Dijkstra over every server hop per round (the boundary
    graph with one node per server, optim.routing.BoundaryGraph)."""
    from optim.routing import BoundaryGraph

    left = slots.copy()
    A, B = chain_cost_coefficients(inst)
    graph, out = BoundaryGraph(start, end, inst.num_blocks), []
    while (found := graph.shortest(A, B, slots=left)) is not None:
        hops, cost = found
        cap = min(int(left[j] // (e - b)) for j, b, e in hops)
        for j, b, e in hops:
            left[j] -= (e - b) * cap
        out.append((round(cost, 9), cap))
    return out


@settings(max_examples=60, deadline=None)
@given(d=small_instance_dicts())
def test_condensed_gca_equals_the_full_search(d):
    """Keeping only the cheapest server with room between two boundaries gives GCA's chains:
    the same service times and capacities, round by round."""
    import optim.perf.gca as gca

    inst = instance_from_dict(d)
    for name in ("cg-bprr", "petals"):
        sol = solve(inst, name)
        if not sol.has_solution:
            continue
        start, end, slots = sol.spans(inst)
        saved, gca.CONDENSE_ABOVE = gca.CONDENSE_ABOVE, 0  # the condensed search at any size
        try:
            mine = [(round(ch.service_time_s, 9), ch.capacity) for ch in greedy_cache_allocation(inst, start, end, slots)]
        finally:
            gca.CONDENSE_ABOVE = saved
        assert mine == reference_gca(inst, start, end, slots.astype(np.int64))


def test_gbp_cr_on_geo_europe_reports_chains_and_bounds():
    inst = load_instance(INSTANCES / "geo-europe-20.json")
    sol = solve(inst, "gbp-cr")
    ev = evaluate(inst, sol)
    assert ev.feasible and ev.chains
    q = ev.queueing
    assert q["rho"] < 1 and q["response_time_lower_s"] <= q["response_time_upper_s"]


def test_gbp_cr_beats_baselines_on_paper_setting():
    """arXiv 2604.14993 default: BLOOM-176B, 20 servers, eta 0.2 (3g.40gb / 2g.20gb), lambda 0.2, rho-bar 0.7."""
    inst = load_instance(INSTANCES / "chains-europe-20.json")
    lower = {}
    for name in ("gbp-cr", "cg-bprr", "petals"):
        sol = solve(inst, name)
        lower[name] = evaluate(inst, sol).queueing["response_time_lower_s"]
    assert lower["gbp-cr"] < lower["petals"] and lower["gbp-cr"] < lower["cg-bprr"]


def gca_capacity_to_target(chains, target):
    """Total capacity GCA's chains need, fastest first, to reach the service rate ``target``."""
    total, rate = 0, 0.0
    for ch in chains:
        need = int(np.ceil((target - rate) * ch.service_time_s - 1e-9))
        take = min(ch.capacity, max(need, 0))
        total, rate = total + take, rate + take / ch.service_time_s
        if rate >= target * (1 - 1e-12):
            return total
    return None


@pytest.mark.parametrize("seed", range(10))
def test_gca_against_bpca_milp(seed):
    """bpca-milp (Eq. 5) is the optimum: GCA's chains need at least its total capacity for lambda / rho-bar."""
    rng = np.random.default_rng(seed)
    inst = equal_memory_instance(rng)
    sol = solve(inst, "bpca-milp", placement_solver="cg-bprr")
    if sol.status is not Status.OPTIMAL:
        return
    assert evaluate(inst, sol).feasible
    start = np.array([p.start for p in sol.placement])
    end = np.array([p.end for p in sol.placement])
    target = inst.total_arrival_rate / inst.workload.target_load
    gca = gca_capacity_to_target(greedy_cache_allocation(inst, start, end), target)
    assert sum(c.capacity for c in sol.chains) == round(sol.objective)
    if gca is not None:
        assert sol.objective <= gca + 1e-9

"""chain-milp, the exact joint placement and cache allocation for server chains, against brute force."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from optim import evaluate, instance_from_dict, solve
from optim.errors import InvalidOptionError
from optim.perf import chain_service_time, free_cache_slots
from optim.solution import Status
from optim.solvers import chain_milp as cm


def tiny_instance(seed: int, num_servers: int = 3, num_blocks: int = 4):
    """Servers of 2-4.5 GB around 1 GB blocks and 0.25 GB of cache per block and session: a few slots each."""
    rng = np.random.default_rng(seed)
    J, L = num_servers, num_blocks
    servers = [{"id": f"s{j}", "memory_gb": float(rng.choice([1.5, 2.25, 3.0, 3.5, 4.5])),
                "prefill_ms_per_block": float(rng.uniform(0, 20)), "prefill_ms_per_block_per_token": 0.0,
                "decode_ms_per_block_per_token": float(rng.uniform(5, 40))} for j in range(J)]
    ids = ["c0"] + [s["id"] for s in servers]
    rtt = rng.uniform(5, 80, (J + 1, J + 1))
    rtt = np.round((rtt + rtt.T) / 2, 1)
    np.fill_diagonal(rtt, 0.0)
    return instance_from_dict({
        "format": "optim-instance/1", "name": f"tiny-{seed}",
        "model": {"name": "toy", "num_blocks": L, "block_bytes": 1e9,
                  "kv_cache_bytes_per_token_per_block": 0.25e9 / 20, "hidden_size": 1024, "num_kv_groups": 1},
        "servers": servers, "clients": [{"id": "c0", "arrival_rate_per_s": float(rng.uniform(0.5, 4.0))}],
        "rtt": {"ids": ids, "rtt_ms": rtt.tolist()},
        "workload": {"input_tokens_mean": 10, "input_tokens_max": 10, "output_tokens_mean": 10,
                     "output_tokens_max": 10, "concurrent_requests": 4},
        "communication": {"round_trips": "per_job", "chain_overhead_ms": 18.0},
    })


def brute_force(inst, objective: str):
    """Every placement (any span or none per server), every chain of it, every integer capacity
    vector within the slots (Eq. 3): the best sum c_k reaching lambda / rho-bar, or the largest nu."""
    L, J = inst.num_blocks, inst.num_servers
    spans = [None] + [(a, e) for a in range(L) for e in range(a + 1, L + 1)]
    target = inst.total_arrival_rate / inst.workload.target_load
    best = None
    for choice in itertools.product(spans, repeat=J):
        start = np.array([s[0] if s else 0 for s in choice])
        end = np.array([s[1] if s else 0 for s in choice])
        slots = np.maximum(free_cache_slots(inst, end - start), 0)
        chains = []

        def walk(b, hops):
            if b == L:
                chains.append(list(hops))
                return
            for j in range(J):
                if choice[j] and start[j] <= b < end[j]:
                    walk(int(end[j]), hops + [(j, b, int(end[j]))])

        walk(0, [])
        T = [chain_service_time(inst, 0, np.array([j for j, _, _ in ch]), np.array([e - b for _, b, e in ch]))
             for ch in chains]
        use = np.zeros((len(chains), J))
        for k, ch in enumerate(chains):
            for j, b, e in ch:
                use[k, j] += e - b

        def dfs(k, left, count, rate):
            nonlocal best
            if objective == "slots" and rate >= target * (1 - 1e-12):
                if best is None or count < best:
                    best = count
                return
            if k == len(chains):
                if objective == "rate" and (best is None or rate > best):
                    best = rate
                return
            n = 0
            while np.all(use[k] * n <= left):
                dfs(k + 1, left - use[k] * n, count + n, rate + n / T[k])
                n += 1

        dfs(0, slots.astype(float), 0, 0.0)
    return best


# 3 servers x 4 blocks, then 4 x 4 where GBP-CR + GCA is not optimal (31, 37), finds nothing while
# the optimum exists (6), needs the enumerated chains for the proof (20), or the LP relaxation
# reaches lambda / rho-bar while no integer allocation does (4)
CASES = ([(seed, 3, obj) for seed in range(8) for obj in ("slots", "rate")]
         + [(seed, 4, "slots") for seed in (4, 6, 20, 31, 37, 58, 78)] + [(seed, 4, "rate") for seed in (4, 20)])


@pytest.mark.parametrize("seed, servers, objective", CASES)
def test_equals_brute_force_on_tiny_instances(seed, servers, objective):
    inst = tiny_instance(seed, num_servers=servers)
    expected = brute_force(inst, objective)
    sol = solve(inst, "chain-milp", objective=objective, time_limit=None)
    if expected is None:
        assert sol.status is Status.INFEASIBLE, sol.message
        return
    assert sol.status is Status.OPTIMAL, (sol.status, sol.message, sol.details)
    assert sol.objective == pytest.approx(expected, rel=1e-9)
    assert sol.bound == pytest.approx(expected, rel=1e-6)
    ev = evaluate(inst, sol)
    assert ev.feasible, ev.violations
    # the chains' capacities and times give the objective independently
    caps = np.array([c.capacity for c in sol.chains])
    T = np.array([chain_service_time(inst, 0, np.array([inst.server_index[h.server] for h in c.hops]),
                                     np.array([h.end - h.start for h in c.hops])) for c in sol.chains])
    np.testing.assert_allclose([c.service_time_s for c in sol.chains], T, rtol=1e-9)
    if objective == "slots":
        assert caps.sum() == expected and (caps / T).sum() >= inst.total_arrival_rate / inst.workload.target_load
    else:
        assert (caps / T).sum() == pytest.approx(expected, rel=1e-9)


def test_pricing_finds_the_least_reduced_cost_chain():
    """Label setting with dominance returns the minimum of alpha - beta / T + W over every chain that
    uses each server once, here enumerated by brute force with random weights."""
    rng = np.random.default_rng(3)
    inst = tiny_instance(5, num_servers=4, num_blocks=5)
    model = cm.build_joint_model(inst, "slots")
    for _ in range(20):
        w = rng.uniform(0, 0.3, model.hop_server.size)
        beta = float(rng.uniform(0.5, 20.0))
        everything = cm.chain_labels(model, w, 1.0, beta, np.inf, dominance=False)
        rc = [1.0 + w[list(c)].sum() - beta / model.chain_time(c) for _, c in everything]
        assert all(len(set(model.hop_server[list(c)].tolist())) == len(c) for _, c in everything)
        best = cm.chain_labels(model, w, 1.0, beta, np.inf, dominance=True)
        assert best[0][0] == pytest.approx(min(rc), abs=1e-12)
        below = sorted(x for x in rc if x <= 0.0)
        listed = cm.chain_labels(model, w, 1.0, beta, 0.0, dominance=False)
        assert [x for x, _ in listed] == pytest.approx(below, abs=1e-12)


def test_decremental_pricing_is_exact_where_the_relaxation_would_repeat_servers():
    """price_chains (servers tracked only once some chain repeats them) returns the least reduced
    cost over every chain of distinct servers, brute-forced; weights of mixed sign make repeating a
    cheap server attractive, so the relaxation must learn to forbid it."""
    rng = np.random.default_rng(11)
    inst = tiny_instance(7, num_servers=5, num_blocks=6)
    for _ in range(15):
        model = cm.build_joint_model(inst, "slots")
        model.pricing_tracked = np.zeros(inst.num_servers, dtype=bool)  # as after the full search outgrew its labels
        w = rng.uniform(-0.2, 0.3, model.hop_server.size)
        beta = float(rng.uniform(0.5, 20.0))
        everything = cm.chain_labels(model, w, 1.0, beta, np.inf, dominance=False)
        rc = sorted(1.0 + w[list(c)].sum() - beta / model.chain_time(c) for _, c in everything)
        found = cm.price_chains(model, w, 1.0, beta, np.inf, 10)
        assert found[0][0] == pytest.approx(rc[0], abs=1e-12)
        assert all(len(set(model.hop_server[list(c)].tolist())) == len(c) for _, c in found)
        assert cm.price_chains(model, w, 1.0, beta, rc[0] - 1e-6, 10) == []
    assert model.pricing_tracked.any()  # some relaxed chain repeated a server


def test_pricing_relaxes_once_the_full_search_outgrows_its_labels():
    inst = tiny_instance(7, num_servers=5, num_blocks=6)
    model = cm.build_joint_model(inst, "slots")
    w = np.random.default_rng(0).uniform(0, 0.3, model.hop_server.size)
    exact = cm.price_chains(model, w, 1.0, 10.0, np.inf, 5)
    assert model.pricing_tracked is None
    relaxed = cm.price_chains(model, w, 1.0, 10.0, np.inf, 5, limit=3)
    assert relaxed is None or relaxed[0][0] == pytest.approx(exact[0][0], abs=1e-12)
    assert model.pricing_tracked is not None


def test_subset_dominance_keeps_exactly_the_labels_no_subset_beats():
    from optim.perf.boundary_dp import pareto_by_submask

    rng = np.random.default_rng(4)
    servers = np.array([1, 3, 4])
    for _ in range(30):
        n = 40
        T = rng.integers(0, 8, n).astype(float)
        W = rng.integers(0, 8, n).astype(float)
        mask = np.zeros(n, dtype=np.int64)
        for j in servers:
            mask |= rng.integers(0, 2, n).astype(np.int64) << j
        kept = set(pareto_by_submask(T, W, mask, servers).tolist())
        # every dropped label has a kept one at least as good with a subset of its servers, and no
        # kept label has one before it (in T, then index order) that is
        before = lambda k, i: T[k] < T[i] or (T[k] == T[i] and k < i)  # noqa: E731
        for i in range(n):
            if i not in kept:
                assert any(T[k] <= T[i] and W[k] <= W[i] and (mask[k] & ~mask[i]) == 0 for k in kept)
            else:
                assert not any(before(k, i) and W[k] <= W[i] and (mask[k] & ~mask[i]) == 0 for k in kept)


def test_rounding_cuts_hold_for_every_integer_solution():
    """Each rounding cut is satisfied by the brute-force optimum's placement and capacities."""
    inst = tiny_instance(2)
    sol = solve(inst, "chain-milp", objective="rate", time_limit=None)
    model = cm.build_joint_model(inst, "rate")
    start, end, _ = sol.spans(inst)
    for j, e in model.hops_at:
        for b in range(e):
            for d in range(2, inst.num_blocks + 1):
                lhs = sum(((h.end - h.start) // d) * c.capacity for c in sol.chains for h in c.hops
                          if inst.server_index[h.server] == j and h.end == e and h.start <= b)
                x = end[j] == e and start[j] <= b
                assert lhs <= (model.slots[j, end[j] - start[j]] // d if x else 0)


def test_refuses_direct_relaying():
    inst = tiny_instance(0)
    d = inst.model_dump(mode="json", by_alias=True)
    d["communication"]["relay"] = "direct"
    with pytest.raises(InvalidOptionError, match="relay"):
        cm.build_joint_model(instance_from_dict(d), "slots")


@pytest.mark.parametrize("seed, servers, objective", [(0, 3, "rate"), (1, 3, "rate"), (20, 4, "slots"),
                                                      (31, 4, "slots"), (4, 4, "rate")])
def test_every_bound_reported_on_the_way_holds(seed, servers, objective):
    """The bounds progress() reports before the LP converges (trivial, Lagrangian, Farley) and at the
    end are valid: never above the brute-force optimum of sum c_k, never below its nu."""
    inst = tiny_instance(seed, num_servers=servers)
    expected = brute_force(inst, objective)
    bounds = []
    sol = solve(inst, "chain-milp", objective=objective, time_limit=None,
                progress=lambda ev: bounds.append(ev["bound"]))
    bounds = [b for b in bounds if b is not None]
    assert bounds and sol.status is Status.OPTIMAL
    for b in bounds:
        assert (b <= expected + 1e-9) if objective == "slots" else (b >= expected - 1e-9)


def test_farley_bound_holds_before_convergence():
    """With the heuristic's chains only, Farley's bound on nu is above the optimum."""
    for seed in range(4):
        inst = tiny_instance(seed)
        expected = brute_force(inst, "rate")
        model = cm.build_joint_model(inst, "rate")
        columns, _ = cm._heuristic(inst, model, "rate")
        master = cm._Master(model, "rate")
        master.add(columns)
        z, duals = master.solve()
        bound = cm._farley_bound(model, model.hop_weights(duals), z)
        assert -bound >= expected - 1e-9


@pytest.mark.parametrize("seed", [6, 20, 31, 37, 58, 70, 73, 78, 100])
def test_slot_bound_and_its_listing_hold_before_convergence(seed):
    """From one of the heuristic's chains (the rate row met by the artificial column) and from all of
    them (the master far from converged), slot_bound is at most the brute-force optimum, and every
    chain of an optimal solution has, with the duals scaled as it says, a reduced cost of at most
    optimum - bound: the listing of improving chains misses none."""
    inst = tiny_instance(seed, num_servers=4)
    expected = brute_force(inst, "slots")
    model = cm.build_joint_model(inst, "slots")
    sol = solve(inst, "chain-milp", objective="slots", time_limit=None)
    assert sol.status is Status.OPTIMAL and sol.objective == expected
    optimal_chains = [tuple(model.hop_index[h.start, h.end, inst.server_index[h.server]] for h in chain.hops)
                      for chain in sol.chains]
    kappa = float(np.floor(model.slots[:, 1].sum() / model.num_blocks + 1e-9))
    columns, _ = cm._heuristic(inst, model, "slots")
    for some in (columns[:1], columns):
        master = cm._Master(model, "slots")
        master.add(some)
        z, duals = master.solve()
        beta, weight = float(duals[model.rate_row]), model.hop_weights(duals)
        found = cm.price_chains(model, weight, 1.0, beta, -cm.PRICING_TOL, 10)
        rc_min = found[0][0] if found else 0.0
        bound, scale = cm.slot_bound(z, rc_min, kappa)
        assert z + kappa * min(rc_min, 0.0) - 1e-12 <= bound <= expected + 1e-9
        if bound > z + kappa * min(rc_min, 0.0) + 1e-9:  # Farley's: the scaled duals price every chain at >= 0
            assert not cm.price_chains(model, scale * weight, 1.0, scale * beta, -1e-7, 1)
        for hops in optimal_chains:
            rc = 1.0 - scale * beta / model.chain_time(hops) + scale * weight[list(hops)].sum()
            assert rc <= expected - bound + 1e-9


def test_refuses_more_servers_than_its_masks_hold():
    with pytest.raises(InvalidOptionError, match="62 servers"):
        cm.build_joint_model(tiny_instance(0, num_servers=63, num_blocks=2), "slots")


def test_a_time_limited_solve_keeps_its_incumbent_with_a_valid_bound_and_reports_progress():
    """At 3 s on the chain paper's J = 10 setting the proof is out of reach: the incumbent comes back
    feasible (validated by solve()) with a bound below it and a gap, and progress saw both."""
    from optim.generators import geo_instance

    inst = geo_instance(10, 1, region="europe", model="bloom-176b", dtype="nf4", eta=0.2, high_gpu="A100-MIG-3g.40gb",
                        low_gpu="A100-MIG-2g.20gb", arrival_rate=0.2, seed=0)
    events = []
    sol = solve(inst, "chain-milp", time_limit=3.0, progress=events.append)
    assert sol.has_solution and sol.status in (Status.TIME_LIMIT, Status.FEASIBLE)
    assert 1 <= sol.bound <= sol.objective and sol.gap == pytest.approx((sol.objective - sol.bound) / sol.objective)
    caps = sum(c.capacity for c in sol.chains)
    assert caps == sol.objective
    assert sum(c.capacity / c.service_time_s for c in sol.chains) >= inst.total_arrival_rate / inst.workload.target_load
    assert any(e["incumbent"] is not None and e["bound"] is not None for e in events)


def branch_and_price_only(monkeypatch) -> None:
    """No listing closes a node or the root, and neither flow heuristic runs."""
    monkeypatch.setattr(cm, "NODE_LIST_MAX_CHAINS", 0)
    monkeypatch.setattr(cm, "PROOF_MAX_CHAINS", 0)
    monkeypatch.setattr(cm, "aligned_segments", lambda *a, **k: None)
    monkeypatch.setattr(cm, "compact_flow", lambda *a, **k: None)


@pytest.mark.parametrize("seed", [20, 58, 70, 73, 78, 100])  # seeds whose root LP leaves a gap
def test_branch_and_price_alone_holds_against_brute_force(seed, monkeypatch):
    """No node may close by listing its chains, the root included, and no heuristic may meet the
    bound first: the search must branch down to integral LP optima or fixed placements. Whatever it
    proves holds: bound <= brute force <= objective, equal when optimal."""
    branch_and_price_only(monkeypatch)
    inst = tiny_instance(seed, num_servers=4)
    expected = brute_force(inst, "slots")
    sol = solve(inst, "chain-milp", objective="slots", time_limit=None)
    if expected is None:
        assert sol.status is Status.INFEASIBLE
        return
    assert sol.bound <= expected + 1e-9 <= sol.objective + 2e-9, (sol.bound, expected, sol.objective, sol.details)
    if sol.status is Status.OPTIMAL:
        assert sol.objective == expected
    assert evaluate(inst, sol).feasible


@pytest.mark.parametrize("seed", [20, 58, 70, 73, 78, 100])
def test_a_master_that_drops_columns_every_round_still_holds_against_brute_force(seed, monkeypatch):
    """The column pool (:meth:`_Master.purge`) at its smallest: past 3 columns the master keeps its
    basic ones and the 2 of least reduced cost. Pricing brings dropped chains back, so column
    generation, its bounds and branch and price alone (:func:`branch_and_price_only`) still hold:
    bound <= brute force <= objective, equal when optimal."""
    monkeypatch.setattr(cm, "POOL_MAX_COLUMNS", 3)
    monkeypatch.setattr(cm, "POOL_KEEP_COLUMNS", 2)
    branch_and_price_only(monkeypatch)
    inst = tiny_instance(seed, num_servers=4)
    expected = brute_force(inst, "slots")
    sol = solve(inst, "chain-milp", objective="slots", time_limit=None)
    assert sol.bound <= expected + 1e-9 <= sol.objective + 2e-9, (sol.bound, expected, sol.objective, sol.details)
    assert sol.details["bp_nodes"] > 0 or sol.details["bp_dive_steps"] > 0
    if sol.status is Status.OPTIMAL:
        assert sol.objective == expected
    assert evaluate(inst, sol).feasible


def test_purge_keeps_the_lp_optimum_and_the_column_bookkeeping():
    """After a purge the LP has the same optimum, the per-column hop arrays match the chains left,
    and a dropped chain can be added again."""
    inst = tiny_instance(20, num_servers=4)
    model = cm.build_joint_model(inst, "slots")
    master = cm._Master(model, "slots")
    chains = [c for _, c in cm.chain_labels(model, np.zeros(model.hop_server.size), 1.0, 1.0, np.inf,
                                            dominance=False, limit=100_000)]
    assert len(chains) > 20
    master.add(chains)
    z, _ = master.solve()
    dropped = master.purge(keep=5)
    assert dropped > 0 and len(master.columns) == len(chains) - dropped
    assert len(master.generated) == len(chains)
    z2, _ = master.solve()
    assert z2 == pytest.approx(z, abs=1e-9)
    hops, col = master.column_hops()
    assert [tuple(hops[col == k]) for k in range(len(master.columns))] == master.columns
    gone = next(c for c in chains if c not in master.known)
    assert master.add([gone]) == 1 and master.columns[-1] == gone


def assert_feasible(model, inc, slots: int) -> None:
    """One span per server holding all its hops, every slot row (Eq. 3) within its span's cache,
    sum c_k = slots and sum c_k / T_k reaching lambda / rho-bar."""
    assert sum(inc.capacity.values()) == slots
    assert sum(c / model.chain_time(ch) for ch, c in inc.capacity.items()) >= model.target_rate * (1 - 1e-9)
    use: dict = {}  # (server, entry) -> blocks used by the jobs entering there
    for ch, c in inc.capacity.items():
        assert model.hop_start[ch[0]] == 0 and model.hop_end[ch[-1]] == model.num_blocks
        assert all(model.hop_end[a] == model.hop_start[b] for a, b in zip(ch, ch[1:]))
        for h in ch:
            j = int(model.hop_server[h])
            span = inc.spans[j]
            assert model.span_start[span] <= model.hop_start[h] and model.span_end[span] == model.hop_end[h]
            key = (j, int(model.hop_start[h]))
            use[key] = use.get(key, 0) + c * int(model.hop_end[h] - model.hop_start[h])
    for j, span in inc.spans.items():
        cache = model.slots[j, model.span_end[span] - model.span_start[span]]
        for b in range(int(model.span_start[span]), int(model.span_end[span])):
            assert sum(v for (jj, e), v in use.items() if jj == j and e <= b) <= cache


@pytest.mark.parametrize("heuristic", ["aligned_segments", "compact_flow"])
def test_flow_heuristics_return_only_feasible_placements_and_reach_the_optimum(heuristic):
    """Whatever aligned segments or the compact flow model return for a slot count is a feasible
    solution of the joint model with that many slots (:func:`assert_feasible`), never below the
    brute-force optimum, and at it on some of these instances."""
    from optim.backends import Deadline

    found = at_optimum = 0
    for seed in range(20):
        inst = tiny_instance(seed, num_servers=4)
        expected = brute_force(inst, "slots")
        if expected is None:
            continue
        model = cm.build_joint_model(inst, "slots")
        for slots in range(1, int(expected) + 2):
            inc = getattr(cm, heuristic)(model, slots, Deadline(None))
            if inc is None:
                continue
            found += 1
            at_optimum += slots == expected
            assert slots >= expected
            assert_feasible(model, inc, slots)
            break
    assert found >= 10 and at_optimum >= 8, (found, at_optimum)  # aligned 16, 14; compact 17, 16 when written


def test_a_node_whose_pricing_gives_up_stays_open_and_the_search_goes_on(monkeypatch):
    """When a node's exact pricing outgrows its labels (``node_lp`` returns None with time left),
    the node is left open and the other nodes are still searched: the bound stays valid and
    the answer is not cut short as if the time had run out."""
    branch_and_price_only(monkeypatch)
    real = cm.BranchAndPrice.node_lp
    gave_up = []

    def node_lp(self, hop_ok, known_bound=-math.inf):
        if math.isfinite(known_bound) and self.nodes == 2 and not gave_up:  # the second node (dives pass none)
            gave_up.append(self.nodes)
            return None
        return real(self, hop_ok, known_bound)

    monkeypatch.setattr(cm.BranchAndPrice, "node_lp", node_lp)
    searched_on = 0
    for seed in (20, 58, 70, 73, 78, 100):
        gave_up.clear()
        inst = tiny_instance(seed, num_servers=4)
        expected = brute_force(inst, "slots")
        sol = solve(inst, "chain-milp", objective="slots", time_limit=None)
        assert sol.bound <= expected + 1e-9 <= sol.objective + 2e-9, (sol.bound, expected, sol.objective)
        if gave_up:
            assert sol.details["bp_nodes_open"] >= 1 or sol.details["bp_nodes"] > 2, sol.details
            searched_on += sol.details["bp_nodes"] > 2
    assert searched_on >= 1


def test_usable_hops_need_a_span_ending_there_and_starting_no_later():
    inst = tiny_instance(0, num_servers=3)
    model = cm.build_joint_model(inst, "slots")
    ok = np.zeros(model.num_spans, dtype=bool)
    ok[model.span_index[0, 1, 3]] = True  # server 0 may hold only [1, 3)
    hops = cm.usable_hops(model, ok)
    got = {(int(model.hop_server[h]), int(model.hop_start[h]), int(model.hop_end[h])) for h in np.flatnonzero(hops)}
    assert got == {(0, b, 3) for b in (1, 2) if (b, 3, 0) in model.hop_index}


def test_branching_children_split_the_node_and_keep_every_placement():
    inst = tiny_instance(20, num_servers=4)
    model = cm.build_joint_model(inst, "slots")
    rng = np.random.default_rng(0)
    for _ in range(20):
        parent = rng.random(model.num_spans) < 0.8
        x = np.where(parent, rng.random(model.num_spans), 0.0)
        for j in range(model.slots.shape[0]):  # one unit of span mass per server at most
            on = model.span_server == j
            x[on] /= max(x[on].sum(), 1.0)
        none = np.zeros(model.num_spans, dtype=bool)
        if rng.random() < 0.5:  # one span per server: the forcing branch
            keep = np.zeros(model.num_spans, dtype=bool)
            for j in range(model.slots.shape[0]):
                on = np.flatnonzero(parent & (model.span_server == j))
                keep[rng.choice(on)] = True
            x = np.where(keep, rng.uniform(0.1, 1.0, model.num_spans), 0.0)
        children = cm.branching_children(model, parent, none, x)
        assert children is not None
        (a, fa), (b, fb) = children
        assert np.array_equal(a | b, parent)  # every span the parent allows, one child allows
        # both children are smaller: a span less, or one forced
        assert (parent & ~a).any() or fa.any()
        assert (parent & ~b).any() or fb.any()
        if fb.any():  # forcing s: the other child drops s, so "s used" and "s unused" split the node
            s = int(np.flatnonzero(fb)[0])
            assert not a[s] and b[s] and not (b & (model.span_server == model.span_server[s]) & ~fb).any()

"""throughput-milp: optimum equals brute force (every placement, max flow) on tiny instances."""
import itertools

import numpy as np
import pytest

from optim import evaluate, instance_from_dict, load_instance, solve
from optim.solution import Status
from optim.solvers.throughput_milp import edge_capacity, max_flow_on_placement, node_throughput

from conftest import INSTANCES
from test_bprr_milp import tiny_instance


def brute_force_throughput(inst):
    T, C = node_throughput(inst), edge_capacity(inst)
    L = inst.num_blocks
    options = [[(0, 0)] + [(a, e) for a in range(L) for e in range(a + 1, L + 1) if T[j, e - a] > 0]
               for j in range(inst.num_servers)]
    best = 0.0
    for spans in itertools.product(*options):
        start = np.array([a for a, _ in spans])
        end = np.array([e for _, e in spans])
        best = max(best, max_flow_on_placement(inst, start, end, T, C)[0])
    return best


@pytest.mark.parametrize("seed", range(10))
def test_throughput_milp_equals_brute_force(seed):
    d = tiny_instance(np.random.default_rng(seed))
    d["servers"] = [{**s, "bandwidth_mbps": float(b)} for s, b in
                    zip(d["servers"], np.random.default_rng(seed).uniform(1, 50, len(d["servers"])))]
    inst = instance_from_dict(d)
    expected = brute_force_throughput(inst)
    sol = solve(inst, "throughput-milp", mip_gap=0.0)
    if expected == 0:
        assert sol.status is not Status.OPTIMAL or sol.objective == pytest.approx(0, abs=1e-6)
        return
    assert sol.status is Status.OPTIMAL, sol.message
    assert sol.objective == pytest.approx(expected, rel=1e-6)
    assert sol.bound >= sol.objective * (1 - 1e-6)


@pytest.mark.slow
def test_throughput_milp_at_least_petals_and_valid():
    inst = load_instance(INSTANCES / "bprr-clustered-9.json")
    sol = solve(inst, "throughput-milp", time_limit=5)
    assert sol.status in (Status.OPTIMAL, Status.TIME_LIMIT)
    assert sol.objective >= sol.details["warm_start_tokens_per_s"] * (1 - 1e-9)
    assert sol.bound >= sol.objective
    assert evaluate(inst, sol).feasible


@pytest.mark.parametrize("seed", range(8))
def test_coverage_fill_and_local_search_bound_and_improve_the_flow(seed):
    """The fill's least block cover bounds its placement's max flow (every token passes every block),
    every block is held, the local search never loses flow, and nothing beats brute force."""
    from optim.backends import Deadline
    from optim.solvers.throughput_milp import coverage_placement, heuristic_placement, improve_by_max_flow

    d = tiny_instance(np.random.default_rng(seed))
    inst = instance_from_dict(d)
    T, C = node_throughput(inst), edge_capacity(inst)
    start, end, cover = coverage_placement(T, inst.num_blocks)
    flow = max_flow_on_placement(inst, start, end, T, C)[0]
    if cover > 0:
        held = np.zeros(inst.num_blocks)
        for a, e in zip(start, end):
            held[a:e] += 1
        assert held.min() >= 1
    assert flow <= cover * (1 + 1e-9)
    a, e, improved = improve_by_max_flow(inst, start, end, T, C, Deadline(10.0))
    assert improved >= flow * (1 - 1e-12)
    assert max_flow_on_placement(inst, a, e, T, C)[0] == pytest.approx(improved)
    scored, best = heuristic_placement(inst, T, C, Deadline(10.0), restarts=5)
    if best is None:
        assert not scored
        return
    assert best[0] == max(f for f, _ in scored)
    assert best[0] <= brute_force_throughput(inst) * (1 + 1e-9)


def test_warm_start_beats_petals_where_short_spans_pay():
    """Helix's point: weak GPUs holding few blocks leave room for large batches. On a 24-server
    Helix-size instance the coverage fill carries several times PETALS' tokens/s (about 22,900
    against 3,576 at 24 servers; the bound is 24,024)."""
    from optim.backends import Deadline
    from optim.generators import geo_instance
    from optim.solvers.throughput_milp import heuristic_placement

    inst = geo_instance(24, num_clients=1, region=None, seed=24, eta=0.3, high_gpu="A100-40GB", low_gpu="T4")
    T, C = node_throughput(inst), edge_capacity(inst)
    scored, best = heuristic_placement(inst, T, C, Deadline(20.0), restarts=0)
    petals = dict((n, f) for f, n in scored)["petals"]
    block_work = (np.arange(inst.num_blocks + 1)[None, :] * T).max(axis=1).sum() / inst.num_blocks
    assert best[0] >= 5 * petals
    assert best[0] <= block_work * (1 + 1e-9)


def test_model_too_large_for_the_limit_returns_the_warm_start(monkeypatch):
    """When the Helix model cannot be built and presolved in what is left of the time limit, the
    solver returns its warm start (feasible, with its max flow), never nothing."""
    import optim.solvers.bprr_milp as bprr_milp

    monkeypatch.setattr(bprr_milp, "PREP_VARIABLES_PER_S", 1e-3)  # every model 'too large'
    inst = load_instance(INSTANCES / "geo-europe-20.json")
    sol = solve(inst, "throughput-milp", time_limit=30, restarts=0)
    assert sol.status is Status.TIME_LIMIT and sol.has_solution
    assert "returned the warm start" in sol.message and "variables takes about" in sol.message
    assert evaluate(inst, sol).feasible
    assert sol.objective == pytest.approx(sol.details["warm_start_tokens_per_s"])


def test_coverage_fill_scores_one_server_per_throughput_curve():
    """Grouping servers with the same throughput curve changes nothing: the same spans as scoring
    every server on its own, on an instance with two GPU types (deterministic and randomised fills)."""
    from optim.solvers.throughput_milp import coverage_placement

    inst = load_instance(INSTANCES / "geo-europe-20.json")
    T = node_throughput(inst)
    L = inst.num_blocks
    K = np.where(T > 0, np.arange(T.shape[1])[None, :], 0).max(axis=1)

    def one_by_one(F, rng, noise):  # the fill, every server scored on its own
        cover, free = np.zeros(L), K > 0
        start, end = np.zeros(len(T), dtype=int), np.zeros(len(T), dtype=int)
        for b in range(L):
            while cover[b] < F * (1 - 1e-12):
                cand = np.flatnonzero(free)
                if cand.size == 0:
                    return None
                n, need = L - b, np.maximum(F - cover[b:], 0.0)
                t = T[cand, 1:n + 1] * (np.arange(1, n + 1)[None, :] <= K[cand, None])
                tri = np.tril(np.ones((n, n), dtype=bool))  # tri[k, m]: block b + m is in a span of k + 1
                useful = (np.minimum(t[:, :, None], need[None, None, :]) * tri[None]).sum(axis=2)
                if noise:
                    useful = useful * (1.0 + noise * rng.random(useful.shape))
                r, k = divmod(int(np.argmax(useful)), n)
                if useful[r, k] <= 0:
                    return None
                free[cand[r]] = False
                start[cand[r]], end[cand[r]] = b, b + k + 1
                cover[b:b + k + 1] += t[r, k]
        return start, end, float(cover.min())

    for noise in (0.0, 0.2):
        rng = np.random.default_rng(4)
        lo, hi = 0.0, float((np.arange(L + 1)[None, :] * T).max(axis=1).sum() / L)
        want = None
        for _ in range(8):
            F = 0.5 * (lo + hi)
            got = one_by_one(F, rng, noise)
            lo, hi, want = (F, hi, got) if got is not None else (lo, F, want)
        start, end, cover = coverage_placement(T, L, iterations=8, rng=np.random.default_rng(4), noise=noise)
        assert want is not None and np.array_equal(start, want[0]) and np.array_equal(end, want[1])
        assert cover == pytest.approx(want[2], rel=1e-12)

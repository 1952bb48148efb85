"""nsga2 and Pareto fronts: completeness against brute force on tiny instances, validity of every
front point, no heuristic dominating the front, hypervolume values, the shared boundary-DAG search."""
import itertools
import json

import numpy as np
import pytest
from click.testing import CliRunner

from optim import evaluate, instance_from_dict, load_instance, solve
from optim.cli import main
from optim.pareto import dominates, pareto_report
from optim.perf import hop_cost_coefficients
from optim.routing import BoundaryGraph, NoPathError, shortest_hops
from optim.solution import Status
from optim.solvers.nsga2 import (PENALTY, PlacementObjectives, decode, max_blocks, non_dominated, normalised_hypervolume,
                                 objective_matrix, pareto_front, repair_spans, solver_placements,
                                 solution_from_placement)

from conftest import INSTANCES
from test_bprr_milp import tiny_instance


@pytest.fixture(scope="module")
def run():
    inst = load_instance(INSTANCES / "chains-europe-20.json")
    return inst, solve(inst, "nsga2", population=24, generations=12, seed=1)


def spans_of(inst, point):
    start = np.zeros(inst.num_servers, dtype=int)
    end = np.zeros(inst.num_servers, dtype=int)
    for sid, (a, e) in point["spans"].items():
        start[inst.server_index[sid]], end[inst.server_index[sid]] = a, e
    return start, end


def test_knee_is_valid_and_front_is_non_dominated(run):
    inst, sol = run
    assert sol.status is Status.FEASIBLE and evaluate(inst, sol).feasible
    front = sol.details["front"]
    assert len(front) >= 5
    F = objective_matrix(np.array([[p["mean_inference_time_s"], p["nu_per_s"], p["free_memory_gb"]] for p in front]),
                         sol.details["objectives"])
    assert not any(dominates(F[i], F[k]) for i in range(len(F)) for k in range(len(F)))
    assert sol.objective == front[sol.details["knee"]]["mean_inference_time_s"]


def test_every_front_point_passes_the_validator_with_the_same_metrics(run):
    inst, sol = run
    for p in sol.details["front"]:
        start, end = spans_of(inst, p)
        s = solution_from_placement(inst, start, end, "nsga2")
        ev = evaluate(inst, s)
        assert ev.feasible, ev.violations
        assert ev.summary["mean_inference_time_no_wait_s"] == pytest.approx(p["mean_inference_time_s"], rel=1e-9)
        nu = sum(ch.capacity / ch.service_time_s for ch in s.chains)  # independent of the evaluator's sum
        assert nu == pytest.approx(p["nu_per_s"], rel=1e-12)
        free = (inst.memory_bytes.sum() - inst.block_bytes * (end - start).sum()) / 1e9
        assert free == pytest.approx(p["free_memory_gb"], rel=1e-12)


def test_no_front_point_dominated_by_a_heuristic(run):
    inst, sol = run
    objs = sol.details["objectives"]
    F = objective_matrix(np.array([[p["mean_inference_time_s"], p["nu_per_s"], p["free_memory_gb"]]
                                   for p in sol.details["front"]]), objs)
    ev = PlacementObjectives(inst, objs)
    for start, end, _ in solver_placements(inst):
        h = ev.minimised(start, end)
        assert not any(dominates(h, f) for f in F)


def test_two_objective_front_is_a_latency_throughput_tradeoff():
    inst = load_instance(INSTANCES / "chains-europe-20.json")
    # with the activations' transfer in the model (issue 13) a hop costs more, so the search needs a
    # larger budget than before to find the trade-off's points (3 at 24 x 12, 7 at 40 x 30)
    f = pareto_front(inst, objectives=("latency", "nu"), population=40, generations=30, seed=1)
    assert len(f) >= 5
    lat, nu = f.values[:, 0], f.values[:, 1]
    assert np.all(np.diff(lat) > 0) and np.all(np.diff(nu) > 0)  # strictly slower buys strictly more nu


def all_placements(inst):
    L, mx = inst.num_blocks, max_blocks(inst)
    per_server = [[(0, 0)] + [(a, a + m) for m in range(1, mx[j] + 1) for a in range(L - m + 1)]
                  for j in range(inst.num_servers)]
    for combo in itertools.product(*per_server):
        yield np.array([c[0] for c in combo]), np.array([c[1] for c in combo])


@pytest.mark.parametrize("seed", range(6))
def test_front_matches_brute_force_on_tiny_instances(seed):
    inst = instance_from_dict(tiny_instance(np.random.default_rng(500 + seed)))
    ev = PlacementObjectives(inst)
    V = np.array([ev.raw(s, e) for s, e in all_placements(inst)])
    V = V[V[:, 0] < PENALTY]
    if len(V) == 0:
        pytest.skip("no placement serves a request")
    truth = V[non_dominated(objective_matrix(V, ev.objectives))]
    f = pareto_front(inst, population=40, generations=50, seed=seed, seeds=[])
    for t in truth:  # every true Pareto point is on the front, with the same objective values
        assert np.any(np.all(np.isclose(f.values, t, rtol=1e-9, atol=1e-12), axis=1)), (t, f.values)


def test_hypervolume_on_one_common_scale():
    # two objectives; the union's ideal (0, 0) and nadir (1, 1); reference (1.1, 1.1)
    hv = normalised_hypervolume({"a": np.array([[0.0, 1.0], [1.0, 0.0]]), "b": np.array([[0.5, 0.5]])})
    assert hv["a"] == pytest.approx(2 * 1.1 * 0.1 - 0.1 * 0.1)  # two 1.1 x 0.1 strips, overlapping in a 0.1 square
    assert hv["b"] == pytest.approx(0.6 * 0.6)


def test_repair_covers_every_block_within_memory():
    inst = load_instance(INSTANCES / "geo-europe-20.json")
    rng = np.random.default_rng(3)
    mx = max_blocks(inst)
    for _ in range(50):
        x = np.column_stack([rng.integers(0, inst.num_blocks, inst.num_servers), rng.integers(0, mx + 1)]).ravel()
        s, e = repair_spans(inst, *decode(inst, x))
        assert np.all(e - s <= mx) and np.all(s >= 0) and np.all(e <= inst.num_blocks)
        hosted = np.zeros(inst.num_blocks, dtype=bool)
        for a, b in zip(s, e):
            hosted[a:b] = True
        assert hosted.all()


@pytest.mark.parametrize("name", ["geo-world-40", "chains-europe-20", "bprr-clustered-9"])
def test_boundary_graph_costs_equal_networkx_routing(name):
    inst = load_instance(INSTANCES / f"{name}.json")
    A, B = hop_cost_coefficients(inst, "inference")
    rng = np.random.default_rng(0)
    mx = max_blocks(inst)
    for _ in range(20):
        x = np.column_stack([rng.integers(0, inst.num_blocks, inst.num_servers), rng.integers(0, mx + 1)]).ravel()
        s, e = repair_spans(inst, *decode(inst, x))
        costs = BoundaryGraph(s, e, inst.num_blocks).costs(A, B)
        for c in range(inst.num_clients):
            try:
                hops, ref = shortest_hops(s, e, inst.num_blocks, A[c], B)
            except NoPathError:
                assert costs[c] == np.inf
                continue
            assert costs[c] == pytest.approx(ref, rel=1e-9)
            found = BoundaryGraph(s, e, inst.num_blocks).shortest(A[c], B)
            assert found[1] == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("name", ["geo-world-40", "chains-europe-20", "bprr-clustered-9"])
def test_compiled_population_objectives_equal_the_references(name):
    """The compiled batch (optim.perf.boundary_dp) against independent searches: each client's path
    cost against networkx's Dijkstra on the routable spans, nu against GCA on the condensed graph
    (scipy Dijkstra), for random repaired placements and a batch with repeats."""
    from optim.perf import gca
    from optim.perf.boundary_dp import path_costs

    inst = load_instance(INSTANCES / f"{name}.json")
    ev = PlacementObjectives(inst)
    A, B = ev.A, ev.B
    rng = np.random.default_rng(1)
    mx = max_blocks(inst)
    X = np.array([np.column_stack([rng.integers(0, inst.num_blocks, inst.num_servers), rng.integers(0, mx + 1)]).ravel()
                  for _ in range(30)])
    S, E = map(np.array, zip(*(repair_spans(inst, s, e) for s, e in zip(*decode(inst, X)))))
    S, E = np.vstack([S, S[:5]]), np.vstack([E, E[:5]])
    raw = ev.raw_many(S, E)
    assert raw.shape == (35, 3) and np.array_equal(raw[30:], raw[:5])
    saved, gca.CONDENSE_ABOVE = gca.CONDENSE_ABOVE, 0
    try:
        for i in range(30):
            from optim.solvers.nsga2 import routable

            rs, re = routable(inst, S[i], E[i])
            ref = []
            for c in ev.clients:
                try:
                    ref.append(shortest_hops(rs, re, inst.num_blocks, A[c], B)[1])
                except NoPathError:
                    ref.append(np.inf)
            ref = np.array(ref)
            np.testing.assert_allclose(path_costs(rs, re, inst.num_blocks, A[ev.clients], B), ref, rtol=1e-12)
            if not np.isfinite(ref).all():
                assert raw[i, 0] == PENALTY and raw[i, 1] == 0.0
                continue
            assert raw[i, 0] == pytest.approx(float(ev.w @ ref), rel=1e-12)
            nu = sum(ch.capacity / ch.service_time_s for ch in gca.greedy_cache_allocation(inst, S[i], E[i]))
            assert raw[i, 1] == pytest.approx(nu, rel=1e-9)
    finally:
        gca.CONDENSE_ABOVE = saved


def test_report_scores_front_against_heuristics():
    inst = load_instance(INSTANCES / "geo-europe-20.json")
    rep = pareto_report(inst, population=20, generations=5, seed=0)
    assert set(rep.solver_points) == {"petals", "cg-bprr", "gbp-cr"}
    assert rep.hypervolume["front"] >= rep.hypervolume["solvers"]  # seeded, so never worse
    assert rep.dominated_by_front["petals"]  # petals' replicas use memory the front keeps for caches


def test_time_limit_returns_the_front_so_far():
    inst = load_instance(INSTANCES / "geo-europe-20.json")
    sol = solve(inst, "nsga2", population=20, time_limit=0.5, seed=0)
    assert sol.status is Status.TIME_LIMIT and sol.details["front"]
    assert evaluate(inst, sol).feasible


def test_same_seed_same_front():
    inst = load_instance(INSTANCES / "chains-europe-20.json")
    a = pareto_front(inst, population=12, generations=4, seed=7)
    b = pareto_front(inst, population=12, generations=4, seed=7)
    assert np.array_equal(a.values, b.values) and np.array_equal(a.starts, b.starts)


def test_cli_pareto_and_front_file(tmp_path):
    r = CliRunner().invoke(main, ["pareto", str(INSTANCES / "geo-europe-20.json"), "--generations", "10",
                                  "--population", "30", "--plot", str(tmp_path / "f.png"), "-o", str(tmp_path / "f.json")])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "f.json").read_text())
    assert doc["format"] == "optim-front/1" and len(doc["points"]) >= 5
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    assert "hypervolume" in r.output

    r = CliRunner().invoke(main, ["solve", str(INSTANCES / "geo-europe-20.json"), "--solver", "nsga2",
                                  "--option", "generations=3", "--option", "population=12",
                                  "--front", str(tmp_path / "s.json")])
    assert r.exit_code == 0, r.output
    assert len(json.loads((tmp_path / "s.json").read_text())["points"]) >= 1

    r = CliRunner().invoke(main, ["solve", str(INSTANCES / "geo-europe-20.json"), "--front", str(tmp_path / "x.json")])
    assert r.exit_code == 2 and "Pareto front" in r.output and not (tmp_path / "x.json").exists()

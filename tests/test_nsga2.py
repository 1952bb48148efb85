"""nsga2: every front point is a valid solution, and no heuristic's placement dominates the front."""
import numpy as np
import pytest

from optim import evaluate, load_instance, solve
from optim.solution import Status
from optim.solvers.nsga2 import evaluate_placement, seed_placements, solution_from_placement

from conftest import INSTANCES


@pytest.fixture(scope="module")
def run():
    inst = load_instance(INSTANCES / "chains-europe-20.json")
    return inst, solve(inst, "nsga2", population=24, generations=12, seed=1)


def test_knee_is_valid_and_front_has_a_tradeoff(run):
    inst, sol = run
    assert sol.status is Status.FEASIBLE and evaluate(inst, sol).feasible
    front = sol.details["front"]
    assert len(front) >= 5
    lat = [f["mean_inference_time_s"] for f in front]
    nu = [f["nu_per_s"] for f in front]
    assert lat == sorted(lat) and nu == sorted(nu)  # a real latency-throughput trade-off


def test_every_front_point_passes_the_validator(run):
    inst, sol = run
    idx = inst.server_index
    for f in sol.details["front"]:
        start = np.zeros(inst.num_servers, dtype=int)
        end = np.zeros(inst.num_servers, dtype=int)
        for sid, (a, e) in f["spans"].items():
            start[idx[sid]], end[idx[sid]] = a, e
        ev = evaluate(inst, solution_from_placement(inst, start, end, "nsga2"))
        assert ev.feasible, ev.violations
        assert ev.summary["mean_inference_time_no_wait_s"] == pytest.approx(f["mean_inference_time_s"], rel=1e-9)


def test_no_front_point_dominated_by_a_heuristic(run):
    inst, sol = run
    F = np.array([[f["mean_inference_time_s"], f["nu_per_s"]] for f in sol.details["front"]])
    for start, end in seed_placements(inst):
        lat, nu = evaluate_placement(inst, start, end)
        dominated = (lat <= F[:, 0]) & (nu >= F[:, 1]) & ((lat < F[:, 0]) | (nu > F[:, 1]))
        assert not dominated.any()

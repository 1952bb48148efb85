"""bprr-milp: exact optimum equals brute force on tiny instances; never worse than the heuristics."""
import tempfile
import itertools

import numpy as np
import pytest

from optim import evaluate, instance_from_dict, load_instance, solve
from optim.perf import hop_cost_coefficients, request_shares
from optim.solution import Status

from conftest import INSTANCES


def tiny_instance(rng: np.random.Generator) -> dict:
    L = int(rng.integers(2, 6))
    J = int(rng.integers(2, 4))
    C = int(rng.integers(1, 3))
    servers = [{"id": f"s{j}", "memory_gb": float(rng.uniform(1.2, L + 1.5)),
                "prefill_ms_per_block": float(rng.uniform(0, 20)), "prefill_ms_per_block_per_token": 0.1,
                "decode_ms_per_block_per_token": float(rng.uniform(1, 30))} for j in range(J)]
    clients = [{"id": f"c{i}", "arrival_rate_per_s": 1.0} for i in range(C)]
    ids = [c["id"] for c in clients] + [s["id"] for s in servers]
    rtt = rng.uniform(1, 150, (len(ids), len(ids)))
    np.fill_diagonal(rtt, 0)
    return {"name": "tiny", "model": {"name": "toy", "num_blocks": L, "block_bytes": 1e9,
                                      "kv_cache_bytes_per_token_per_block": float(rng.choice([2e6, 1e7, 4e7]))},
            "servers": servers, "clients": clients, "rtt": {"ids": ids, "rtt_ms": rtt.round(2).tolist()},
            "workload": {"input_tokens_mean": 8, "input_tokens_max": 8, "output_tokens_mean": 8, "output_tokens_max": 8,
                         "concurrent_requests": int(rng.integers(C, 4))},
            "communication": {"decode_overhead_ms": 10.0}}


def chains(spans, L):
    """Every path over the placement: hops (j, b, e), e the span end, b an earlier exit (Lemma 1)."""
    out = []

    def walk(b, hops):
        if b == L:
            out.append(tuple(hops))
            return
        for j, (a, e) in enumerate(spans):
            if a <= b < e:
                walk(e, hops + [(j, b, e)])

    walk(0, [])
    return out


def brute_force(inst, objective="decode"):
    """Enumerate every placement and every assignment of each client's requests to paths."""
    L, sm, sc = inst.num_blocks, inst.block_bytes, inst.cache_bytes_per_block_session
    M = inst.memory_bytes
    A, B = hop_cost_coefficients(inst, objective)
    shares = request_shares(inst)
    weight = inst.arrival_rates / inst.arrival_rates.sum() / np.maximum(shares, 1)
    options = [[(0, 0)] + [(a, e) for a in range(L) for e in range(a + 1, L + 1) if (e - a) * sm <= M[j] * (1 + 1e-12)]
               for j in range(inst.num_servers)]
    best = np.inf
    for spans in itertools.product(*options):
        ps = chains(spans, L)
        if not ps:
            continue
        per_client = [itertools.combinations_with_replacement(range(len(ps)), int(n)) for n in shares]
        for choice in itertools.product(*[list(x) for x in per_client]):
            used = np.array([(e - a) * sm for a, e in spans])
            cost = 0.0
            for c, picks in enumerate(choice):
                for p in picks:
                    for j, b, e in ps[p]:
                        used[j] += (e - b) * sc
                        cost += weight[c] * (A[c, j] + B[j] * (e - b))
            if np.all(used <= M * (1 + 1e-9)) and cost < best:
                best = cost
    return best


@pytest.mark.parametrize("seed, modeller", [(s, "arrays") for s in range(24)] + [(s, "pyomo") for s in range(6)])
def test_milp_equals_brute_force(seed, modeller):
    inst = instance_from_dict(tiny_instance(np.random.default_rng(seed)))
    expected = brute_force(inst)
    sol = solve(inst, "bprr-milp", mip_gap=0.0, modeller=modeller)
    if not np.isfinite(expected):
        assert sol.status is Status.INFEASIBLE
        return
    assert sol.status is Status.OPTIMAL, sol.message
    assert sol.objective == pytest.approx(expected, rel=1e-6)
    ev = evaluate(inst, sol)
    assert ev.feasible
    assert ev.summary["mean_decode_time_per_token_s"] == pytest.approx(expected, rel=1e-6)


def test_aggregation_matches_per_request_count():
    """Flow decomposition: the paths of each client carry exactly its share of |R|."""
    for seed in range(100, 140):
        inst = instance_from_dict(tiny_instance(np.random.default_rng(seed)))
        sol = solve(inst, "bprr-milp")
        if sol.status is Status.OPTIMAL and sum(p.requests for p in sol.paths) > 1:
            break
    else:
        pytest.fail("no feasible tiny instance among the seeds")
    shares = dict(zip((c.id for c in inst.clients), request_shares(inst)))
    for cid, n in shares.items():
        assert sum(p.requests for p in sol.paths if p.client == cid) == n


@pytest.mark.slow
def test_milp_optimal_on_clustered_9():
    """Acceptance of issue 4: the 9-server deployment solved to optimality (HiGHS, about 15 s here)."""
    inst = load_instance(INSTANCES / "bprr-clustered-9.json")
    milp = solve(inst, "bprr-milp", time_limit=120)
    assert milp.status is Status.OPTIMAL
    assert milp.gap == pytest.approx(0, abs=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bprr-clustered-9", "bprr-clustered-26", "geo-europe-20", "geo-world-40"])
def test_milp_no_worse_than_heuristics_on_shipped_instances(name):
    """Same objective (rate-weighted mean decode time per token), same evaluation (the validator)."""
    inst = load_instance(INSTANCES / f"{name}.json")
    milp = solve(inst, "bprr-milp", time_limit=30)
    assert milp.status in (Status.OPTIMAL, Status.TIME_LIMIT)
    ours = milp.details["evaluation"]["mean_decode_time_per_token_s"]
    for other in ("cg-bprr", "petals"):
        theirs = solve(inst, other).details["evaluation"]["mean_decode_time_per_token_s"]
        assert ours <= theirs * (1 + 1e-9)


@pytest.mark.slow
def test_time_limited_solve_returns_incumbent_bound_and_gap():
    inst = load_instance(INSTANCES / "bprr-clustered-26.json")
    sol = solve(inst, "bprr-milp", time_limit=3, skip_if_too_large=False)
    assert sol.status in (Status.OPTIMAL, Status.TIME_LIMIT)
    assert sol.placement and sol.paths
    assert sol.bound is not None and sol.gap is not None
    assert sol.bound <= sol.objective * (1 + 1e-9)
    assert evaluate(inst, sol).feasible
    assert sol.gap >= 0  # wall-clock times are measured in benchmarks/milp.py, never asserted in tests


def test_infeasible_reported_before_solver_runs():
    from test_latency import HAND
    inst = instance_from_dict(dict(HAND, servers=[{**s, "memory_gb": 1.0} for s in HAND["servers"]]))
    sol = solve(inst, "bprr-milp")
    assert sol.status is Status.INFEASIBLE and "below one model copy" in sol.message


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 5, 8])
def test_highs_and_ortools_agree(seed):
    inst = instance_from_dict(tiny_instance(np.random.default_rng(seed)))
    a = solve(inst, "bprr-milp", mip_gap=0.0)
    b = solve(inst, "bprr-milp", mip_gap=0.0, backend="ortools")
    assert a.status is b.status
    if a.status is Status.OPTIMAL:
        assert b.objective == pytest.approx(a.objective, rel=1e-6)
        assert evaluate(inst, b).feasible


def test_unknown_backend_is_refused():
    from optim.errors import InvalidOptionError
    inst = instance_from_dict(tiny_instance(np.random.default_rng(0)))
    with pytest.raises(InvalidOptionError, match="backend"):
        solve(inst, "bprr-milp", backend="gurobi")


@pytest.mark.slow
def test_gap_report_against_proven_optimum():
    from optim.bounds import gap_report
    for seed in range(20):
        inst = instance_from_dict(tiny_instance(np.random.default_rng(seed)))
        rep = gap_report(inst, time_limit=30)
        if rep["bound_status"] == "optimal":
            break
    rows = {r["solver"]: r for r in rep["rows"]}
    assert rows["bprr-milp"]["gap"] == pytest.approx(0, abs=1e-6)
    for name in ("cg-bprr", "petals"):
        r = rows[name]
        if r["value"] is not None and r["cache_fits"]:
            assert r["gap"] >= -1e-6  # no cache-feasible solution beats the proven optimum


def test_model_too_large_for_time_limit_returns_warm_start_with_bound():
    inst = load_instance(INSTANCES / "chains-europe-20.json")
    sol = solve(inst, "bprr-milp", time_limit=1)  # 46k columns: about 1.3 s to build and presolve
    assert sol.status is Status.TIME_LIMIT and sol.has_solution and "too large" in sol.details["skipped"]
    assert sol.bound is not None and 0 <= sol.gap < 1 and sol.bound <= sol.objective
    assert evaluate(inst, sol).feasible


@pytest.mark.parametrize("name", ["bprr-clustered-9"])
def test_array_model_is_the_pyomo_model(name):
    """The numpy build has the Pyomo reference's columns, rows, bounds and matrix, in the same order."""
    import highspy
    from scipy import sparse

    from optim.backends import native_stdout_silenced, write_model
    from optim.solvers.bprr_milp import build_bprr_arrays, build_bprr_model

    inst = load_instance(INSTANCES / f"{name}.json")
    ba = build_bprr_arrays(inst)
    bm = build_bprr_model(inst)
    with tempfile.TemporaryDirectory() as tmp:
        path, names = write_model(bm.model, tmp)
        with native_stdout_silenced():
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
            h.readModel(path)
    ref = h.getLp()
    col_of = {n: i for i, n in enumerate(ref.col_names_)}
    mine = ba.names()
    names = {k: v for k, v in names.items() if k[0] in ("z", "f")}
    assert set(mine) == set(names)  # the same z and f variables
    perm = np.array([col_of[names[k]] for k in mine])  # my z/f column -> the reference's column
    ours = [int(x[1:]) for x in mine.values()]
    cost = np.asarray(ref.col_cost_)
    assert np.allclose(ba.milp.cost[ours], cost[perm], rtol=1e-9, atol=1e-15)
    assert np.array_equal(ba.milp.integer[ours], np.asarray(ref.integrality_)[perm] == highspy.HighsVarType.kInteger)
    assert (ba.milp.num_rows, ba.milp.vals.size) == (ref.num_row_, len(ref.a_matrix_.value_))
    A = sparse.csr_matrix(sparse.csc_matrix((ref.a_matrix_.value_, ref.a_matrix_.index_, ref.a_matrix_.start_),
                                            shape=(ref.num_row_, ref.num_col_)))
    B = sparse.csr_matrix((ba.milp.vals, (ba.milp.rows, ba.milp.cols)), shape=(ba.milp.num_rows, ba.milp.num_columns))
    # the same multiset of rows on the z and f columns, in my column numbering (row order and the
    # auxiliary p columns may differ)
    to_mine = np.full(ref.num_col_, -1)
    to_mine[perm] = ours
    ident = np.full(ba.milp.num_columns, -1)
    ident[ours] = ours

    def rows(M, cmap):
        out = []
        for r in range(M.shape[0]):
            lo, hi = M.indptr[r], M.indptr[r + 1]
            cols, vals = cmap[M.indices[lo:hi]], M.data[lo:hi]
            keep = cols >= 0
            row = sorted(zip(cols[keep].tolist(), vals[keep].tolist()))
            sign = -1.0 if row and row[0][1] < 0 else 1.0  # a >= row may be written as a negated <= row
            out.append(tuple((c, round(sign * v, 9)) for c, v in row))
        return sorted(out)

    assert rows(A, to_mine) == rows(B, ident)


def test_chain_bound_proves_the_warm_start_optimal_before_any_model_is_built():
    """geo-europe-20: cg-bprr's 0.0513 s/token meets the chain-relaxation bound, so no model is built
    (the LP relaxation proved it in 4 s; the search through Pyomo took 337 s)."""
    inst = load_instance(INSTANCES / "geo-europe-20.json")
    sol = solve(inst, "bprr-milp", time_limit=120)
    assert sol.status is Status.OPTIMAL and sol.gap == pytest.approx(0, abs=1e-9)
    assert sol.objective == pytest.approx(0.051300344, rel=1e-8)
    assert "build_time_s" not in sol.details and "chain-relaxation" in sol.message


def test_lp_bound_first_proves_the_warm_start_optimal(monkeypatch):
    """geo-europe-20 without the chain bound: the LP relaxation's bound equals cg-bprr's value
    (0.0513 s/token), so the MILP search is not needed."""
    from optim.solvers import bprr_chains

    monkeypatch.setattr(bprr_chains, "chain_bound", lambda inst, objective="decode": 0.0)
    inst = load_instance(INSTANCES / "geo-europe-20.json")
    events = []
    sol = solve(inst, "bprr-milp", time_limit=120, progress=events.append)
    assert sol.status is Status.OPTIMAL and sol.gap == pytest.approx(0, abs=1e-9)
    assert sol.details["lp_bound"] == pytest.approx(sol.objective, rel=1e-9)
    assert "LP relaxation" in sol.message
    assert [ev["bound"] for ev in events][-1] == pytest.approx(sol.details["lp_bound"])
    assert evaluate(inst, sol).feasible


def test_redundancy_holds_every_block_twice_and_costs_what_it_must():
    """With redundancy = 2 every block is on at least two servers (so no single failure leaves a
    block without a server; whether the rest still has cache for a session is another matter,
    which `optim evaluate` reports), the optimum is never better than without, and arrays and
    Pyomo agree."""
    from optim.validate import single_server_failures

    changed = 0
    for seed in range(12):
        inst = instance_from_dict(tiny_instance(np.random.default_rng(seed)))
        one = solve(inst, "bprr-milp", mip_gap=0.0)
        two = solve(inst, "bprr-milp", mip_gap=0.0, redundancy=2)
        ref = solve(inst, "bprr-milp", mip_gap=0.0, redundancy=2, modeller="pyomo")
        assert two.status is ref.status
        if two.status is not Status.OPTIMAL:
            continue
        assert two.objective == pytest.approx(ref.objective, rel=1e-6)
        start, end, _ = two.spans(inst)
        assert all(((start <= b) & (b < end)).sum() >= 2 for b in range(inst.num_blocks))
        assert all(not f["unserved_blocks"] for f in single_server_failures(inst, two))
        assert two.objective >= one.objective * (1 - 1e-9)
        s1, e1, _ = one.spans(inst)
        changed += any(((s1 <= b) & (b < e1)).sum() < 2 for b in range(inst.num_blocks))
    assert changed  # some instance needed a second copy

"""optim's GBP-CR, GCA, Theorem-4 bounds and JFFC against the server-chain paper's own code.

Usage: ``python benchmarks/check_against_authors.py --authors PATH [--instances 150] [--seed 0]``

``PATH`` is a checkout of TingyangSunJeff/petals_llm_chain_scheduling (the code of arXiv
2604.14993; checked at d27c46a). Nothing of it is copied here: its ``algorithms/`` package is
imported from the checkout at run time and run beside optim on the same random instances.

Instances: ``geo_instance`` with 3-24 servers, eta 0.1-0.4 and lambda 0.05-2 req/s, alternately
LLaMA-2-7B int8 on A100 MIG 3g.40gb / 2g.20gb slices (the paper's testbed) and BLOOM-176B nf4 on
A100-40GB / L4 (its simulations), every server with ``batching = "ideal"`` (the paper's model: no
GPU contention). The authors' functions get each server's ``M_j`` (GB), ``tau^c_j`` and ``tau^p_j``
as optim computes them (:func:`optim.perf.gca.chain_cost_coefficients`), and ``s_m``, ``s_c`` in GB.

Checks:

1. GBP-CR (Alg. 1) for each c of :func:`optim.solvers.gbp_cr.candidate_cs` (at most 40 per
   instance): ``gbp_cr`` against :func:`optim.solvers.gbp_cr.gbp_cr_placement`, every server's span.
2. GCA (Alg. 2) on that placement: ``gca`` against :func:`optim.perf.gca.greedy_cache_allocation`,
   the chains' service times (to 1e-9 s) and capacities.
3. Theorem 4 on those chains, where stable: ``compute_stationary_bounds`` against
   :func:`optim.perf.ctmc.theorem4_bounds`, both bounds to a relative 1e-9.
4. JFFC (Alg. 3): ``JFFCDispatcher`` against :class:`optim.dispatch.JFFC` on the chains of each
   instance, 2,000 random arrivals and completions: the chain each arrival joins and the queue.
5. The choice of c (``optimize_c``, Theorem-4 lower bound) against ``solve(inst, "gbp-cr")``: the
   same lower bound; the c itself may differ where several c give the same placement.

Measured (d27c46a, seed 0, 150 instances, 11 s): 6,000 of 6,000 placements, 5,396 of 5,396 GCA
allocations, 4,493 of 4,493 bound pairs and 150 of 150 JFFC event sequences equal; 123 of the 123
instances the authors' code can serve with the same best lower bound (and the same c), the other 27
infeasible for both. (With another seed, 2 of 150 instances reached the same bound with another c.)
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from optim import instance_from_dict, solve
from optim.dispatch import JFFC
from optim.generators import geo_instance
from optim.perf.ctmc import theorem4_bounds
from optim.perf.gca import chain_cost_coefficients, chain_rates, greedy_cache_allocation
from optim.solution import Status
from optim.solvers.gbp_cr import candidate_cs, gbp_cr_placement

PACKAGE = "petals_llm_chain_scheduling"


def import_authors(path: Path, tmp: str) -> dict:
    """The authors' modules, imported from their checkout under its package name."""
    (Path(tmp) / PACKAGE).symlink_to(path.resolve(), target_is_directory=True)
    sys.path.insert(0, tmp)
    from petals_llm_chain_scheduling import data_models
    from petals_llm_chain_scheduling.algorithms import gbp_cr, gca, jffc, param_optimizer, theorem4

    return {"dm": data_models, "gbp_cr": gbp_cr.gbp_cr, "gca": gca.gca, "bounds": theorem4.compute_stationary_bounds,
            "optimize_c": param_optimizer.optimize_c, "JFFC": jffc.JFFCDispatcher}


def random_instance(rng, trial: int):
    J, eta = int(rng.integers(3, 25)), float(rng.choice([0.1, 0.2, 0.3, 0.4]))
    lam = float(rng.choice([0.05, 0.2, 0.5, 1.0, 2.0]))
    if trial % 2:
        kw = dict(model="llama-2-7b", dtype="int8", high_gpu="A100-MIG-3g.40gb", low_gpu="A100-MIG-2g.20gb")
    else:
        kw = dict(model="bloom-176b", dtype="nf4", high_gpu="A100-40GB", low_gpu="L4")
    d = geo_instance(J, eta=eta, arrival_rate=lam, seed=trial, **kw).model_dump(mode="json", exclude_none=True)
    for s in d["servers"]:
        s["batching"] = "ideal"
    return instance_from_dict(d)


def authors_inputs(a: dict, inst):
    A, B = chain_cost_coefficients(inst)
    s_m = np.unique(inst.server_block_bytes)
    assert s_m.size == 1, "one dtype: the authors' code has one s_m"
    servers = [a["dm"].ServerParams(server_id=str(j), memory_gb=float(inst.memory_bytes[j]) / 1e9, tau_c=float(A[j]),
                                    tau_p=float(B[j]), mig_profile="-") for j in range(inst.num_servers)]
    return servers, float(s_m[0]) / 1e9, float(inst.cache_bytes_per_block_session) / 1e9


def check_jffc(a: dict, rng, chains, events: int = 2000) -> bool:
    """Random arrivals and completions through both dispatchers: the same chain for every arrival."""
    dm = a["dm"]
    theirs = a["JFFC"]([dm.AllocatedChain(chain_id=k, server_sequence=[], edges=[], capacity=ch.capacity,
                                          service_time=ch.service_time_s, service_rate=ch.rate_per_s)
                        for k, ch in enumerate(chains)])
    mu, cap = chain_rates(chains)
    ours = JFFC(mu, cap)
    running: list[int] = []
    for i in range(events):
        if running and rng.random() < 0.5:
            k = running.pop(int(rng.integers(len(running))))
            t, o = theirs.on_completion(k), ours.complete(k)
            if (t is None) != (o is None):
                return False
            if o is not None:
                running.append(k)  # the head of the queue took the freed slot
        else:
            t = theirs.on_arrival(dm.InferenceRequest(i, "", 1, 1, float(i)))
            o, _ = ours.arrive()
            if t != o:
                return False
            if o is not None:
                running.append(o)
        if theirs.queue_length != ours.waiting:
            return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--authors", type=Path, required=True,
                    help="a checkout of TingyangSunJeff/petals_llm_chain_scheduling")
    ap.add_argument("--instances", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not (args.authors / "algorithms" / "gbp_cr.py").is_file():
        sys.exit(f"--authors {args.authors}: no algorithms/gbp_cr.py there; expected a checkout of "
                 "https://github.com/TingyangSunJeff/petals_llm_chain_scheduling")
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    n = {k: [0, 0] for k in ("placement", "gca", "bounds", "jffc", "c")}
    other_c, infeasible = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        a = import_authors(args.authors, tmp)
        for trial in range(args.instances):
            inst = random_instance(rng, trial)
            servers, s_m, s_c = authors_inputs(a, inst)
            L, lam, rho = inst.num_blocks, inst.total_arrival_rate, inst.workload.target_load
            for c in (int(c) for c in candidate_cs(inst)[:40]):
                start, end, _ = gbp_cr_placement(inst, c)
                try:
                    placed = a["gbp_cr"](servers, L, s_m, s_c, c, lam, rho)
                except a["dm"].InfeasiblePlacementError:
                    n["placement"][0] += 1
                    n["placement"][1] += int((end - start).sum() < L)  # optim cannot cover L either
                    continue
                theirs = {int(s): (p.start_block, p.start_block + p.num_blocks)
                          for s, p in placed.server_assignments.items()}
                ours = {j: (int(start[j]), int(end[j])) for j in range(inst.num_servers) if end[j] > start[j]}
                n["placement"][0] += 1
                n["placement"][1] += theirs == ours
                if theirs != ours:
                    continue
                chains = greedy_cache_allocation(inst, start, end)
                alloc = a["gca"](placed, servers, L, s_m, s_c)
                n["gca"][0] += 1
                same = (sorted((round(ch.service_time, 9), ch.capacity) for ch in alloc.chains)
                        == sorted((round(ch.service_time_s, 9), ch.capacity) for ch in chains))
                n["gca"][1] += same
                if not (same and chains):
                    continue
                mu, cap = chain_rates(chains)
                if lam < float(mu @ cap):
                    fastest = sorted(alloc.chains, key=lambda ch: -ch.service_rate)
                    tb = a["bounds"](lam, [ch.service_rate for ch in fastest], [ch.capacity for ch in fastest])
                    ob = theorem4_bounds(mu, cap, lam)
                    n["bounds"][0] += 1
                    n["bounds"][1] += bool(np.isclose(tb.lower_bound, ob.lower_s, rtol=1e-9, atol=0)
                                           and np.isclose(tb.upper_bound, ob.upper_s, rtol=1e-9, atol=0))
                if c == 1:
                    n["jffc"][0] += 1
                    n["jffc"][1] += check_jffc(a, rng, chains)
            sol = solve(inst, "gbp-cr")
            try:
                c_star, _, alloc = a["optimize_c"](servers, L, s_m, s_c, lam, rho)
            except a["dm"].NoFeasibleParameterError:
                infeasible += sol.status is Status.INFEASIBLE
                continue
            fastest = sorted(alloc.chains, key=lambda ch: -ch.service_rate)
            theirs_lb = a["bounds"](lam, [ch.service_rate for ch in fastest], [ch.capacity for ch in fastest]).lower_bound
            start, end, _ = sol.spans(inst)
            mu, cap = chain_rates(greedy_cache_allocation(inst, start, end))
            ours_lb = theorem4_bounds(mu, cap, lam).lower_s
            n["c"][0] += 1
            n["c"][1] += bool(np.isclose(theirs_lb, ours_lb, rtol=1e-9, atol=0))
            if sol.details.get("c") != c_star:
                other_c.append(f"{sol.details.get('c')} against {c_star}")
    t = Table(title=f"optim against the authors' code ({args.authors}), {args.instances} instances, seed {args.seed}, "
                    f"{time.perf_counter() - t0:.0f} s")
    for col in ("check", "cases", "equal", "notes"):
        t.add_column(col, justify="left" if col in ("check", "notes") else "right")
    notes = {"placement": "every server's span", "gca": "chain times and capacities",
             "bounds": "lower and upper, relative 1e-9", "jffc": "2,000 random events each (c = 1 chains)",
             "c": (f"best Theorem-4 lower bound; {infeasible} instances infeasible for both"
                   + (f"; the same bound with another c: {', '.join(other_c)}" if other_c else ""))}
    names = {"placement": "GBP-CR (Alg. 1), each c", "gca": "GCA (Alg. 2)", "bounds": "Theorem 4",
             "jffc": "JFFC (Alg. 3)", "c": "choice of c"}
    for k, (cases, same) in n.items():
        t.add_row(names[k], f"{cases:,}", f"{same:,}", notes[k])
    Console(width=170).print(t)


if __name__ == "__main__":
    main()

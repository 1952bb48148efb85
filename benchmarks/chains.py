"""Server chains: GBP-CR + GCA scaling, and response-time bounds of every solver under load.

Usage: ``python benchmarks/chains.py [--sizes 10,100,1000,10000] [--seeds 3]``

Table 1: gbp-cr (GBP-CR over all candidate c, GCA per distinct placement, Theorem-4 bounds) time on
random instances (BLOOM-176B nf4, 3g.40gb / 2g.20gb MIG, eta 0.2). Target (issue 5): J = 1,000 in < 2 s.
Table 2: on the paper's default setting (geo Europe, 20 servers), lambda swept to 0.9 nu_ref
(nu_ref: the total rate of GCA's chains on the cg-bprr placement), the Theorem-4 lower and upper
bounds on the mean response time under JFFC for petals, cg-bprr and gbp-cr (``unstable`` when
lambda >= nu of that solution).
"""
from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

from optim import evaluate, instance_from_dict, solve
from optim.generators import geo_instance, random_instance

MIG = dict(model="bloom-176b", high_gpu="A100-MIG-3g.40gb", low_gpu="A100-MIG-2g.20gb")


def with_rate(inst, rate):
    d = inst.model_dump(mode="json", exclude_none=True)
    n = len(d["clients"])
    for c in d["clients"]:
        c["arrival_rate_per_s"] = rate / n
    return instance_from_dict(d)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,100,1000,10000")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    console = Console(highlight=False, width=150)
    t1 = Table(title="gbp-cr scaling (random, BLOOM-176B, MIG 3g/2g, lambda = 0.01 J)")
    for col in ("servers", "time s", "c", "distinct placements", "chains", "rho", "lower s", "upper s"):
        t1.add_column(col, justify="right")
    for n in (int(x) for x in args.sizes.split(",")):
        inst = random_instance(n, arrival_rate=0.01 * n, input_tokens=2000, output_tokens=20, seed=0, **MIG)
        t0 = time.perf_counter()
        sol = solve(inst, "gbp-cr")
        dt = time.perf_counter() - t0
        d = sol.details
        t1.add_row(str(n), f"{dt:.2f}", str(d.get("c")), str(d.get("distinct_placements")), str(len(sol.chains)),
                   f"{d.get('rho', float('nan')):.3f}", f"{d.get('response_time_lower_s', float('nan')):.3f}",
                   f"{d.get('response_time_upper_s', float('nan')):.3f}")
    console.print(t1)

    t2 = Table(title="mean response time bounds under JFFC (s), paper default setting, lambda swept")
    for col in ("seed", "lambda/nu_ref", "lambda /s", "petals", "cg-bprr", "gbp-cr"):
        t2.add_column(col, justify="right")
    for seed in range(args.seeds):
        base = geo_instance(20, region="europe", eta=0.2, arrival_rate=0.2, seed=seed, **MIG)
        nu_ref = evaluate(base, solve(base, "cg-bprr")).queueing["nu_per_s"]
        for f in (0.1, 0.3, 0.5, 0.7, 0.9):
            inst = with_rate(base, f * nu_ref)
            cells = []
            for name in ("petals", "cg-bprr", "gbp-cr"):
                sol = solve(inst, name)
                q = evaluate(inst, sol).queueing if sol.has_solution else {}
                cells.append(f"[{q['response_time_lower_s']:.2f}, {q['response_time_upper_s']:.2f}]"
                             if "response_time_lower_s" in q else ("unstable" if q else sol.status.value))
            t2.add_row(str(seed), f"{f:.1f}", f"{f * nu_ref:.3f}", *cells)
    console.print(t2)


if __name__ == "__main__":
    main()

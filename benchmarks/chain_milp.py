"""The exact joint chain model (chain-milp) against GBP-CR + GCA: proven optima, bounds and gbp-cr's gap.

Usage: ``python benchmarks/chain_milp.py [--time-limit 120] [--objectives slots,rate] [--quick]``

Instances: the chain paper's PETALS testbed (9 MIG slices, LLaMA-2-7B; ``reproduce_chains.py``),
its simulation setting at J = 10 (BLOOM-176B nf4 on 3g.40gb / 2g.20gb MIG slices, eta = 0.2,
lambda = 0.2/s, European RTTs; seeds 0-2) and the shipped ``chains-europe-20``.

For ``slots`` (BPCA, arXiv 2604.14993 Eq. 5: fewest concurrent-job slots reaching lambda / rho-bar)
gbp-cr's value is the exact allocation of its placement (bpca-milp); for ``rate`` (nu = sum c_k / T_k)
it is nu of GCA's chains on its placement (gbp-cr stops placing once nu reaches lambda / (rho-bar c),
so it does not aim at the largest nu: context, not a like-for-like gap). Gaps are
``|value - bound| / |value|`` against chain-milp's bound, which holds for every placement.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from optim import load_instance, solve
from optim.generators import geo_instance

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


def instances(quick: bool):
    from reproduce_chains import table1_instance

    yield "table1-testbed-9", table1_instance(0, "ideal")
    for seed in ((0,) if quick else (0, 1, 2)):
        yield f"paper-sim-10 seed {seed}", geo_instance(
            10, 1, region="europe", model="bloom-176b", dtype="nf4", eta=0.2, high_gpu="A100-MIG-3g.40gb",
            low_gpu="A100-MIG-2g.20gb", arrival_rate=0.2, seed=seed)
    if not quick:
        yield "chains-europe-20", load_instance(ROOT / "instances" / "chains-europe-20.json")


def fmt(x, digits=4):
    return "-" if x is None else f"{x:.{digits}g}"


def gap(value, bound):
    return None if value is None or bound is None else abs(value - bound) / max(abs(value), 1e-12)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=float, default=120.0, help="seconds per chain-milp call")
    ap.add_argument("--objectives", default="slots", help="slots and/or rate (rate: exact on small instances only)")
    ap.add_argument("--quick", action="store_true", help="the testbed and one 10-server instance")
    args = ap.parse_args()
    table = Table(title=f"chain-milp (limit {args.time_limit:g} s) against gbp-cr")
    for col in ("instance", "objective", "status", "wall s", "chain-milp", "bound", "gap", "gbp-cr", "gbp-cr gap",
                "LP rounds", "cuts", "proof chains", "B&P nodes (open)"):
        table.add_column(col)
    for name, inst in instances(args.quick):
        g = solve(inst, "gbp-cr")
        for objective in args.objectives.split(","):
            t0 = time.perf_counter()
            s = solve(inst, "chain-milp", objective=objective, time_limit=args.time_limit)
            wall = time.perf_counter() - t0
            if objective == "slots":
                ref = solve(inst, "bpca-milp", placement_solver="gbp-cr", time_limit=args.time_limit)
                gv = ref.objective
            else:
                gv = g.details.get("nu_per_s")
            d = s.details
            table.add_row(name, objective, s.status.value, f"{wall:.1f}", fmt(s.objective), fmt(s.bound), fmt(s.gap, 3),
                          fmt(gv), fmt(gap(gv, s.bound), 3), str(d.get("lp_rounds", "-")), str(d.get("cuts", "-")),
                          str(d.get("proof_chains_enumerated", "-")),
                          f"{d['bp_nodes']} ({d['bp_nodes_open']})" if "bp_nodes" in d else "-")
            print(name, objective, s.status.value, f"{wall:.1f}s", s.objective, s.bound, s.gap, "gbp-cr", gv, flush=True)
    Console(width=200).print(table)


if __name__ == "__main__":
    main()

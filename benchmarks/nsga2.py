"""NSGA-II Pareto fronts: time, front size and hypervolume against the heuristics, by instance size.

Usage: ``python benchmarks/nsga2.py [--sizes 20,40,100] [--population 100] [--generations 200]``

Instances: the shipped geo-europe-20 and geo-world-40 when the size matches, otherwise
``geo_instance(J, region="world", clients=3)`` (LLaMA-2-70B nf4, A100-80GB / L4, eta 0.2).
Objectives: mean inference time, nu, memory left for caches. Hypervolume is normalised on the union
of the front and the heuristics' points (reference 1.1 in every objective), so the front's and the
heuristics' values in one row compare directly; rows do not compare with each other.
Target (issue 7): population 100 x 200 generations on 40 servers in under 60 s.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from optim import load_instance
from optim.generators import geo_instance
from optim.pareto import pareto_report

SHIPPED = Path(__file__).resolve().parent.parent / "instances"


def instance(n: int):
    shipped = {20: "geo-europe-20.json", 40: "geo-world-40.json"}
    if n in shipped:
        return load_instance(SHIPPED / shipped[n])
    return geo_instance(n, 3, region="world", model="llama-2-70b", dtype="nf4", eta=0.2, high_gpu="A100-80GB",
                        low_gpu="L4", arrival_rate=0.2, concurrent_requests=16, seed=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="20,40,100")
    ap.add_argument("--population", type=int, default=100)
    ap.add_argument("--generations", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    console = Console(highlight=False, width=160)
    t = Table(title=f"NSGA-II, population {args.population} x {args.generations} generations, seed {args.seed}")
    for col in ("instance", "servers", "time s", "placements", "front", "HV front", "HV heuristics",
                "petals", "cg-bprr", "gbp-cr", "knee: latency s", "nu /s", "free GB"):
        t.add_column(col, justify="right")
    for n in (int(x) for x in args.sizes.split(",")):
        inst = instance(n)
        rep = pareto_report(inst, population=args.population, generations=args.generations, seed=args.seed)
        f, hv = rep.front, rep.hypervolume
        k = f.knee()
        t.add_row(inst.name, str(n), f"{f.search_time_s:.1f}", str(f.evaluations), str(len(f)),
                  f"{hv['front']:.4f}", f"{hv.get('solvers', 0):.4f}",
                  *(f"{hv[s]:.4f}" if s in hv else "-" for s in ("petals", "cg-bprr", "gbp-cr")),
                  f"{f.values[k, 0]:.3f}", f"{f.values[k, 1]:.1f}", f"{f.values[k, 2]:.0f}")
        console.print(f"{inst.name}: {f.search_time_s:.1f} s", style="dim")
    console.print(t)


if __name__ == "__main__":
    main()

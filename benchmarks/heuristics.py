"""Time and mean inference time of the heuristics (petals, cg-bprr) on random instances.

Usage: ``python benchmarks/heuristics.py [--sizes 10,100,1000,10000] [--seed 0]``

Prints a table: solver, servers, solve time (s, placement + routing + validation), status,
mean inference time (s, waiting included), mean decode time per token (ms).
Target (issue 3): cg-bprr on 1,000 servers in under 1 s.
"""
from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

from optim import solve
from optim.generators import random_instance


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,100,1000,10000")
    ap.add_argument("--solvers", default="cg-bprr,petals")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    table = Table(title="heuristics on random instances (LLaMA-2-70B nf4, eta 0.2, |R| = 32)")
    for col in ("solver", "servers", "time s", "status", "mean inference s", "decode ms/token"):
        table.add_column(col, justify="left" if col in ("solver", "status") else "right")
    for n in (int(x) for x in args.sizes.split(",")):
        t0 = time.perf_counter()
        inst = random_instance(n, seed=args.seed)
        gen = time.perf_counter() - t0
        for solver in args.solvers.split(","):
            sol = solve(inst, solver)
            ev = sol.details.get("evaluation", {})
            table.add_row(solver, str(n), f"{sol.solve_time_s:.3f}", sol.status.value,
                          f"{ev.get('mean_inference_time_s', float('nan')):.3f}",
                          f"{1e3 * ev.get('mean_decode_time_per_token_s', float('nan')):.1f}")
        Console(stderr=True).print(f"generated {n} servers in {gen:.2f} s", highlight=False)
    Console(highlight=False).print(table)


if __name__ == "__main__":
    main()

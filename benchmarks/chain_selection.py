"""NSGA-II chain selection (arXiv 2510.11211) against PETALS' min-latency routing and JFFC.

Usage: ``python benchmarks/chain_selection.py [--requests 2000] [--loads 1,20]``

On the shipped instances (geo Europe and world, chains-europe-20 and the BPRR clustered deployments), with PETALS' own placement
(``petals`` solver; chain selection is a routing mode for PETALS) and with cg-bprr's:

- the front: chains on the exact (latency, bottleneck) Pareto front of the first client (label
  setting, :func:`optim.chain_selection.exact_front`), how many of them NSGA-II (pop 100, 200
  generations, seed 1, as the paper's code) finds, and its time;
- the simulated mean and P95 response time (Poisson arrivals, the BPRR request-time model) of the
  path policies ``petals`` (PETALS' client: min-latency Dijkstra, 10 s penalty, bans and retries)
  and ``nsga2-chains`` (each client's front, the knee first, FCFS when no chain has cache), and of
  JFFC over GCA's chains (a central queue), at the instance's arrival rate times each load factor.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from optim import load_instance, solve
from optim.chain_selection import exact_front, nsga2_front
from optim.errors import UnstableSystemError
from optim.simulate import simulate


def with_rate(inst, factor):
    return inst.replace(clients=[c.model_copy(update={"arrival_rate_per_s": c.arrival_rate_per_s * factor})
                                 for c in inst.clients])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", default="geo-europe-20,geo-world-40,chains-europe-20,bprr-clustered-9,bprr-clustered-26")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--loads", default="1,10", help="arrival-rate factors")
    args = ap.parse_args()
    fronts = Table(title="the chain front of the first client: exact (label setting) against NSGA-II")
    for col in ("instance", "placement", "chains on exact front", "exact time s", "NSGA-II found", "NSGA-II time s",
                "latency range s", "bottleneck range ms/token"):
        fronts.add_column(col, justify="left" if col in ("instance", "placement") else "right")
    sims = Table(title=f"simulated response time, mean / P95 (s), {args.requests} Poisson requests")
    for col in ("instance", "placement", "lambda /s", "petals", "nsga2-chains", "jffc"):
        sims.add_column(col, justify="left" if col in ("instance", "placement") else "right")
    for name in args.instances.split(","):
        inst = load_instance(f"instances/{name}.json")
        for solver in ("petals", "cg-bprr"):
            sol = solve(inst, solver)
            start, end, _ = sol.spans(inst)
            t0 = time.perf_counter()
            ex = exact_front(inst, start, end, 0)
            t1 = time.perf_counter()
            ns = nsga2_front(inst, start, end, 0)
            t2 = time.perf_counter()
            found = len({p.hops for p in ns} & {p.hops for p in ex})
            fronts.add_row(name, solver, str(len(ex)), f"{t1 - t0:.3f}", f"{found} of {len(ex)} ({len(ns)} returned)",
                           f"{t2 - t1:.2f}", f"{ex[0].latency_s:.3f} - {ex[-1].latency_s:.3f}",
                           f"{1e3 * ex[-1].bottleneck_s:.1f} - {1e3 * ex[0].bottleneck_s:.1f}")
            for factor in (float(f) for f in args.loads.split(",")):
                loaded = with_rate(inst, factor)
                cells = []
                for policy in ("petals", "nsga2-chains", "jffc"):
                    try:
                        r = simulate(loaded, sol, policy=policy, requests=args.requests, seed=0)
                        s = r.summary["response_s"]
                        cells.append(f"{s['mean']:.2f} / {s['p95']:.2f}")
                    except UnstableSystemError as err:
                        cells.append(f"unstable ({str(err)[:30]})")
                sims.add_row(name, solver, f"{loaded.total_arrival_rate:g}", *cells)
    console = Console(highlight=False, width=200)
    console.print(fronts)
    console.print(sims)


if __name__ == "__main__":
    main()

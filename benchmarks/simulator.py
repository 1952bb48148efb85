"""Simulator speed: simulated requests per second.

Usage: ``python benchmarks/simulator.py [--requests 100000]``

A 40-server geo solution (gbp-cr, and cg-bprr's placement with GCA chains) under Poisson arrivals at
70% of its chain capacity. Target (issue 6): 100,000 requests on a 40-server solution in under 10 s
on one core.
"""
from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

import numpy as np

from optim import instance_from_dict, solve
from optim.generators import geo_instance
from optim.simulate import mean_service_s, chains_of, simulate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=100_000)
    args = ap.parse_args()
    t = Table(title="simulator speed (one replication, one core)")
    for col in ("solver", "policy", "servers", "chains", "rho", "requests", "time s", "requests/s"):
        t.add_column(col, justify="right")
    base = geo_instance(40, num_clients=1, region=None, model="bloom-176b", high_gpu="A100-MIG-3g.40gb",
                        low_gpu="A100-MIG-2g.20gb", seed=1)
    for solver, policy in (("gbp-cr", "jffc"), ("cg-bprr", "jffc"), ("cg-bprr", "sed"), ("cg-bprr", "ws-rr")):
        sol = solve(base, solver)
        chains = chains_of(base, sol)
        nu = float(np.sum(chains.capacity / mean_service_s(chains, base, "model")[0]))  # the simulator's own rate (one client)
        d = base.model_dump(mode="json", exclude_none=True)
        d["clients"][0]["arrival_rate_per_s"] = 0.7 * nu
        inst = instance_from_dict(d)
        n = args.requests if policy != "ws-rr" else args.requests // 10
        t0 = time.perf_counter()
        r = simulate(inst, sol, policy=policy, requests=n, replications=1)
        dt = time.perf_counter() - t0
        t.add_row(solver, policy, "40", str(r.summary.get("chains", "-")), f"{r.summary.get('rho', 0.7):.2f}", str(n),
                  f"{dt:.2f}", f"{n / dt:,.0f}")
    Console(highlight=False).print(t)


if __name__ == "__main__":
    main()

"""Churn: servers joining and leaving, and how the placement adapts (static, PETALS, optim replan).

Usage: ``python benchmarks/churn.py [--seeds 0,1,2] [--requests 600] [--instances ...]``

Each shipped geo instance is run with exponential server lifetimes (mean online 1,200 s, offline
600 s), loading 2 s per new block, every strategy from PETALS' placement with the same arrivals and
the same joins and leaves (:mod:`optim.churn`). ``replan`` is optim replan after every event with a
budget of 1 move, 0.1 s per block loaded and 1 s per block only one server holds (the defaults: both
prices chosen on chains-europe-20 with seed 0, the planning floor of two sessions per client on
geo-world-40 with seed 0; seeds 1-4 were not used to choose them). ``replan-model`` is the same with
each server's price per block derived from the load (``downtime_s_per_block="model"``,
:func:`optim.replan.move_prices`: what the swarm loses while the server loads, over the mean uptime),
no constant chosen on any instance. When waiting for cache was first come first served across all
servers, the second price cut the time with some block unserved on chains-europe-20 from 329 s to
20 s over seeds 0-2, for a mean of 25.96 s against 24.42 s.

Measured with each request waiting only for its own servers (:func:`optim.perf.admission_times`):

- 3 seeds x 600 requests (the defaults): chains-europe-20 PETALS 66.60 s with 2,556 blocks moved;
  replan 35.94 s, 1,060 blocks, 9.3 s with a block unserved; replan-model 26.90 s, 1,864 blocks
  (more than half of PETALS'), 186 s unserved. Both geo instances tie for every strategy (2.6753 s
  and 4.0460 s): every request runs on the nearest A100 holding all 80 blocks.
- ``--requests 3000 --seeds 0,1,2,3 --instances geo-europe-20,geo-world-40``: geo-europe-20 PETALS
  2.7066 s with 12,006 blocks; replan 2.7077 s, 0 blocks (it declines, at 0.1 s per block, the L4
  move that gives PETALS a 6.676 s chain, against 6.745 s, while all four A100s are down);
  replan-model 2.7057 s, 184 blocks (better in seeds 1 and 2, a tie in 3, 0.0004 s worse in 0).
  geo-world-40 PETALS 4.0444 s with 24,472 blocks; replan and replan-model 3.9762 s, 0 and 239
  blocks (better in seeds 1-3, 0.005 s worse in seed 0; the gain is cache re-allocation and
  stopping 1-2 servers).

Columns: mean and P95 response time, failed attempts, moves, blocks moved, the time some block
had no available server, and the wall time.
"""
from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

from optim import load_instance
from optim.churn import simulate_churn


#: the rows: name -> simulate_churn's strategy and options
STRATEGIES = {"static": {}, "petals": {}, "replan": {},
              "replan-model": {"strategy": "replan", "downtime_s_per_block": "model"}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--requests", type=int, default=600)
    ap.add_argument("--instances", default="geo-europe-20,geo-world-40,chains-europe-20")
    ap.add_argument("--uptime", type=float, default=1200.0)
    ap.add_argument("--downtime", type=float, default=600.0)
    args = ap.parse_args()
    t = Table(title=f"churn: mean uptime {args.uptime:g} s, downtime {args.downtime:g} s, {args.requests} requests")
    for col in ("instance", "seed", "strategy", "mean s", "P95 s", "failed", "moves", "blocks moved",
                "unserved s", "wall s"):
        t.add_column(col, justify="left" if col in ("instance", "strategy") else "right")
    totals: dict[tuple, list] = {}
    for name in args.instances.split(","):
        inst = load_instance(f"instances/{name}.json")
        for seed in (int(x) for x in args.seeds.split(",")):
            for strategy, kw in STRATEGIES.items():
                t0 = time.perf_counter()
                s = simulate_churn(inst, kw.get("strategy", strategy), requests=args.requests, seed=seed,
                                   mean_uptime_s=args.uptime, mean_downtime_s=args.downtime,
                                   **{k: v for k, v in kw.items() if k != "strategy"}).summary
                wall = time.perf_counter() - t0
                totals.setdefault((name, strategy), []).append((s["response_s"]["mean"], s["blocks_moved"],
                                                                s["time_unserved_s"]))
                t.add_row(name, str(seed), strategy, f"{s['response_s']['mean']:.2f}", f"{s['response_s']['p95']:.2f}",
                          str(s["failed_attempts"]), str(s["moves"]), str(s["blocks_moved"]),
                          f"{s['time_unserved_s']:.1f}", f"{wall:.1f}")
    Console(width=200).print(t)
    s = Table(title="over the seeds: replan against PETALS' rebalancing")
    for col in ("instance", "replan", "petals mean s", "replan mean s", "petals blocks", "replan blocks",
                "petals unserved s", "replan unserved s", "replan better?", "blocks <= half?"):
        s.add_column(col, justify="left" if col in ("instance", "replan") else "right")
    for name in args.instances.split(","):
        for variant in ("replan", "replan-model"):
            p, r = totals[(name, "petals")], totals[(name, variant)]
            pm, rm = sum(x[0] for x in p) / len(p), sum(x[0] for x in r) / len(r)
            pb, rb = sum(x[1] for x in p), sum(x[1] for x in r)
            pu, ru = sum(x[2] for x in p), sum(x[2] for x in r)
            s.add_row(name, variant, f"{pm:.4f}", f"{rm:.4f}", str(pb), str(rb), f"{pu:.1f}", f"{ru:.1f}",
                      "yes" if rm < pm else ("tie" if rm == pm else "no"),
                      "yes" if rb <= pb / 2 else "no")
    Console(width=200).print(s)


if __name__ == "__main__":
    main()

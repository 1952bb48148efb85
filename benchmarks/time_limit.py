"""Is a time limit a budget for the whole call? Wall time of time-limited MILPs against their limit.

Usage: ``python benchmarks/time_limit.py [--limits 30] [--instances geo-world-40,bprr-clustered-26]``.
For each instance and limit, `bprr-milp` (model building included, and with the model-size guard off,
so that the build itself is timed against the budget) and `throughput-milp` run as `optim solve` would
run them, and `chain-milp` on the chain instances (``chains-europe-20``); the table gives the wall time of the whole solve() call, its ratio to the limit, the
status, whether a solution came back, and the gap. The target (issue 12): within the limit plus 10%.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from optim import load_instance, solve

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limits", default="30")
    ap.add_argument("--instances", default="geo-world-40,bprr-clustered-26,chains-europe-20")
    args = ap.parse_args()
    print(f"{'instance':20s} {'solver':30s} {'limit s':>8s} {'wall s':>8s} {'ratio':>6s} {'status':>12s} "
          f"{'solution':>8s} {'gap':>8s}")
    for name in args.instances.split(","):
        inst = load_instance(ROOT / "instances" / f"{name}.json")
        for limit in (float(x) for x in args.limits.split(",")):
            runs = ((("chain-milp", {}), ("chain-milp", {"objective": "rate"})) if name.startswith("chains-") else
                    (("bprr-milp", {"skip_if_too_large": False}), ("bprr-milp", {}), ("throughput-milp", {})))
            for solver, opts in runs:
                label = solver + "".join(f" ({k}={v})" if k != "skip_if_too_large" else " (no size guard)"
                                         for k, v in opts.items())
                t0 = time.perf_counter()
                sol = solve(inst, solver, time_limit=limit, **opts)
                wall = time.perf_counter() - t0
                gap = "-" if sol.gap is None else f"{100 * sol.gap:.1f}%"
                print(f"{name:20s} {label:30s} {limit:8.0f} {wall:8.1f} {wall / limit:6.2f} {sol.status.value:>12s} "
                      f"{str(sol.has_solution):>8s} {gap:>8s}", flush=True)


if __name__ == "__main__":
    main()

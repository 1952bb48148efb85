"""Exact MILPs against the heuristics: time to proven optimum, or the gap at the time limit.

Usage: ``python benchmarks/milp.py [--time-limits 60,300] [--backends highs,ortools] [--quick]
[--geo-100 0,1,2] [--only TEXT]``

For each instance (clustered 9 and 26, geo 10/20/40, random 5/10/20/40 servers, and with
``--geo-100`` generated 100-server geo instances) and backend: bprr-milp status, time, objective
(mean decode time per token, ms), bound, gap, beside cg-bprr's and petals' values on the same
measure; then throughput-milp (tokens/s) against petals' placement (not at 100 servers).
Targets (issue 4): 9-server clustered optimal in < 30 s; 26-server within 1% gap in 300 s;
(issue 14) a generated 100-server geo instance within 1% in 600 s.
"""
from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from optim import solve
from optim.generators import clustered_instance, geo_instance, random_instance


def instances(quick: bool, geo_100: list[int]):
    yield "clustered-9", clustered_instance("small")
    yield "clustered-26", clustered_instance("large")
    for n in ((10, 20) if quick else (10, 20, 40)):
        yield f"geo-europe-{n}", geo_instance(n, region="europe", seed=0)
    for n in ((5, 10) if quick else (5, 10, 20, 40)):
        yield f"random-{n}", random_instance(n, seed=0, model="llama-2-13b", concurrent_requests=8)
    for seed in geo_100:
        # `optim generate geo --servers 100 --seed S` and the world with 3 clients, as geo-world-40
        yield f"geo-europe-100 seed {seed}", geo_instance(100, region="europe", seed=seed)
        yield f"geo-world-100 (3 clients) seed {seed}", geo_instance(100, num_clients=3, region="world", seed=seed)
        # ten clients competing for ten A100s (issue 14's large-and-scarce generator at 100 servers)
        yield f"geo-world-100 scarce seed {seed}", geo_instance(100, num_clients=10, region="world",
                                                               model="bloom-176b", eta=0.1, seed=seed)


def seed_list(text: str) -> list[int]:
    """``0,1,2`` -> [0, 1, 2] (argparse names this function when a value is not one)."""
    return [int(x) for x in text.split(",") if x]


def ms(x):
    return "-" if x is None else f"{1e3 * x:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limits", default="60,300")
    ap.add_argument("--backends", default="highs,ortools")
    ap.add_argument("--quick", action="store_true", help="fewer, smaller instances")
    ap.add_argument("--helix-sizes", default="24,42",
                    help="server counts for throughput-milp alone on LLaMA-2-70B (Helix: 10-50 min on Gurobi)")
    ap.add_argument("--skip-bprr", action="store_true", help="only the Helix-size throughput-milp runs")
    ap.add_argument("--geo-100", default=[], metavar="SEEDS", type=seed_list,
                    help="also bprr-milp on generated 100-server geo instances of these seeds (e.g. 0,1,2)")
    ap.add_argument("--only", default="", metavar="TEXT", help="only the instances whose name contains TEXT")
    args = ap.parse_args()
    console = Console(highlight=False, width=160)
    t = Table(title="bprr-milp (mean decode time per token, ms) against the heuristics")
    for col in ("instance", "servers", "backend", "limit s", "status", "time s", "objective", "bound", "gap",
                "cg-bprr", "petals"):
        t.add_column(col)
    tp = Table(title="throughput-milp (tokens/s) against petals' placement")
    for col in ("instance", "limit s", "status", "time s", "tokens/s", "upper bound", "gap", "warm start tokens/s (from)",
                "petals tokens/s"):
        tp.add_column(col)
    for name, inst in ([] if args.skip_bprr else instances(args.quick, args.geo_100)):
        if args.only not in name:
            continue
        heur = {s: solve(inst, s).details.get("evaluation", {}).get("mean_decode_time_per_token_s")
                for s in ("cg-bprr", "petals")}
        for limit in (float(x) for x in args.time_limits.split(",")):
            for backend in args.backends.split(","):
                sol = solve(inst, "bprr-milp", time_limit=limit, backend=backend)
                t.add_row(name, str(inst.num_servers), backend, f"{limit:.0f}", sol.status.value,
                          f"{sol.solve_time_s:.1f}", ms(sol.objective), ms(sol.bound),
                          "-" if sol.gap is None else f"{100 * sol.gap:.2f}%", ms(heur["cg-bprr"]), ms(heur["petals"]))
                console.print(f"done {name} {backend} {limit:.0f}s: {sol.status.value}", highlight=False)
            if inst.num_servers >= 100:
                continue  # throughput-milp: Helix's sizes below
            th = solve(inst, "throughput-milp", time_limit=limit)
            tp.add_row(name, f"{limit:.0f}", th.status.value, f"{th.solve_time_s:.1f}",
                       "-" if th.objective is None else f"{th.objective:.1f}",
                       "-" if th.bound is None else f"{th.bound:.1f}",
                       "-" if th.gap is None else f"{100 * th.gap:.1f}%",
                       f"{th.details.get('warm_start_tokens_per_s') or 0:.1f} ({th.details.get('warm_start_from', '-')})",
                       f"{th.details.get('warm_start_petals_tokens_per_s') or 0:.1f}")
    for n in (int(x) for x in args.helix_sizes.split(",") if x):
        inst = geo_instance(n, num_clients=1, region=None, seed=n, eta=0.3, high_gpu="A100-40GB", low_gpu="T4")
        for limit in (float(x) for x in args.time_limits.split(",")):
            th = solve(inst, "throughput-milp", time_limit=limit, prune_links=12)
            tp.add_row(f"helix-size geo-{n} (12 links)", f"{limit:.0f}", th.status.value, f"{th.solve_time_s:.1f}",
                       "-" if th.objective is None else f"{th.objective:.1f}",
                       "-" if th.bound is None else f"{th.bound:.1f}",
                       "-" if th.gap is None else f"{100 * th.gap:.1f}%",
                       f"{th.details.get('warm_start_tokens_per_s') or 0:.1f} ({th.details.get('warm_start_from', '-')})",
                       f"{th.details.get('warm_start_petals_tokens_per_s') or 0:.1f}")
    if not args.skip_bprr:
        console.print(t)
    if tp.row_count:
        console.print(tp)


if __name__ == "__main__":
    main()

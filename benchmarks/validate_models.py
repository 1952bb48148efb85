"""Check the analytic models against the simulator (Poisson arrivals, exponential service).

Usage: ``python benchmarks/validate_models.py [--systems 20] [--requests 40000]``

Table 1: random chain systems (2-4 chains, capacities 1-5, rates 0.2-3/s, load 0.3-0.9): simulated JFFC
mean response time against the Theorem-4 bounds of arXiv 2604.14993 (relative distance outside the
bounds, 0 when inside). Table 2: M/M/c against Erlang-C, relative error. Table 3: the shipped
instances with a solver's placement, at light load (lambda at 1% of nu) the response time ``optim
solve`` and ``optim evaluate`` print against the simulated mean (exponential and model service), and
at rho = 0.5 and 0.8 the simulated mean (exponential) against the bounds (several clients:
:func:`optim.perf.ctmc.multiclient_bounds`).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from optim import evaluate, instance_from_dict, load_instance, solve
from optim.perf.ctmc import erlang_c_response_time
from optim.simulate import simulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_simulate import chain_system  # noqa: E402  (the same hand-built chain systems the tests use)


ROOT = Path(__file__).resolve().parents[1]
SHIPPED = [("geo-europe-20", "cg-bprr"), ("geo-world-40", "cg-bprr"), ("geo-world-40", "gbp-cr"),
           ("geo-world-40", "petals"), ("chains-europe-20", "gbp-cr"), ("chains-europe-20", "cg-bprr"),
           ("bprr-clustered-9", "cg-bprr"), ("bprr-clustered-26", "gbp-cr")]


def scaled(inst, rate: float):
    """The instance with its clients' rates scaled to a total of ``rate`` per second."""
    d = inst.model_dump(mode="json", exclude_none=True)
    for cl in d["clients"]:
        cl["arrival_rate_per_s"] *= rate / inst.total_arrival_rate
    return instance_from_dict(d)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", type=int, default=20)
    ap.add_argument("--requests", type=int, default=40_000)
    args = ap.parse_args()
    console = Console(highlight=False, width=180)
    t1 = Table(title="JFFC simulation vs Theorem-4 bounds (exponential service, 3 replications)")
    for col in ("system", "chains", "rho", "lower s", "simulated s", "95% CI", "upper s", "outside by"):
        t1.add_column(col, justify="right")
    rng = np.random.default_rng(0)
    for k in range(args.systems):
        K = int(rng.integers(2, 5))
        T = rng.uniform(1 / 3, 5, K)
        c = rng.integers(1, 6, K)
        rho = rng.uniform(0.3, 0.9)
        inst, sol = chain_system(T.tolist(), c.tolist(), rho * float(np.sum(c / T)))
        q = evaluate(inst, sol).queueing
        r = simulate(inst, sol, requests=args.requests, replications=3, seed=k, service="exponential")
        m, h = r.summary["response_s"]["mean"], r.summary["response_s"]["mean_ci95"]
        lo, hi = q["response_time_lower_s"], q["response_time_upper_s"]
        out = max(lo - m, m - hi, 0.0) / m
        t1.add_row(str(k), str(K), f"{rho:.2f}", f"{lo:.3f}", f"{m:.3f}", f"+/- {h:.3f}", f"{hi:.3f}", f"{100 * out:.2f}%")
    console.print(t1)
    t2 = Table(title="M/M/c simulation vs Erlang-C")
    for col in ("c", "rho", "Erlang-C s", "simulated s", "relative error"):
        t2.add_column(col, justify="right")
    for servers, rho in ((1, 0.5), (4, 0.7), (10, 0.8), (20, 0.9)):
        mu = 1.0
        inst, sol = chain_system([1 / mu], [servers], rho * servers * mu)
        r = simulate(inst, sol, requests=args.requests, replications=3, seed=servers, service="exponential")
        exact = erlang_c_response_time(servers, mu, rho * servers * mu)
        m = r.summary["response_s"]["mean"]
        t2.add_row(str(servers), f"{rho:.2f}", f"{exact:.4f}", f"{m:.4f}", f"{100 * (m - exact) / exact:+.2f}%")
    console.print(t2)
    t3 = Table(title="shipped instances: evaluate against the simulator (3 replications; +/- the 95% CI)")
    for col in ("instance", "solver", "clients", "light load s", "simulated exp", "simulated model",
                "rho", "bounds s", "simulated exp ", "inside"):
        t3.add_column(col, justify="right")
    for name, solver in SHIPPED:
        base = load_instance(ROOT / "instances" / f"{name}.json")
        sol = solve(base, solver)
        nu = evaluate(base, sol).queueing["nu_per_s"]
        for k, rho in enumerate((0.01, 0.5, 0.8)):
            inst = scaled(base, rho * nu)
            q = evaluate(inst, sol).queueing
            exp = simulate(inst, sol, requests=args.requests // 2, replications=3, seed=0, service="exponential")
            m, h = exp.summary["response_s"]["mean"], exp.summary["response_s"]["mean_ci95"]
            if k == 0:
                mod = simulate(inst, sol, requests=3000, replications=3, seed=0, service="model").summary["response_s"]
                light = (f"{q['response_time_light_load_s']:.3f}", f"{m:.3f} +/- {h:.3f}",
                         f"{mod['mean']:.3f} +/- {mod['mean_ci95']:.3f}")
                continue
            lo, hi = q["response_time_lower_s"], q["response_time_upper_s"]
            inside = lo - h <= m <= hi + h
            t3.add_row(name, solver, str(inst.num_clients), *(light if k == 1 else ("", "", "")), f"{rho:.1f}",
                       f"[{lo:.3f}, {hi:.3f}]", f"{m:.3f} +/- {h:.3f}", "yes" if inside else "NO")
    console.print(t3)


if __name__ == "__main__":
    main()

"""Direct server-to-server relaying against client relaying, on the shipped instances.

Usage: ``python benchmarks/direct_routing.py [--solvers cg-bprr,petals,gbp-cr] [--requests 2000]``

For each instance and solver the placement and routing are solved twice, with the client relaying
activations between servers (``communication.relay = "client"``, BPRR's hub and spoke) and with each
server sending them to the next (``"direct"``, PETALS 2's rpc_push), and evaluated with the one
request-time model: mean inference time of the |R| requests, time to first token, decode time per
token, hops per path, and the mean response time simulated under JFFC (Poisson, ``--requests``
requests, the solution's chains or GCA's).
"""
from __future__ import annotations

import argparse

import numpy as np
from rich.console import Console
from rich.table import Table

from optim import evaluate, load_instance, solve
from optim.simulate import simulate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", default="geo-europe-20,geo-world-40,chains-europe-20,bprr-clustered-9,"
                                            "bprr-clustered-26")
    ap.add_argument("--solvers", default="cg-bprr,petals,gbp-cr")
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    t = Table(title="client relaying against direct server-to-server relaying")
    for col in ("instance", "solver", "relay", "mean inference s", "TTFT s", "decode ms/token", "hops",
                "simulated JFFC mean s", "direct saves"):
        t.add_column(col, justify="left" if col in ("instance", "solver", "relay") else "right")
    for name in args.instances.split(","):
        base = load_instance(f"instances/{name}.json")
        for solver in args.solvers.split(","):
            ref = None
            for relay in ("client", "direct"):
                inst = base.model_copy(update={"communication": base.communication.model_copy(update={"relay": relay})})
                sol = solve(inst, solver)
                ev = evaluate(inst, sol)
                s = ev.summary
                try:
                    sim = simulate(inst, sol, requests=args.requests, replications=1, seed=0).summary["response_s"]["mean"]
                except Exception as err:  # an unstable placement (lambda >= nu) has no steady state
                    sim = float("nan")
                    print(f"{name} {solver} {relay}: {err}")
                hops = np.mean([len(p["servers"]) for p in ev.paths])
                saves = "" if ref is None else f"{100 * (1 - s['mean_inference_time_s'] / ref):.1f}%"
                ref = s["mean_inference_time_s"] if ref is None else ref
                t.add_row(name, solver, relay, f"{s['mean_inference_time_s']:.3f}", f"{s['mean_prefill_time_s']:.3f}",
                          f"{1e3 * s['mean_decode_time_per_token_s']:.1f}", f"{hops:.2f}", f"{sim:.3f}", saves)
    Console(width=170).print(t)


if __name__ == "__main__":
    main()

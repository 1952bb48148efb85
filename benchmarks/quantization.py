"""Quantisation as a decision: latency and throughput with fixed fp16, fixed nf4 and the chosen mix.

Usage: ``python benchmarks/quantization.py [--penalty-ms 0,0.05]``

On ``instances/geo-europe-20.json`` (LLaMA-2-70B, 4 A100-80GB + 16 L4, real European RTTs) and the BPRR
clustered deployment (``optim generate clustered --size small``: BLOOM-176B on 2 A100-80GB + 7 MIG
1g.10gb, the BPRR paper's measured nf4 times, scaled to other dtypes by the roofline), each of
``cg-bprr``, ``gbp-cr`` and ``bprr-milp`` (60 s) is run with every server in fp16, every server in
nf4, and with the dtype chosen per server from {fp16, int8, nf4} (``model.dtypes``,
:mod:`optim.configure`), for each quality penalty on nf4 and int8 (ms per block per decode token; 0 =
none, the default). Columns: mean inference time (BPRR model, no waiting), the total service rate
nu of GCA's chains on the placement (requests/s; its throughput under JFFC), the dtypes used, and the
objective the solver minimised with the penalty included.
"""
from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from optim import evaluate, load_instance, solve
from optim.configure import Configuration, configure, penalty_per_request_s
from optim.generators import clustered_instance


def fixed(inst, dtype):
    """Every server stated in ``dtype`` (times rescaled by the roofline), no choice left."""
    inst = configure(inst, {s.id: Configuration(dtype, s.tp) for s in inst.servers})
    return inst.replace(model=inst.model.model_copy(update={"dtypes": None}),
                        servers=[s.model_copy(update={"dtypes": None}) for s in inst.servers])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--penalty-ms", default="0,0.5,2", help="quality penalties to try (int8 half of nf4's)")
    ap.add_argument("--solvers", default="cg-bprr,gbp-cr,bprr-milp")
    args = ap.parse_args()
    base = {"geo-europe-20": load_instance("instances/geo-europe-20.json"),
            "bprr-clustered-9": clustered_instance("small")}
    t = Table(title="fixed fp16, fixed nf4 and the chosen dtype mix: mean inference time (s) / nu (req/s) / dtypes")
    for col in ("instance", "penalty ms/block/token", "solver", "fixed fp16", "fixed nf4", "chosen mix",
                "chosen: penalised objective"):
        t.add_column(col, justify="left" if col in ("instance", "solver") else "right")
    for name, inst in base.items():
        for pen in (float(p) for p in args.penalty_ms.split(",")):
            model = inst.model.model_copy(update={"dtypes": ["fp16", "int8", "nf4"],
                                                  "quality_penalty_ms_per_block_per_token":
                                                      {"nf4": pen, "int8": pen / 2} if pen else {}})
            choice = inst.replace(model=model)
            for solver in args.solvers.split(","):
                opts = {"time_limit": 60} if solver == "bprr-milp" else {}
                cells = []
                for cand in (fixed(choice, "fp16"), fixed(choice, "nf4"), choice):
                    sol = solve(cand, solver, **opts)
                    if not sol.has_solution:
                        cells.append(f"no solution: {sol.status.value}")
                        continue
                    ev = evaluate(cand, sol)
                    used = sorted({r["dtype"] for r in ev.servers if r["blocks"]})
                    cells.append(f"{ev.summary['mean_inference_time_no_wait_s']:.3f} / {ev.queueing.get('nu_per_s', 0):.2f}"
                                 f" / {','.join(used)}")
                    last = (ev.summary["mean_inference_time_no_wait_s"]
                            + penalty_per_request_s(cand, sol, "inference"))
                t.add_row(name, f"{pen:g}", solver, *cells, f"{last:.3f}")
    Console(highlight=False, width=220).print(t)


if __name__ == "__main__":
    main()

"""Time to build the BPRR MILP and hand it to HiGHS: numpy arrays against Pyomo + LP file.

Usage: ``python benchmarks/milp_build.py [--pyomo] [instances ...]`` (default: the shipped
bprr-clustered-26, geo-europe-20 and geo-world-40). Prints one row per instance and modeller:
columns, rows, non-zeros, build time, time until HiGHS holds the model (Pyomo: LP write and
read; arrays: ``passModel``), and the total as a share of a 300 s solve (issue 14's target: under
5% at 40 servers). ``--pyomo`` adds the Pyomo reference (slow: minutes on geo-world-40).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from optim import load_instance
from optim.backends import native_stdout_silenced, write_model
from optim.solvers.bprr_milp import build_bprr_arrays, build_bprr_model

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ["bprr-clustered-26", "geo-europe-20", "geo-world-40"]


def time_arrays(inst) -> tuple[int, int, int, float, float]:
    import highspy

    t0 = time.perf_counter()
    ba = build_bprr_arrays(inst)
    ba.names()
    t1 = time.perf_counter()
    with native_stdout_silenced():
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.passModel(ba.milp.to_highs_lp())
    t2 = time.perf_counter()
    return ba.milp.num_columns, ba.milp.num_rows, ba.milp.vals.size, t1 - t0, t2 - t1


def time_pyomo(inst) -> tuple[int, int, int, float, float]:
    import highspy

    t0 = time.perf_counter()
    bm = build_bprr_model(inst)
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path, _ = write_model(bm.model, tmp)
        with native_stdout_silenced():
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
            h.readModel(path)
    t2 = time.perf_counter()
    lp = h.getLp()
    return lp.num_col_, lp.num_row_, len(lp.a_matrix_.value_), t1 - t0, t2 - t1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("instances", nargs="*", default=DEFAULT)
    ap.add_argument("--pyomo", action="store_true", help="also time the Pyomo reference (slow)")
    args = ap.parse_args()
    t = Table(title="BPRR MILP: build and hand to HiGHS (seconds)")
    for col in ("instance", "servers", "modeller", "columns", "rows", "non-zeros", "build s", "to HiGHS s", "total s",
                "% of 300 s"):
        t.add_column(col, justify="left" if col in ("instance", "modeller") else "right")
    for name in args.instances:
        inst = load_instance(ROOT / "instances" / f"{name}.json")
        for modeller, fn in (("arrays", time_arrays), ("pyomo", time_pyomo)):
            if modeller == "pyomo" and not args.pyomo:
                continue
            n, m, nnz, build, hand = fn(inst)
            t.add_row(name, str(inst.num_servers), modeller, f"{n:,}", f"{m:,}", f"{nnz:,}", f"{build:.2f}",
                      f"{hand:.2f}", f"{build + hand:.2f}", f"{100 * (build + hand) / 300:.2f}%")
    Console(highlight=False, width=160).print(t)


if __name__ == "__main__":
    main()

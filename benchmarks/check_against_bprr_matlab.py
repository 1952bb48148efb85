"""optim's CG-BPRR placement against the BPRR paper's own MATLAB code, run in GNU Octave.

Usage: ``python benchmarks/check_against_bprr_matlab.py --matlab PATH [--cases 2000] [--seed 0]
[--octave octave-cli]``

``PATH`` is a checkout of TingyangSunJeff/LLM_inference_simulator (the code of arXiv 2512.21884;
checked at 3f78053), holding ``CG_BP.m`` and ``choose_num_blocks_proposed.m``. Nothing of it is
copied here: a driver written by this script adds ``PATH`` to Octave's path, runs ``CG_BP`` on every
case and writes its results as JSON, which are compared with :func:`optim.solvers.cg_bprr.cg_placement`,
:func:`~optim.solvers.cg_bprr.conservative_block_counts` and
:func:`~optim.solvers.cg_bprr.theorem2_bound` on the same numbers. Needs GNU Octave 7 or newer
(``apt-get install octave``).

Cases: 2-29 servers, 1-4 clients, L = 4-79 blocks, s_m 0.2-2 GiB, s_c 0.001-0.1 GiB, |R| 1-59,
memory for 1 to L/2 blocks with their |R| sessions' cache plus a random fraction, per-token RTTs
1-150 ms and per-block decode times 5-200 ms; every fourth case has identical servers (ties
everywhere). Units as the MATLAB code takes them: GiB and ms; its dummy server is 1 ms per block
slower than the slowest (``dummy_margin_s`` = 1 ms here). The MATLAB code caps a MIG slice at 4
blocks; every server here is a GPU (no cap), and every server holds at least one block (with none,
``CG_BP`` divides by zero).

Compared: the block counts m_j, the server order, every server's first block a_j, and the
Theorem-2 bound (relative 1e-9); and that both find the same cases infeasible.

Measured (3f78053, Octave 7.3.0, seed 0, 2,000 cases, 5 s): 1,772 feasible, all with the same block
counts, server order, placement and bound; the other 228 infeasible for both.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from optim.solvers.cg_bprr import cg_placement, conservative_block_counts, theorem2_bound
from optim.units import GIB, MS

DRIVER = """warning('off', 'all');
addpath('{matlab}');
cases = jsondecode(fileread('cases.json'));
out = cell(numel(cases), 1);
for k = 1:numel(cases)
  if iscell(cases), c = cases{{k}}; else, c = cases(k); end
  rtt = reshape(c.rtt, c.clients, []);
  try
    [a, m, val, order] = CG_BP(rtt, c.tau(:), c.L, c.sm, c.sc, c.M(:), c.R, repmat("GPU", numel(c.tau), 1));
    out{{k}} = struct('ok', true, 'a', a', 'm', m', 'val', val, 'order', order');
  catch
    out{{k}} = struct('ok', false, 'a', [], 'm', [], 'val', 0, 'order', []);
  end
end
fid = fopen('out.json', 'w'); fprintf(fid, '%s', jsonencode(out)); fclose(fid);
"""


def random_cases(rng, n: int) -> list[dict]:
    cases = []
    for k in range(n):
        J, C, L = int(rng.integers(2, 30)), int(rng.integers(1, 5)), int(rng.integers(4, 80))
        sm, sc, R = float(rng.uniform(0.2, 2.0)), float(rng.uniform(0.001, 0.1)), int(rng.integers(1, 60))
        per = sm + sc * R
        M = per * rng.integers(1, max(2, L // 2), J) + rng.random(J) * per
        rtt, tau = np.round(rng.uniform(1, 150, (C, J)), 3), np.round(rng.uniform(5, 200, J), 3)
        if k % 4 == 0:  # identical servers: ties at every step
            rtt[:], tau[:], M[:] = rtt[0, 0], tau[0], M[0]
        # column-major, as Octave's reshape reads it
        cases.append(dict(rtt=rtt.flatten(order="F").tolist(), clients=C, tau=tau.tolist(), L=L, sm=sm, sc=sc,
                          M=M.tolist(), R=R))
    return cases


def as_instance(case: dict):
    """The numbers optim's functions read, in SI units."""
    J, C = len(case["tau"]), case["clients"]
    return types.SimpleNamespace(
        num_blocks=case["L"], num_servers=J, arrival_rates=np.ones(C),
        decode_comm_s=np.array(case["rtt"]).reshape(C, J, order="F") * MS, decode_s=np.array(case["tau"]) * MS,
        memory_bytes=np.array(case["M"]) * GIB, server_block_bytes=case["sm"] * GIB,
        cache_bytes_per_block_session=case["sc"] * GIB)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--matlab", type=Path, required=True, help="a checkout of TingyangSunJeff/LLM_inference_simulator")
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--octave", default="octave-cli")
    args = ap.parse_args()
    if not (args.matlab / "CG_BP.m").is_file():
        sys.exit(f"--matlab {args.matlab}: no CG_BP.m there; expected a checkout of "
                 "https://github.com/TingyangSunJeff/LLM_inference_simulator")
    if shutil.which(args.octave) is None:
        sys.exit(f"--octave {args.octave}: not found; install GNU Octave (apt-get install octave)")
    cases = random_cases(np.random.default_rng(args.seed), args.cases)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "cases.json").write_text(json.dumps(cases))
        (Path(tmp) / "driver.m").write_text(DRIVER.format(matlab=str(args.matlab.resolve()).replace("'", "''")))
        subprocess.run([args.octave, "--quiet", "--no-gui", "driver.m"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        results = json.loads((Path(tmp) / "out.json").read_text())
    n = dict(feasible=0, infeasible_both=0, m=0, order=0, placement=0, bound=0, only_one=0)
    for case, res in zip(cases, results):
        inst = as_instance(case)
        m = conservative_block_counts(inst, case["R"])
        start, _, order, K, t, _ = cg_placement(inst, m, case["R"], dummy_margin_s=1.0 * MS)
        if not res["ok"] or K is None:
            n["infeasible_both" if (not res["ok"] and K is None) else "only_one"] += 1
            continue
        n["feasible"] += 1
        n["m"] += np.array_equal(np.atleast_1d(res["m"]).astype(int), m)
        n["order"] += np.array_equal(np.atleast_1d(res["order"]).astype(int) - 1, order)
        n["placement"] += np.array_equal(np.atleast_1d(res["a"]).astype(int) - 1, start)
        bound_ms = theorem2_bound(inst, m, order, K, t) / MS
        n["bound"] += bool(np.isclose(bound_ms, res["val"], rtol=1e-9, atol=0))
    t = Table(title=f"CG-BPRR against the authors' MATLAB ({args.matlab}), {args.cases} cases, seed {args.seed}")
    for col in ("check", "cases", "equal"):
        t.add_column(col, justify="left" if col == "check" else "right")
    t.add_row("infeasible for both", f"{n['infeasible_both'] + n['only_one']:,}", f"{n['infeasible_both']:,}")
    for key, name in (("m", "block counts m_j"), ("order", "server order"), ("placement", "first block a_j"),
                      ("bound", "Theorem-2 bound")):
        t.add_row(name, f"{n['feasible']:,}", f"{n[key]:,}")
    Console(width=120).print(t)


if __name__ == "__main__":
    main()

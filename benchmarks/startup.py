"""Start-up time of the command line: `optim --help` and `optim --version` against `python -c "import click,
rich"` (the floor any click + rich tool pays), and a heuristic `optim solve`.

Usage: ``python benchmarks/startup.py [--repeat 10]``. Prints a table of median wall times; the target
(issue 12) is `optim --help` at most 2x the floor.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def median_time(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    py = sys.executable
    optim = [py, "-m", "optim.cli"]
    floor = median_time([py, "-c", "import click, rich"], args.repeat)
    rows = [("python -c 'import click, rich'", floor),
            ("optim --help", median_time([*optim, "--help"], args.repeat)),
            ("optim --version", median_time([*optim, "--version"], args.repeat)),
            ("optim solvers", median_time([*optim, "solvers"], args.repeat)),
            ("optim solve geo-europe-20 (cg-bprr)",
             median_time([*optim, "solve", str(ROOT / "instances" / "geo-europe-20.json")], max(args.repeat // 3, 1)))]
    print(f"{'command':40s} {'median s':>9s} {'x floor':>8s}")
    for name, t in rows:
        print(f"{name:40s} {t:9.3f} {t / floor:8.1f}")


if __name__ == "__main__":
    main()

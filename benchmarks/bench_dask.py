"""The Dask sweep's overhead against the serial sweep, side by side in one run (issue 14).

    python benchmarks/bench_dask.py [--steps 3000] [--seeds 8] [--workers 2]

The same CLI sweep twice (``python -m dln_core sweep``: depths 2,3,4 × 4 init scales × 2 step sizes ×
``--seeds``, so three shape groups = three batches), once ``--executor serial`` and once
``--executor dask --workers N`` (a LocalCluster of N worker processes started by the CLI, included in
the wall time). Both summaries must be identical (checked). On a 2-core machine shared with other
work the Dask run cannot show a speed-up; the ratio states the overhead honestly.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def run(extra: list[str], csv: str, args) -> float:
    cmd = [sys.executable, "-m", "dln_core", "sweep", "--depth", "2,3,4", "--init-scale", "0.001,0.01,0.05,0.1",
           "--lr", "0.01,0.02", "--seeds", str(args.seeds), "--steps", str(args.steps), "--no-rise-times",
           "--quiet", "--csv", csv, *extra]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    d = tempfile.mkdtemp(prefix="dln_bench_dask_")
    t_serial = run(["--executor", "serial"], f"{d}/serial.csv", args)
    t_dask = run(["--executor", "dask", "--workers", str(args.workers)], f"{d}/dask.csv", args)
    a, b = pd.read_csv(f"{d}/serial.csv"), pd.read_csv(f"{d}/dask.csv")
    drop = [c for c in a.columns if "wall" in c]
    same = a.drop(columns=drop).equals(b.drop(columns=drop))
    n = 3 * 4 * 2 * args.seeds
    print(f"sweep of {n} networks in 3 shape groups x {args.steps} steps: serial {t_serial:.1f} s, "
          f"dask {args.workers} workers {t_dask:.1f} s (cluster start-up included): dask/serial = "
          f"{t_dask / t_serial:.2f}; identical summaries: {same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

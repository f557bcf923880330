"""Cost of curvature along the path (THEORY §10.3), measured side by side in one run.

1. Off path: the same training run (no ``sharpness``) timed with this tree and with a baseline tree
   (default: the merge base of main and HEAD, i.e. this branch without its own commits, via
   ``git archive``, unpacked into a temporary folder), in alternating subprocesses so
   both see the same machine load; prints the median of each and their ratio.
2. On path: per-snapshot cost of the sharpness tracker for a few network sizes (full Hessian up to
   400 weights, Lanczos above), and the ratio of a run with sharpness to the same run without.

Usage: ``python benchmarks/bench_curvature.py [--baseline-ref REF] [--repeats 7]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SNIPPET = """
import time
from dln_core import engine
from dln_core.config import RunConfig
cfg = RunConfig.make(depth=3, lr=0.02, init_scale=1e-2, steps=6000, n_snapshots=200)
engine.run(cfg)  # warm-up (imports, caches)
t = time.perf_counter()
for _ in range(3):
    engine.run(cfg)
print((time.perf_counter() - t) / 3)
"""


def _export(ref: str, dest: Path) -> Path:
    tar = dest / "base.tar"
    with open(tar, "wb") as fh:
        subprocess.run(["git", "archive", ref], cwd=ROOT, stdout=fh, check=True)
    with tarfile.open(tar) as tf:
        tf.extractall(dest / "tree", filter="data")
    return dest / "tree"


def _time(tree: Path) -> float:
    out = subprocess.run([sys.executable, "-c", SNIPPET], cwd=tree, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    return float(out.stdout.strip().splitlines()[-1])


def off_path(ref: str, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = _export(ref, Path(tmp))
        here, there = [], []
        for k in range(repeats):  # swap the order every pair, so neither tree always runs first
            if k % 2:
                there.append(_time(base))
                here.append(_time(ROOT))
            else:
                here.append(_time(ROOT))
                there.append(_time(base))
        mh, mb = statistics.median(here), statistics.median(there)
        print(f"off path (depth 3, 6000 steps, 200 snapshots, no --sharpness): this tree {mh * 1e3:.1f} ms, "
              f"{ref} {mb * 1e3:.1f} ms, ratio {mh / mb:.3f} (median of {repeats} alternating subprocess pairs)")


def on_path() -> None:
    from dln_core import engine
    from dln_core.config import RunConfig

    cases = [("article L=2 (72 weights)", dict(depth=2, lr=0.02, init_scale=1e-3, steps=3000)),
             ("article L=3 (108 weights)", dict(depth=3, lr=0.02, init_scale=1e-2, steps=6000)),
             ("hierarchy L=2 (252 weights)", dict(target_kind="hierarchy", depth=2, lr=0.05, init_scale=1e-3,
                                                  steps=2000)),
             ("article L=2 width 40 (480 weights, Lanczos)", dict(depth=2, width=40, lr=0.02, init_scale=1e-3,
                                                                  steps=3000))]
    for name, kw in cases:
        cfg = RunConfig.make(**kw)
        engine.run(cfg)
        t = time.perf_counter()
        engine.run(cfg)
        off = time.perf_counter() - t
        t = time.perf_counter()
        res = engine.run(cfg, sharpness=True)
        on = time.perf_counter() - t
        n = len(res.curvature)
        print(f"{name}: {1e3 * res.sharpness_seconds / n:.2f} ms per snapshot ({n} snapshots, "
              f"{res.curvature['method'].iloc[-1]}); run with/without sharpness {on:.2f} s / {off:.2f} s = "
              f"{on / off:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline-ref", default=None, help="git ref of the baseline (default: merge base with main)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--skip-off", action="store_true")
    args = ap.parse_args()
    if not args.skip_off:
        ref = args.baseline_ref or subprocess.run(["git", "merge-base", "main", "HEAD"], cwd=ROOT, check=True,
                                                  capture_output=True, text=True).stdout.strip()[:12]
        off_path(ref, args.repeats)
    on_path()


if __name__ == "__main__":
    main()

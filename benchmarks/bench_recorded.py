"""Recorded single runs vs the naive per-step loop, side by side in one run (issue 14).

    python benchmarks/bench_recorded.py [--steps 5000] [--tall-steps 300] [--tall-out 2000]

Two cases, each run by both sides for the same number of steps from the same initial weights:

1. d = 6, L = 3 article target, near-identity init c = 0.3, lr = 0.01, recorded every 10 steps.
2. tall target: n_out × 8 (default 2000 × 8, singular values 8..1, rotated U*, V*), L = 2, width 30,
   small Gaussian init, recorded every step (needs DLN_LAB_MAX_WIDTH >= n_out: the local cap is 512;
   the script raises it for its own process).

- naive: one network, a plain numpy loop: per step the prefix products, the loss and the closed-form
  layer gradients (THEORY.md §1), and at each recorded step the loss and ``np.linalg.svd`` of W
  (what a first attempt records).
- engine: ``dln_core.run(cfg)`` end to end (GD + exact halfway/divergence tracking + the full snapshot
  diagnostics of record.py at every recorded step); building the frames from the recorded arrays is
  timed separately and also added in the "with frames" ratio.

Targets (issue 14): case 1 >= 10x, case 2 >= 2x the naive loop's wall time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("DLN_LAB_MAX_WIDTH", "4096")
sys.path.insert(0, str(ROOT))

from dln_core import engine  # noqa: E402
from dln_core.config import RunConfig  # noqa: E402


def naive(cfg: RunConfig, steps: int, every: int) -> tuple[float, float]:
    """(wall seconds, final loss) of the plain numpy per-step loop recording loss and singular values."""
    p = engine.build_problem(cfg.target)
    ws = [w.copy() for w in engine.init_weights(cfg, p)]
    syx, sxx, lr = p.sigma_yx, p.sigma_xx, cfg.optim.lr
    losses, svs = [], []
    t0 = time.perf_counter()
    for k in range(steps + 1):
        prefix = [ws[0]]
        for w in ws[1:]:
            prefix.append(w @ prefix[-1])
        W = prefix[-1]
        if k % every == 0 or k == steps:
            losses.append(float(p.loss(W)))
            svs.append(np.linalg.svd(W, compute_uv=False))
        if k == steps:
            break
        E = W @ sxx - syx
        grads = [None] * len(ws)
        for li in range(len(ws) - 1, 0, -1):
            grads[li] = E @ prefix[li - 1].T
            E = ws[li].T @ E
        grads[0] = E
        for w, g in zip(ws, grads):
            w -= lr * g
    return time.perf_counter() - t0, losses[-1]


def engine_run(cfg: RunConfig) -> tuple[float, float, float]:
    t0 = time.perf_counter()
    res = engine.run(cfg)
    wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    res.build_frames()
    return wall, time.perf_counter() - t0, res.summary["final_loss"]


def case(name: str, cfg: RunConfig, steps: int, every: int, target: float) -> bool:
    engine.run(cfg.replace(steps=20))  # warm-up: imports, the fused kernel load
    t_naive, loss_naive = naive(cfg, steps, every)
    t_eng, t_frames, loss_eng = engine_run(cfg)
    t0 = time.perf_counter()
    engine.build_problem(cfg.target)  # inside engine.run's wall time; the naive loop builds it untimed
    t_build = time.perf_counter() - t0
    r, rf = t_naive / t_eng, t_naive / (t_eng + t_frames)
    print(f"{name}: {steps} steps recorded every {every}: naive {t_naive:.2f} s, engine {t_eng:.2f} s "
          f"(+ frames {t_frames:.2f} s) -> {r:.1f}x (with frames {rf:.1f}x), target >= {target:g}x; "
          f"final loss engine {loss_eng:.10g} naive {loss_naive:.10g}")
    print(f"   building the problem (Σyx, U*, V*) alone, timed after the runs: {t_build:.2f} s (inside the "
          f"engine's wall time; the naive loop builds it untimed)")
    return r >= target


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--tall-steps", type=int, default=300)
    ap.add_argument("--tall-out", type=int, default=2000)
    args = ap.parse_args(argv)
    c1 = RunConfig.make(depth=3, init_scheme="near-identity", init_scale=0.3, lr=0.01, steps=args.steps, record=10)
    c2 = RunConfig.make(target_kind="spectrum", singular_values=tuple(float(v) for v in range(8, 0, -1)),
                        n_out=args.tall_out, n_in=8, rotate_seed=0, depth=2, width=30, init_scheme="gaussian",
                        init_scale=1e-3, lr=0.05, steps=args.tall_steps, record=1)
    ok1 = case("d=6 L=3", c1, args.steps, 10, 10)
    ok2 = case(f"tall {args.tall_out}x8 width 30", c2, args.tall_steps, 1, 2)
    print("PASS" if ok1 and ok2 else "BELOW TARGET")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

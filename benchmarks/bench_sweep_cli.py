"""Batched sweep through the CLI vs the naive per-step loop, side by side in one run (issue 14).

    python benchmarks/bench_sweep_cli.py [--steps 20000] [--seeds 16] [--naive-steps 2000] [--repeat 3]

1. naive: one network at a time (benchmarks/baseline.py: torch autograd + SGD, loss read every 10
   steps) and a plain numpy per-step loop (bench_recorded.naive, loss + SVD every 10 steps):
   network-steps/s.
2. CLI: ``python -m dln_core sweep`` over 16 init scales × 8 step sizes × ``--seeds`` seeds (2048
   networks at 16), d = 6, L = 3, near-identity init, ``--steps`` steps, default (log, 200) snapshots,
   float64, measured rise times off; wall time of the subprocess, all included. The torch naive loop
   and the CLI alternate ``--repeat`` times; the ratio takes the best of each.
3. where the time goes: the bare stepper (the one "auto" picks, steppers.choose) for 2048 networks,
   one snapshot of full diagnostics × the number of snapshots, and this machine's float64 GEMM roof
   (numpy 2048² matmul) against the kernel's FLOP rate (≈ 2·Σ products of a step, counted below).
4. GPU: figures when CUDA is present, a line saying so when not.

Measured 2026-12-02, third session (this VM's speed drifted: its GEMM roof read 43-85 GFLOP/s):
CLI wall 8.1 s (one reading; the first tree of the session: 19.5 s) = 5.06 M network-steps/s =
1,591x the torch naive loop (3,178 steps/s in that run; 2,650-3,250 on this VM, 9,755 on the previous
session's machine, where 1500x would have needed 14.6 M/s); best of 3, later and slower: 9.9-10.4 s =
1,511-1,566x. The fused
kernel alone 11-13 M network-steps/s = 35 GFLOP/s, ~40 % of the roof (8 M/s before the register
accumulation). Snapshots of the summary fields (what the CLI records) 8-10 ms each x 207 = ~20 % of
the wall; all fields, as a kept result records them, 61-86 ms each (12-18 s). The rest, ~3 s: start-up
(~1.2 s of imports: pandas, numba, scipy via numba), chunk checks and halfway replays (~1 s), the
theory launch (~1 s) and the summary.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from baseline import train_baseline  # noqa: E402
from bench_recorded import naive  # noqa: E402

from dln_core import engine, steppers  # noqa: E402
from dln_core.config import RunConfig  # noqa: E402
from dln_core.record import Recorder  # noqa: E402
from dln_core.runner import snapshot_steps  # noqa: E402


def gemm_roof() -> float:
    a = np.random.default_rng(0).standard_normal((2048, 2048))
    a @ a
    t0 = time.perf_counter()
    for _ in range(3):
        a @ a
    return 3 * 2 * 2048**3 / (time.perf_counter() - t0)


def step_flops(d: int, L: int) -> int:
    """Multiply-adds ×2 of one whitened step: L−1 prefix products, E, L−1 back products, L−1 updates."""
    return 2 * d**3 * (3 * (L - 1)) + 2 * d * d


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--naive-steps", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3, help="naive loop and CLI alternately, best of this many each")
    args = ap.parse_args(argv)
    scales = np.geomspace(0.05, 0.5, 16)
    lrs = np.linspace(0.005, 0.03, 8)
    B = 16 * 8 * args.seeds
    cfg = RunConfig.make(depth=3, init_scheme="near-identity", init_scale=0.3, lr=0.01, steps=args.naive_steps)
    train_baseline(cfg, 50)
    cmd = [sys.executable, "-m", "dln_core", "sweep", "--depth", "3", "--init", "near-identity",
           "--init-scale", ",".join(f"{v:.6g}" for v in scales), "--lr", ",".join(f"{v:.6g}" for v in lrs),
           "--seeds", str(args.seeds), "--steps", str(args.steps), "--no-rise-times", "--quiet"]
    # naive loop and CLI alternate, best of --repeat each: this VM's speed drifts by up to 2x within a
    # minute (the GEMM roof below moved 43-85 GFLOP/s), which one reading of each would fold into the ratio
    nbs, walls = [], []
    for _ in range(args.repeat):
        nbs.append(train_baseline(cfg, args.naive_steps)["steps_per_s"])
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        walls.append(time.perf_counter() - t0)
    nb, wall = max(nbs), min(walls)
    t_np, _ = naive(cfg, args.naive_steps, 10)
    nn = args.naive_steps / t_np
    rate = B * args.steps / wall

    # where the time goes, in this process
    problem = engine.build_problem(cfg.target)
    cfgs = [RunConfig.make(depth=3, init_scheme="near-identity", init_scale=float(s), lr=float(lr), seed=k)
            for s in scales for lr in lrs for k in range(args.seeds)]
    ws = [engine.init_weights(c, problem) for c in cfgs]
    stacked = [np.stack([w[li] for w in ws]) for li in range(3)]
    name = steppers.choose((6, 6, 6, 6), problem, "float64", B * args.steps, B)
    st = steppers.make_stepper(name, "cpu", [w.copy() for w in stacked], np.full(B, 0.01), problem,
                               "float64")
    st.advance(100)
    t0 = time.perf_counter()
    st.advance(2000)
    k_rate = B * 2000 / (time.perf_counter() - t0)
    per_snap = {}
    for fields in ("summary", "all"):  # the CLI records the summary fields (no --keep); "all" for reference
        Recorder(problem, np.full(B, 0.01), stacked, 4, fields=fields).record(0, stacked)  # warm-up
        rec = Recorder(problem, np.full(B, 0.01), stacked, 8, fields=fields)
        t0 = time.perf_counter()
        for k in range(8):  # the recorder measures in blocks: time whole blocks, flushed by snapshots()
            rec.record(k, stacked)
        rec.snapshots()
        per_snap[fields] = (time.perf_counter() - t0) / 8
    S = len(snapshot_steps(args.steps))
    roof = gemm_roof()
    flops = step_flops(6, 3)
    print(f"sweep d=6 L=3 B={B} x {args.steps} steps, float64, default snapshots ({S}), CLI wall {wall:.1f} s "
          f"(best of {args.repeat}: {', '.join(f'{w:.1f}' for w in walls)} s; torch naive "
          f"{', '.join(f'{v:,.0f}' for v in nbs)} steps/s):")
    print(f"  {rate:,.0f} network-steps/s = {rate / nb:,.0f}x the torch-autograd naive loop ({nb:,.0f}/s), "
          f"{rate / nn:,.0f}x the plain numpy naive loop ({nn:,.0f}/s); target >= 1500x")
    print(f"  stepper '{name}' alone: {k_rate:,.0f} network-steps/s = {k_rate * flops / 1e9:.1f} GFLOP/s "
          f"({flops} FLOP/step) = {k_rate * flops / roof:.1%} of the float64 GEMM roof {roof / 1e9:.1f} GFLOP/s")
    print(f"  snapshots (summary fields, what the CLI records): {per_snap['summary'] * 1e3:.1f} ms each x {S} "
          f"= {per_snap['summary'] * S:.1f} s = {per_snap['summary'] * S / wall:.0%} of the CLI wall time "
          f"(all fields, as a kept result records: {per_snap['all'] * 1e3:.0f} ms each = {per_snap['all'] * S:.1f} s)")
    steps_s = B * args.steps / k_rate
    print(f"  steps alone {steps_s:.1f} s = {steps_s / wall:.0%}; the rest ({wall - steps_s - per_snap['summary'] * S:.1f} s) "
          "is start-up (imports, kernel load), halfway replays, the theory launch and the summary")
    try:
        import torch

        gpu = torch.cuda.is_available()
    except Exception:
        gpu = False
    print("GPU: " + ("CUDA present: rerun with --device cuda for figures" if gpu else
                     "no CUDA device on this machine; no GPU figures"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Engine throughput vs the naive baseline (benchmarks/baseline.py), side by side in one run.

    python benchmarks/bench_engine.py [--depth 3] [--baseline-steps 2000] [--single-steps 20000]
                                      [--batch 256] [--batch-steps 20000]

Problem: the article target (d = 6, whitened), near-identity init c = 0.3, lr = 0.01, fixed step
counts. Rows:

- baseline: one network, nn.Sequential + autograd + torch.optim.SGD, loss read every 10 steps.
- engine single: ``dln_core.run(cfg)`` end to end (GD steps + exact halfway/divergence tracking +
  ~200 snapshots of full diagnostics; frames are built lazily and timed separately).
- engine batched: ``dln_core.run_batch`` with B networks (different seeds and lrs), network-steps/s.
- kernel rows: the bare GD stepper without any recording, to show where the time goes.

``--rule``: the numpy vs fused stepper table (network-steps/s per depth, width and batch size) that
steppers.choose's thresholds come from.

Targets: single ≥ 5× and batched ≥ 100× the baseline's steps/s. The baseline and the engine start
from the same weights; their final losses after the baseline's steps are printed as a sanity check.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from baseline import train_baseline  # noqa: E402

from dln_core import engine  # noqa: E402
from dln_core.config import RunConfig  # noqa: E402
from dln_core.steppers import NumpyStepper  # noqa: E402
from dln_core.targets import build_problem  # noqa: E402


def kernel_rate(cfgs: list[RunConfig], steps: int) -> float:
    """Network-steps/s of the bare stepper (no snapshots, no event checks)."""
    problem = build_problem(cfgs[0].target)
    ws = [engine.init_weights(c, problem) for c in cfgs]
    stacked = [np.stack([w[li] for w in ws]) for li in range(len(ws[0]))]
    st = NumpyStepper(stacked, np.array([c.optim.lr for c in cfgs]), problem, "float64")
    st.advance(10)
    t0 = time.perf_counter()
    st.advance(steps)
    return len(cfgs) * steps / (time.perf_counter() - t0)


def rule_table(dims: list[int], depths: list[int], batches: list[int]) -> None:
    """numpy vs fused stepper network-steps/s per (L, d, B), side by side: the measurement behind
    steppers.choose (FUSED_MAX_DIM, FUSED_MIN_BATCH). The first fused call of a shape compiles it."""
    from dln_core.steppers import FusedStepper

    for L in depths:
        for d in dims:
            svals = ",".join(f"{6 - 5 * i / d:.4g}" for i in range(d))
            cfg = RunConfig.make(target_kind="spectrum", singular_values=svals, depth=L, init_scale=1e-2)
            p = build_problem(cfg.target)
            w0 = engine.init_weights(cfg, p)
            for B in batches:
                W = [np.ascontiguousarray(np.repeat(w[None], B, 0)) for w in w0]
                rates = []
                for cls in (NumpyStepper, FusedStepper):
                    st = cls([w.copy() for w in W], np.full(B, 1e-3), p, "float64")
                    t0 = time.perf_counter()
                    st.advance(2)
                    first = time.perf_counter() - t0
                    n = 50
                    while True:
                        t0 = time.perf_counter()
                        st.advance(n)
                        dt = time.perf_counter() - t0
                        if dt > 0.3:
                            break
                        n *= 4
                    rates.append(B * n / dt)
                print(f"L={L} d={d:3d} B={B:5d}  numpy {rates[0]:12,.0f}  fused {rates[1]:12,.0f}  "
                      f"fused/numpy {rates[1] / rates[0]:5.2f}  (first fused call {first:.1f} s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rule", action="store_true", help="only the numpy vs fused table behind steppers.choose")
    ap.add_argument("--rule-dims", default="6,8,10")
    ap.add_argument("--rule-depths", default="2,3")
    ap.add_argument("--rule-batches", default="1,8,64,128,512,2048")
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--baseline-steps", type=int, default=2000)
    ap.add_argument("--single-steps", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=256)
    # 20k steps: the sweep benchmark's size (issue: 256 networks, d = 6, L = 3, 20k steps). The ~200
    # snapshots' diagnostics (SVDs of every layer of every network) are a fixed cost per run, so short
    # runs show a lower rate (5k steps: ~90x the baseline measured on 2026-11-29, 20k: ~216x).
    ap.add_argument("--batch-steps", type=int, default=20000)
    args = ap.parse_args(argv)
    if args.rule:
        rule_table(*([int(v) for v in x.split(",")] for x in (args.rule_dims, args.rule_depths, args.rule_batches)))
        return 0

    base = dict(depth=args.depth, init_scheme="near-identity", init_scale=0.3, lr=0.01)
    cfg = RunConfig.make(**base, steps=args.single_steps)

    train_baseline(cfg, 50)  # warm-up: imports, allocator
    b = train_baseline(cfg, args.baseline_steps)
    base_rate = b["steps_per_s"]

    engine.run(RunConfig.make(**base, steps=200))  # warm-up
    t0 = time.perf_counter()
    single = engine.run(cfg)
    single_s = time.perf_counter() - t0
    single_rate = args.single_steps / single_s
    t0 = time.perf_counter()
    single.build_frames()
    frames_s = time.perf_counter() - t0

    lrs = np.linspace(0.005, 0.02, args.batch)
    cfgs = [RunConfig.make(**{**base, "lr": float(lr)}, seed=i, steps=args.batch_steps) for i, lr in enumerate(lrs)]
    t0 = time.perf_counter()
    engine.run_batch(cfgs)
    batch_s = time.perf_counter() - t0
    batch_rate = args.batch * args.batch_steps / batch_s

    k1 = kernel_rate([cfg], 20_000)
    kb = kernel_rate(cfgs, 1000)

    same = engine.run(RunConfig.make(**base, steps=args.baseline_steps, record=args.baseline_steps))
    rel = abs(same.summary["final_loss"] - b["final_loss"]) / max(abs(b["final_loss"]), 1e-300)

    rows = [
        ("baseline (autograd, 1 net)", base_rate, b["wall_time_s"], 1.0, ""),
        ("engine single run()", single_rate, single_s, single_rate / base_rate, "target >= 5x"),
        (f"engine run_batch B={args.batch}", batch_rate, batch_s, batch_rate / base_rate, "target >= 100x"),
        ("kernel only, B=1", k1, float("nan"), k1 / base_rate, ""),
        (f"kernel only, B={args.batch}", kb, float("nan"), kb / base_rate, ""),
    ]
    print(f"d=6, L={args.depth}, float64, CPU. network-steps/s (higher is better):")
    print(f"{'':34s} {'steps/s':>12s} {'wall s':>8s} {'x baseline':>11s}")
    for name, rate, wall, ratio, note in rows:
        print(f"{name:34s} {rate:12,.0f} {wall:8.2f} {ratio:10.1f}x  {note}")
    print(f"frames of the single run built lazily in {frames_s:.2f} s (not in its wall time)")
    print(f"sanity: loss after {args.baseline_steps} steps from the same init: engine "
          f"{same.summary['final_loss']:.10g}, baseline {b['final_loss']:.10g} (relative diff {rel:.1e})")
    ok = single_rate >= 5 * base_rate and batch_rate >= 100 * base_rate and rel < 1e-6
    print("PASS" if ok else "BELOW TARGET")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

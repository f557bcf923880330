"""Sweep throughput: the batched engine vs a naive per-config baseline, side by side in one run.

    python benchmarks/bench_sweep.py [--networks 256] [--steps 20000] [--baseline-configs 3]
                                     [--baseline-steps 1000] [--memory-networks 64]

1. Batched: ``dln_core.sweep.run_sweep`` on a grid of ``--networks`` networks (article target, d = 6,
   L = 3, near-identity init, 16 init scales × 16 step sizes for 256), ``--steps`` GD steps each,
   snapshots log-spaced. Timed end to end: grid → engine batch → summary frame (measured rise times
   off; building the per-network frames they need is timed separately as ``rise_time_frames_extra_s``).
2. Baseline: one network at a time with torch autograd (``nn.Linear`` layers, no bias, SGD, loss (H)
   from Σyx). Running 256 × 20k steps that way would take too long, so it times
   ``--baseline-configs`` configs × ``--baseline-steps`` steps and extrapolates per network-step
   (benchmarks/baseline.py is used instead when it exists and defines ``run_naive(cfg, steps)``).
3. Memory: tracemalloc peak of a ``--memory-networks`` sweep at steps/10 and at steps. Snapshots are
   a fixed number, so the peak should not grow with the step count.

Target: ≥ 100× the baseline's network-steps/s. Prints one JSON line at the end.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dln_core import sweep  # noqa: E402
from dln_core.config import RunConfig  # noqa: E402
from dln_core.targets import build_problem  # noqa: E402


def grid(networks: int, steps: int) -> sweep.SweepSpec:
    """A near-square grid of init scales × step sizes (all stable at L = 3: η < 0.061)."""
    n_scale = int(np.ceil(np.sqrt(networks)))
    n_lr = int(np.ceil(networks / n_scale))
    return sweep.SweepSpec(
        depths=(3,),
        init_scales=tuple(float(v) for v in np.geomspace(0.05, 0.5, n_scale)),
        lrs=tuple(float(v) for v in np.linspace(0.005, 0.03, n_lr)),
        seeds=(0,),
        base={"target_kind": "article", "init_scheme": "near-identity", "steps": steps, "n_snapshots": 50},
    )


def naive_torch(cfg: RunConfig, steps: int) -> float:
    """The naive way: one network, torch autograd, per-step Python loop. Returns the final loss."""
    import torch

    problem = build_problem(cfg.target)
    syx = torch.as_tensor(problem.sigma_yx)
    sxx = torch.as_tensor(problem.sigma_xx)
    dims = cfg.layer_dims
    torch.manual_seed(cfg.init.seed)
    layers = torch.nn.Sequential(
        *[torch.nn.Linear(dims[i], dims[i + 1], bias=False, dtype=torch.float64) for i in range(len(dims) - 1)]
    )
    with torch.no_grad():
        for layer in layers:  # near-identity init, as in the batched sweep
            n_out, n_in = layer.weight.shape
            layer.weight.copy_(cfg.init.scale * (torch.eye(n_out, n_in, dtype=torch.float64)
                                                 + 0.1 * torch.randn(n_out, n_in, dtype=torch.float64)))
    opt = torch.optim.SGD(layers.parameters(), lr=cfg.optim.lr)
    loss = torch.zeros(())
    for _ in range(steps):
        W = layers(torch.eye(dims[0], dtype=torch.float64)).T  # end-to-end map W_L…W_1
        loss = 0.5 * torch.trace(W @ sxx @ W.T) - torch.trace(W @ syx.T)  # loss (H) up to a constant
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()


def baseline_runner():
    """benchmarks/baseline.py's ``run_naive(cfg, steps)`` if present, else :func:`naive_torch`."""
    path = ROOT / "benchmarks" / "baseline.py"
    if path.exists():
        spec = importlib.util.spec_from_file_location("baseline", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        if hasattr(mod, "run_naive"):
            return mod.run_naive, "benchmarks/baseline.py:run_naive"
    return naive_torch, "bench_sweep.naive_torch (torch autograd, one network at a time)"


def time_baseline(members, n_configs: int, steps: int) -> float:
    """Seconds per network-step of the naive baseline, from a few configs × fewer steps."""
    run_naive, _ = baseline_runner()
    picks = [members[i] for i in np.linspace(0, len(members) - 1, n_configs).astype(int)]
    run_naive(picks[0], 10)  # warm-up (imports, allocator)
    t0 = time.perf_counter()
    for cfg in picks:
        run_naive(cfg, steps)
    return (time.perf_counter() - t0) / (n_configs * steps)


def peak_memory(networks: int, steps: int) -> float:
    """tracemalloc peak (MB) of one sweep run."""
    gc.collect()
    tracemalloc.start()
    sweep.run_sweep(grid(networks, steps), rise_times=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--baseline-configs", type=int, default=3)
    parser.add_argument("--baseline-steps", type=int, default=1000)
    parser.add_argument("--memory-networks", type=int, default=64)
    args = parser.parse_args(argv)

    spec = grid(args.networks, args.steps)
    members = sweep.build_members(spec)[: args.networks]
    print(f"batched: {len(members)} networks × {args.steps} steps (d=6, L=3) …", file=sys.stderr)
    t0 = time.perf_counter()
    res = sweep.run_sweep(spec, rise_times=False, keep_results=True)
    batched_s = time.perf_counter() - t0
    batched_rate = res.network_steps / batched_s
    # the optional extra: measured rise times need each network's snapshot frames
    t0 = time.perf_counter()
    sweep.summarize(res.results, rise_times=True)
    rise_s = time.perf_counter() - t0
    res.results = []

    _, baseline_name = baseline_runner()
    print(f"baseline: {baseline_name}, {args.baseline_configs} configs × {args.baseline_steps} steps …",
          file=sys.stderr)
    per_step = time_baseline(members, args.baseline_configs, args.baseline_steps)
    baseline_rate = 1.0 / per_step
    baseline_extrapolated_s = res.network_steps * per_step

    short = max(1, args.steps // 10)
    print(f"memory: {args.memory_networks} networks at {short} and {args.steps} steps …", file=sys.stderr)
    mem_short = peak_memory(args.memory_networks, short)
    mem_long = peak_memory(args.memory_networks, args.steps)

    report = {
        "networks": res.n_members,
        "steps": args.steps,
        "network_steps": res.network_steps,
        "batched_wall_s": round(batched_s, 2),
        "batched_network_steps_per_s": round(batched_rate),
        "rise_time_frames_extra_s": round(rise_s, 2),
        "baseline": baseline_name,
        "baseline_measured": f"{args.baseline_configs} configs × {args.baseline_steps} steps",
        "baseline_network_steps_per_s": round(baseline_rate),
        "baseline_extrapolated_wall_s": round(baseline_extrapolated_s, 1),
        "speedup": round(batched_rate / baseline_rate, 1),
        "target_speedup": 100,
        "memory_networks": args.memory_networks,
        f"peak_mb_{short}_steps": round(mem_short, 1),
        f"peak_mb_{args.steps}_steps": round(mem_long, 1),
        "memory_ratio_long_over_short": round(mem_long / mem_short, 3),
        "diverged": int(res.summary.drop_duplicates("member")["diverged"].sum()),
    }
    print(
        f"batched {batched_rate:,.0f} net-steps/s vs baseline {baseline_rate:,.0f} → {report['speedup']}× "
        f"(target ≥ 100×); peak memory {mem_short:.1f} MB at {short} steps vs {mem_long:.1f} MB at {args.steps}",
        file=sys.stderr,
    )
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The naive baseline the engine is measured against (and that bench_sweep.py reuses).

One config at a time, the way a first attempt would do it: an ``nn.Sequential`` of bias-free
``nn.Linear`` layers, torch autograd, ``torch.optim.SGD``, and the loss read back with ``.item()``
every 10 steps. It trains on the same population loss (H) as the engine (THEORY.md §1): with
X = Σxx^{1/2} (columns as samples) and Y = Σyx Σxx^{−1/2}, ½‖Y − W X‖²_F = ½ tr((W − W*) Σxx (W − W*)ᵀ).
It starts from the engine's own initial weights (inits.init_weights, also engine.init_weights), so both follow the same
trajectory and their losses can be compared.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dln_core.config import RunConfig
from dln_core.engine import init_weights
from dln_core.targets import build_problem


def _sqrt_psd(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(w)) @ v.T, (v / np.sqrt(w)) @ v.T


def train_baseline(cfg: RunConfig, steps: int, record_every: int = 10, record_sv: bool = False) -> dict:
    """Train one network naively; returns steps, wall time, steps/s, recorded (step, loss) and final loss.

    ``record_sv``: at each recorded step also the singular values of the end-to-end map (the product of
    the layers' weights, ``torch.linalg.svdvals``), as a first attempt that plots them would (issue 14);
    they are returned as ``svs``."""
    import torch

    problem = build_problem(cfg.target)
    root, inv_root = _sqrt_psd(problem.sigma_xx)
    dtype = torch.float64 if cfg.optim.dtype == "float64" else torch.float32
    X = torch.as_tensor(root.T, dtype=dtype)  # rows = samples
    Y = torch.as_tensor((problem.sigma_yx @ inv_root).T, dtype=dtype)
    dims = cfg.layer_dims
    net = torch.nn.Sequential(*[torch.nn.Linear(dims[i], dims[i + 1], bias=False) for i in range(len(dims) - 1)])
    net = net.to(dtype)
    with torch.no_grad():
        for layer, w in zip(net, init_weights(cfg, problem)):
            layer.weight.copy_(torch.as_tensor(w, dtype=dtype))
    opt = torch.optim.SGD(net.parameters(), lr=cfg.optim.lr)
    recorded, svs = [], []
    t0 = time.perf_counter()
    for k in range(steps):
        opt.zero_grad()
        loss = 0.5 * ((net(X) - Y) ** 2).sum()
        if k % record_every == 0:
            recorded.append((k, loss.item()))
            if record_sv:
                with torch.no_grad():
                    W = net[0].weight
                    for layer in net[1:]:
                        W = layer.weight @ W
                    svs.append(torch.linalg.svdvals(W).numpy())
        loss.backward()
        opt.step()
    with torch.no_grad():
        final = float(0.5 * ((net(X) - Y) ** 2).sum())
    wall = time.perf_counter() - t0
    return {"steps": steps, "wall_time_s": wall, "steps_per_s": steps / wall, "losses": recorded,
            "final_loss": final, "svs": svs, "weights": [layer.weight.detach().numpy().copy() for layer in net]}


def run_naive(cfg: RunConfig, steps: int) -> float:
    """bench_sweep.py's hook: train naively, return the final loss (H)."""
    return train_baseline(cfg, steps)["final_loss"]


if __name__ == "__main__":
    out = train_baseline(RunConfig.make(depth=3, init_scale=0.3, lr=0.01), 2000)
    print(f"baseline: {out['steps_per_s']:.0f} steps/s, final loss {out['final_loss']:.6g}")

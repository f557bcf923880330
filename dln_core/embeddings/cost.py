"""How long an embedding run will take on this machine, before it starts (pure; no streamlit).

A per-stage cost model in floating-point operations, priced with one rate measured here
(:func:`measure_rate`: the training step's own product M*·W, in float32 on one thread, timed a few
times; ~50 ms). Stages (pipeline.run_embedding):

- statistics: read from the shipped seed or the disk cache; a fixed ≈ 1 s;
- spectrum: Lanczos for the top d eigenpairs of the V × V matrix M*, ≈ ``LANCZOS_PASSES`` matrix
  products with a block of 2d + 20 vectors (dense solver below V = 400);
- training: per step twice 2V²d (M*W) + 6Vd² (WᵀW and W(WᵀW)): the loss and mode strengths
  recorded every step cost about as much again;
- evaluation: a fixed ≈ 3 s plus the analogy questions at every history row, ≈ 2·Q·V·d per row
  with Q ≈ 5V (measured).

Calibrated against measured stage times on the 2-core machine (V = 1000 and 2500): within a factor
≈ 2 either way, which is what a "will this take seconds or minutes" decision needs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .theory import tau_half

LANCZOS_PASSES = 150
STATISTICS_S = 1.0
EVALUATE_BASE_S = 3.0  # similarity sets, closed-form accuracy, probes: about constant
CONFIRM_ABOVE_S = 60.0  # the page asks before starting a run estimated above this
REFUSE_ABOVE_S = 900.0  # ... and refuses one above this (the server would be frozen for minutes)


@dataclass(frozen=True)
class Estimate:
    """Estimated seconds per stage and in total."""

    statistics_s: float
    spectrum_s: float
    train_s: float
    evaluate_s: float

    @property
    def total_s(self) -> float:
        return self.statistics_s + self.spectrum_s + self.train_s + self.evaluate_s

    def describe(self) -> str:
        return (f"≈ {_seconds(self.total_s)} on this machine (spectrum {_seconds(self.spectrum_s)}, "
                f"{_seconds(self.train_s)} of gradient descent, evaluation {_seconds(self.evaluate_s)})")


def _seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min"


def measure_rate(V: int = 2000, d: int = 50, repeats: int = 3) -> float:
    """Floating-point operations per second of the training step's product on this machine (median
    of ``repeats``; V = 2000 so that M* does not fit in cache, as in a real run)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        g = torch.Generator().manual_seed(0)
        M = torch.randn(V, V, generator=g)
        W = torch.randn(V, d, generator=g)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            (M @ W).sum().item()
            times.append(time.perf_counter() - t0)
        best = sorted(times)[len(times) // 2]
    finally:
        torch.set_num_threads(threads)
    return 2.0 * V * V * d / max(best, 1e-9)


def estimate(vocab: int, dim: int, steps: int, history_rows: int, rate: float) -> Estimate:
    """Seconds per stage for a run of this size at ``rate`` operations per second."""
    if not rate > 0:
        raise ValueError(f"rate must be > 0, got {rate!r}")
    V, d = float(vocab), float(dim)
    if vocab <= max(400, 3 * dim + 20):
        spectrum_ops = 10.0 * V**3
    else:
        spectrum_ops = LANCZOS_PASSES * 2.0 * V * V * (2 * d + 20)
    train_ops = steps * 2 * (2.0 * V * V * d + 6.0 * V * d * d)  # ×2: the loss and mode terms each step
    evaluate_ops = history_rows * 2.0 * (5 * V) * V * d
    return Estimate(STATISTICS_S, spectrum_ops / rate, train_ops / rate, EVALUATE_BASE_S + evaluate_ops / rate)


def verdict(est: Estimate) -> str:
    """"run", "confirm" or "refuse" for an estimate (thresholds above)."""
    if est.total_s > REFUSE_ABOVE_S:
        return "refuse"
    return "confirm" if est.total_s > CONFIRM_ABOVE_S else "run"


def largest_vocab(dim: int, steps: int, history_rows: int, rate: float, budget_s: float = REFUSE_ABOVE_S) -> int:
    """The largest V (a multiple of 500) whose estimate fits ``budget_s``: the page names it when
    it refuses a larger one."""
    V = 500
    while V < 100_000 and estimate(V + 500, dim, steps, history_rows, rate).total_s <= budget_s:
        V += 500
    return V


def steps_for_modes(mu: np.ndarray, u0: float, lr: float) -> np.ndarray:
    """Steps until each mode (eigenvalue μ_k of M*) reaches halfway from strength u0 at step η
    (the depth-2 mode law, THEORY.md §7): how long a run must be for d modes to be learned."""
    return tau_half(np.asarray(mu, float), np.full(len(mu), float(u0))) / lr

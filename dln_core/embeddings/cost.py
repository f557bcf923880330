"""How long an embedding run will take on this machine, before it starts (pure; no streamlit).

The work counts per stage are the one cost model of an embedding run, :func:`dln_core.budget.embed_counts`
(route-aware: eigendecomposition + O(V·d²) steps on the eigenbasis route, Lanczos + O(V²·d) steps on
the dense one; the hosted CPU budget prices the same counts). Here they are priced with one rate
measured on this machine (:func:`measure_rate`: the training step's product M*·W in float32 on one
thread, timed a few times; ~50 ms). The estimate is within a factor 4 of measured stage times on
small configurations (tests/core/test_embeddings_cost.py), which is what a "seconds or minutes"
decision needs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .. import budget
from .theory import tau_half

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


def estimate(vocab: int, dim: int, steps: int, history_rows: int, rate: float, method: str = "auto",
             dtype: str = "float32", cached: bool = False) -> Estimate:
    """Seconds per stage for a run of this size at ``rate`` flop/s: budget.embed_counts on the route
    the run will take (``method``, "auto" = budget.embed_route), priced by budget.embed_stage_seconds."""
    counts = budget.embed_counts(vocab, dim, steps, history_rows, method, dtype, cached)
    st = budget.embed_stage_seconds(counts, rate)
    return Estimate(st["statistics"], st["spectrum"], st["train"], st["evaluate"])


def verdict(est: Estimate) -> str:
    """"run", "confirm" or "refuse" for an estimate (thresholds above)."""
    if est.total_s > REFUSE_ABOVE_S:
        return "refuse"
    return "confirm" if est.total_s > CONFIRM_ABOVE_S else "run"


def largest_vocab(dim: int, steps: int, history_rows: int, rate: float, budget_s: float = REFUSE_ABOVE_S,
                  method: str = "auto", dtype: str = "float32") -> int:
    """The largest V (a multiple of 500) whose estimate fits ``budget_s``: the page names it when
    it refuses a larger one."""
    V = 500
    while V < 100_000 and estimate(V + 500, dim, steps, history_rows, rate, method, dtype).total_s <= budget_s:
        V += 500
    return V


def steps_for_modes(mu: np.ndarray, u0: float, lr: float) -> np.ndarray:
    """Steps until each mode (eigenvalue μ_k of M*) reaches halfway from strength u0 at step η
    (the depth-2 mode law, THEORY.md §7): how long a run must be for d modes to be learned."""
    return tau_half(np.asarray(mu, float), np.full(len(mu), float(u0))) / lr

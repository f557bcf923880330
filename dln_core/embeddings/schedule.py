"""Where to snapshot W: evenly spaced steps plus dense clusters around each predicted transition.

The 3-D cloud changes shape (point → line → plane → volume) only while a mode rises; with evenly
spaced snapshots a rise of a few dozen steps gets one or two frames. Each mode k's rise is predicted
before training from the gradient-flow law (THEORY.md §7, :func:`theory.tau_half` from its initial
strength u₀ = ‖v_kᵀW₀‖²), and ``per_mode`` snapshots are spread across it, ±3 time constants
1/(2μ_k) around its halfway step.
"""

from __future__ import annotations

import numpy as np

from . import theory
from .model import snapshot_schedule

EVENT_MODES = 6  # the rises that shape the first three axes of the cloud, and a few more
PER_MODE = 9
WIDTH = 3.0  # half-width of a cluster in time constants 1/(2μ)


def initial_strengths(W0: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """u₀ = ‖v_kᵀ W₀‖² for each eigenvector column v_k (the trajectory's step-0 mode strengths)."""
    proj = vectors.T.astype(np.float64) @ W0.astype(np.float64)
    return np.einsum("kd,kd->k", proj, proj)


def transition_steps(mu: np.ndarray, u0: np.ndarray, lr: float, steps: int,
                     n_modes: int = EVENT_MODES, per_mode: int = PER_MODE) -> np.ndarray:
    """Steps clustered around the predicted halfway step of the first ``n_modes`` modes (those
    whose rise happens within ``steps``); sorted, unique, inside [0, steps]."""
    mu = np.asarray(mu, dtype=float)[:n_modes]
    tau = theory.tau_half(mu, np.asarray(u0, dtype=float)[:n_modes])
    out = []
    for m, t in zip(mu, tau):
        if not (np.isfinite(t) and m > 0):
            continue
        around = t + np.linspace(-WIDTH, WIDTH, per_mode) / (2 * m)
        k = np.round(around / lr).astype(np.int64)
        out.append(k[(k > 0) & (k < steps)])
    if not out:
        return np.zeros(0, np.int64)
    return np.unique(np.concatenate(out))


def event_schedule(steps: int, n: int, mu: np.ndarray, u0: np.ndarray, lr: float,
                   per_mode: int = PER_MODE) -> tuple[np.ndarray, np.ndarray]:
    """(all snapshot steps, the event-placed ones): ``n`` evenly spaced steps (0 and the last
    included) united with :func:`transition_steps` (none when ``per_mode`` is 0)."""
    events = transition_steps(mu, u0, lr, steps, per_mode=per_mode) if per_mode else np.zeros(0, np.int64)
    return np.union1d(snapshot_schedule(steps, n), events), events

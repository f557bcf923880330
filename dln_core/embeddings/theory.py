"""Closed-form dynamics of the symmetric factorisation W Wᵀ ≈ M* (THEORY.md §2 and §7).

Loss scaling used throughout the embeddings package:

    ℓ(W) = ¼ ‖M* − W Wᵀ‖²_F,   ∇ℓ = −(M* − W Wᵀ) W,   GD: W ← W + η (M* − W Wᵀ) W,  t = η·k.

Why ¼: this is exactly the project's loss (H) ½‖Σyx − W₂W₁‖² of a two-layer linear network with
Σyx = M* started on the symmetric point W₂ = W₁ᵀ = W (M* is symmetric, so GD keeps W₂ = W₁ᵀ step
by step). Hence THEORY §2 (L = 2) applies verbatim with λ → μ_k, the k-th eigenvalue of M*:

- strength of mode k: u_k = ‖v_kᵀ W‖² (v_k the eigenvector; = an eigenvalue of WᵀW once aligned);
- gradient flow: du/dt = 2u(μ − u), so u(t) = μ u₀ / (u₀ + (μ − u₀) e^{−2μt})   (logistic);
- halfway time (u = μ/2): τ½ = ln(μ/u₀ − 1) / (2μ);
- exact finite-η GD on an aligned mode: u ← u (1 + η(μ − u))²;
- the singular values of W are √u_k; the optimum is W* = V_d diag(√μ_k) (top-d positive μ_k),
  with loss ¼ (‖M*‖²_F − Σ_{k≤d} μ_k²).

Stability (linearising the GD map at the optimum): a learned mode contracts iff η < 1/μ_max; a
direction of an unlearned eigenvalue μ_j, coupled to a learned mode i, is multiplied by
1 − η(μ_i − μ_j), so η < 2/(μ_max − μ_min). M* has a large negative eigenvalue μ_min (never-seen
pairs give −2), which makes the second bound the binding one in practice.
"""

from __future__ import annotations

import numpy as np


def mode_curve_gf(t: np.ndarray, mu: np.ndarray, u0: np.ndarray) -> np.ndarray:
    """u_k(t) under gradient flow, shape (T, K); handles μ ≤ 0 (decay) as well as μ > 0."""
    t = np.asarray(t, dtype=np.float64)[:, None]
    mu = np.asarray(mu, dtype=np.float64)[None, :]
    u0 = np.asarray(u0, dtype=np.float64)[None, :]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        e = np.exp(np.clip(-2.0 * mu * t, -700.0, 700.0))
        u = mu * u0 / (u0 + (mu - u0) * e)
        u_zero = u0 / (1.0 + 2.0 * u0 * t)  # the μ = 0 limit
    return np.where(mu == 0, u_zero, u)


def mode_curve_gd(steps: int, mu: np.ndarray, u0: np.ndarray, lr: float) -> np.ndarray:
    """u_k after k = 0..steps exact GD steps of an aligned mode, shape (steps + 1, K)."""
    mu = np.asarray(mu, dtype=np.float64)
    u = np.asarray(u0, dtype=np.float64).copy()
    out = np.empty((steps + 1, len(mu)))
    out[0] = u
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, steps + 1):
            u = u * (1.0 + lr * (mu - u)) ** 2
            out[k] = u
    return out


def tau_half(mu: np.ndarray, u0: np.ndarray) -> np.ndarray:
    """Gradient-flow time for u to go from u₀ to μ/2 (NaN when μ ≤ 0 or already past halfway)."""
    mu = np.asarray(mu, dtype=np.float64)
    u0 = np.asarray(u0, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = np.log(mu / u0 - 1.0) / (2.0 * mu)
    return np.where((mu > 0) & (u0 < mu / 2), tau, np.nan)


def first_crossing(values: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Per column, the (linearly interpolated) fractional row index where values first reach level."""
    values = np.asarray(values, dtype=np.float64)
    out = np.full(values.shape[1], np.nan)
    for k in range(values.shape[1]):
        above = np.nonzero(values[:, k] >= level[k])[0]
        if len(above) == 0 or not np.isfinite(level[k]):
            continue
        i = above[0]
        if i == 0:
            out[k] = 0.0
            continue
        lo, hi = values[i - 1, k], values[i, k]
        out[k] = i - 1 + (level[k] - lo) / (hi - lo) if hi > lo else float(i)
    return out


def stable_lr(mu_max: float, mu_min: float, safety: float = 0.9) -> float:
    """Largest safe GD step: safety · min(1/μ_max, 2/(μ_max − μ_min)) (module docstring)."""
    caps = []
    if mu_max > 0:
        caps.append(1.0 / mu_max)
    if mu_max - min(mu_min, 0.0) > 0:
        caps.append(2.0 / (max(mu_max, 0.0) - min(mu_min, 0.0)))
    return safety * min(caps) if caps else 0.1


def optimum_loss(frob2: float, mu_top: np.ndarray) -> float:
    """¼ (‖M*‖²_F − Σ_{k≤d} max(μ_k, 0)²): the loss at the closed-form optimum."""
    return 0.25 * (frob2 - float(np.sum(np.maximum(mu_top, 0.0) ** 2)))

"""Closed-form dynamics of the symmetric factorisation W Wᵀ ≈ M* (THEORY.md §2 and §7).

Loss scaling used throughout the embeddings package:

    ℓ(W) = ¼ ‖M* − W Wᵀ‖²_F,   ∇ℓ = −(M* − W Wᵀ) W,   GD: W ← W + η (M* − W Wᵀ) W,  t = η·k.

Why ¼: ℓ is half the loss (H) ½‖Σyx − W₂W₁‖² of a two-layer linear network with Σyx = M* started on
the symmetric point W₂ = W₁ᵀ = W, and its gradient is exactly that network's layer gradient, so GD with
the same η follows the same trajectory (M* is symmetric, so GD keeps W₂ = W₁ᵀ step by step; THEORY
§7.2). Hence THEORY §2 (L = 2) applies verbatim with λ → μ_k, the k-th eigenvalue of M*:

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

from .. import theory as _core
from .._numeric import crossing_time
from ..errors import ConfigError

# The mode laws below are the core's depth-2 formulas (dln_core.theory, L = 2, d = 1): with the ¼
# scaling, du/dt = 2u(μ − u) is exactly the core's du/dt = L|u|^{2−2/L}(λ − d u) at L = 2, d = 1, and
# the GD map u ← u(1 + η(μ − u))² is the core's per-layer recursion s ← s(1 + η(λ − s²)) with u = s².
# mode_curve_gf and tau_half delegate to the core; what the core does not cover is handled here:
#
# - μ < 0 (the embeddings pass the top-d eigenvalues of M*, which go negative when d exceeds the number
#   of positive ones; the core requires λ ≥ 0). For u ≥ 0 the law du/dt = 2u(μ − u) = −2u(|μ| + u) is the
#   core's law for a negative mode mirrored: with q = −u, λ = |μ| the core has dq/dt = 2|q|(λ − q) =
#   −2u(|μ| + u) as well (and its GD map gives u ← u(1 − η(|μ| + u))², the same map). So a μ < 0 mode
#   is computed as −(core mode with λ = |μ|, u0 → −u0): an exact identity, not an approximation.
# - u0 < 0 is rejected (ConfigError): u0 = ‖v_kᵀW‖² is a squared norm here.
# - non-finite μ or u0 give NaN columns (the core rejects them).


def _mirrored(mu, u0):
    """(λ, u0', sign, bad) for the core: λ = |μ|, u0' = sign·u0, sign = −1 where μ < 0; bad = non-finite."""
    mu, u0 = np.broadcast_arrays(np.atleast_1d(np.asarray(mu, dtype=np.float64)),
                                 np.atleast_1d(np.asarray(u0, dtype=np.float64)))
    bad = ~(np.isfinite(mu) & np.isfinite(u0))
    if np.any(u0[~bad] < 0):
        raise ConfigError("u0", "must be >= 0 (u0 = ‖v_kᵀW‖² is a squared norm)", u0)
    sign = np.where(mu < 0, -1.0, 1.0)
    lam = np.where(bad, 1.0, np.abs(mu))
    return lam, np.where(bad, 0.0, sign * u0), sign, bad


def _unmirror(u, sign, bad):
    with np.errstate(invalid="ignore"):
        return np.where(bad, np.nan, sign * u + 0.0)  # + 0.0 turns the mirrored −0.0 into 0.0


def mode_curve_gf(t: np.ndarray, mu: np.ndarray, u0: np.ndarray) -> np.ndarray:
    """u_k(t) under gradient flow, shape (T, K): :func:`dln_core.theory.mode_curve_gf` at depth 2.

    Logistic for μ > 0, u₀/(1 + 2u₀t) for μ = 0, decay to 0 for μ < 0 (mirrored core mode, see above).
    """
    lam, v0, sign, bad = _mirrored(mu, u0)
    return _unmirror(_core.mode_curve_gf(t, lam, v0, 2), sign, bad)


def mode_curve_gd(steps: int, mu: np.ndarray, u0: np.ndarray, lr: float) -> np.ndarray:
    """u_k after k = 0..steps exact GD steps of an aligned mode, shape (steps + 1, K).

    :func:`dln_core.theory.mode_curve_gd` at depth 2 (its per-layer s ← s(1 + η(λ − s²)) with u = s²,
    i.e. u ← u(1 + η(μ − u))²), μ < 0 mirrored as in :func:`mode_curve_gf`. It runs once per run inside
    the (cached) :func:`dln_core.embeddings.run_embedding`. A diverging mode is +inf from the step where
    the core stops with NaN: u is a squared norm that grew without bound (non-finite μ or u0: NaN).
    """
    lam, v0, sign, bad = _mirrored(mu, u0)
    u = _unmirror(_core.mode_curve_gd(np.arange(int(steps) + 1), lam, v0, 2, lr), sign, bad)
    return np.where(np.isfinite(u) | bad, u, np.inf)


def tau_half(mu: np.ndarray, u0: np.ndarray) -> np.ndarray:
    """Gradient-flow time for u to go from u₀ to μ/2 (NaN when μ ≤ 0 or already past halfway).

    :func:`dln_core.theory.tau_half` at depth 2 = ln(μ/u₀ − 1)/(2μ), +inf for u₀ = 0; where the core
    gives 0 (u₀ ≥ μ/2) or has no λ (μ ≤ 0) this returns NaN: there is no rise to time.
    """
    lam, v0, _, bad = _mirrored(mu, u0)
    mu = np.asarray(mu, dtype=np.float64)
    u0 = np.asarray(u0, dtype=np.float64)
    tau = _core.tau_half(lam, v0, 2).reshape(np.broadcast(mu, u0).shape)
    with np.errstate(invalid="ignore"):
        rising = ~bad.reshape(tau.shape) & (mu > 0) & (u0 < mu / 2)
    return np.where(rising, tau, np.nan)


def first_crossing(values: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Per column, the (linearly interpolated) fractional row index where values first reach level.

    :func:`dln_core._numeric.crossing_time` per column with t = row index; NaN where the level is not
    finite (μ ≤ 0 modes have no halfway level) or never reached.
    """
    values = np.asarray(values, dtype=np.float64)
    level = np.broadcast_to(np.asarray(level, dtype=np.float64), values.shape[1:])
    rows = np.arange(values.shape[0], dtype=np.float64)
    return np.array([crossing_time(rows, values[:, k], level[k]) if np.isfinite(level[k]) else np.nan
                     for k in range(values.shape[1])], dtype=np.float64)


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

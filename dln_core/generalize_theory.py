"""Generalisation theory at two levels (THEORY §9): exact given the sample, and random-matrix asymptotics.

Both levels feed the same closed form (THEORY §9.1, eq. 9.3): with the student's map
W(t) = Û diag(u(t)) V̂ᵀ on the empirical modes of Σ̂yx = Û diag(ŝ) V̂ᵀ, the population test loss is

    ℓ_test = ½ Σ_i (u_i − o_i)² + ½ (‖W̄‖² − Σ_i o_i²) + ½ n_out σ²,   o_i = û_iᵀ W̄ v̂_i,

and u_i(t) is the exact finite-step GD recursion of a balanced aligned mode (finite_step.mode_curve_gd,
THEORY §2.6) towards ŝ_i. The levels differ only in where (ŝ, o) come from:

- **exact**: the SVD of this sample's Σ̂yx and its overlaps with the teacher (:func:`empirical_modes`);
- **asymptotic**: (signal strengths, σ, P, n_in, n_out) alone (:func:`rmt_spectrum`): outliers and
  overlaps of Benaych-Georges & Nadakuditi (THEORY §9.3, eqs. 9.4–9.7) for teacher modes above the
  BBP threshold, the rest of the spectrum at the quantiles of the Marchenko–Pastur bulk with o = 0.

Conventions: loss ½‖·‖² (THEORY §1), noise entries of Σ̂yx − W̄ are N(0, σ²/P) (eq. 9.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .finite_step import mode_curve_gd


@dataclass(frozen=True)
class ModeSet:
    """Empirical (or predicted) spectrum and its teacher content, modes in descending ŝ.

    ``s_hat`` (r,), ``o`` (r,) diagonal overlaps û_iᵀ W̄ v̂_i; ``A`` (rank, r) = U*ᵀÛ and ``B`` (rank, r)
    = V*ᵀV̂ (None at the asymptotic level, where only |cos| of the outliers is predicted)."""

    s_hat: np.ndarray
    o: np.ndarray
    A: np.ndarray | None = None
    B: np.ndarray | None = None


def empirical_modes(sigma_yx: np.ndarray, teacher_U: np.ndarray, teacher_s: np.ndarray,
                    teacher_V: np.ndarray) -> tuple[ModeSet, np.ndarray, np.ndarray]:
    """(ModeSet, Û, V̂) of the sample's Σ̂yx (thin SVD, r = min(n_out, n_in)). û_iᵀ Σ̂yx v̂_i = ŝ_i ≥ 0
    fixes each pair's sign, so o_i can be negative (a bulk mode whose noise points against the teacher)."""
    U, s, Vt = np.linalg.svd(sigma_yx, full_matrices=False)
    V = Vt.T
    W_bar = (teacher_U * teacher_s) @ teacher_V.T
    o = np.sum(U * (W_bar @ V), axis=0)  # û_iᵀ W̄ v̂_i (a matmul: einsum here is slow at n ~ 400)
    return ModeSet(s, o, teacher_U.T @ U, teacher_V.T @ V), U, V


def population_loss(u: np.ndarray, modes: ModeSet, teacher_norm2: float, floor: float) -> np.ndarray:
    """Eq. 9.3: population test loss of W = Û diag(u) V̂ᵀ, ``u`` (..., r) → (...)."""
    o = modes.o
    with np.errstate(all="ignore"):  # a diverging recursion gives inf/NaN, reported as such
        return 0.5 * np.sum((u - o) ** 2, axis=-1) + 0.5 * (teacher_norm2 - float(np.sum(o**2))) + floor


def teacher_projections(u: np.ndarray, modes: ModeSet) -> np.ndarray:
    """q_j = u*_jᵀ W v*_j of W = Û diag(u) V̂ᵀ for each teacher mode j: (..., rank) (THEORY §9.4)."""
    return np.einsum("...i,ji,ji->...j", u, modes.A, modes.B)


def mode_curves(steps, modes: ModeSet, u0, depth: int, lr: float) -> np.ndarray:
    """u_i at the given GD steps (K, r): the exact finite-step recursion towards ŝ_i (THEORY §2.6)."""
    with np.errstate(all="ignore"):
        return mode_curve_gd(steps, modes.s_hat, u0, depth, lr)


def refine_best_step(grid: np.ndarray, curve: np.ndarray, modes: ModeSet, u0, depth: int, lr: float,
                     teacher_norm2: float, floor: float) -> tuple[int, float]:
    """(best step, its test loss) of the theory at single-step resolution: the grid argmin, then every
    step between its two neighbours (the curve is smooth there)."""
    j = int(np.nanargmin(curve))
    lo, hi = int(grid[max(j - 1, 0)]), int(grid[min(j + 1, len(grid) - 1)])
    steps = np.arange(lo, hi + 1)
    fine = population_loss(mode_curves(steps, modes, u0, depth, lr), modes, teacher_norm2, floor)
    if not np.isfinite(fine).any():
        return int(grid[j]), float(curve[j])
    k = int(np.nanargmin(fine))
    return int(steps[k]), float(fine[k])


# ------------------------------------------------------------------------ random-matrix asymptotics
def noise_std(noise: float, samples: int) -> float:
    """ν = σ/√P: the entry standard deviation of Σ̂yx − W̄ for whitened inputs (eq. 9.1)."""
    return float(noise) / np.sqrt(samples)


def bbp_threshold(n_in: int, n_out: int, samples: int, noise: float) -> float:
    """Eq. 9.4: s_c = ν (n_in n_out)^{1/4}; a teacher value below it leaves no outlier."""
    return noise_std(noise, samples) * (n_in * n_out) ** 0.25


def bulk_edges(n_in: int, n_out: int, samples: int, noise: float) -> tuple[float, float]:
    """(lower, upper) edge of the noise singular values: ν|√n_in − √n_out|, ν(√n_in + √n_out)."""
    nu = noise_std(noise, samples)
    return nu * abs(np.sqrt(n_in) - np.sqrt(n_out)), nu * (np.sqrt(n_in) + np.sqrt(n_out))


def rmt_outliers(s, n_in: int, n_out: int, samples: int, noise: float) -> dict:
    """Eqs. 9.5–9.7 per teacher value s: outlier ŝ, cos² with the teacher's left (u) and right (v)
    vectors, and ``detected`` (s > s_c). Below the threshold ŝ is the bulk's upper edge and both cos² are 0."""
    s = np.asarray(s, dtype=float)
    nu2 = noise_std(noise, samples) ** 2
    detected = s > bbp_threshold(n_in, n_out, samples, noise)
    with np.errstate(all="ignore"):
        s2 = s**2
        s_hat = np.sqrt(s2 + nu2 * (n_in + n_out) + nu2**2 * n_in * n_out / s2)
        num = s2**2 - nu2**2 * n_in * n_out
        cos_u2 = num / (s2 * (s2 + nu2 * n_out))
        cos_v2 = num / (s2 * (s2 + nu2 * n_in))
    edge = bulk_edges(n_in, n_out, samples, noise)[1]
    return {"s_hat": np.where(detected, s_hat, edge), "cos_u2": np.where(detected, cos_u2, 0.0),
            "cos_v2": np.where(detected, cos_v2, 0.0), "detected": detected}


def mp_singular_quantiles(n_in: int, n_out: int, samples: int, noise: float, k: int, grid: int = 20_001) -> np.ndarray:
    """k singular values of an n_out × n_in matrix of N(0, ν²) entries at the Marchenko–Pastur quantiles
    (i − ½)/k, descending. With n ≤ m the squared values divided by ν²m have density
    √((b − x)(x − a)) / (2π y x) on [a, b] = [(1 − √y)², (1 + √y)²], y = n/m; the substitution
    x = a + (b − a) sin²θ makes the integrand smooth (also at a = 0), so the CDF is a trapezoid sum."""
    if k <= 0:
        return np.zeros(0)
    n, m = min(n_in, n_out), max(n_in, n_out)
    y = n / m
    a, b = (1 - np.sqrt(y)) ** 2, (1 + np.sqrt(y)) ** 2
    theta = np.linspace(0.0, np.pi / 2, grid)
    x = a + (b - a) * np.sin(theta) ** 2
    with np.errstate(all="ignore"):
        dens = np.where(x > 0, (b - a) ** 2 * 2 * np.sin(theta) ** 2 * np.cos(theta) ** 2 / (2 * np.pi * y * x),
                        (b - a) / (np.pi * y))  # the θ → 0 limit when a = 0 (y = 1)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(theta))])
    cdf /= cdf[-1]
    q = (np.arange(k) + 0.5) / k
    xq = np.interp(q, cdf, x)
    return np.sort(np.sqrt(noise_std(noise, samples) ** 2 * m * xq))[::-1]


def rmt_spectrum(singular_values, n_in: int, n_out: int, samples: int, noise: float) -> tuple[ModeSet, dict]:
    """The asymptotic ModeSet from (s_i, σ, P, n_in, n_out) alone: one outlier per detected teacher mode
    (ŝ from eq. 9.5, o = s |cos_u| |cos_v|), then the remaining min(n_in, n_out) − #detected values at
    the Marchenko–Pastur quantiles with o = 0 (a bulk mode carries O(1/n) of the teacher). Also returns
    the per-teacher-mode outlier dict of :func:`rmt_outliers`."""
    s = np.sort(np.asarray(singular_values, dtype=float))[::-1]
    out = rmt_outliers(s, n_in, n_out, samples, noise)
    det = out["detected"]
    r = min(n_in, n_out)
    bulk = mp_singular_quantiles(n_in, n_out, samples, noise, r - int(det.sum()))
    s_hat = np.concatenate([out["s_hat"][det], bulk])
    o = np.concatenate([s[det] * np.sqrt(out["cos_u2"][det] * out["cos_v2"][det]), np.zeros(len(bulk))])
    order = np.argsort(-s_hat, kind="stable")
    return ModeSet(s_hat[order], o[order]), out


__all__ = [
    "ModeSet",
    "bbp_threshold",
    "bulk_edges",
    "empirical_modes",
    "mode_curves",
    "mp_singular_quantiles",
    "noise_std",
    "population_loss",
    "refine_best_step",
    "rmt_outliers",
    "rmt_spectrum",
    "teacher_projections",
]

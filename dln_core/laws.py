"""The depth exponent 2 − 2/L and the u₀ exponent 1 − 2/L, measured (THEORY.md §2).

Substituting u = λw in the mode ODE du/dt = L u^{2−2/L}(λ − u) gives dw/dt = L λ^{2−2/L} w^{2−2/L}(1 − w):
the halfway time is τ½ = λ^{−(2−2/L)} · g_L(u₀/λ). Three measurements of 2 − 2/L follow:

- :func:`fit_lambda_law` — at fixed u₀/λ, the slope of log τ½ against log λ is −(2 − 2/L); and
  τ½ · λ^{2−2/L} plotted against u₀/λ collapses onto one curve per depth (``collapse`` column).
- :func:`ode_exponent` — from one trajectory, the slope of log(u̇ / (L(λ − d u))) against log u during a
  mode's rise is the prefactor exponent 2 − 2/L itself. u̇ is the exact gradient-flow rate at each
  snapshot (diagnostics.mode_rates), so no finite differences of a finite-η trajectory enter.
- :func:`fit_u0_law` — at fixed λ and L > 2, the slope of log τ½ against log u₀ tends to −(1 − 2/L)
  as u₀ → 0 (the plateau's power law; at L = 2 the law is logarithmic and has no exponent).

Each fit carries the standard error of its slope (scipy.stats.linregress's, computed in numpy), so "within 0.03 of theory"
can be told apart from noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

RISE = (0.01, 0.9)  # the part of a mode's rise the ODE exponent is fitted on (fractions of its target)
MIN_POINTS = 3
FIT_BLOCK = 512  # members fitted at once by ode_exponents_batch


@dataclass(frozen=True)
class ExponentFit:
    """A fitted slope with its standard error and the number of points."""

    slope: float
    stderr: float
    n: int


def _linregress(x, y) -> ExponentFit:
    """Least-squares slope and its standard error, the same numbers as scipy.stats.linregress (tested)
    in plain numpy: importing scipy.stats costs seconds, and every run fits its ODE exponent."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = len(x)
    if n < 2 or np.ptp(x) == 0:
        return ExponentFit(math.nan, math.nan, n)
    dx, dy = x - x.mean(), y - y.mean()
    sxx, sxy, syy = float(dx @ dx), float(dx @ dy), float(dy @ dy)
    slope = sxy / sxx
    if n <= 2:
        return ExponentFit(slope, math.nan, n)
    resid = max(syy - slope * sxy, 0.0)  # residual sum of squares
    return ExponentFit(slope, math.sqrt(resid / (n - 2) / sxx), n)


def depth_exponent(depth: int) -> float:
    """2 − 2/L: the exponent of the mode ODE's prefactor and of λ at fixed u₀/λ (THEORY.md §2)."""
    return 2.0 - 2.0 / depth


def u0_exponent(depth: int) -> float:
    """1 − 2/L: minus the small-u₀ slope of log τ½ against log u₀ (THEORY.md §2)."""
    return 1.0 - 2.0 / depth


# ----------------------------------------------------------------------------- one trajectory
def ode_exponent(u, rate, lam: float, depth: int, d: float = 1.0, rise=RISE) -> ExponentFit:
    """Slope of log(u̇ / (L(λ − d u))) against log u over the snapshots of a mode's rise.

    ``u``, ``rate``: (S,) measured strength and gradient-flow rate du/dt at the snapshots. Only
    snapshots with rise[0] ≤ u d/λ ≤ rise[1] and a positive rate count; fewer than MIN_POINTS give nan.
    """
    u, rate = np.asarray(u, float), np.asarray(rate, float)
    target = lam / d
    with np.errstate(all="ignore"):
        sel = (u >= rise[0] * target) & (u <= rise[1] * target) & (rate > 0) & np.isfinite(rate)
        if sel.sum() < MIN_POINTS or lam <= 0:
            return ExponentFit(math.nan, math.nan, int(sel.sum()))
        y = np.log(rate[sel] / (depth * (lam - d * u[sel])))
        return _linregress(np.log(u[sel]), y)


def ode_exponents(problem, u: np.ndarray, rate: np.ndarray, depth: int) -> list:
    """:func:`ode_exponent` per mode of one run ((S, r) arrays) as a list (None where not fitted)."""
    out = []
    for i in range(problem.r):
        f = ode_exponent(u[:, i], rate[:, i], float(problem.lambda_star[i]), depth, float(problem.mode_d[i]))
        out.append(f.slope if np.isfinite(f.slope) else None)
    return out


def ode_exponents_batch(problem, u: np.ndarray, rate: np.ndarray, kept: np.ndarray, depth: int) -> np.ndarray:
    """:func:`ode_exponents` of B members at once: ``u``, ``rate`` (S, B, r) snapshots, ``kept`` (B,) the
    number of leading snapshots each member keeps (those before its divergence). Returns (B, r), NaN
    where not fitted. The same selection and least squares as :func:`ode_exponent`, as masked sums
    over the snapshot axis (a sweep fits 2048 × 6 of them: ~1 s one by one, ~30 ms here); the sums
    are ordered differently, so slopes agree with the one-by-one fit to rounding (~1e-15)."""
    u, rate, kept = np.asarray(u, float), np.asarray(rate, float), np.asarray(kept)
    B = u.shape[1]
    if B > FIT_BLOCK:  # ~10 temporaries of (S, B, r): bounded by fitting blocks of members
        return np.concatenate([ode_exponents_batch(problem, u[:, i:i + FIT_BLOCK], rate[:, i:i + FIT_BLOCK],
                                                   kept[i:i + FIT_BLOCK], depth) for i in range(0, B, FIT_BLOCK)])
    lam = np.asarray(problem.lambda_star, float)
    d = np.asarray(problem.mode_d, float)
    target = lam / d
    S = u.shape[0]
    with np.errstate(all="ignore"):
        sel = (u >= RISE[0] * target) & (u <= RISE[1] * target) & (rate > 0) & np.isfinite(rate)
        sel &= (np.arange(S)[:, None] < kept[None, :])[:, :, None]
        enough = (sel.sum(axis=0) >= MIN_POINTS) & (lam > 0)
        x = np.log(u)
        y = np.log(rate / (depth * (lam - d * u)))
        ok = sel & np.isfinite(x) & np.isfinite(y)
        n = ok.sum(axis=0)
        x0, y0 = np.where(ok, x, 0.0), np.where(ok, y, 0.0)
        dx = np.where(ok, x0 - x0.sum(axis=0) / n, 0.0)
        dy = np.where(ok, y0 - y0.sum(axis=0) / n, 0.0)
        sxx, sxy = np.sum(dx * dx, axis=0), np.sum(dx * dy, axis=0)
        spread = np.where(ok, x, -np.inf).max(axis=0) - np.where(ok, x, np.inf).min(axis=0)
        slope = sxy / sxx
    return np.where(enough & (n >= 2) & (spread > 0), slope, np.nan)


def ode_exponent_frame(problem, u: np.ndarray, rate: np.ndarray, depth: int, steps=None) -> pd.DataFrame:
    """The points behind :func:`ode_exponents` for a chart: one row per (mode, snapshot in the rise)
    with columns mode, step, log_u, log_prefactor (= log(u̇ / (L(λ − d u))))."""
    rows = []
    steps = np.arange(len(u)) if steps is None else np.asarray(steps)
    for i in range(problem.r):
        lam, d = float(problem.lambda_star[i]), float(problem.mode_d[i])
        if lam <= 0:
            continue
        ui, ri = np.asarray(u[:, i], float), np.asarray(rate[:, i], float)
        with np.errstate(all="ignore"):
            sel = (ui >= RISE[0] * lam / d) & (ui <= RISE[1] * lam / d) & (ri > 0) & np.isfinite(ri)
            for k in np.nonzero(sel)[0]:
                rows.append({"mode": i + 1, "step": int(steps[k]), "log_u": float(np.log(ui[k])),
                             "log_prefactor": float(np.log(ri[k] / (depth * (lam - d * ui[k]))))})
    return pd.DataFrame(rows, columns=["mode", "step", "log_u", "log_prefactor"])


def ode_exponent_points(modes: pd.DataFrame, depth: int, d=None) -> pd.DataFrame:
    """:func:`ode_exponent_frame` from a run's ``modes`` frame (columns step, mode, lambda, u, u_rate);
    ``d`` (r,) the per-mode input variances (1 when whitened)."""
    wide_u = modes.pivot(index="step", columns="mode", values="u").sort_index()
    wide_r = modes.pivot(index="step", columns="mode", values="u_rate").sort_index()
    lam = modes.groupby("mode")["lambda"].first().sort_index().to_numpy(float)
    dd = np.ones(len(lam)) if d is None else np.asarray(d, float)

    class _P:  # the two fields ode_exponent_frame reads
        lambda_star, mode_d, r = lam, dd, len(lam)

    return ode_exponent_frame(_P, wide_u.to_numpy(float), wide_r.to_numpy(float), depth, wide_u.index.to_numpy())


# ------------------------------------------------------------------------------ across runs
def fit_lambda_law(frame: pd.DataFrame) -> pd.DataFrame:
    """Per depth: slope of log τ½ against log λ at fixed u₀/λ, sign flipped (→ 2 − 2/L).

    ``frame`` has columns depth, ratio (u₀/λ), lambda, tau_half. Points of several ratios are pooled
    with one intercept per ratio (both coordinates centred within each ratio before the fit; the
    stderr accounts for the extra intercepts).
    """
    rows = []
    for depth, g in frame.groupby("depth"):
        g = g[np.isfinite(g["tau_half"]) & (g["tau_half"] > 0)]
        x = np.log(g["lambda"].to_numpy(float))
        y = np.log(g["tau_half"].to_numpy(float))
        key = g["ratio"].to_numpy(float)
        for rv in np.unique(key):
            m = key == rv
            x[m] -= x[m].mean()
            y[m] -= y[m].mean()
        fit = _linregress(x, y)
        n_groups = len(np.unique(key))
        dof_fix = math.sqrt((fit.n - 2) / (fit.n - 1 - n_groups)) if fit.n - 1 - n_groups > 0 else math.nan
        rows.append({"quantity": "lambda_exponent", "depth": int(depth), "measured": -fit.slope,
                     "theory": depth_exponent(int(depth)), "stderr": fit.stderr * dof_fix, "n_points": fit.n})
    return pd.DataFrame(rows, columns=["quantity", "depth", "measured", "theory", "stderr", "n_points"])


def fit_u0_law(frame: pd.DataFrame) -> pd.DataFrame:
    """Per depth L > 2: minus the slope of log τ½ against log u₀ (→ 1 − 2/L as u₀ → 0), with the same
    fit applied to the exact gradient-flow τ½ at the same u₀ (finite-u₀ corrections included).

    ``frame`` has columns depth, u0, tau_half and optionally tau_half_theory.
    """
    rows = []
    for depth, g in frame.groupby("depth"):
        depth = int(depth)
        if depth <= 2:
            continue
        fit = _linregress(np.log(g["u0"].to_numpy(float)), np.log(g["tau_half"].to_numpy(float)))
        same = math.nan
        if "tau_half_theory" in g:
            same = -_linregress(np.log(g["u0"].to_numpy(float)), np.log(g["tau_half_theory"].to_numpy(float))).slope
        rows.append({"quantity": "u0_exponent", "depth": depth, "measured": -fit.slope, "theory": u0_exponent(depth),
                     "theory_same_u0": same, "stderr": fit.stderr, "n_points": fit.n})
    return pd.DataFrame(rows, columns=["quantity", "depth", "measured", "theory", "theory_same_u0", "stderr",
                                       "n_points"])


__all__ = [
    "ExponentFit",
    "depth_exponent",
    "fit_lambda_law",
    "fit_u0_law",
    "ode_exponent",
    "ode_exponent_frame",
    "ode_exponent_points",
    "ode_exponents",
    "ode_exponents_batch",
    "u0_exponent",
]

"""Numeric helpers: first crossings of sampled curves and straight-line fits (sweeps, studies, embeddings)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def crossing_time(t: np.ndarray, u: np.ndarray, level: float) -> float:
    """First time u(t) reaches ``level`` (linear interpolation between snapshots); NaN if never."""
    above = np.nonzero(u >= level)[0]
    if len(above) == 0:
        return math.nan
    k = int(above[0])
    if k == 0:
        return float(t[0])
    u0, u1 = u[k - 1], u[k]
    frac = (level - u0) / (u1 - u0) if u1 != u0 else 1.0
    return float(t[k - 1] + frac * (t[k] - t[k - 1]))


@dataclass(frozen=True)
class Fit:
    slope: float
    intercept: float
    r2: float
    n: int
    stderr: float = math.nan  # standard error of the slope, √(SS_res / (n − 2) / Σ(x − x̄)²); NaN if n < 3


def _linfit(x: np.ndarray, y: np.ndarray) -> Fit:
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 2 or np.ptp(x) == 0:
        return Fit(math.nan, math.nan, math.nan, len(x))
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    ss = float(np.sum((y - y.mean()) ** 2))
    ss_res = float(np.sum(resid**2))
    r2 = 1.0 - ss_res / ss if ss > 0 else 1.0
    sxx = float(np.sum((x - x.mean()) ** 2))
    se = math.sqrt(ss_res / (len(x) - 2) / sxx) if len(x) > 2 else math.nan
    return Fit(float(slope), float(intercept), r2, len(x), se)


def fit_power_law(u0, tau) -> Fit:
    """Slope of log τ against log u0 (the power-law exponent; −(1 − 2/L) predicted for L > 2)."""
    u0 = np.asarray(u0, float)
    tau = np.asarray(tau, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _linfit(np.log(u0), np.log(tau))


def fit_log_law(u0, tau) -> Fit:
    """Slope of τ against ln(1/u0) (the L = 2 law; 1/(2λ) predicted)."""
    u0 = np.asarray(u0, float)
    tau = np.asarray(tau, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _linfit(np.log(1.0 / u0), tau)


__all__ = ["Fit", "crossing_time", "fit_log_law", "fit_power_law"]

"""Finite step size: the exact GD recursion of a balanced aligned mode (THEORY.md §2, finite η).

Conventions as in theory.py (loss H, t = lr·k); ``lam``, ``u0``, ``d`` broadcast over modes.
"""

from __future__ import annotations

import numpy as np

from ._validate import check_array, check_int, check_mode_params
from .errors import ConfigError


def balanced_layer_strength(u, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """(σ, s) of a balanced mode of end-to-end strength u: every layer has strength s and u = σ s^L
    (THEORY §2). For odd L the sign rides on s (σ = 1); for even L, s = |u|^{1/L} and σ = sign(u)."""
    u = np.asarray(u, dtype=float)
    if depth % 2 == 1:
        return np.ones_like(u), np.sign(u) * np.abs(u) ** (1.0 / depth)
    return np.where(u < 0, -1.0, 1.0), np.abs(u) ** (1.0 / depth)


def mode_curve_gd(steps, lam, u0, depth, lr, d=1.0) -> np.ndarray:
    """Exact finite-step GD recursion for balanced aligned modes, u at the given steps: (K, r) (THEORY §2).

    Per layer strength s = |u|^{1/L}, σ = sign(u) (for odd L the sign is carried by s itself). GD on
    ½ d s^{2L} − λ s^L (the loss (H) of one mode with Σxx = diag(d)) gives s ← s + η σ s^{L−1}(λ − d σ s^L)
    for every layer, so balance is kept and the recursion is exact. Steps may be sparse and unsorted;
    iteration stops early once a mode sits on a fixed point or a 2-cycle (so converged runs of millions
    of steps are cheap); otherwise the cost is one scalar update per step and mode. A diverging mode
    gives nan from the step where it overflows on.
    """
    L = check_int("depth", depth, 1)
    lr = float(check_array("lr", lr, min_value=0.0, strict=True))
    try:
        steps_arr = np.atleast_1d(np.asarray(steps, dtype=float))
    except (TypeError, ValueError):
        raise ConfigError("steps", "must be a non-empty 1-D array of integers >= 0", steps) from None
    if steps_arr.ndim != 1 or steps_arr.size == 0 or not np.all(np.isfinite(steps_arr)):
        raise ConfigError("steps", "must be a non-empty 1-D array of integers >= 0", steps)
    if np.any(steps_arr != np.round(steps_arr)) or np.any(steps_arr < 0):
        raise ConfigError("steps", "must be integers >= 0", steps)
    steps_arr = steps_arr.astype(np.int64)
    lam, u0, d = check_mode_params(lam, u0, d)
    sigma, s = balanced_layer_strength(u0, L)

    wanted = np.unique(steps_arr)
    if lam.size <= _GD_SCALAR_MAX_MODES:
        traj = np.column_stack([_gd_scalar(s[i], sigma[i], lam[i], d[i], lr, L, wanted) for i in range(s.size)])
    else:
        traj = _gd_vector(s, sigma, lam, d, lr, L, wanted)
    with np.errstate(all="ignore"):
        u = sigma * traj**L
    return u[np.searchsorted(wanted, steps_arr)]


_GD_SCALAR_MAX_MODES = 32  # below this, plain Python floats beat numpy's per-call overhead
_GD_BLOCK = 4096  # steps between checks for a fixed point, a 2-cycle or divergence


def _gd_scalar(s, sig, lam, d, lr, L, wanted) -> np.ndarray:
    """One mode of :func:`mode_curve_gd` in Python floats: per-layer strength s at the sorted steps.

    After every block the next two iterates are probed: a fixed point or a 2-cycle makes the rest of
    the trajectory periodic, so it is filled in without iterating. Divergence leaves nan.
    """
    s, c, ds, lam, p = float(s), float(lr * sig), float(d * sig), float(lam), L - 1
    out = np.full(len(wanted), np.nan)
    k = 0
    try:
        for i, target in enumerate(wanted.tolist()):
            while k < target:
                for _ in range(min(target - k, _GD_BLOCK)):
                    s = s + c * s**p * (lam - ds * s**L)
                k += min(target - k, _GD_BLOCK)
                if not np.isfinite(s):
                    return out
                s1 = s + c * s**p * (lam - ds * s**L)
                if s1 == s or s1 + c * s1**p * (lam - ds * s1**L) == s:
                    for ii in range(i, len(wanted)):
                        out[ii] = s if (wanted[ii] - k) % 2 == 0 else s1
                    return out
            out[i] = s
    except OverflowError:  # float ** int overflows: the run diverged
        pass
    return out


def _gd_vector(s, sigma, lam, d, lr, L, wanted) -> np.ndarray:
    """All modes of :func:`mode_curve_gd` at once in numpy (for many modes); same early exits."""
    out = np.full((len(wanted), s.size), np.nan)
    j = 0
    if wanted[0] == 0:
        out[0] = s
        j = 1
    k, kmax = 0, int(wanted[-1])
    s_prev = np.full_like(s, np.nan)
    with np.errstate(all="ignore"):
        while k < kmax:
            s_new = s + lr * sigma * s ** (L - 1) * (lam - d * sigma * s**L)
            k += 1
            if k == wanted[j]:
                out[j] = s_new
                j += 1
            if np.array_equal(s_new, s_prev, equal_nan=True):
                # Period 2 (fixed points included): s_{k+m} = s_k for even m, s_{k-1} for odd m.
                for jj in range(j, len(wanted)):
                    out[jj] = s_new if (wanted[jj] - k) % 2 == 0 else s
                break
            s_prev, s = s, s_new
    return out


__all__ = ["mode_curve_gd"]

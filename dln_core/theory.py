"""Exact theory for deep linear networks: mode curves, halfway and rise times, plateau levels.

Convention (THEORY.md §1), stated once for the whole module: the loss is ½‖·‖² (convention H) and
gradient-flow time is ``t = lr * k`` for GD step k. Mode strength u_i is the projection u*_iᵀ W v*_i.

Every function is pure numpy/scipy and vectorised over modes: ``lam``, ``u0`` and ``d`` broadcast to
shape (r,); times or steps are (T,) and curves come back as (T, r).

Commuting (non-whitened) inputs enter through ``d`` (the input variance of that mode, THEORY §6):
du/dt = L|u|^{2−2/L}(λ − d u). Putting v = d·u and τ = d^{2/L−1}·t turns this into the whitened law
dv/dτ = L|v|^{2−2/L}(λ − v), so every curve is computed in whitened units and mapped back.

Sign conventions (THEORY §2 extended to u ≤ 0): a balanced aligned mode with L ≥ 2 and u0 < 0 (an odd
number of layers pointing the wrong way) obeys the same law with |u|; its magnitude decays towards the
saddle u = 0 and never grows, and u0 = 0 stays at 0 forever. At L = 1 the mode is linear and crosses 0.
"""

from __future__ import annotations

import numpy as np

from ._validate import check_array, check_int, check_mode_params
from .errors import ConfigError

# The public theory namespace also holds, from their own modules: the finite-η recursion, the exact
# λ-balanced L = 2 solution (THEORY §4) and the sharpness / step-size cap (THEORY §6).
from .finite_step import mode_curve_gd
from .lambda_balanced import lambda_balanced_init, lambda_balanced_solution
from .sharpness import (
    balanced_minimum,
    balanced_sharpness,
    max_stable_lr,
    sharpness_balanced,
    sharpness_numeric,
)
from .targets import plateau_levels  # a property of the target (loss with the top k modes learned)

__all__ = [
    "balanced_minimum",
    "balanced_sharpness",
    "commuting_targets",
    "lambda_balanced_init",
    "lambda_balanced_solution",
    "learning_order",
    "max_stable_lr",
    "mode_curve_gd",
    "mode_curve_gf",
    "mode_rate",
    "plateau_levels",
    "rise_time",
    "sharpness_balanced",
    "sharpness_numeric",
    "tau_half",
    "tau_half_asymptotic",
    "time_to_reach",
]

# Inversion in the logit/log variable: beyond |x| = 35 the answer equals its limit to double precision.
_X_CAP = 35.0
_BISECT_ITERS = 12
_NEWTON_ITERS = 5


def hyp2f1(a, b, c, z):
    """scipy's ₂F₁, imported on first use: importing scipy.special costs about a third of a second,
    and the explorer's first page (depth 2) never needs it."""
    from scipy.special import hyp2f1 as f

    return f(a, b, c, z)


# ------------------------------------------------------------------ whitened closed forms (THEORY §2)
def _beta(L: int) -> float:
    return 1.0 - 2.0 / L


# Gauss–Legendre nodes for the smooth remainder near w = 1 (see _near_one). The integrand's nearest
# singularity (s = 0) lies 3 half-lengths from the centre of [1/2, 1]: 20 nodes give ~(3+√8)^{-40} ≈ 1e-30.
_GL_X, _GL_W = np.polynomial.legendre.leggauss(20)


def _near_one(w, p, value_at_half):
    """∫ s^p/(1−s) ds continued from s = 1/2 to w ∈ (1/2, 1), accurate as w → 1.

    scipy's ₂F₁ loses all accuracy within ~1e-15 of z = 1 in this degenerate (c = a + b) case, so the
    log singularity is split off exactly: ∫_{1/2}^{w} s^p/(1−s) ds = −ln(2(1−w)) + ∫_{1/2}^{w} (s^p−1)/(1−s) ds,
    and the second integrand is smooth on [1/2, 1] (Gauss–Legendre).
    """
    w = np.asarray(w, float)
    half_len = 0.5 * (w - 0.5)
    s = 0.5 + half_len[..., None] * (_GL_X + 1.0)
    smooth = np.expm1(p * np.log(s)) / (1.0 - s)
    remainder = half_len * np.sum(smooth * _GL_W, axis=-1)
    return value_at_half - np.log(2.0 * (1.0 - w)) + remainder


def _F_below(w, beta):
    """Antiderivative of w^{−1−β}/(1−w) on (0, 1): F(w) = −(w^{−β}/β)·₂F₁(1, −β; 1−β; w) (THEORY §2)."""
    w = np.asarray(w, float)
    f_half = -(0.5 ** (-beta) / beta) * hyp2f1(1.0, -beta, 1.0 - beta, 0.5)
    with np.errstate(all="ignore"):
        direct = -(w ** (-beta) / beta) * hyp2f1(1.0, -beta, 1.0 - beta, np.minimum(w, 0.5))
    return np.where(w <= 0.5, direct, _near_one(np.maximum(w, 0.5), -1.0 - beta, f_half))


def _F_above(z, beta):
    """Antiderivative of z^{β}/(1−z) on (0, 1), z = 1/w for a mode above its target (w > 1).

    Substituting w = 1/z in THEORY §2's integral gives z^{1+β}/(1+β)·₂F₁(1, 1+β; 2+β; z).
    """
    z = np.asarray(z, float)
    f_half = 0.5 ** (1.0 + beta) / (1.0 + beta) * hyp2f1(1.0, 1.0 + beta, 2.0 + beta, 0.5)
    direct = z ** (1.0 + beta) / (1.0 + beta) * hyp2f1(1.0, 1.0 + beta, 2.0 + beta, np.minimum(z, 0.5))
    return np.where(z <= 0.5, direct, _near_one(np.maximum(z, 0.5), beta, f_half))


def _F_negative(w, beta):
    """Antiderivative of w^{−1−β}/(1+w), w = |u|/λ for a negative mode: F of THEORY §2 at −w."""
    return -(w ** (-beta) / beta) * hyp2f1(1.0, -beta, 1.0 - beta, -w)


def _tau_whitened(v0, v, lam, L):
    """Gradient-flow time for dv/dτ = L|v|^{2−2/L}(λ − v) to go from v0 to v (THEORY §2).

    Elementwise over equal-shape arrays; 0 when v == v0, +inf when v is not on the forward path.
    """
    v0, v, lam = np.broadcast_arrays(*(np.asarray(a, float) for a in (v0, v, lam)))
    out = np.full(v0.shape, np.inf)
    same = v == v0
    out[same] = 0.0
    todo = ~same
    with np.errstate(all="ignore"):
        if L == 1:
            # dv/dτ = λ − v: exponential relaxation; reachable iff v lies strictly between v0 and λ.
            ok = todo & ((v - v0) * (lam - v) > 0)
            out[ok] = np.log((lam[ok] - v0[ok]) / (lam[ok] - v[ok]))
            return out
        k = 2.0 - 2.0 / L  # exponent of |v| in the rate
        zero = todo & (lam == 0)
        # λ = 0: |v| decays as a power law, d|v|/dτ = −L |v|^{k+1}; the sign never changes.
        okz = zero & (v * v0 > 0) & (np.abs(v) < np.abs(v0))
        out[okz] = (np.abs(v[okz]) ** (-k) - np.abs(v0[okz]) ** (-k)) / (k * L)
        pos = todo & (lam > 0)
        grow = pos & (v0 > 0) & (v0 < v) & (v < lam)
        above = pos & (v0 > lam) & (v < v0) & (v > lam)
        neg = pos & (v0 < 0) & (v > v0) & (v < 0)
        if L == 2:
            # Logistic law: τ = ln(v(λ−v0) / (v0(λ−v))) / (2λ), both for growth and decay from above.
            gg = grow | above
            out[gg] = np.log(v[gg] * (lam[gg] - v0[gg]) / (v0[gg] * (lam[gg] - v[gg]))) / (2 * lam[gg])
            q0, q, lm = -v0[neg], -v[neg], lam[neg]
            out[neg] = np.log(q0 * (lm + q) / (q * (lm + q0))) / (2 * lm)
            return out
        beta = _beta(L)
        c = lam ** (-1.0 - beta) / L  # λ^{2/L−2}/L
        w0, w = v0 / lam, v / lam
        # v/λ can round to exactly 1 although v ≠ λ; the hypergeometric F is singular there: τ = inf.
        grow &= w < 1.0
        above &= 1.0 / w < 1.0
        out[grow] = c[grow] * (_F_below(w[grow], beta) - _F_below(w0[grow], beta))
        out[above] = c[above] * (_F_above(1 / w[above], beta) - _F_above(1 / w0[above], beta))
        out[neg] = c[neg] * (_F_negative(-w0[neg], beta) - _F_negative(-w[neg], beta))
    return out


def mode_rate(u, lam, depth, d=1.0):
    """du/dt = L|u|^{2−2/L}(λ − d u): the mode law (THEORY §2 Eq. 11; commuting inputs §6).

    Elementwise and unvalidated (it sits inside the curve inversions); with d = 1 it is the whitened law.
    """
    return depth * np.abs(u) ** (2.0 - 2.0 / depth) * (lam - d * u)


def _masked(ok, value):
    """value() where ok, +inf elsewhere: w = v/λ can round to exactly 1 although v ≠ λ, and F is singular there."""
    return np.where(ok, value(), np.inf)


def _invert_regime(tau, tfun, slope, to_v, x_lo, x_hi):
    """Solve tfun(v(x)) = tau for x, with tfun∘v increasing on [x_lo, x_hi]: bisection, then Newton.

    A short bisection brackets the root to ~1e-5 in x; Newton steps with the exact derivative
    dτ/dx = slope(x, v) (quadratic convergence) polish it to machine precision, clipped to the bracket.
    Points with tau beyond tfun(v(x_hi)) return v(x_hi) (the limit, to ~1e-16).
    """
    lo, hi = x_lo.copy(), x_hi.copy()
    with np.errstate(all="ignore"):
        done = tfun(to_v(hi)) <= tau
        for _ in range(_BISECT_ITERS):
            mid = 0.5 * (lo + hi)
            below = tfun(to_v(mid)) < tau
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
        x = 0.5 * (lo + hi)
        for _ in range(_NEWTON_ITERS):
            v = to_v(x)
            g = tfun(v) - tau
            dx = slope(x, v)
            step = np.where(np.isfinite(g) & (dx > 0), g / dx, 0.0)
            x = np.clip(x - step, lo, hi)
        x = np.where(done, x_hi, x)
    return to_v(x)


def _curve_whitened(tau, v0, lam, L):
    """v(τ) for dv/dτ = L|v|^{2−2/L}(λ − v), elementwise over equal-shape arrays (THEORY §2)."""
    tau, v0, lam = (np.array(a, dtype=float) for a in np.broadcast_arrays(tau, v0, lam))
    out = v0.copy()
    move = (tau > 0) & (v0 != lam) & ((v0 != 0) | (L == 1))
    if not np.any(move):
        return out
    with np.errstate(all="ignore"):
        if L == 1:
            out[move] = (lam + (v0 - lam) * np.exp(-tau))[move]
            return out
        k = 2.0 - 2.0 / L
        zero = move & (lam == 0)
        a0 = np.abs(v0[zero])
        out[zero] = np.sign(v0[zero]) * (a0 ** (-k) + k * L * tau[zero]) ** (-1.0 / k)
        pos = move & (lam > 0)
        grow_or_above = pos & (v0 > 0)
        neg = pos & (v0 < 0)
        if L == 2:
            # Logistic (THEORY §2): v = λ v0 / (v0 + (λ − v0) e^{−2λτ}); written to avoid overflow.
            m, lm, t = v0[grow_or_above], lam[grow_or_above], tau[grow_or_above]
            out[grow_or_above] = lm * m / (m + (lm - m) * np.exp(-2 * lm * t))
            q0, lm, t = -v0[neg], lam[neg], tau[neg]
            e = np.exp(-2 * lm * t)
            out[neg] = -lm * q0 * e / ((q0 + lm) - q0 * e)
            return out
        beta = _beta(L)
        grow = pos & (v0 > 0) & (v0 < lam)
        above = pos & (v0 > lam)
        # Each regime: τ(v) = c·(F(v) − F(v0)) with F(v0) computed once; slope = (dv/dx) / (dv/dτ).
        if np.any(grow):
            t, m, lm = tau[grow], v0[grow], lam[grow]
            c, f0 = lm ** (-1.0 - beta) / L, _F_below(m / lm, beta)
            x0 = np.log(m / (lm - m))  # logit of w = v/λ
            out[grow] = _invert_regime(
                t,
                tfun=lambda v, lm=lm, c=c, f0=f0: _masked(v / lm < 1.0, lambda: c * (_F_below(v / lm, beta) - f0)),
                slope=lambda x, v, lm=lm: (v * (lm - v) / lm) / mode_rate(v, lm, L),
                to_v=lambda x, lm=lm: lm / (1.0 + np.exp(-x)),
                x_lo=x0, x_hi=np.maximum(x0, _X_CAP),
            )
        if np.any(above):
            t, m, lm = tau[above], v0[above], lam[above]
            c, f0 = lm ** (-1.0 - beta) / L, _F_above(lm / m, beta)
            x0 = np.log(m / lm - 1.0)  # log of w − 1, decreasing in time: invert in y = −x
            out[above] = _invert_regime(
                t,
                tfun=lambda v, lm=lm, c=c, f0=f0: _masked(lm / v < 1.0, lambda: c * (_F_above(lm / v, beta) - f0)),
                slope=lambda y, v, lm=lm: (lm - v) / mode_rate(v, lm, L),
                to_v=lambda y, lm=lm: lm * (1.0 + np.exp(-y)),
                x_lo=-x0, x_hi=np.maximum(-x0, _X_CAP),
            )
        if np.any(neg):
            t, m, lm = tau[neg], v0[neg], lam[neg]
            w0 = -m / lm
            c, f0 = lm ** (-1.0 - beta) / L, _F_negative(w0, beta)
            # |v| decreases with time: invert in y = −ln(|v|/λ). Lower-bound the integrand by
            # w^{−1−β}/(1+w0) to get a w small enough that τ(w) ≥ tau: a guaranteed bracket end.
            w_lo = (w0 ** (-beta) + t * beta * (1.0 + w0) / c) ** (-1.0 / beta)
            out[neg] = _invert_regime(
                t,
                tfun=lambda v, lm=lm, c=c, f0=f0: c * (f0 - _F_negative(-v / lm, beta)),
                slope=lambda y, v, lm=lm: -v / mode_rate(v, lm, L),
                to_v=lambda y, lm=lm: -lm * np.exp(-y),
                x_lo=-np.log(w0), x_hi=-np.log(w_lo) + 1.0,
            )
    return out


# ----------------------------------------------------------------------------- public: gradient flow
def mode_curve_gf(t, lam, u0, depth, d=1.0) -> np.ndarray:
    """Gradient-flow mode strengths u_i(t), shape (T, r) (THEORY §2, Eq. 11; commuting inputs §6).

    Solves du/dt = L|u|^{2−2/L}(λ − d u) exactly: L = 1 exponential, L = 2 logistic, L > 2 by inverting
    the hypergeometric time-to-reach formula with bisection + Newton in a logit/log variable (so u0
    down to 1e-30 works). u0 ≤ 0 at L ≥ 2 never grows: u0 = 0 stays, u0 < 0 decays towards 0.
    """
    L = check_int("depth", depth, 1)
    t = check_array("t", t, min_value=0.0)
    t = np.atleast_1d(t)
    if t.ndim != 1:
        raise ConfigError("t", "must be a scalar or a 1-D array of times", t.shape)
    lam, u0, d = check_mode_params(lam, u0, d)
    tau = t[:, None] * d[None, :] ** (2.0 / L - 1.0)  # whitened time, see module docstring
    v = _curve_whitened(tau, (d * u0)[None, :], lam[None, :], L)
    return v / d[None, :]


def time_to_reach(u0, u, lam, depth, d=1.0) -> np.ndarray:
    """Exact gradient-flow time to go from u0 to u (THEORY §2 closed form; §6 for ``d``).

    Broadcasts its arguments; +inf where u is not on the forward path from u0 (e.g. beyond λ/d, or
    u0 ≤ 0 < u at L ≥ 2), 0 where u == u0.
    """
    L = check_int("depth", depth, 1)
    lam = check_array("lam", lam, min_value=0.0)
    u0 = check_array("u0", u0)
    u = check_array("u", u)
    d = check_array("d", d, min_value=0.0, strict=True)
    u0, u, lam, d = np.broadcast_arrays(u0, u, lam, d)
    tau = _tau_whitened(d * u0, d * u, lam, L)
    t = tau / d ** (2.0 / L - 1.0)
    return t if t.ndim else float(t)


def tau_half(lam, u0, depth, d=1.0) -> np.ndarray:
    """Exact gradient-flow halfway time: u reaches half its target λ/(2d) (THEORY §2).

    0 if u0 is already at or past halfway, +inf if the mode never gets there (u0 ≤ 0 at L ≥ 2),
    nan for λ = 0 (no target to be half way to).
    """
    L = check_int("depth", depth, 1)
    lam, u0, d = check_mode_params(lam, u0, d)
    half = lam / (2 * d)
    out = time_to_reach(u0, half, lam, L, d)
    out = np.where(u0 >= half, 0.0, out)
    return np.where(lam == 0, np.nan, out)


def tau_half_asymptotic(lam, u0, depth, d=1.0) -> np.ndarray:
    """Small-init halfway time (THEORY §2): the leading terms as u0 → 0.

    L = 1: ln 2; L = 2: ln(λ/u0)/(2λ); L > 2: u0^{−(1−2/L)}/(λ(L−2)) + C_L λ^{−(2−2/L)} with
    C_L = F(1/2)/L. Commuting inputs (``d``) use the whitened rescaling of the module docstring.
    """
    L = check_int("depth", depth, 1)
    lam, u0, d = check_mode_params(lam, u0, d)
    if np.any(lam <= 0) or np.any(u0 <= 0):
        raise ConfigError("lam, u0", "must be > 0 for the small-init asymptotics", (lam, u0))
    v0 = d * u0
    if L == 1:
        tau = np.full(lam.shape, np.log(2.0))
    elif L == 2:
        tau = np.log(lam / v0) / (2 * lam)
    else:
        beta = _beta(L)
        c_l = float(_F_below(0.5, beta)) / L
        tau = v0 ** (-beta) / (lam * (L - 2)) + c_l * lam ** (-(2.0 - 2.0 / L))
    return tau / d ** (2.0 / L - 1.0)


def rise_time(lam, u0, depth, lo=0.1, hi=0.9, d=1.0) -> np.ndarray:
    """Gradient-flow time for u to rise from lo·λ/d to hi·λ/d (THEORY §2): the sharpness of a drop.

    The law is autonomous, so this does not depend on u0 as long as u0 < lo·λ/d; if u0 is already
    above lo·λ/d the rise is timed from u0 (0 past hi·λ/d); +inf if it never rises (u0 ≤ 0 at L ≥ 2, or
    λ = 0). Divide by :func:`tau_half` for the plateau-sharpness ratio.
    """
    L = check_int("depth", depth, 1)
    if not 0.0 < lo < hi < 1.0:
        raise ConfigError("lo, hi", "must satisfy 0 < lo < hi < 1", (lo, hi))
    lam, u0, d = check_mode_params(lam, u0, d)
    target = lam / d
    start = np.maximum(u0, lo * target)
    out = np.where(u0 >= hi * target, 0.0, time_to_reach(np.minimum(start, hi * target), hi * target, lam, L, d))
    # u0 ≤ 0 at L ≥ 2 never rises (module docstring), and λ = 0 has nothing to rise to.
    never = ((u0 <= 0) & (L >= 2)) | (lam == 0)
    return np.where(never, np.inf, out)


def commuting_targets(s, d) -> np.ndarray:
    """Commuting inputs (THEORY §6): mode i converges to s_i/d_i (cross-covariance sv / input variance)."""
    s = check_array("s", s, min_value=0.0)
    d = check_array("d", d, min_value=0.0, strict=True)
    return np.asarray(s / d, dtype=float)


def learning_order(s, d, u0, depth) -> np.ndarray:
    """1-based mode indices in the order they are learned (by exact tau_half; THEORY §2, §6).

    With commuting inputs the speed is set by s_i and the target by s_i/d_i, so the order can differ
    from the order of the targets. Ties keep index order; never-learned modes (inf/nan) come last.
    """
    times = tau_half(s, u0, depth, d)
    key = np.where(np.isfinite(times), times, np.inf)
    return np.argsort(key, kind="stable") + 1



"""Exact theory for deep linear networks: mode curves, plateau times, exact matrix solutions, sharpness.

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
from scipy.sparse.linalg import LinearOperator, eigsh
from scipy.special import hyp2f1

from .errors import ConfigError

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
_FULL_HESSIAN_MAX = 400  # sharpness_numeric diagonalises the full Hessian up to this many weights


# ----------------------------------------------------------------------------------------- validation
def _check_depth(depth) -> int:
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ConfigError("depth", "must be an integer >= 1", depth)
    return int(depth)


def _as_array(name: str, value, *, min_value: float | None = None, strict: bool = False) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(name, "must be a number or an array of numbers", value) from None
    if not np.all(np.isfinite(arr)):
        raise ConfigError(name, "must be finite", value)
    if min_value is not None:
        bad = arr <= min_value if strict else arr < min_value
        if np.any(bad):
            op = ">" if strict else ">="
            raise ConfigError(name, f"must be {op} {min_value:g}", value)
    return arr


def _mode_params(lam, u0, d):
    """Validate and broadcast λ ≥ 0, u0, d > 0 to common 1-D arrays of length r."""
    lam = _as_array("lam", lam, min_value=0.0)
    u0 = _as_array("u0", u0)
    d = _as_array("d", d, min_value=0.0, strict=True)
    lam, u0, d = np.broadcast_arrays(np.atleast_1d(lam), np.atleast_1d(u0), np.atleast_1d(d))
    if lam.ndim != 1:
        raise ConfigError("lam", "must be a scalar or a 1-D array over modes", lam.shape)
    return lam.astype(float), u0.astype(float), d.astype(float)


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
    L = _check_depth(depth)
    t = _as_array("t", t, min_value=0.0)
    t = np.atleast_1d(t)
    if t.ndim != 1:
        raise ConfigError("t", "must be a scalar or a 1-D array of times", t.shape)
    lam, u0, d = _mode_params(lam, u0, d)
    tau = t[:, None] * d[None, :] ** (2.0 / L - 1.0)  # whitened time, see module docstring
    v = _curve_whitened(tau, (d * u0)[None, :], lam[None, :], L)
    return v / d[None, :]


def time_to_reach(u0, u, lam, depth, d=1.0) -> np.ndarray:
    """Exact gradient-flow time to go from u0 to u (THEORY §2 closed form; §6 for ``d``).

    Broadcasts its arguments; +inf where u is not on the forward path from u0 (e.g. beyond λ/d, or
    u0 ≤ 0 < u at L ≥ 2), 0 where u == u0.
    """
    L = _check_depth(depth)
    lam = _as_array("lam", lam, min_value=0.0)
    u0 = _as_array("u0", u0)
    u = _as_array("u", u)
    d = _as_array("d", d, min_value=0.0, strict=True)
    u0, u, lam, d = np.broadcast_arrays(u0, u, lam, d)
    tau = _tau_whitened(d * u0, d * u, lam, L)
    t = tau / d ** (2.0 / L - 1.0)
    return t if t.ndim else float(t)


def tau_half(lam, u0, depth, d=1.0) -> np.ndarray:
    """Exact gradient-flow halfway time: u reaches half its target λ/(2d) (THEORY §2).

    0 if u0 is already at or past halfway, +inf if the mode never gets there (u0 ≤ 0 at L ≥ 2),
    nan for λ = 0 (no target to be half way to).
    """
    L = _check_depth(depth)
    lam, u0, d = _mode_params(lam, u0, d)
    half = lam / (2 * d)
    out = time_to_reach(u0, half, lam, L, d)
    out = np.where(u0 >= half, 0.0, out)
    return np.where(lam == 0, np.nan, out)


def tau_half_asymptotic(lam, u0, depth, d=1.0) -> np.ndarray:
    """Small-init halfway time (THEORY §2): the leading terms as u0 → 0.

    L = 1: ln 2; L = 2: ln(λ/u0)/(2λ); L > 2: u0^{−(1−2/L)}/(λ(L−2)) + C_L λ^{−(2−2/L)} with
    C_L = F(1/2)/L. Commuting inputs (``d``) use the whitened rescaling of the module docstring.
    """
    L = _check_depth(depth)
    lam, u0, d = _mode_params(lam, u0, d)
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
    L = _check_depth(depth)
    if not 0.0 < lo < hi < 1.0:
        raise ConfigError("lo, hi", "must satisfy 0 < lo < hi < 1", (lo, hi))
    lam, u0, d = _mode_params(lam, u0, d)
    target = lam / d
    start = np.maximum(u0, lo * target)
    out = np.where(u0 >= hi * target, 0.0, time_to_reach(np.minimum(start, hi * target), hi * target, lam, L, d))
    # u0 ≤ 0 at L ≥ 2 never rises (module docstring), and λ = 0 has nothing to rise to.
    never = ((u0 <= 0) & (L >= 2)) | (lam == 0)
    return np.where(never, np.inf, out)


def plateau_levels(lambda_star, d=1.0) -> np.ndarray:
    """Loss plateaus ½ Σ_{i>k} λ_i²/d_i for k = 0..r, shape (r+1,) (THEORY §5 saddle-to-saddle, §6 for d).

    Modes are taken in descending λ (ties keep their order); ``d`` (input variance per mode, 1 when
    whitened) broadcasts to λ's shape and follows the same order.
    """
    lam = np.atleast_1d(_as_array("lambda_star", lambda_star, min_value=0.0)).ravel()
    d = _as_array("d", d, min_value=0.0, strict=True)
    if d.size not in (1, lam.size):
        raise ConfigError("d", f"must be one number or {lam.size} (one per mode)", d.shape)
    d = np.broadcast_to(d.ravel(), lam.shape)
    order = np.argsort(-lam, kind="stable")
    sq = lam[order] ** 2 / d[order]
    tail = np.concatenate([np.cumsum(sq[::-1])[::-1], [0.0]])
    return 0.5 * tail


def commuting_targets(s, d) -> np.ndarray:
    """Commuting inputs (THEORY §6): mode i converges to s_i/d_i (cross-covariance sv / input variance)."""
    s = _as_array("s", s, min_value=0.0)
    d = _as_array("d", d, min_value=0.0, strict=True)
    return np.asarray(s / d, dtype=float)


def learning_order(s, d, u0, depth) -> np.ndarray:
    """1-based mode indices in the order they are learned (by exact tau_half; THEORY §2, §6).

    With commuting inputs the speed is set by s_i and the target by s_i/d_i, so the order can differ
    from the order of the targets. Ties keep index order; never-learned modes (inf/nan) come last.
    """
    times = tau_half(s, u0, depth, d)
    key = np.where(np.isfinite(times), times, np.inf)
    return np.argsort(key, kind="stable") + 1


# ----------------------------------------------------------------------------- finite step size (GD)
def mode_curve_gd(steps, lam, u0, depth, lr, d=1.0) -> np.ndarray:
    """Exact finite-step GD recursion for balanced aligned modes, u at the given steps: (K, r) (THEORY §2).

    Per layer strength s = |u|^{1/L}, σ = sign(u) (for odd L the sign is carried by s itself). GD on
    ½ d s^{2L} − λ s^L (the loss (H) of one mode with Σxx = diag(d)) gives s ← s + η σ s^{L−1}(λ − d σ s^L)
    for every layer, so balance is kept and the recursion is exact. Steps may be sparse and unsorted;
    iteration stops early once a mode sits on a fixed point or a 2-cycle (so converged runs of millions
    of steps are cheap); otherwise the cost is one scalar update per step and mode. A diverging mode
    gives nan from the step where it overflows on.
    """
    L = _check_depth(depth)
    lr = float(_as_array("lr", lr, min_value=0.0, strict=True))
    try:
        steps_arr = np.atleast_1d(np.asarray(steps, dtype=float))
    except (TypeError, ValueError):
        raise ConfigError("steps", "must be a non-empty 1-D array of integers >= 0", steps) from None
    if steps_arr.ndim != 1 or steps_arr.size == 0 or not np.all(np.isfinite(steps_arr)):
        raise ConfigError("steps", "must be a non-empty 1-D array of integers >= 0", steps)
    if np.any(steps_arr != np.round(steps_arr)) or np.any(steps_arr < 0):
        raise ConfigError("steps", "must be integers >= 0", steps)
    steps_arr = steps_arr.astype(np.int64)
    lam, u0, d = _mode_params(lam, u0, d)
    if L % 2 == 1:
        sigma = np.ones_like(u0)
        s = np.sign(u0) * np.abs(u0) ** (1.0 / L)
    else:
        sigma = np.where(u0 < 0, -1.0, 1.0)
        s = np.abs(u0) ** (1.0 / L)

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


def sharpness_balanced(lambda_max, depth) -> np.ndarray:
    """Top Hessian eigenvalue at a balanced global minimum, whitened: L λ_max^{2−2/L} (THEORY §6)."""
    L = _check_depth(depth)
    lam = _as_array("lambda_max", lambda_max, min_value=0.0)
    out = L * lam ** (2.0 - 2.0 / L)
    return out if np.ndim(out) else float(out)


def max_stable_lr(sharpness) -> np.ndarray:
    """Largest stable GD step at a minimum with this sharpness: 2 / sharpness (THEORY §6)."""
    sh = _as_array("sharpness", sharpness, min_value=0.0, strict=True)
    out = 2.0 / sh
    return out if np.ndim(out) else float(out)


# ------------------------------------------------------------- exact L = 2 matrix solution (THEORY §4)
def lambda_balanced_init(W1, n_out, lambda_b=0.0, seed=0) -> np.ndarray:
    """W2 = O (W1W1ᵀ + λ_b I)^{1/2} with random orthonormal columns O, so W2ᵀW2 − W1W1ᵀ = λ_b I (THEORY §4)."""
    W1 = _as_array("W1", W1)
    if W1.ndim != 2:
        raise ConfigError("W1", "must be a 2-D array (hidden × n_in)", W1.shape)
    n_h = W1.shape[0]
    if not isinstance(n_out, (int, np.integer)) or n_out < n_h:
        raise ConfigError("n_out", f"must be an integer >= the hidden width {n_h}", n_out)
    from .targets import psd_sqrt  # lazy: targets imports config; theory stays a leaf module

    gram = W1 @ W1.T + lambda_b * np.eye(n_h)
    evals = np.linalg.eigvalsh(gram)
    if evals.min() < -1e-12 * max(1.0, abs(evals).max()):
        raise ConfigError("lambda_b", "must keep W1W1ᵀ + lambda_b I positive semi-definite", lambda_b)
    root = psd_sqrt(gram)
    ortho, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n_out, n_h)))
    return ortho @ root


def lambda_balanced_solution(sigma_yx, W1_0, W2_0, t, lambda_b=0.0) -> np.ndarray:
    """Exact whitened L = 2 gradient flow W2W1(t) from a λ-balanced start, shape (T, n_out, n_in) (THEORY §4).

    P = QQᵀ, Q = [W1ᵀ; W2], follows the Riccati flow P(t) = e^{Ft}Q0[I + Q0ᵀ(∫₀ᵗe^{2Fs}ds)Q0]^{-1}Q0ᵀe^{Ft}.
    The flow map is a semigroup, so it is applied in chunks Δ with |μ|Δ ≤ 2.5 (μ the eigenvalues of the
    symmetric F): no exponential overflows and every Cholesky solve is well conditioned, for any t.
    Q is kept in F's eigenbasis and updated as Q ← e^{FΔ} Q C^{-T} with CCᵀ = I + Qᵀ φ(F) Q; no inverses.
    Cost grows like max(t)·max|μ| / 2.5 small dense solves (t = 1e4, λ = 6: about a second).
    """
    S = _as_array("sigma_yx", sigma_yx)
    W1 = _as_array("W1_0", W1_0)
    W2 = _as_array("W2_0", W2_0)
    lambda_b = float(_as_array("lambda_b", lambda_b))
    if S.ndim != 2 or W1.ndim != 2 or W2.ndim != 2:
        raise ConfigError("sigma_yx, W1_0, W2_0", "must be 2-D arrays", (S.shape, W1.shape, W2.shape))
    n_out, n_in = S.shape
    n_h = W1.shape[0]
    if W1.shape != (n_h, n_in) or W2.shape != (n_out, n_h):
        raise ConfigError(
            "W1_0, W2_0", f"must have shapes (h, {n_in}) and ({n_out}, h)", (W1.shape, W2.shape)
        )
    residual = W2.T @ W2 - W1 @ W1.T - lambda_b * np.eye(n_h)
    scale = max(1.0, np.abs(W1).max() ** 2, np.abs(W2).max() ** 2)
    if np.abs(residual).max() > 1e-8 * scale:
        raise ConfigError(
            "W1_0, W2_0", "must be lambda-balanced: W2ᵀW2 − W1W1ᵀ = lambda_b I", float(np.abs(residual).max())
        )
    t = np.atleast_1d(_as_array("t", t, min_value=0.0))
    if t.ndim != 1:
        raise ConfigError("t", "must be a scalar or a 1-D array of times", t.shape)

    F = np.block([[-0.5 * lambda_b * np.eye(n_in), S.T], [S, 0.5 * lambda_b * np.eye(n_out)]])
    mu, basis = np.linalg.eigh(F)
    A = basis.T @ np.vstack([W1.T, W2])  # Q in F's eigenbasis
    h_max = 2.5 / max(np.abs(mu).max(), 1e-300)

    eye = np.eye(n_h)
    out = np.empty((t.size, n_out, n_in))
    now = 0.0
    for idx in np.argsort(t, kind="stable"):
        remaining = t[idx] - now
        n_chunks = int(np.ceil(remaining / h_max)) if remaining > 0 else 0
        if n_chunks:
            dt = remaining / n_chunks
            e = np.exp(mu * dt)[:, None]
            with np.errstate(divide="ignore", invalid="ignore"):
                phi = np.where(mu != 0, np.expm1(2 * mu * dt) / (2 * mu), dt)[:, None]
        for _ in range(n_chunks):
            # One exact Riccati flow step of length dt (THEORY §4), in the eigenbasis of F.
            chol = np.linalg.cholesky(eye + A.T @ (phi * A))
            A = np.linalg.solve(chol, (e * A).T).T
        now = t[idx]
        Q = basis @ A
        out[idx] = Q[n_in:] @ Q[:n_in].T  # lower-left block of P = W2 W1
    return out


# ------------------------------------------------------------------ sharpness and minima (THEORY §6)
def balanced_minimum(sigma_yx, depth, width=None, sigma_xx=None) -> list[np.ndarray]:
    """Weights [W_1, …, W_L] of a balanced global minimum of loss (H) (THEORY §3, §6).

    The end-to-end optimum W* = Σyx Σxx^{-1} (Σyx when whitened) is split evenly: with W* = U S Vᵀ,
    W_1 = R S^{1/L} Vᵀ, W_l = R S^{1/L} Rᵀ, W_L = U S^{1/L} Rᵀ (R = the first k unit vectors of the
    hidden space, k = min(width, rank)). Every W_{l+1}ᵀW_{l+1} = W_lW_lᵀ, i.e. balanced. If width is
    smaller than the rank, this is the balanced optimum restricted to the top-``width`` modes.
    ``sigma_yx`` may also be a :class:`~dln_core.targets.Problem` (its sigma_yx and sigma_xx are used).
    """
    L = _check_depth(depth)
    if hasattr(sigma_yx, "sigma_yx"):  # a targets.Problem
        if sigma_xx is None:
            sigma_xx = sigma_yx.sigma_xx
        sigma_yx = sigma_yx.sigma_yx
    S = _as_array("sigma_yx", sigma_yx)
    if S.ndim != 2:
        raise ConfigError("sigma_yx", "must be a 2-D array", S.shape)
    n_out, n_in = S.shape
    if width is None:
        width = max(n_out, n_in)
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise ConfigError("width", "must be an integer >= 1", width)
    target = S
    if sigma_xx is not None:
        sxx = _as_array("sigma_xx", sigma_xx)
        if sxx.shape != (n_in, n_in):
            raise ConfigError("sigma_xx", f"must be a ({n_in}, {n_in}) matrix", sxx.shape)
        target = np.linalg.solve(sxx.T, S.T).T  # Σyx Σxx^{-1} without forming the inverse
    if L == 1:
        return [target.copy()]
    U, sv, Vt = np.linalg.svd(target, full_matrices=False)
    k = min(int(width), sv.size)
    root = sv[:k] ** (1.0 / L)
    R = np.eye(width)[:, :k]
    Ws = [R @ (root[:, None] * Vt[:k])]
    Ws += [R @ np.diag(root) @ R.T for _ in range(L - 2)]
    Ws.append((U[:, :k] * root) @ R.T)
    return Ws


def _grad_and_hvp(sigma_xx, sigma_yx, Ws, Vs):
    """Layer gradients of loss (H) (THEORY §1) and their exact directional derivative along Vs (= H·V).

    ∇_{W_l} = (W_L…W_{l+1})ᵀ(WΣxx − Σyx)(W_{l−1}…W_1)ᵀ, differentiated by the product rule ("dual
    numbers" on the chain products), so the Hessian-vector product has no finite-difference error.
    """
    L = len(Ws)
    n_in = Ws[0].shape[1]
    n_out = Ws[-1].shape[0]
    pre, dpre = [np.eye(n_in)], [np.zeros((n_in, n_in))]  # pre[i] = W_i…W_1 (first i layers)
    for W, V in zip(Ws, Vs):
        pre.append(W @ pre[-1])
        dpre.append(V @ pre[-2] + W @ dpre[-1])
    post, dpost = [None] * L, [None] * L  # post[i] = W_L…W_{i+2} (layers after i, 0-based)
    post[-1], dpost[-1] = np.eye(n_out), np.zeros((n_out, n_out))
    for i in range(L - 2, -1, -1):
        post[i] = post[i + 1] @ Ws[i + 1]
        dpost[i] = dpost[i + 1] @ Ws[i + 1] + post[i + 1] @ Vs[i + 1]
    R = pre[L] @ sigma_xx - sigma_yx
    dR = dpre[L] @ sigma_xx
    grads, hvps = [], []
    for i in range(L):
        grads.append(post[i].T @ R @ pre[i].T)
        hvps.append(dpost[i].T @ R @ pre[i].T + post[i].T @ dR @ pre[i].T + post[i].T @ R @ dpre[i].T)
    return grads, hvps


def sharpness_numeric(sigma_xx, sigma_yx, weights, iters=50) -> float:
    """Top (largest algebraic) Hessian eigenvalue of loss (H) at ``weights`` (THEORY §6).

    Uses exact Hessian-vector products (:func:`_grad_and_hvp`). With ≤ 400 parameters the full Hessian
    is assembled column by column from HVPs and diagonalised (exact); above that, Lanczos (scipy eigsh,
    a Krylov-accelerated power iteration) with at most ``iters``·10 HVP iterations.
    """
    Ws = [_as_array("weights", W) for W in weights]
    if not Ws or any(W.ndim != 2 for W in Ws):
        raise ConfigError("weights", "must be a non-empty list of 2-D arrays", len(Ws))
    sxx = _as_array("sigma_xx", sigma_xx)
    syx = _as_array("sigma_yx", sigma_yx)
    if isinstance(iters, bool) or not isinstance(iters, (int, np.integer)) or iters < 1:
        raise ConfigError("iters", "must be an integer >= 1", iters)
    shapes = [W.shape for W in Ws]
    sizes = [W.size for W in Ws]
    n = sum(sizes)
    splits = np.cumsum(sizes)[:-1]

    def hvp(v):
        Vs = [p.reshape(sh) for p, sh in zip(np.split(np.asarray(v, float).ravel(), splits), shapes)]
        return np.concatenate([h.ravel() for h in _grad_and_hvp(sxx, syx, Ws, Vs)[1]])

    if n <= _FULL_HESSIAN_MAX:
        H = np.column_stack([hvp(e) for e in np.eye(n)])
        return float(np.linalg.eigvalsh(0.5 * (H + H.T))[-1])
    op = LinearOperator((n, n), matvec=hvp, dtype=float)
    v0 = np.random.default_rng(0).standard_normal(n)
    val = eigsh(op, k=1, which="LA", v0=v0, maxiter=10 * int(iters), tol=1e-12, return_eigenvectors=False)
    return float(val[0])


def balanced_sharpness(problem, depth, width=None) -> tuple[float, str]:
    """(sharpness, method) at the balanced global minimum of a targets.Problem (THEORY §6).

    Whitened inputs (``problem.input_kind == "whitened"``, Σxx = I): the closed form
    :func:`sharpness_balanced` L·λ_max^{2−2/L}. Otherwise the top Hessian eigenvalue of
    :func:`sharpness_numeric` at :func:`balanced_minimum` (full Hessian up to 400 weights, else Lanczos).
    ``width`` is the hidden width (ignored at depth 1). 2/sharpness (:func:`max_stable_lr`) is the cap.
    """
    L = _check_depth(depth)
    if problem.input_kind == "whitened":
        return float(sharpness_balanced(float(problem.lambda_star.max()), L)), "closed form L·λ^(2−2/L)"
    ws = balanced_minimum(problem, L, width if L > 1 else None)
    n = sum(w.size for w in ws)
    method = "numerical (full Hessian)" if n <= _FULL_HESSIAN_MAX else "numerical (Lanczos)"
    return float(sharpness_numeric(problem.sigma_xx, problem.sigma_yx, ws)), method

"""dln_core.embeddings.theory against the core depth-2 theory (dln_core.theory) it wraps: the ¼-scaled
mode laws are the core's L = 2 laws, μ < 0 modes are the core's negative modes mirrored, and the
embeddings' edge-case conventions (NaN halfway time for μ ≤ 0 or u0 ≥ μ/2) hold."""

from __future__ import annotations

import numpy as np
import pytest

from dln_core import theory as core
from dln_core.embeddings import theory
from dln_core.errors import ConfigError


def _random_modes(seed: int, K: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mu = np.where(rng.random(K) < 0.5, rng.uniform(-3, 1400, K), rng.uniform(-3, 10, K))
    mu[:3] = [0.0, -2.0, 5.0]
    u0 = 10 ** rng.uniform(-14, 1, K)
    return mu, u0


def _logistic(t, mu, u0):
    """The module docstring's closed form, written out independently (μ ≠ 0)."""
    return mu * u0 / (u0 + (mu - u0) * np.exp(-2.0 * mu * t))


def test_gradient_flow_is_the_logistic_for_every_sign_of_mu():
    mu, u0 = _random_modes(0)
    t = np.linspace(0.0, 1.0, 101)
    u = theory.mode_curve_gf(t, mu, u0)
    assert u.shape == (101, len(mu))
    nz = mu != 0
    with np.errstate(over="ignore"):
        expected = _logistic(t[:, None], mu[nz], u0[nz])
    np.testing.assert_allclose(u[:, nz], expected, rtol=1e-10, atol=0)
    np.testing.assert_allclose(u[:, ~nz], u0[~nz] / (1 + 2 * u0[~nz] * t[:, None]), rtol=1e-12)
    assert np.all(u >= 0) and not np.any(np.signbit(u))  # negative modes decay to +0, never −0


def test_negative_mode_is_the_mirrored_core_mode():
    t = np.array([0.0, 0.1, 1.0, 10.0])
    mu, u0 = np.array([-1.5, -0.2]), np.array([0.3, 4.0])
    np.testing.assert_array_equal(theory.mode_curve_gf(t, mu, u0), -core.mode_curve_gf(t, -mu, -u0, 2))


def test_finite_step_loop_agrees_with_the_core_recursion():
    """The finite-step curve is the core's depth-2 recursion, μ < 0 mirrored."""
    mu, u0 = _random_modes(1, K=40)
    lr = 0.9 / mu.max()  # ημ ≤ 0.9: the well-conditioned regime (the page's automatic step)
    steps = 1500
    gd = theory.mode_curve_gd(steps, mu, u0, lr)
    assert gd.shape == (steps + 1, len(mu))
    sign = np.where(mu < 0, -1.0, 1.0)
    ref = sign * core.mode_curve_gd(np.arange(steps + 1), np.abs(mu), sign * u0, 2, lr)
    np.testing.assert_allclose(gd, ref, rtol=1e-10, atol=0)


def test_halfway_time_matches_the_core_and_the_closed_form():
    mu, u0 = _random_modes(2)
    tau = theory.tau_half(mu, u0)
    rising = (mu > 0) & (u0 < mu / 2)
    assert rising.sum() > 10 and (~rising).sum() >= 5
    assert np.all(np.isnan(tau[~rising]))
    np.testing.assert_allclose(tau[rising], core.tau_half(mu[rising], u0[rising], 2), rtol=1e-13)
    np.testing.assert_allclose(tau[rising], np.log(mu[rising] / u0[rising] - 1) / (2 * mu[rising]), rtol=1e-10)


def test_halfway_time_edge_cases():
    mu = np.array([2.0, 2.0, 2.0, 0.0, -1.0])
    u0 = np.array([0.0, 1.0, 3.0, 0.1, 0.1])
    tau = theory.tau_half(mu, u0)
    assert tau[0] == np.inf  # u0 = 0 never leaves the saddle
    assert np.all(np.isnan(tau[1:]))  # at/past halfway, μ = 0, μ < 0: no rise to time
    assert np.ndim(theory.tau_half(2.0, 1e-3)) == 0
    assert theory.tau_half(2.0, 1e-3) == pytest.approx(np.log(2e3 - 1) / 4, rel=1e-14)


def test_non_finite_inputs_give_nan_and_negative_u0_is_rejected():
    u = theory.mode_curve_gf(np.array([0.0, 1.0]), np.array([np.nan, 1.0, 1.0]), np.array([1e-3, np.inf, 1e-3]))
    assert np.all(np.isnan(u[:, :2])) and np.all(np.isfinite(u[:, 2]))
    assert np.all(np.isnan(theory.tau_half(np.array([np.nan, 1.0]), np.array([1e-3, np.nan]))))
    with pytest.raises(ConfigError):
        theory.mode_curve_gf(np.array([0.0]), np.array([1.0]), np.array([-1e-3]))
    with pytest.raises(ConfigError):
        theory.tau_half(np.array([1.0]), np.array([-1e-3]))


def test_first_crossing_is_the_sweep_crossing_time_per_column():
    """Fractional row index of the first crossing = _numeric.crossing_time with t = row index."""
    from dln_core._numeric import crossing_time

    v = np.array([[0.0, 1.0, 5.0, 0.0, 0.0],
                  [1.0, 1.0, 5.0, np.inf, 0.5],
                  [1.0, 2.0, 5.0, np.inf, 0.6],
                  [3.0, 3.0, 5.0, np.inf, 0.7]])
    level = np.array([1.0, 1.5, 2.0, 10.0, 1.0])
    got = theory.first_crossing(v, level)
    # interpolated 0 → 1 at 1.0; 1 → 2 halfway from row 1; at row 0; an overflow step; never reached
    np.testing.assert_array_equal(got, [1.0, 1.5, 0.0, 0.0, np.nan])
    rows = np.arange(4.0)
    for k in range(4):
        assert got[k] == crossing_time(rows, v[:, k], level[k])
    # a non-finite level (μ ≤ 0 has no halfway point) is NaN even where values reach it
    assert np.all(np.isnan(theory.first_crossing(v[:, :3], np.array([np.nan, -np.inf, np.inf]))))
    mu, u0 = _random_modes(3)
    gd = theory.mode_curve_gd(400, mu, u0, 0.9 / mu.max())
    half = np.where(mu > 0, mu / 2, np.nan)
    cross = theory.first_crossing(gd, half)
    assert np.isfinite(cross).sum() >= 10
    for k in np.flatnonzero(np.isfinite(cross)):  # the curve reaches the level exactly there
        i = int(np.ceil(cross[k]))
        assert gd[i, k] >= half[k] and (i == 0 or gd[i - 1, k] < half[k])


def _plain_gd_loop(steps, mu, u0, lr):
    """u ← u(1 + η(μ − u))² written out (the module docstring's GD map; the loop the module used to keep)."""
    out = np.empty((steps + 1, len(mu)))
    out[0] = u = u0.copy()
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, steps + 1):
            out[k] = u = u * (1.0 + lr * (mu - u)) ** 2
    return out


def test_finite_step_curve_matches_the_plain_gd_map_and_overflows_to_inf():
    mu, u0 = _random_modes(4, K=50)
    lr = 0.9 / mu.max()
    gd = theory.mode_curve_gd(800, mu, u0, lr)
    ref = _plain_gd_loop(800, mu, u0, lr)
    assert np.all(np.isfinite(ref))
    np.testing.assert_allclose(gd, ref, rtol=1e-12, atol=0)
    # a step far past the stable limit: the growing mode becomes +inf (never NaN), the others stay finite
    mu, u0 = np.array([5.0, 0.0, -0.5]), np.array([1e-6, 1e-3, 1e-3])
    gd = theory.mode_curve_gd(60, mu, u0, 1.0)
    assert np.all(np.isfinite(gd[:, 1:])) and not np.any(np.isnan(gd))
    assert gd[-1, 0] == np.inf and np.isfinite(gd[5, 0])
    np.testing.assert_allclose(gd[:6], _plain_gd_loop(5, mu, u0, 1.0), rtol=1e-12)
    assert np.all(np.isnan(theory.mode_curve_gd(3, np.array([np.nan]), np.array([1e-3]), 0.1)))

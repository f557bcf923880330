"""Tests for dln_core.theory: every closed form against an independent numerical computation.

Tolerances are stated per assertion. Independent references: scipy solve_ivp on the mode ODE,
literal numpy matrix GD written here, and finite-difference Hessians of a gradient written here.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import dln_core
from dln_core import theory as th
from dln_core.errors import ConfigError

ARTICLE = np.array([6.0, 4.0, 3.0, 2.0, 1.0, 0.5])


def _ode_in_log_u(L, lam, u0, d, t_eval):
    """u(t) for du/dt = L u^{2-2/L}(λ − d u) (THEORY §2, §6), integrated in y = ln u (u0 > 0)."""

    def rhs(_t, y):
        u = np.exp(y)
        return L * u ** (1.0 - 2.0 / L) * (lam - d * u)

    sol = solve_ivp(rhs, (0.0, float(np.max(t_eval))), [np.log(u0)], t_eval=t_eval, method="DOP853",
                    rtol=1e-12, atol=1e-13)
    assert sol.success
    return np.exp(sol.y[0])


# ------------------------------------------------------------------------------ gradient flow (§2)
@pytest.mark.parametrize("L", [2, 3, 4, 5, 6])
@pytest.mark.parametrize("u0", [1e-2, 1e-6])
def test_time_to_reach_matches_ode_integration(L, u0):
    lam = 3.0
    targets = np.array([0.1, 0.5, 0.9, 0.99]) * lam
    times = th.time_to_reach(u0, targets, lam, L)
    assert np.all(np.diff(times) > 0)
    u_num = _ode_in_log_u(L, lam, u0, 1.0, times)
    np.testing.assert_allclose(u_num, targets, rtol=1e-8)


@pytest.mark.parametrize("L", [3, 4, 6])
def test_tiny_init_closed_form_agrees_with_asymptotics(L):
    lam = np.array([6.0, 1.0, 0.5])
    exact = th.tau_half(lam, 1e-20, L)
    approx = th.tau_half_asymptotic(lam, 1e-20, L)
    # The first neglected term is O(u0/λ) relative: 1e-19, so 1e-9 is generous yet meaningful.
    np.testing.assert_allclose(exact, approx, rtol=1e-9)
    # Power law: the plateau grows like u0^{-(1-2/L)}.
    ratio = th.tau_half(1.0, 1e-20, L) / th.tau_half(1.0, 1e-16, L)
    assert ratio == pytest.approx(1e4 ** (1 - 2 / L), rel=1e-3)


def test_tau_half_asymptotic_low_depth():
    assert th.tau_half_asymptotic(3.0, 1e-12, 1)[0] == pytest.approx(np.log(2.0), rel=1e-15)
    np.testing.assert_allclose(th.tau_half(ARTICLE, 1e-12, 2), th.tau_half_asymptotic(ARTICLE, 1e-12, 2),
                               rtol=1e-10)
    np.testing.assert_allclose(th.tau_half(ARTICLE, 1e-3, 2), np.log(ARTICLE / 1e-3 - 1) / (2 * ARTICLE),
                               rtol=1e-13)


@pytest.mark.parametrize(
    ("L", "u0"),
    [(3, 1e-3), (4, 1e-3), (5, 1e-3), (6, 1e-3), (3, 1e-12), (4, 1e-12), (6, 1e-12), (3, 1e-30)],
)
def test_mode_curve_gf_inverts_time_to_reach(L, u0):
    # (Deeper nets from 1e-30 have plateaus ~1e16+ long: a double t cannot resolve the O(1) rise there.)
    fractions = np.array([1e-3, 0.1, 0.5, 0.9, 0.999]) if u0 < 1e-3 else np.array([0.1, 0.5, 0.9, 0.999])
    for lam in ARTICLE:
        targets = fractions * lam
        times = th.time_to_reach(u0, targets, lam, L)
        u = th.mode_curve_gf(times, lam, u0, L)[:, 0]
        # A double t carries a relative error of eps; on a long plateau (t ~ u0^{-(1-2/L)}) that moves u
        # by eps·t·du/dt. The inversion must be exact up to that intrinsic conditioning.
        rate = L * targets ** (2 - 2 / L) * (lam - targets)
        assert np.all(np.abs(u - targets) <= 1e-10 * targets + 4e-16 * times * rate)
        # The well-conditioned direction: t → u → t returns t to 1e-12.
        np.testing.assert_allclose(th.time_to_reach(u0, u, lam, L), times, rtol=1e-12)


def test_mode_curve_gf_shapes_and_l1_l2_closed_forms():
    t = np.linspace(0.0, 4.0, 9)
    u2 = th.mode_curve_gf(t, ARTICLE, 1e-4, 2)
    assert u2.shape == (9, 6)
    logistic = ARTICLE / (1.0 + (ARTICLE / 1e-4 - 1.0) * np.exp(-2.0 * ARTICLE * t[:, None]))
    np.testing.assert_allclose(u2, logistic, rtol=1e-12)
    u1 = th.mode_curve_gf(t, ARTICLE, 0.3, 1)
    np.testing.assert_allclose(u1, ARTICLE - (ARTICLE - 0.3) * np.exp(-t[:, None]), rtol=1e-13)
    # Many modes at once, per-mode u0, from 1e-30 on: all finite, monotone, bounded by λ.
    u6 = th.mode_curve_gf(np.geomspace(1e-3, 1e22, 60), ARTICLE, np.geomspace(1e-30, 1e-5, 6), 6)
    assert np.all(np.isfinite(u6)) and np.all(np.diff(u6, axis=0) >= 0) and np.all(u6 <= ARTICLE)
    np.testing.assert_allclose(u6[-1], ARTICLE, rtol=1e-12)


@pytest.mark.parametrize("L", [1, 2, 3, 4])
def test_commuting_inputs_rescaling_matches_ode(L):
    lam = np.array([3.0, 2.0, 1.0])
    d = np.array([2.0, 0.5, 4.0])
    t = np.linspace(0.0, 40.0, 21)[1:]
    u = th.mode_curve_gf(t, lam, 1e-3, L, d)
    for i in range(3):
        np.testing.assert_allclose(u[:, i], _ode_in_log_u(L, lam[i], 1e-3, d[i], t), rtol=1e-8)
    np.testing.assert_allclose(u[-1], th.commuting_targets(lam, d), rtol=1e-3)
    # The closed-form time agrees with the curve for commuting inputs too.
    t_half = th.tau_half(lam, 1e-3, L, d)
    np.testing.assert_allclose(np.diag(th.mode_curve_gf(t_half, lam, 1e-3, L, d)), lam / (2 * d), rtol=1e-10)


@pytest.mark.parametrize("L", [2, 3, 4])
def test_nonpositive_u0_never_grows(L):
    t = np.linspace(0.0, 3.0, 7)
    assert np.all(th.mode_curve_gf(t, 2.0, 0.0, L) == 0.0)
    u = th.mode_curve_gf(t, 2.0, -0.4, L)[:, 0]
    assert np.all(np.diff(u) > 0) and np.all(u < 0)  # decays towards the saddle, never crosses it

    def rhs(_t, y):
        return L * np.abs(y) ** (2 - 2 / L) * (2.0 - y)

    ref = solve_ivp(rhs, (0, 3), [-0.4], t_eval=t, method="DOP853", rtol=1e-12, atol=1e-15).y[0]
    np.testing.assert_allclose(u, ref, rtol=1e-8)
    assert np.isinf(th.tau_half(2.0, -0.4, L)[0]) and np.isinf(th.tau_half(2.0, 0.0, L)[0])


def test_above_target_and_zero_lambda():
    t = np.linspace(0.0, 2.0, 5)
    for L in (2, 3, 5):
        u = th.mode_curve_gf(t, [1.0, 0.0], 4.0, L)
        for i, lam in enumerate((1.0, 0.0)):
            def rhs(_t, y, lam=lam, L=L):
                return L * np.abs(y) ** (2 - 2 / L) * (lam - y)

            ref = solve_ivp(rhs, (0, 2), [4.0], t_eval=t, method="DOP853", rtol=1e-12, atol=1e-14).y[0]
            np.testing.assert_allclose(u[:, i], ref, rtol=1e-8)
    assert np.isinf(th.time_to_reach(0.5, 2.0, 1.0, 3))  # beyond the target: never
    assert th.time_to_reach(0.5, 0.5, 1.0, 3) == 0.0


def test_rise_time_and_sharpening_with_depth():
    # L = 2: 10 %→90 % of the logistic takes ln(81)/(2λ).
    assert th.rise_time(2.0, 1e-6, 2)[0] == pytest.approx(np.log(81.0) / 4.0, rel=1e-12)
    ratios = [th.rise_time(1.0, 1e-6, L)[0] / th.tau_half(1.0, 1e-6, L)[0] for L in (2, 3, 4, 5)]
    assert all(a > b for a, b in itertools.pairwise(ratios))  # deeper: sharper drop relative to plateau
    # Edge cases: already past 90 % → 0; never rises (u0 ≤ 0, L ≥ 2) → inf; from 50 % it is timed from u0.
    np.testing.assert_array_equal(th.rise_time([1.0, 1.0, 1.0], [0.95, -0.1, 0.0], 3), [0.0, np.inf, np.inf])
    assert th.rise_time(1.0, 0.5, 3)[0] == pytest.approx(th.time_to_reach(0.5, 0.9, 1.0, 3), rel=1e-14)


def test_learning_order_follows_speed_not_target():
    s, d = np.array([2.0, 3.0]), np.array([0.5, 3.0])
    np.testing.assert_allclose(th.commuting_targets(s, d), [4.0, 1.0])
    # Mode 2 has the smaller target but the larger cross-covariance s: it is learned first.
    assert list(th.learning_order(s, d, 1e-4, 2)) == [2, 1]
    assert list(th.learning_order(ARTICLE[::-1], 1.0, 1e-4, 3)) == [6, 5, 4, 3, 2, 1]


def test_plateau_levels_article():
    np.testing.assert_allclose(th.plateau_levels(ARTICLE),
                               [33.125, 15.125, 7.125, 2.625, 0.625, 0.125, 0.0], atol=1e-12)


def test_bad_input_raises_config_error():
    with pytest.raises(ConfigError, match="depth"):
        th.mode_curve_gf([0.0, 1.0], 1.0, 1e-3, 0)
    with pytest.raises(ConfigError, match=r"^d:"):
        th.tau_half(1.0, 1e-3, 2, d=0.0)
    with pytest.raises(ConfigError, match="lam"):
        th.mode_curve_gf([0.0], -1.0, 1e-3, 2)
    with pytest.raises(ConfigError, match="t:"):
        th.mode_curve_gf([-1.0], 1.0, 1e-3, 2)
    with pytest.raises(ConfigError, match="lr"):
        th.mode_curve_gd([0, 1], 1.0, 1e-3, 2, lr=0.0)
    with pytest.raises(ConfigError, match="steps"):
        th.mode_curve_gd([0, 1.5], 1.0, 1e-3, 2, lr=0.1)


# --------------------------------------------------------------------------- finite step size (§2)
@pytest.mark.parametrize("L", [2, 3])
def test_mode_curve_gd_approaches_gf_linearly_in_lr(L):
    T = 3.0
    errors = []
    for lr in (1e-2, 5e-3, 2.5e-3):
        K = round(T / lr)
        steps = np.arange(0, K + 1, K // 30)
        gd = th.mode_curve_gd(steps, ARTICLE, 1e-3, L, lr)
        gf = th.mode_curve_gf(steps * lr, ARTICLE, 1e-3, L)
        errors.append(np.max(np.abs(gd - gf)))
    assert errors[0] < 1.0
    for big, small in itertools.pairwise(errors):
        assert 1.8 < big / small < 2.2  # first-order method: error ∝ lr


@pytest.mark.parametrize("L", [1, 2, 3, 4])
def test_mode_curve_gd_equals_literal_matrix_gd(L):
    """Aligned balanced start, commuting Σxx = diag(d): the scalar recursion is exact GD (§2, §6)."""
    lam = np.array([3.0, 1.5, 0.7])
    d = np.array([1.5, 1.0, 0.6])
    u0 = np.array([0.02, 0.3, 1.2])
    lr = 0.03
    s = u0 ** (1.0 / L)
    Ws = [np.diag(s) for _ in range(L)]
    sxx, syx = np.diag(d), np.diag(lam)
    snapshots = {0: u0.copy()}
    for k in range(1, 201):
        pre = [np.eye(3)]
        for W in Ws:
            pre.append(W @ pre[-1])
        R = pre[-1] @ sxx - syx
        grads, post = [None] * L, np.eye(3)
        for i in range(L - 1, -1, -1):
            grads[i] = post.T @ R @ pre[i].T
            post = post @ Ws[i]
        Ws = [W - lr * G for W, G in zip(Ws, grads)]
        prod = np.eye(3)
        for W in Ws:
            prod = W @ prod
        snapshots[k] = np.diag(prod).copy()
    steps = np.array([0, 1, 7, 50, 200])
    got = th.mode_curve_gd(steps, lam, u0, L, lr, d)
    np.testing.assert_allclose(got, np.stack([snapshots[k] for k in steps]), rtol=1e-11, atol=1e-15)


def test_mode_curve_gd_sparse_unsorted_steps_and_long_runs():
    dense = th.mode_curve_gd(np.arange(301), ARTICLE, 1e-3, 3, 0.01)
    sparse = th.mode_curve_gd([300, 0, 17, 17], ARTICLE, 1e-3, 3, 0.01)
    np.testing.assert_array_equal(sparse, dense[[300, 0, 17, 17]])
    # Converged modes stop the loop early: a million steps is instant and sits on the target.
    far = th.mode_curve_gd([0, 10**6], ARTICLE, 1e-3, 2, 0.05)
    np.testing.assert_allclose(far[-1], ARTICLE, rtol=1e-12)
    # Above the stability cap (lr > 1/λ_max at L = 2) the recursion leaves the target.
    unstable = th.mode_curve_gd([2000], [6.0], 1e-3, 2, 0.4)
    assert not np.isclose(unstable[0, 0], 6.0, rtol=1e-3)


# ------------------------------------------------------------------ exact L = 2 solution (§4)
def _numpy_gd_l2(S, W1, W2, lr, times):
    """Literal full-batch GD for L = 2, whitened, loss ½‖S − W2W1‖²; returns W2W1 at the given times."""
    out, k_targets = [], [round(t / lr) for t in times]
    for k in range(max(k_targets) + 1):
        if k in k_targets:
            out.append(W2 @ W1)
        R = S - W2 @ W1
        W1, W2 = W1 + lr * W2.T @ R, W2 + lr * R @ W1.T
    return np.stack(out)


@pytest.mark.parametrize("lambda_b", [0.0, 0.3])
def test_lambda_balanced_solution_matches_small_lr_gd(lambda_b):
    rng = np.random.default_rng(4)
    S = rng.standard_normal((4, 3))  # rectangular, unaligned start
    W1 = 0.1 * rng.standard_normal((3, 3))
    W2 = th.lambda_balanced_init(W1, 4, lambda_b, seed=1)
    np.testing.assert_allclose(W2.T @ W2 - W1 @ W1.T, lambda_b * np.eye(3), atol=1e-13)
    times = np.array([0.0, 0.5, 1.5, 3.0])
    exact = th.lambda_balanced_solution(S, W1, W2, times, lambda_b)
    np.testing.assert_allclose(exact[0], W2 @ W1, atol=1e-14)
    err = [np.abs(_numpy_gd_l2(S, W1, W2, lr, times) - exact).max() for lr in (4e-4, 2e-4)]
    assert err[1] < 2e-3
    assert 1.8 < err[0] / err[1] < 2.2  # GD → exact flow, error ∝ lr
    # Converges to Σyx (rank 3 ≤ hidden width), also for very large t without overflow.
    late = th.lambda_balanced_solution(S, W1, W2, [200.0, 5000.0], lambda_b)
    np.testing.assert_allclose(late, np.stack([S, S]), atol=1e-10)


def test_lambda_balanced_solution_rejects_unbalanced_start():
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match="lambda-balanced"):
        th.lambda_balanced_solution(np.eye(2), rng.standard_normal((2, 2)), rng.standard_normal((2, 2)), [1.0])


# ------------------------------------------------------------------------------ sharpness (§6)
def _loss_grad(sxx, syx, Ws):
    """Gradient of ½tr(WΣxxWᵀ) − tr(WΣxy) for each layer (THEORY §1), written independently."""
    L = len(Ws)
    grads = []
    for i in range(L):
        before = np.eye(Ws[0].shape[1])
        for W in Ws[:i]:
            before = W @ before
        after = np.eye(Ws[-1].shape[0])
        for W in Ws[i + 1:]:
            after = W @ after
        W = after @ Ws[i] @ before
        grads.append(after.T @ (W @ sxx - syx) @ before.T)
    return np.concatenate([g.ravel() for g in grads])


def _fd_hessian_top(sxx, syx, Ws, h=1e-5):
    shapes = [W.shape for W in Ws]
    flat = np.concatenate([W.ravel() for W in Ws])
    splits = np.cumsum([W.size for W in Ws])[:-1]

    def unflat(v):
        return [p.reshape(s) for p, s in zip(np.split(v, splits), shapes)]

    H = np.empty((flat.size, flat.size))
    for j in range(flat.size):
        e = np.zeros_like(flat)
        e[j] = h
        H[:, j] = (_loss_grad(sxx, syx, unflat(flat + e)) - _loss_grad(sxx, syx, unflat(flat - e))) / (2 * h)
    return np.linalg.eigvalsh(0.5 * (H + H.T))[-1]


@pytest.mark.parametrize("L", [1, 2, 3])
def test_sharpness_at_balanced_minimum(L):
    lam = np.array([3.0, 2.0, 1.0])
    S = np.diag(lam)
    Ws = th.balanced_minimum(S, L, 3)
    prod = np.eye(3)
    for W in Ws:
        prod = W @ prod
    np.testing.assert_allclose(prod, S, atol=1e-13)
    for W_lo, W_hi in itertools.pairwise(Ws):
        np.testing.assert_allclose(W_hi.T @ W_hi, W_lo @ W_lo.T, atol=1e-13)  # balanced
    formula = th.sharpness_balanced(3.0, L)
    fd = _fd_hessian_top(np.eye(3), S, Ws)
    assert fd == pytest.approx(formula, rel=1e-7)
    assert th.sharpness_numeric(np.eye(3), S, Ws) == pytest.approx(formula, rel=1e-12)
    assert th.max_stable_lr(formula) == pytest.approx(2.0 / formula)


def test_sharpness_numeric_non_whitened_and_large():
    rng = np.random.default_rng(2)
    S = rng.standard_normal((3, 3))
    A = rng.standard_normal((3, 3))
    sxx = A @ A.T / 3 + 0.5 * np.eye(3)
    Ws = th.balanced_minimum(S, 2, 3, sigma_xx=sxx)
    np.testing.assert_allclose(Ws[1] @ Ws[0] @ sxx, S, atol=1e-12)  # a critical point of loss (H)
    assert th.sharpness_numeric(sxx, S, Ws) == pytest.approx(_fd_hessian_top(sxx, S, Ws), rel=1e-7)
    # Above 400 parameters the Lanczos path is used: same answer as the closed form.
    big = th.balanced_minimum(np.diag(ARTICLE), 4, 16)
    assert sum(W.size for W in big) > 400
    assert th.sharpness_numeric(np.eye(6), np.diag(ARTICLE), big) == pytest.approx(
        th.sharpness_balanced(6.0, 4), rel=1e-9)


def test_plateau_levels_divide_by_the_input_variance_in_descending_lambda_order():
    """THEORY §5/§6: level k = ½ Σ_{i>k} λ_i²/d_i with modes sorted by λ (d follows its mode)."""
    levels = th.plateau_levels([1.0, 3.0, 2.0], [0.5, 2.0, 1.0])  # sorted: (3, 2.0) (2, 1.0) (1, 0.5)
    np.testing.assert_allclose(levels, [0.5 * (4.5 + 4 + 2), 0.5 * (4 + 2), 0.5 * 2, 0.0], rtol=1e-15)
    np.testing.assert_array_equal(th.plateau_levels(ARTICLE, 1.0), th.plateau_levels(ARTICLE))
    with pytest.raises(ConfigError, match="d"):
        th.plateau_levels(ARTICLE, [1.0, 2.0])


@pytest.mark.parametrize("L,d", [(2, 1.0), (3, 1.0), (4, 2.5)])
def test_mode_rate_is_the_slope_of_mode_curve_gf(L, d):
    """THEORY §2/§6: the exact curve's time derivative (central difference, h = 1e-6) is the mode law."""
    lam, u0, h = 3.0, 0.01, 1e-6
    t = np.array([0.5, 1.0, 1.2]) * float(th.tau_half(lam, u0, L, d)[0])
    u = th.mode_curve_gf(t, lam, u0, L, d)[:, 0]
    slope = (th.mode_curve_gf(t + h, lam, u0, L, d) - th.mode_curve_gf(t - h, lam, u0, L, d))[:, 0] / (2 * h)
    np.testing.assert_allclose(th.mode_rate(u, lam, L, d), slope, rtol=1e-5)
    assert th.mode_rate(lam / d, lam, L, d) == 0.0 and th.mode_rate(0.0, lam, L, d) == 0.0


def test_balanced_sharpness_closed_form_when_whitened_numeric_otherwise():
    """One rule for the stable-step cap (THEORY §6): whitened → L·λ_max^{2−2/L}; else the Hessian."""
    from dln_core.config import TargetConfig
    from dln_core.targets import build_problem

    white = build_problem(TargetConfig(kind="spectrum", singular_values=(3.0, 1.0), n_out=2, n_in=2))
    assert th.balanced_sharpness(white, 3, 4) == (pytest.approx(3 * 3.0 ** (4 / 3), rel=1e-12),
                                                  "closed form L·λ^(2−2/L)")
    comm = build_problem(TargetConfig(kind="spectrum", singular_values=(3.0, 1.0), n_out=2, n_in=2,
                                      input_kind="commuting", input_eigenvalues=(2.0, 0.5)))
    sharp, method = th.balanced_sharpness(comm, 2, 2)
    ws = th.balanced_minimum(comm, 2, 2)
    assert method == "numerical (full Hessian)"  # 8 weights: the exact full-Hessian path
    assert sharp == pytest.approx(_fd_hessian_top(comm.sigma_xx, comm.sigma_yx, ws), rel=1e-6)
    assert sharp != pytest.approx(th.sharpness_balanced(3.0, 2), rel=1e-3)  # Σxx ≠ I changes it
    # above 400 weights the label names Lanczos
    assert th.balanced_sharpness(comm, 4, 16)[1] == "numerical (Lanczos)"


def test_mode_curve_gd_scalar_and_vector_paths_agree():
    """Few modes run in Python floats, many in numpy: same recursion, same early exits and divergence."""
    lam = np.array([6.0, 3.0, 1.0, 0.5])
    steps = np.array([0, 1, 9, 400, 5000, 10**5])
    for L, u0, lr in [(2, 1e-3, 0.05), (3, -0.2, 0.02), (4, 2.0, 0.01), (3, 3.0, 1.0)]:
        few = th.mode_curve_gd(steps, lam, u0, L, lr)
        many = th.mode_curve_gd(steps, np.tile(lam, 9), u0, L, lr)[:, :4]  # 36 modes: numpy path
        np.testing.assert_allclose(few, many, rtol=1e-12, atol=1e-300)
        np.testing.assert_array_equal(np.isnan(few), np.isnan(many))
    # lr = 1 at L = 3 from u0 = 3 overflows: reported as nan after divergence, finite before.
    blown = th.mode_curve_gd(steps, lam, 3.0, 3, 1.0)
    assert np.all(np.isfinite(blown[0])) and np.all(np.isnan(blown[-1]))


# ------------------------------------------------------------------ cross-checks with the GD engine
def test_engine_aligned_commuting_run_follows_the_exact_recursion():
    d = (2.0, 1.0, 0.5, 1.5, 1.0, 1.0)
    cfg = dln_core.RunConfig.make(depth=3, init_scheme="aligned", init_scale=0.3, lr=0.02, steps=800,
                                  input_kind="commuting", input_eigenvalues=d)
    result = dln_core.run(cfg)
    h = result.history
    measured = h[[f"mode_{i}" for i in range(1, 7)]].to_numpy()
    theory = th.mode_curve_gd(h["step"].to_numpy(), result.problem.lambda_star, result.summary["u0"], 3,
                              0.02, result.problem.input_eigenvalues)
    np.testing.assert_allclose(measured, theory, rtol=1e-9, atol=1e-12)


def test_engine_lambda_balanced_run_converges_to_exact_solution():
    """GD from a λ-balanced start approaches THEORY §4's exact flow with error ∝ lr (whole matrix)."""
    errors = []
    for lr, steps in ((2e-3, 1500), (1e-3, 3000)):
        cfg = dln_core.RunConfig.make(depth=2, init_scheme="lambda-balanced", init_scale=0.05, lambda_b=0.2,
                                      lr=lr, steps=steps)
        result = dln_core.run(cfg)
        p = result.problem
        W1, W2 = result.initial_weights
        t = result.history["t"].to_numpy()
        W = th.lambda_balanced_solution(p.sigma_yx, W1, W2, t, 0.2)
        u = np.einsum("oi,toj,ji->ti", p.U_star, W, p.V_star)
        measured = result.history[[f"mode_{i}" for i in range(1, 7)]].to_numpy()
        np.testing.assert_allclose(u[0], measured[0], atol=1e-14)
        errors.append(np.abs(u - measured).max())
    assert errors[1] < 0.03
    assert 1.8 < errors[0] / errors[1] < 2.2

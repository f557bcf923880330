"""frames: where each mode's theory starts and the exact λ-balanced halfway search (THEORY.md §2, §4)."""

from __future__ import annotations

import numpy as np
import pytest

from dln_core import overlay, theory
from dln_core.config import RunConfig
from dln_core.engine import init_weights
from dln_core.targets import build_problem


def _problem(**flat):
    return build_problem(RunConfig.make(**flat).target)


def test_theory_start_needs_alignment_positive_strength_and_the_ode_rate():
    p = _problem(target_kind="spectrum", singular_values=(2.0, 1.0, 0.0))
    lam = p.lambda_star
    u = np.array([[-1e-3, 1e-3, 0.0], [1e-3, 2e-3, 0.0], [2e-2, 4e-3, 0.0], [0.5, 0.6, 0.0]])
    align = np.array([[0.95, 0.2, 0.0], [0.95, 0.95, 0.0], [0.95, 0.95, 0.0], [0.95, 0.95, 0.0]])
    ode = 2 * np.abs(u) * (lam - u)
    rate = ode.copy()
    rate[1, 1] = 1.5 * ode[1, 1]  # mode 2 aligned at snapshot 1 but still 50 % faster than the ODE
    starts = overlay.theory_start_indices(p, align, u, 2, rate)
    # mode 1: u < 0 at 0 -> 1; mode 2: off-ODE at 1 -> 2; zero mode: 0
    assert list(starts) == [1, 2, 0]
    assert list(overlay.theory_start_indices(p, align, u, 1, rate)) == [0, 0, 0]  # depth 1: exact from any start
    never = overlay.theory_start_indices(p, np.zeros_like(align), u, 2, rate)
    assert list(never) == [-1, -1, 0]
    rot = _problem(input_kind="rotated", input_eigenvalues=(1, 2, 1, 1, 1, 1))
    assert (overlay.theory_start_indices(rot, np.ones((2, 6)), np.ones((2, 6)), 2) == -1).all()


def test_theory_curves_start_at_the_measured_point():
    p = _problem(target_kind="spectrum", singular_values=(3.0, 1.0))
    steps = np.array([0, 10, 20, 40, 80])
    u = np.array([[1e-4, 1e-4], [2e-4, 1.1e-4], [5e-4, 1.3e-4], [3e-3, 2e-4], [0.1, 5e-4]])
    gf, gd = overlay.theory_curves(p, u, 2, 0.01, steps, np.array([1, 3]))
    assert np.isnan(gf[:1, 0]).all() and np.isnan(gf[:3, 1]).all() and np.isnan(gd[:3, 1]).all()
    assert gf[1, 0] == pytest.approx(u[1, 0], rel=1e-12) and gf[3, 1] == pytest.approx(u[3, 1], rel=1e-12)
    ref = theory.mode_curve_gf(0.01 * (steps[1:] - 10), 3.0, u[1, 0], 2)[:, 0]
    assert np.allclose(gf[1:, 0], ref, rtol=1e-12)
    half = overlay.halfway_steps_theory(p, u[[1, 3], [0, 1]][None, :], 2, 0.01, np.array([[10, 40]]))[0]
    assert half[0] == pytest.approx(10 + theory.tau_half(3.0, u[1, 0], 2)[0] / 0.01, rel=1e-12)


def test_exact_l2_halfway_step_matches_a_bisection_of_the_exact_curve():
    cfg = RunConfig.make(init_scheme="lambda-balanced", lambda_b=0.5, init_scale=0.05, seed=1, rotate_seed=3)
    p = build_problem(cfg.target)
    w0 = init_weights(cfg, p)
    lr, steps = 0.01, np.array([0, 1, 5, 20, 50, 100, 200, 400])
    got = overlay.exact_l2_halfway_steps(p, w0, 0.5, lr, steps)
    for i in (0, 3, 5):
        lo, hi = 0.0, 4.0
        for _ in range(40):  # plain bisection on t of the exact projected curve
            mid = 0.5 * (lo + hi)
            u = overlay.exact_l2_mode_curves(p, w0, 0.5, [mid])[0, i]
            lo, hi = (lo, mid) if u >= 0.5 * p.target_strength[i] else (mid, hi)
        assert got[i] == pytest.approx(hi / lr, abs=0.01)  # 1/4096 of the bracketing snapshot interval

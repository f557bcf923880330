"""frames: the exact λ-balanced halfway search (THEORY.md §4); launch rules are tested in test_launch.py."""

from __future__ import annotations

import numpy as np
import pytest

from dln_core import overlay
from dln_core.config import RunConfig
from dln_core.engine import init_weights
from dln_core.targets import build_problem


def _problem(**flat):
    return build_problem(RunConfig.make(**flat).target)


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

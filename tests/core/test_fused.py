"""The fused numba step kernel (dln_core.fused) runs the numpy stepper's program: same trajectories."""

from __future__ import annotations

import numpy as np
import pytest

from dln_core import engine, fused, steppers
from dln_core.config import RunConfig

pytestmark = pytest.mark.skipif(not fused.available(), reason="numba is in requirements.txt")


def stacked(cfg, B, seed=0):
    problem = engine.build_problem(cfg.target)
    rng = np.random.default_rng(seed)
    w0 = engine.init_weights(cfg, problem)
    weights = [np.ascontiguousarray(w[None] * (1 + 0.2 * rng.standard_normal((B, 1, 1)))) for w in w0]
    return problem, weights


@pytest.mark.parametrize("flat", [
    dict(depth=3, init_scale=1e-2),  # d = 6 article target: diagonal U*, V*
    dict(depth=2, init_scale=1e-3, rotate_seed=4),  # rotated target: general U*, V*
    dict(depth=4, init_scale=0.05, width=9, input_kind="rotated", input_eigenvalues="2,1.5,1,0.8,0.5,0.3"),  # Σxx ≠ I, rectangular layers
])
def test_fused_kernel_matches_numpy_stepper(flat):
    cfg = RunConfig.make(**flat)
    B = 70  # more than one SIMD block, the last one partial
    problem, weights = stacked(cfg, B)
    lrs = np.linspace(0.004, 0.012, B)
    ref = steppers.NumpyStepper([w.copy() for w in weights], lrs, problem, "float64")
    ours = [w.copy() for w in weights]
    umax = np.full((B, problem.r), -np.inf)
    for n in (1, 300, 1700):  # several calls, as the runner's chunks make them
        ref.advance(n)
        fused.advance(ours, ref.lr.reshape(-1), ref.syx, ref.sxx, ref.UT, ref.VT, ref.diag, umax, n)
    for a, b in zip(ours, ref.W):
        scale = np.max(np.abs(b))
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(umax, ref.umax, rtol=0, atol=1e-12 * np.max(np.abs(ref.umax)))
    # the runs moved: the comparison is not between two copies of the init
    assert max(np.max(np.abs(a - w)) for a, w in zip(ours, weights)) > 1e-3

"""GD on ¼‖M* − WWᵀ‖² (dln_core.embeddings.theory) against its closed forms, on a synthetic M* with a
known spectrum: logistic mode law, halfway times, the closed-form optimum and the stable step."""

from __future__ import annotations

import numpy as np
import pytest

from dln_core.embeddings import theory
from dln_core.embeddings.model import closed_form_embedding, initial_embedding, spectrum, train_gd

POSITIVE = np.array([6.0, 4.0, 2.5, 1.5])


def synthetic_target(V: int = 40, mu_min: float = -3.0, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """M = Q diag(μ) Qᵀ: four positive modes, the rest negative down to ``mu_min``."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((V, V)))
    mu = np.concatenate([POSITIVE, np.linspace(-0.5, mu_min, V - len(POSITIVE))])
    return (Q * mu) @ Q.T, mu, Q


@pytest.fixture(scope="module")
def run():
    M, mu, Q = synthetic_target(V=100)
    # many more columns than positive modes: the random initial directions of the modes are then
    # nearly orthogonal, so a mode learned later barely loses strength to earlier ones
    d = 40
    spec = spectrum(M, d)
    lr = 0.008
    steps = 2500
    W0 = initial_embedding(100, d, 1e-6, seed=3)
    traj = train_gd(M, W0, lr, steps, spec.vectors, np.array([0, steps]), device="cpu", dtype="float64")
    return M, mu, Q, spec, lr, traj


def test_spectrum_recovers_known_eigenvalues():
    M, mu, _ = synthetic_target(V=500)  # large enough for the Lanczos path
    spec = spectrum(M.astype(np.float32), 6)
    np.testing.assert_allclose(spec.mu[:4], POSITIVE, rtol=1e-5)
    assert spec.mu_min == pytest.approx(-3.0, rel=1e-4)
    assert spec.frob2 == pytest.approx(np.sum(mu**2), rel=1e-5)


def test_tied_step_equals_two_layer_network_step_in_convention_h():
    """One GD step on ¼‖M − WWᵀ‖² equals one step of the untied network W₂W₁ on ½‖M − W₂W₁‖²
    started at W₂ = W₁ᵀ = W: the reason for the ¼ (theory module docstring)."""
    M, _, _ = synthetic_target(V=12)
    W = np.random.default_rng(0).standard_normal((12, 3)) * 0.3
    lr = 0.01
    W2, W1 = W.copy(), W.T.copy()
    R = M - W2 @ W1
    W2_new, W1_new = W2 + lr * R @ W1.T, W1 + lr * W2.T @ R  # −∇ of ½‖R‖²
    M_t = M.copy()
    traj = train_gd(M_t, W, lr, 1, np.eye(12)[:, :3], np.array([0, 1]), device="cpu", dtype="float64")
    np.testing.assert_allclose(traj.snapshots[1], W2_new, atol=1e-6)  # snapshots are stored as float32
    np.testing.assert_allclose(traj.snapshots[1], W1_new.T, atol=1e-6)
    # and the recorded loss is ¼‖M − WWᵀ‖²_F
    assert traj.loss[0] == pytest.approx(0.25 * np.sum((M - W @ W.T) ** 2), rel=1e-10)


def test_modes_follow_the_exact_finite_step_logistic(run):
    _, _, _, spec, lr, traj = run
    u = traj.modes[:, :4]
    u0 = u[0]
    gd = theory.mode_curve_gd(traj.steps_run, spec.mu[:4], u0, lr)
    # whole curves: within 5 % of each target μ_k at every step
    assert np.max(np.abs(u - gd) / spec.mu[:4]) < 0.05
    # halfway steps: within 1 % (later modes lose a little initial strength to earlier ones)
    half = spec.mu[:4] / 2
    measured = theory.first_crossing(u, half)
    predicted = theory.first_crossing(gd, half)
    np.testing.assert_allclose(measured, predicted, rtol=0.01)
    # learned in order of eigenvalue, with clear plateaus between
    assert np.all(np.diff(measured) > 20)


def test_gradient_flow_halfway_time_matches_closed_form(run):
    _, _, _, spec, lr, traj = run
    u0 = traj.modes[0, :4]
    measured_t = lr * theory.first_crossing(traj.modes[:, :4], spec.mu[:4] / 2)
    # τ½ = ln(μ/u₀ − 1)/(2μ); finite η makes GD a little slower: ≈ 1 − ln(1 + ημ)/(ημ) ≤ 2.5 %
    np.testing.assert_allclose(measured_t, theory.tau_half(spec.mu[:4], u0), rtol=0.03)
    curve = theory.mode_curve_gf(np.array([0.0, 1e9]), spec.mu[:4], u0)
    np.testing.assert_allclose(curve[0], u0)
    np.testing.assert_allclose(curve[1], spec.mu[:4])


def test_optimum_is_top_eigenvectors(run):
    _, mu, Q, spec, _, traj = run
    W = traj.snapshots[-1].astype(np.float64)
    target = (Q[:, :4] * POSITIVE) @ Q[:, :4].T  # only positive modes can be represented by WWᵀ
    err = np.linalg.norm(W @ W.T - target) / np.linalg.norm(target)
    assert err < 1e-3
    Wc = closed_form_embedding(spec)
    np.testing.assert_allclose(Wc @ Wc.T, target, atol=1e-8)
    assert traj.loss[-1] == pytest.approx(theory.optimum_loss(spec.frob2, spec.mu), rel=1e-4)
    assert theory.optimum_loss(spec.frob2, spec.mu) == pytest.approx(0.25 * np.sum(mu[4:] ** 2), rel=1e-6)


def test_negative_eigenvalue_sets_the_stable_step():
    M, _, _ = synthetic_target(mu_min=-10.0)
    spec = spectrum(M, 6)
    safe = theory.stable_lr(spec.mu[0], spec.mu_min)
    assert safe == pytest.approx(0.9 * 2 / (6 + 10))
    naive = 0.9 / spec.mu[0]  # ignores the negative eigenvalue
    W0 = initial_embedding(40, 6, 1e-3, seed=0)
    ok = train_gd(M, W0, safe, 600, spec.vectors, np.array([600]), device="cpu", dtype="float64")
    bad = train_gd(M, W0, naive, 600, spec.vectors, np.array([600]), device="cpu", dtype="float64")
    assert ok.diverged_step is None
    assert ok.loss[-1] == pytest.approx(theory.optimum_loss(spec.frob2, spec.mu), rel=1e-6)
    assert bad.diverged_step is not None


def test_gradient_flow_curve_handles_non_positive_targets():
    t = np.array([0.0, 1.0, 10.0])
    u = theory.mode_curve_gf(t, np.array([-1.0, 0.0]), np.array([0.5, 0.5]))
    np.testing.assert_allclose(u[0], [0.5, 0.5])
    assert np.all(np.diff(u, axis=0) < 0)  # both decay
    assert u[1, 1] == pytest.approx(0.5 / (1 + 2 * 0.5 * 1.0))


def test_frobenius_norm_computed_once_and_passed_to_the_loop():
    """‖M*‖²_F: float64 accumulation of a float32 M (no float64 copy), the value the spectrum keeps;
    train_gd given spec.frob2 records the same losses as when it computes the norm itself."""
    from dln_core.embeddings.model import frobenius2

    M, _, _ = synthetic_target(V=60)
    M32 = M.astype(np.float32)
    assert frobenius2(M32) == pytest.approx(np.sum(M32.astype(np.float64) ** 2), rel=1e-12)
    spec = spectrum(M32, 4)
    assert spec.frob2 == frobenius2(M32)
    W0 = initial_embedding(60, 4, 1e-3, seed=0)
    args = (M32, W0, 0.01, 30, spec.vectors, np.array([0, 30]))
    given = train_gd(*args, device="cpu", dtype="float64", frob2=spec.frob2)
    own = train_gd(*args, device="cpu", dtype="float64")
    np.testing.assert_array_equal(given.loss, own.loss)
    # the loss uses it: a wrong norm shifts every recorded loss by a quarter of the error
    off = train_gd(*args, device="cpu", dtype="float64", frob2=spec.frob2 + 4.0)
    np.testing.assert_allclose(off.loss - own.loss, 1.0, rtol=1e-9)

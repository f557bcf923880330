"""Targets: Σyx, Σxx and the mode basis (THEORY.md §1, §6) for every target and input kind."""

from __future__ import annotations

import numpy as np
import pytest

from dln_core.config import RunConfig
from dln_core.targets import HIERARCHY_FEATURES, HIERARCHY_ITEMS, build_problem

TOL = 1e-12


def problem(**flat):
    return build_problem(RunConfig.make(**flat).target)


def _orthonormal(A):
    return np.allclose(A.T @ A, np.eye(A.shape[1]), atol=TOL)


def test_article_target_is_diag_with_identity_modes():
    p = problem()
    assert np.array_equal(p.sigma_yx, np.diag([6, 4, 3, 2, 1, 0.5]))
    assert np.array_equal(p.U_star, np.eye(6)) and np.array_equal(p.V_star, np.eye(6))
    assert np.array_equal(p.sigma_xx, np.eye(6)) and p.input_eigenvalues is None
    assert np.allclose(p.plateau_levels(), [33.125, 15.125, 7.125, 2.625, 0.625, 0.125, 0.0], atol=TOL)
    assert p.loss(np.zeros((6, 6))) == pytest.approx(33.125, abs=TOL) and p.loss(p.w_star) == 0.0


def test_rectangular_rotated_spectrum_reconstructs_sigma_yx():
    p = problem(target_kind="spectrum", singular_values=(1.0, 5.0, 2.0), n_out=5, n_in=4, rotate_seed=3)
    assert p.sigma_yx.shape == (5, 4) and p.r == 4
    assert np.array_equal(p.lambda_star, [5.0, 2.0, 1.0, 0.0])  # sorted, padded with a zero mode
    assert p.target_strength[-1] == 0.0 and np.allclose(p.target_strength, p.lambda_star, atol=TOL)
    assert _orthonormal(p.U_star) and _orthonormal(p.V_star)
    assert np.allclose(p.U_star @ np.diag(p.lambda_star) @ p.V_star.T, p.sigma_yx, atol=TOL)
    assert not np.allclose(np.abs(p.U_star[:, :3]), np.eye(5, 3))  # really rotated
    again = problem(target_kind="spectrum", singular_values=(1.0, 5.0, 2.0), n_out=5, n_in=4, rotate_seed=3)
    assert np.array_equal(again.sigma_yx, p.sigma_yx)  # the seed fixes the basis


def test_hierarchy_one_hot_items_and_tree_modes():
    p = problem(target_kind="hierarchy")
    assert p.sigma_yx.shape == (len(HIERARCHY_FEATURES), len(HIERARCHY_ITEMS)) == (14, 4)
    assert np.allclose(p.sigma_xx, np.eye(4) / 4, atol=TOL)  # one-hot inputs, each item with p = 1/4
    assert np.allclose(p.lambda_star, np.sqrt([14, 6, 2, 2]) / 4, atol=TOL)
    assert np.allclose(p.U_star.T @ p.sigma_yx @ p.V_star, np.diag(p.lambda_star), atol=TOL)
    assert np.allclose(p.target_strength, 4 * p.lambda_star, atol=TOL)  # λ/d with d = 1/4
    # mode 1 is "living thing" (all items alike), mode 2 splits animals from plants
    assert np.allclose(np.abs(p.V_star[:, 0]), 0.5) and np.allclose(p.V_star[:, 1], [0.5, 0.5, -0.5, -0.5])
    assert p.loss(np.zeros_like(p.sigma_yx)) == pytest.approx(p.plateau_levels()[0], abs=TOL)


def test_commuting_inputs_share_the_right_singular_vectors():
    ev = (2.0, 1.0, 0.5, 4.0, 1.0, 3.0)
    p = problem(input_kind="commuting", input_eigenvalues=ev, rotate_seed=None)
    assert np.allclose(p.sigma_xx @ p.V_star, p.V_star * np.array(ev), atol=TOL)
    assert np.allclose(p.target_strength, p.lambda_star / np.array(ev), atol=TOL)
    assert np.allclose(p.plateau_levels()[0], 0.5 * np.sum(p.lambda_star**2 / np.array(ev)), atol=TOL)
    q = problem(target_kind="spectrum", singular_values=(1.0, 3.0), n_in=3, n_out=2, rotate_seed=1,
                input_kind="commuting", input_eigenvalues=(5.0, 2.0, 7.0))
    # eigenvalue j belongs to the j-th given singular value: 3 -> 2.0, 1 -> 5.0
    assert np.allclose(q.mode_d, [2.0, 5.0]) and np.allclose(q.target_strength, [1.5, 0.2], atol=TOL)
    assert np.allclose(np.linalg.eigvalsh(q.sigma_xx), [2.0, 5.0, 7.0], atol=1e-10)


def test_rotated_inputs_keep_the_spectrum_but_do_not_commute():
    ev = (2.0, 1.0, 0.5, 4.0, 1.0, 3.0)
    p = problem(input_kind="rotated", input_eigenvalues=ev, input_seed=5)
    assert np.allclose(np.linalg.eigvalsh(p.sigma_xx), sorted(ev), atol=1e-10)
    assert not np.allclose(p.sigma_xx @ p.V_star, p.V_star @ np.diag(np.diag(p.V_star.T @ p.sigma_xx @ p.V_star)))
    assert not p.has_theory and p.input_eigenvalues is None
    assert np.allclose(p.w_star @ p.sigma_xx, p.sigma_yx, atol=1e-12) and p.loss(p.w_star) == pytest.approx(0.0)


def test_user_matrix_modes_come_from_its_svd():
    M = ((1.0, 2.0, 0.0), (0.0, 1.0, -1.0))
    p = problem(target_kind="matrix", matrix=M)
    assert np.array_equal(p.sigma_yx, np.array(M)) and p.r == 2
    assert np.allclose(p.lambda_star, np.linalg.svd(np.array(M), compute_uv=False), atol=TOL)
    assert np.allclose(p.U_star @ np.diag(p.lambda_star) @ p.V_star.T, p.sigma_yx, atol=TOL)


def test_rotate_seed_rotates_the_article_target():
    """rotate_seed applies to the article target: Haar-random U*, V* carrying the article's λ."""
    p = problem(rotate_seed=4)
    assert np.array_equal(p.lambda_star, [6.0, 4.0, 3.0, 2.0, 1.0, 0.5])
    assert _orthonormal(p.U_star) and _orthonormal(p.V_star)
    assert np.allclose(p.U_star @ np.diag(p.lambda_star) @ p.V_star.T, p.sigma_yx, atol=TOL)
    assert np.allclose(np.linalg.svd(p.sigma_yx, compute_uv=False), p.lambda_star, atol=1e-12)
    assert np.abs(p.sigma_yx - np.diag(p.lambda_star)).max() > 0.5  # really rotated, not diag
    assert np.allclose(p.target_strength, p.lambda_star, atol=TOL)
    assert np.array_equal(problem(rotate_seed=4).sigma_yx, p.sigma_yx)  # the seed fixes the basis
    assert not np.allclose(problem(rotate_seed=5).sigma_yx, p.sigma_yx)
    assert np.array_equal(problem().sigma_yx, np.diag(p.lambda_star))  # no seed: the diagonal target


def test_haar_columns_are_orthonormal_and_psd_sqrt_squares_back():
    """The two shared helpers (engine init, targets, theory): checked to 1e-12."""
    from dln_core.linalg import haar_columns, psd_sqrt

    q = haar_columns(7, 3, np.random.default_rng(0))
    assert q.shape == (7, 3)
    np.testing.assert_allclose(q.T @ q, np.eye(3), atol=1e-12)
    # the sign fix: R of the QR has a positive diagonal, i.e. q·(qᵀG) reproduces the Gaussian G
    g = np.random.default_rng(0).standard_normal((7, 3))
    assert np.all(np.diag(q.T @ g) > 0)
    a = g.T @ g
    root = psd_sqrt(a)
    np.testing.assert_allclose(root @ root, a, atol=1e-12)
    np.testing.assert_allclose(root, root.T, atol=0)
    assert np.linalg.eigvalsh(root).min() > 0


def test_haar_keep_gives_the_full_draws_first_columns_and_the_same_stream():
    """``keep`` (a tall target's mode columns without an n × n QR) returns the first columns of the
    full draw to round-off, and leaves the random stream where the full draw leaves it, so the next
    draw (V of a rotated spectrum target) is unchanged bit for bit."""
    from dln_core.linalg import haar_columns

    rng_full, rng_keep = np.random.default_rng(3), np.random.default_rng(3)
    full = haar_columns(300, 300, rng_full)
    kept = haar_columns(300, 300, rng_keep, keep=5)
    assert kept.shape == (300, 5)
    np.testing.assert_allclose(kept, full[:, :5], atol=1e-13)
    assert np.array_equal(rng_full.standard_normal(4), rng_keep.standard_normal(4))
    # a tall rotated spectrum target built this way has exactly its given singular values
    p = build_problem(RunConfig.make(target_kind="spectrum", singular_values=(3.0, 2.0, 1.0), n_out=300,
                                     n_in=3, rotate_seed=1).target)
    np.testing.assert_allclose(np.linalg.svd(p.sigma_yx, compute_uv=False), [3.0, 2.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(p.U_star.T @ p.U_star, np.eye(3), atol=1e-12)


def test_built_problems_are_kept_read_only_and_rebuilt_for_a_new_kind_entry():
    """build_problem keeps recent Problems: the same object for the same target, arrays read-only
    (no caller can change another's), and a fresh one when the kind's registry entry is replaced."""
    from dln_core import targets

    t = RunConfig.make(target_kind="spectrum", singular_values=(3.0, 1.0), n_out=40, n_in=2, rotate_seed=2).target
    p1, p2 = build_problem(t), build_problem(t)
    assert p1 is p2
    with pytest.raises(ValueError):
        p1.sigma_yx[0, 0] = 1.0
    kind = targets.TARGET_KINDS["spectrum"]
    try:
        targets.register(targets.TargetKind(kind.name, kind.label, kind.dims, lambda tg: kind.modes(tg),
                                            rotatable=True, check=kind.check))
        p3 = build_problem(t)
        assert p3 is not p1 and np.array_equal(p3.sigma_yx, p1.sigma_yx)
    finally:
        targets.register(kind)
    for k in range(targets.PROBLEM_CACHE_SIZE + 1):  # the oldest entries are dropped
        build_problem(RunConfig.make(target_kind="spectrum", singular_values=(1.0 + k,)).target)
    assert len(targets._PROBLEMS) == targets.PROBLEM_CACHE_SIZE and build_problem(t) is not p1

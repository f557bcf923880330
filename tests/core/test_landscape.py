"""Tests for dln_core.landscape (THEORY §5): surfaces, saddle, gradient-flow paths, training paths."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import dln_core
from dln_core import landscape as ls
from dln_core import theory as th
from dln_core.errors import ConfigError


# ------------------------------------------------------------------------------ one-mode saddle
@pytest.mark.parametrize("lam", [0.5, 2.0, 6.0])
def test_saddle_hessian_eigenvalues_are_plus_minus_lambda(lam):
    s = ls.saddle_surface(lam, n=21)
    np.testing.assert_allclose(s.hessian_eigenvalues, [-lam, lam], rtol=1e-14)
    # Independent check: finite-difference Hessian of ½(λ − ab)² at the origin.
    h = 1e-4

    def f(a, b):
        return 0.5 * (lam - a * b) ** 2

    H = np.array([
        [(f(h, 0) - 2 * f(0, 0) + f(-h, 0)) / h**2, (f(h, h) - f(h, -h) - f(-h, h) + f(-h, -h)) / (4 * h**2)],
        [0.0, (f(0, h) - 2 * f(0, 0) + f(0, -h)) / h**2],
    ])
    H[1, 0] = H[0, 1]
    np.testing.assert_allclose(np.linalg.eigvalsh(H), [-lam, lam], rtol=1e-6)
    assert s.saddle == (0.0, 0.0, pytest.approx(0.5 * lam**2))


def test_saddle_surface_grid_hyperbola_and_paths():
    lam = 2.0
    s = ls.saddle_surface(lam, extent=2.5, n=51)
    assert s.loss.shape == (51, 51)
    j = 40  # loss[i, j] is at (a[j], b[i])
    assert s.loss[10, j] == pytest.approx(0.5 * (lam - s.a[j] * s.b[10]) ** 2, rel=1e-14)
    # The hyperbola holds the minima ab = λ (loss 0), both branches, all inside the box.
    np.testing.assert_allclose(s.hyperbola["a"] * s.hyperbola["b"], lam, rtol=1e-13)
    assert set(s.hyperbola["branch"]) == {1, -1}
    assert np.all(np.abs(s.hyperbola[["a", "b"]].to_numpy()) <= 2.5 * (1 + 1e-12))
    # Gradient flow keeps a² − b² (to 1e-6) and ends on the hyperbola with loss decreasing.
    assert list(s.paths.columns) == list(ls.SADDLE_PATH_COLUMNS)
    for frame in s.path_list():
        c = frame["conserved"].to_numpy()
        assert np.max(np.abs(c - c[0])) < 1e-6
        np.testing.assert_allclose(c, frame["a"] ** 2 - frame["b"] ** 2, rtol=1e-12, atol=1e-15)
        assert np.all(np.diff(frame["loss"]) <= 1e-12)
        assert frame["loss"].iloc[-1] < 1e-8
        assert frame["a"].iloc[-1] * frame["b"].iloc[-1] == pytest.approx(lam, rel=1e-6)


def test_saddle_paths_match_closed_form_logistic_on_the_diagonal():
    """On a = b the flow is one balanced L = 2 mode: u = ab follows THEORY §2's logistic law."""
    lam, a0 = 3.0, 0.01
    s = ls.saddle_surface(lam, starts=[[a0, a0]], t_end=4.0, n_points=41)
    u = (s.paths["a"] * s.paths["b"]).to_numpy()
    expected = th.mode_curve_gf(s.paths["t"].to_numpy(), lam, a0 * a0, 2)[:, 0]
    np.testing.assert_allclose(u, expected, rtol=1e-8)


# ------------------------------------------------------------------------------ two-mode slice
@pytest.mark.parametrize("L", [1, 2, 3, 4])
def test_two_mode_surface_values_and_wells(L):
    lam1, lam2 = 6.0, 4.0
    extent = 1.3 * lam1 ** (1 / L)  # both wells inside the box
    w1, w2, Z = ls.two_mode_surface(lam1, lam2, L, extent=extent, n=81, normalise=True)
    assert Z.shape == (81, 81) and w1[0] == -extent and w1[-1] == extent
    origin = 0.5 * (lam1**2 + lam2**2)
    assert Z[40, 40] == pytest.approx(1.0, rel=1e-14)  # normalised: the saddle is at height 1
    i, j = 5, 70  # Z[i, j] at (w1[j], w2[i])
    assert Z[i, j] * origin == pytest.approx(0.5 * ((w1[j] ** L - lam1) ** 2 + (w2[i] ** L - lam2) ** 2))
    # The wells w = λ^{1/L} have loss exactly 0, and the grid minimum sits next to a well.
    for wa in (lam1 ** (1 / L), -(lam1 ** (1 / L)) if L % 2 == 0 else None):
        if wa is None:
            continue
        assert ls.slice_loss(wa**L, (lam2 ** (1 / L)) ** L, lam1, lam2) == pytest.approx(0.0, abs=1e-14)
    i_min, j_min = np.unravel_index(np.argmin(Z), Z.shape)
    step = w1[1] - w1[0]
    assert abs(abs(w1[j_min]) - lam1 ** (1 / L)) <= step and abs(abs(w2[i_min]) - lam2 ** (1 / L)) <= step
    raw = ls.two_mode_surface(lam1, lam2, L, extent=extent, n=81, normalise=False)[2]
    np.testing.assert_allclose(raw, Z * origin, rtol=1e-14)


def test_two_mode_surface_odd_depth_is_not_mirror_symmetric():
    _, _, Z3 = ls.two_mode_surface(2.0, 1.0, 3, extent=1.5, n=31)
    _, _, Z2 = ls.two_mode_surface(2.0, 1.0, 2, extent=1.5, n=31)
    np.testing.assert_allclose(Z2, Z2[:, ::-1], rtol=1e-13)  # even L: w ↦ −w symmetric
    assert np.max(np.abs(Z3 - Z3[:, ::-1])) > 0.5  # odd L: the negative side is higher


def test_bad_input():
    with pytest.raises(ConfigError, match="extent"):
        ls.two_mode_surface(1.0, 1.0, 2, extent=0.0)
    with pytest.raises(ConfigError, match="n"):
        ls.two_mode_surface(1.0, 1.0, 2, extent=1.0, n=2)
    with pytest.raises(ConfigError, match="depth"):
        ls.two_mode_surface(1.0, 1.0, 0, extent=1.0)
    with pytest.raises(ConfigError, match="lam"):
        ls.saddle_surface(-1.0)
    with pytest.raises(ConfigError, match="starts"):
        ls.saddle_surface(1.0, starts=[1.0, 2.0, 3.0])
    with pytest.raises(ConfigError, match="lam"):
        ls.training_path(np.ones((3, 2)), 2)


# ------------------------------------------------------------------------------ training path
def _fake_result(L=3, lr=0.02, steps=(0, 10, 100, 400, 1500)):
    lam = np.array([6.0, 4.0, 3.0])
    u = th.mode_curve_gd(np.array(steps), lam, 1e-3, L, lr)
    hist = pd.DataFrame({"step": steps, "t": lr * np.array(steps), "loss": 0.0,
                         **{f"mode_{i + 1}": u[:, i] for i in range(3)}})
    return SimpleNamespace(history=hist, summary={"lambda_star": lam.tolist(), "depth": L, "lr": lr}), u


def test_training_path_from_result_history_and_arrays():
    result, u = _fake_result()
    path = ls.training_path(result)
    assert list(path.columns) == list(ls.PATH_COLUMNS)
    np.testing.assert_allclose(path["w1"] ** 3, u[:, 0], rtol=1e-13)
    np.testing.assert_allclose(path["w2"] ** 3, u[:, 1], rtol=1e-13)
    # Balanced aligned run: the path lies on the surface (same slice formula at w = u^{1/L}).
    expected = 0.5 * ((u[:, 0] - 6.0) ** 2 + (u[:, 1] - 4.0) ** 2) / (0.5 * (36 + 16))
    np.testing.assert_allclose(path["loss"], expected, rtol=1e-13)
    assert path["loss"].iloc[0] == pytest.approx(1.0, abs=1e-3) and path["loss"].iloc[-1] < 1e-6
    same = ls.training_path(result.history, 3, lam=(6.0, 4.0))
    pd.testing.assert_frame_equal(same, path)
    arr = ls.training_path(u, 3, lam=(6.0, 4.0))
    np.testing.assert_allclose(arr[["w1", "w2", "loss"]], path[["w1", "w2", "loss"]])
    # Negative strengths keep their sign in w.
    neg = ls.training_path((np.array([-8.0]), np.array([1.0])), 3, lam=(6.0, 4.0))
    assert neg["w1"].iloc[0] == pytest.approx(-2.0)


def test_two_mode_view_contains_path_and_wells():
    result, _ = _fake_result()
    view = ls.two_mode_view(result, n=41)
    assert view.loss.shape == (41, 41) and view.lam == (6.0, 4.0) and view.depth == 3
    assert view.w1.max() >= max(6.0 ** (1 / 3), view.path["w1"].abs().max())
    part, cur = view.at(100)
    assert list(part["step"]) == [0, 10, 100]
    assert cur == (pytest.approx(part["w1"].iloc[-1]), pytest.approx(part["w2"].iloc[-1]),
                   pytest.approx(part["loss"].iloc[-1]))
    assert len(view.at(None)[0]) == 5
    sad = ls.saddle_view(result, n=21)
    assert sad.lam == 6.0 and len(sad.path_list()) >= 1


def test_training_path_of_a_real_aligned_run_follows_the_gd_recursion():
    cfg = dln_core.RunConfig.make(depth=3, init_scheme="aligned", init_scale=0.1, lr=0.02, steps=600)
    result = dln_core.run(cfg)
    path = ls.training_path(result)
    u0 = np.array(result.summary["u0"])
    theory = th.mode_curve_gd(path["step"].to_numpy(), result.summary["lambda_star"], u0, 3, 0.02)
    np.testing.assert_allclose(path["u1"], theory[:, 0], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(path["u2"], theory[:, 1], rtol=1e-8, atol=1e-12)


def test_two_mode_view_of_a_diverged_run_stays_readable():
    result, _ = _fake_result()
    h = result.history.copy()
    h.loc[3, "mode_1"], h.loc[4, "mode_1"] = 1e250, np.nan  # blew up, then nan
    view = ls.two_mode_view(SimpleNamespace(history=h, summary=result.summary), n=21)
    assert np.all(np.isfinite(view.loss))
    assert view.w1.max() == pytest.approx(1.25 * 2 * 6.0 ** (1 / 3))  # capped at twice the wells' reach

"""Curvature along the path (dln_core.curvature, THEORY §10.1): sharpness at every snapshot.

Against a finite-difference Hessian mid-training, against the closed form at the end, above the cap,
and the off path (frames identical without the flag).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dln_core import curvature, engine, sharpness
from dln_core.config import RunConfig
from dln_core.diagnostics import gradients
from dln_core.errors import ConfigError
from dln_core.result import FRAME_NAMES


def _fd_hessian(sxx, syx, Ws, eps=1e-5):
    """Central differences of the closed-form gradient (THEORY §1): error O(eps²) ≈ 1e-10."""
    shapes, sizes = [W.shape for W in Ws], [W.size for W in Ws]
    flat = np.concatenate([W.ravel() for W in Ws])
    splits = np.cumsum(sizes)[:-1]

    def grad(x):
        ws = [p.reshape(sh) for p, sh in zip(np.split(x, splits), shapes)]
        return np.concatenate([g.ravel() for g in gradients(ws, sxx, syx)])

    H = np.empty((flat.size, flat.size))
    for j in range(flat.size):
        e = np.zeros(flat.size)
        e[j] = eps
        H[:, j] = (grad(flat + e) - grad(flat - e)) / (2 * eps)
    return 0.5 * (H + H.T)


def test_sharpness_matches_finite_difference_hessian_mid_training():
    rng = np.random.default_rng(13)
    for _ in range(3):
        depth = int(rng.integers(2, 4))
        sv = tuple(np.round(np.sort(rng.uniform(0.5, 3.0, 3))[::-1], 3))
        cfg = RunConfig.make(target_kind="spectrum", singular_values=sv, depth=depth, width=4,
                             init_scheme="gaussian", init_scale=0.3, seed=int(rng.integers(100)),
                             lr=0.02, steps=int(rng.integers(20, 80)))
        res = engine.run(cfg, sharpness=True)  # stopped mid-training: the last snapshot is the final state
        p = res.problem
        H_fd = _fd_hessian(p.sigma_xx, p.sigma_yx, res.weights)
        top = np.linalg.eigvalsh(H_fd)[::-1][: curvature.TOP_K]
        last = res.curvature.iloc[-1]
        assert last["step"] == cfg.optim.steps
        got = last[["sharpness", "hessian_2", "hessian_3"]].to_numpy(float)
        np.testing.assert_allclose(got, top, rtol=1e-6, atol=1e-8)
        # the exact HVP Hessian equals the finite-difference one entrywise
        np.testing.assert_allclose(curvature.full_hessian(p.sigma_xx, p.sigma_yx, res.weights), H_fd, atol=1e-7)


def test_lanczos_warm_start_path_equals_full_spectrum_top():
    cfg = RunConfig.make(depth=3, init_scheme="gaussian", init_scale=0.3, lr=0.01, steps=300, n_snapshots=12)
    full = engine.run(cfg, sharpness=True).curvature
    p = engine.build_problem(cfg.target)
    tracker = curvature.SharpnessTracker(p, 1, full_max=0)  # force Lanczos, warm-started per snapshot
    res = engine.run(cfg)
    tracker(0, [w[None] for w in res.weights])
    tracker(1, [w[None] for w in res.weights])  # second call starts from the first's eigenvector
    assert tracker.rows[1][0][2] == "Lanczos (warm start)"
    np.testing.assert_allclose(tracker.rows[1][0][0][0], full["sharpness"].iloc[-1], rtol=1e-8)
    np.testing.assert_allclose(tracker.rows[1][0][1], full["gauss_newton"].iloc[-1], rtol=1e-6)


@pytest.mark.parametrize("depth,lam", [(2, (6.0, 4.0, 3.0, 2.0, 1.0, 0.5)), (3, (3.0, 2.0))])
def test_progressive_sharpening_ends_at_closed_form(depth, lam):
    kind = {"target_kind": "article"} if len(lam) == 6 else {"target_kind": "spectrum", "singular_values": lam}
    cfg = RunConfig.make(**kind, depth=depth, init_scale=1e-3 if depth == 2 else 1e-2, lr=0.02, steps="auto")
    res = engine.run(cfg, sharpness=True)
    s, c = res.summary, res.curvature
    closed = sharpness.sharpness_balanced(lam[0], depth)
    assert s.converged and not s.lr_over_cap
    assert abs(c["sharpness"].iloc[-1] - closed) <= 1e-6 * closed
    assert np.allclose(c["sharpness_min"], closed) and np.allclose(c["two_over_lr"], 2 / cfg.optim.lr)
    start = c["sharpness"].iloc[0]
    if depth == 2:  # the origin is a strict saddle: Hessian eigenvalues ±λ_i, so it starts at λ_1
        assert abs(start - lam[0]) < 1e-2
    else:  # L ≥ 3: the Hessian vanishes at the origin, so it starts near 0
        assert start < 0.02 * closed
    assert c["sharpness"].iloc[-1] > 1.9 * start
    # the Gauss–Newton part (= top NTK eigenvalue) starts near 0 and meets the Hessian at the minimum
    assert c["gauss_newton"].iloc[0] < 1e-3 and abs(c["gauss_newton"].iloc[-1] - closed) <= 1e-6 * closed


def test_above_cap_whitened_oscillates_and_is_reported():
    cfg = RunConfig.make(depth=2, init_scale=1e-3, lr=0.175, steps=3000)  # cap 1/6 ≈ 0.1667
    res = engine.run(cfg, sharpness=True)
    s = res.summary
    assert s.lr_over_cap and not s.converged and not s.diverged
    tail = res.history["loss"].iloc[-20:]
    assert tail.min() > 0.1  # stuck well above the floor
    assert "oscillates" in curvature.verdict(s, res.curvature)


def test_above_cap_commuting_settles_on_flatter_minimum():
    cfg = RunConfig.make(target_kind="spectrum", singular_values=(2.0, 1.0), input_kind="commuting",
                         input_eigenvalues=(1.0, 0.2), depth=2, init_scheme="gaussian", init_scale=1e-3,
                         lr=0.2857142857142857 * 1.2, steps=20000)
    res = engine.run(cfg, sharpness=True)
    s, c = res.summary, res.curvature
    assert s.lr_over_cap and s.converged
    final = c["sharpness"].iloc[-1]
    assert final < 2 / s.lr < c["sharpness_min"].iloc[-1]  # flatter than the balanced minimum
    assert "flatter minimum" in curvature.verdict(s, c)


def test_off_path_frames_identical_and_no_curvature():
    cfg = RunConfig.make(depth=2, lr=0.05, init_scale=1e-3, steps=600)
    off, on = engine.run(cfg), engine.run(cfg, sharpness=True)
    assert off.curvature is None and off.sharpness_seconds is None and off.first_layer is None
    for name in FRAME_NAMES:
        pd.testing.assert_frame_equal(off.frame(name), on.frame(name))
    assert off.summary.to_dict().keys() == on.summary.to_dict().keys()
    assert list(on.curvature.columns) == list(curvature.CURVATURE_COLUMNS)
    assert len(on.curvature) == len(on.history) and on.sharpness_seconds > 0


def test_batch_members_match_single_runs():
    cfgs = [RunConfig.make(depth=2, lr=lr, init_scale=1e-3, steps=400) for lr in (0.02, 0.05)]
    batch = engine.run_batch(cfgs, sharpness=True)
    for cfg, res in zip(cfgs, batch):
        alone = engine.run(cfg, sharpness=True).curvature
        np.testing.assert_allclose(res.curvature["sharpness"], alone["sharpness"], rtol=1e-9)


def test_too_many_weights_is_one_config_error():
    cfg = RunConfig.make(depth=3, width=512, steps=10)  # 268,288 weights
    with pytest.raises(ConfigError, match="sharpness"):
        engine.run(cfg, sharpness=True)


def test_ntk_top_equals_gauss_newton_part_top():
    """The small tangent-kernel matrix and the all-weights Gauss–Newton matrix share their top eigenvalue."""
    rng = np.random.default_rng(3)
    cfg = RunConfig.make(target_kind="hierarchy", depth=3, init_scheme="gaussian", init_scale=0.3, steps=1)
    p = engine.build_problem(cfg.target)
    Ws = [rng.standard_normal(sh) * 0.4 for sh in
          [(cfg.layer_dims[i + 1], cfg.layer_dims[i]) for i in range(len(cfg.layer_dims) - 1)]]
    G = curvature.full_hessian(p.sigma_xx, p.sigma_yx, Ws, gn_only=True)
    K = curvature.ntk_matrix(p.sigma_xx, Ws)
    np.testing.assert_allclose(np.linalg.eigvalsh(K)[::-1][:4], np.linalg.eigvalsh(G)[::-1][:4], rtol=1e-9)


def test_player_payload_carries_rsa_and_sharpness_only_when_recorded():
    from dln_core import landscape, representation
    from dln_core.charts import playback

    cfg = RunConfig.make(target_kind="hierarchy", depth=2, lr=0.05, init_scale=1e-3, steps=800)
    res = engine.run(cfg, sharpness=True).build_frames()
    payload = playback.playback_payload(res, landscape.two_mode_view(res, n=11))
    S = len(payload["x"]["step"])
    assert len(payload["rsa"]["measured"]) == S == len(payload["sharp"]["top"])
    _, w1, _ = res.first_layer  # the last frame, unscaled, is the measured W_1ᵀW_1
    last = np.array(payload["rsa"]["measured"][-1]) * payload["rsa"]["peak"]
    np.testing.assert_allclose(last, representation.rsa_measured(w1[-1]).ravel(), rtol=1e-3, atol=1e-4)
    html = playback.player_html(payload)
    assert 'id="c_rsa"' in html and 'id="c_sharp"' in html
    assert playback.player_height(payload) == playback.PLAYER_HEIGHT + playback.EXTRA_ROW_HEIGHT
    plain = engine.run(RunConfig.make(steps=200)).build_frames()
    p2 = playback.playback_payload(plain, landscape.two_mode_view(plain, n=11))
    assert "rsa" not in p2 and "sharp" not in p2 and playback.player_height(p2) == playback.PLAYER_HEIGHT
    assert 'id="c_rsa"' not in playback.player_html(p2)

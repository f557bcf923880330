"""The GD engine against exact identities, exact theory and a naive reference (THEORY.md §1–§6)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dln_core import config, frames, overlay, theory
from dln_core.config import RunConfig
from dln_core.diagnostics import balance_matrices, effective_rank, end_to_end, gradients
from dln_core.engine import init_weights, run, run_batch, snapshot_steps
from dln_core.targets import build_problem

ARTICLE = np.array([6.0, 4.0, 3.0, 2.0, 1.0, 0.5])


# ------------------------------------------------------------------------------- gradients, identities
def test_closed_form_gradient_matches_finite_differences():
    cfg = RunConfig.make(target_kind="spectrum", singular_values=(3, 1), n_out=3, n_in=2, rotate_seed=1,
                         input_kind="rotated", input_eigenvalues=(2.0, 0.5), depth=3, width=4,
                         init_scheme="gaussian", init_scale=0.6, seed=2)
    p = build_problem(cfg.target)
    ws = init_weights(cfg, p)
    grads = gradients(ws, p.sigma_xx, p.sigma_yx)
    h = 1e-6
    for li, (w, g) in enumerate(zip(ws, grads)):
        for idx in [(0, 0), (w.shape[0] - 1, w.shape[1] - 1), (1, 0)]:
            plus = [x.copy() for x in ws]
            minus = [x.copy() for x in ws]
            plus[li][idx] += h
            minus[li][idx] -= h
            fd = (p.loss(end_to_end(plus)) - p.loss(end_to_end(minus))) / (2 * h)
            assert fd == pytest.approx(g[idx], abs=1e-8), (li, idx)


def test_conservation_law_drift_per_step_is_eta_squared_identity():
    """H_l(k+1) − H_l(k) = η²(G_{l+1}ᵀG_{l+1} − G_lG_lᵀ) exactly (THEORY.md §3), along an engine run."""
    cfg = RunConfig.make(target_kind="spectrum", singular_values=(4, 2, 1), n_out=4, n_in=3, rotate_seed=0,
                         depth=3, width=5, init_scheme="gaussian", init_scale=0.5, seed=3, lr=0.05,
                         steps=40, record=1)
    res = run(cfg)
    p = res.problem
    ws = init_weights(cfg, p)
    eta = cfg.optim.lr
    for k in range(40):
        G = gradients(ws, p.sigma_xx, p.sigma_yx)
        new = [w - eta * g for w, g in zip(ws, G)]
        for li, (h0, h1) in enumerate(zip(balance_matrices(ws), balance_matrices(new))):
            predicted = eta**2 * (G[li + 1].T @ G[li + 1] - G[li] @ G[li].T)
            assert np.abs((h1 - h0) - predicted).max() < 1e-12, (k, li)
        ws = new
    # the engine's fused step follows the same trajectory, and its drift frame is ‖H_l(k) − H_l(0)‖_F
    for w_engine, w_ref in zip(res.weights, ws):
        assert np.abs(w_engine - w_ref).max() < 1e-12
    last = res.balance[res.balance.step == 40].sort_values("layer")["drift"].to_numpy()
    ref = [np.linalg.norm(h1 - h0) for h0, h1 in zip(balance_matrices(init_weights(cfg, p)), balance_matrices(ws))]
    assert np.allclose(last, ref, rtol=1e-9, atol=1e-15) and last.max() > 1e-6  # drift is real, not zero


# ---------------------------------------------------------------------------------- exact theory
@pytest.mark.parametrize("depth", [2, 3])
def test_aligned_balanced_gd_equals_the_finite_eta_recursion(depth):
    lr, scale, steps = 0.02, 0.3, 300
    res = run(RunConfig.make(depth=depth, init_scheme="aligned", init_scale=scale, lr=lr, steps=steps,
                             record=1, seed=5))
    u = res.history[[f"mode_{i}" for i in range(1, 7)]].to_numpy()
    # independent recursion s <- s + η s^{L-1}(λ − s^L) per mode (THEORY.md §2)
    s = np.full(6, scale)
    ref = [s**depth]
    for _ in range(steps):
        s = s + lr * s ** (depth - 1) * (ARTICLE - s**depth)
        ref.append(s**depth)
    assert np.abs(u - np.array(ref)).max() < 1e-10
    gd = res.history[[f"theory_gd_{i}" for i in range(1, 7)]].to_numpy()
    assert np.abs(u - gd).max() < 1e-10
    # exactly aligned from step 0 on (where all layer singular values are equal: the degenerate
    # SVD basis is rotated onto the reference, diagnostics.signed_svds)
    assert res.history["alignment"].min() > 1 - 1e-10
    assert res.history["balance_drift"].max() < 1e-2  # O(η²) drift only


def test_gd_approaches_gradient_flow_as_lr_shrinks():
    t_end, errors = 2.0, []
    for lr in (0.04, 0.01, 0.0025):
        res = run(RunConfig.make(depth=2, init_scheme="aligned", init_scale=0.1, lr=lr,
                                 steps=round(t_end / lr), record=round(t_end / lr)))
        last = res.history.iloc[-1]
        u = np.array([last[f"mode_{i}"] for i in range(1, 7)])
        gf = theory.mode_curve_gf([t_end], ARTICLE, np.full(6, 0.01), 2)[0]
        assert np.allclose([last[f"theory_{i}"] for i in range(1, 7)], gf, rtol=1e-12)
        errors.append(np.abs(u - gf).max())
    assert errors[2] < 0.35 * errors[1] < 0.35**2 * errors[0]  # first order in η
    assert errors[2] < 0.05


def test_commuting_inputs_follow_the_d_weighted_recursion():
    d = np.array([2.0, 0.5, 1.0, 3.0, 1.0, 0.25])
    res = run(RunConfig.make(input_kind="commuting", input_eigenvalues=tuple(d), depth=2,
                             init_scheme="aligned", init_scale=0.2, lr=0.01, steps=400, record=50))
    u = res.history[[f"mode_{i}" for i in range(1, 7)]].to_numpy()
    gd = res.history[[f"theory_gd_{i}" for i in range(1, 7)]].to_numpy()
    assert np.abs(u - gd).max() < 1e-10
    assert np.allclose(res.summary["target_strength"], ARTICLE / d)


def test_lambda_balanced_start_is_exact_and_tracks_the_matrix_solution():
    cfg = RunConfig.make(init_scheme="lambda-balanced", lambda_b=0.5, init_scale=0.3, seed=1, lr=0.001,
                         steps=1000, record=1000)
    p = build_problem(cfg.target)
    W1, W2 = init_weights(cfg, p)
    assert np.abs(W2.T @ W2 - W1 @ W1.T - 0.5 * np.eye(6)).max() < 1e-12
    res = run(cfg)
    W_t = end_to_end(res.weights)
    exact = theory.lambda_balanced_solution(p.sigma_yx, W1, W2, [1.0], 0.5)[0]
    err = np.abs(W_t - exact).max()
    assert err < 0.02 * np.abs(exact).max()  # GD at η = 1e-3 vs the exact flow at t = 1


# ---------------------------------------------------------------------------------- batching
BATCH = [
    dict(init_scheme="gaussian", init_scale=0.3, seed=1, lr=0.02),
    dict(init_scheme="near-identity", init_scale=0.05, seed=2, lr=0.03),
    dict(init_scheme="aligned", init_scale=0.2, seed=0, lr=0.01),
    dict(init_scheme="gaussian", init_scale=0.1, seed=3, lr=0.05),
]
SHAPE = dict(target_kind="spectrum", singular_values=(3.0, 2.0, 1.0, 0.5), n_out=5, n_in=4, rotate_seed=2,
             depth=3, width=6, steps=400, record=20)


def _assert_same(a, b, tol=1e-12, skip=(), loose=()):
    """Frames, weights and events equal to ``tol``; ``loose`` columns to 1e-9 (compared separately)."""
    for name in ("history", "modes", "alignment", "layer_sv", "updates", "balance", "mode_summary"):
        if name in skip:
            continue
        fa, fb = getattr(a, name), getattr(b, name)
        assert list(fa.columns) == list(fb.columns) and len(fa) == len(fb), name
        for col in set(loose) & set(fa.columns):
            assert np.nanmax(np.abs(fa[col].to_numpy(float) - fb[col].to_numpy(float)), initial=0.0) <= 1e-9, (name, col)
        num = [c for c in fa.select_dtypes("number").columns if c not in loose]
        diff = np.abs(fa[num].to_numpy(float) - fb[num].to_numpy(float))
        assert np.nanmax(diff, initial=0.0) <= tol, name
    for wa, wb in zip(a.weights, b.weights):
        assert np.abs(wa - wb).max() <= tol
    assert a.summary["halfway_step"] == b.summary["halfway_step"]


def test_batched_run_equals_one_by_one_runs():
    cfgs = [RunConfig.make(**SHAPE, **m) for m in BATCH]
    batched = run_batch(cfgs)
    for cfg, res in zip(cfgs, batched):
        _assert_same(res, run(cfg))
        assert res.config == cfg


def test_torch_backend_batch_equals_numpy_runs():
    cfgs = [RunConfig.make(**{**SHAPE, "steps": 120}, **m) for m in BATCH]
    torch_batch = run_batch(cfgs, backend="torch")
    for cfg, res in zip(cfgs, torch_batch):
        # singular vectors inside (near-)degenerate subspaces differ with rounding, so overlap
        # matrices are not comparable across backends; the effective rank of an update weighs its
        # tiny singular values, which carry rounding noise (diagnostics.gram_singular_values); the theory
        # halfway step starts from a measured mid-run strength (overlay.theory_start_indices), whose
        # ~1e-13 backend rounding difference the sigmoid's plateau amplifies to ~1e-10 steps
        _assert_same(res, run(cfg, backend="numpy"), skip=("alignment",),
                     loose=("update_eff_rank", "eff_rank", "halfway_step_theory", "tau_half_theory"))


def test_batch_members_must_share_shape():
    from dln_core.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        run_batch([RunConfig.make(depth=2, steps=10), RunConfig.make(depth=3, steps=10)])
    assert err.value.field == "configs"


# ---------------------------------------------------------------------------------- exact events
def test_halfway_steps_are_exact_first_crossings(manual_gd):
    cfg = RunConfig.make(steps=1300)  # article L = 2 Small; log snapshots do not fall on the crossings
    res = run(cfg)
    _, _, u = manual_gd(cfg, 1300)
    for i in range(6):
        crossed = np.nonzero(u[:, i] >= ARTICLE[i] / 2)[0]
        expected = int(crossed[0]) if len(crossed) else None
        assert res.summary["halfway_step"][i] == expected
    assert res.summary["halfway_step"][4] is not None and res.summary["halfway_step"][5] is None


def test_divergence_above_the_stable_step_is_reported_and_frozen(manual_gd):
    cap = theory.max_stable_lr(theory.sharpness_balanced(6.0, 2))  # 2 / (2·6) = 1/6
    assert cap == pytest.approx(1 / 6)
    shape = dict(depth=2, init_scheme="near-identity", init_scale=0.3, steps=400, seed=1)
    cfgs = [RunConfig.make(lr=1.8 * cap, **shape), RunConfig.make(lr=0.3 * cap, **shape)]
    bad, good = run_batch(cfgs)
    assert bad.summary["diverged"] is True and isinstance(bad.summary["diverged_step"], int)
    with np.errstate(all="ignore"):
        _, losses, _ = manual_gd(cfgs[0], bad.summary["diverged_step"])
    threshold = 1e6 * max(losses[0], 1.0)
    first_bad = np.nonzero(~np.isfinite(losses) | (losses > threshold))[0]
    assert first_bad[0] == bad.summary["diverged_step"]  # the exact step, not the chunk end
    assert bad.history["step"].max() < bad.summary["diverged_step"]
    assert np.all(np.isfinite(bad.history["loss"])) and bad.summary["steps"] == bad.summary["diverged_step"]
    # the rest of the batch carried on, unaffected
    assert good.summary["diverged"] is False and good.summary["diverged_step"] is None
    assert good.summary["final_loss"] < 1e-6
    _assert_same(good, run(cfgs[1]))


# ---------------------------------------------------------------------------------- the article's claims
def test_article_l2_small_staircase(article_l2_small):
    res = article_l2_small
    s = res.summary
    hs, hst = s["halfway_step"], s["halfway_step_theory"]
    assert s["diverged"] is False and s["auto_reached"] is True
    assert all(np.diff(hs) > 0)  # claim 1: larger modes first
    for m, t in zip(hs, hst):
        assert abs(m - t) <= 0.05 * t  # within 5 % of gradient-flow theory from the measured u_i(0)
    # claim 4: plateaus at ½Σ_{i>k}λ_i², read where the loss is flattest (in log step) between drops
    steps, loss = res.history["step"].to_numpy(), res.history["loss"].to_numpy()
    levels = s["plateau_levels"]
    edges = [0, *hs]
    for k in range(1, 6):
        idx = np.nonzero((steps > edges[k]) & (steps < edges[k + 1]))[0]
        slope = np.abs(np.gradient(loss[idx], np.log(steps[idx])))
        flat = loss[idx[np.argmin(slope)]]
        assert abs(flat - levels[k]) <= 0.04 * levels[k], (k, flat, levels[k])
    # alignment becomes near-diagonal long before the first drop
    early = res.history[res.history["step"] <= hs[0] / 3]
    assert early["alignment"].iloc[0] < 0.5
    aligned = early[early["alignment"] > 0.95]
    assert len(aligned) and (aligned["loss"] > 0.999 * levels[0]).all()
    # final state: global minimum, every overlap diagonal (+1)
    last = res.alignment[res.alignment.step == res.alignment.step.max()]
    diag = last[last.row == last.col]
    assert s["final_loss"] < 1e-8 and diag["value"].min() > 0.999


def test_updates_are_low_rank_on_the_plateaus(article_l2_small):
    """Claim 3: during learning each step's update ΔW_l is (effectively) rank one."""
    res = article_l2_small
    hs = res.summary["halfway_step"]
    mid = res.history[(res.history.step > hs[0]) & (res.history.step < hs[3])]
    assert mid["update_eff_rank"].median() < 1.6
    assert effective_rank(np.array([1.0, 0.0, 0.0])) == pytest.approx(1.0)
    assert effective_rank(np.array([2.0, 2.0, 2.0])) == pytest.approx(3.0)


def test_l1_has_no_staircase(article_l1_small, article_l2_small):
    hs1 = article_l1_small.summary["halfway_step"]
    assert max(hs1) - min(hs1) <= 1  # du/dt = λ − u: every mode is halfway at t = ln 2
    assert abs(hs1[0] * 0.01 - np.log(2)) < 0.02
    hs2 = article_l2_small.summary["halfway_step"]
    assert hs2[-1] / hs2[0] > 5


def test_depth_3_plateaus_are_longer_and_sharper_than_depth_2():
    u0, lr = 1e-4, 0.005
    out = {}
    for depth in (2, 3):
        res = run(RunConfig.make(depth=depth, init_scheme="aligned", init_scale=u0 ** (1 / depth), lr=lr,
                                 steps=1200, record=3, target_kind="spectrum", singular_values=(6.0, 4.0)))
        t, u1 = res.history["t"].to_numpy(), res.history["mode_1"].to_numpy()

        def first(level, t=t, u1=u1):
            return t[np.nonzero(u1 >= level)[0][0]]

        half = res.summary["halfway_step"][0] * lr
        out[depth] = (half, (first(0.9 * 6) - first(0.1 * 6)) / half)
    assert out[3][0] > 1.5 * out[2][0]  # longer plateau from the same u0
    assert out[3][1] < 0.7 * out[2][1]  # sharper drop relative to the plateau length


# ---------------------------------------------------------------------------------- run length & frames
def test_snapshot_schedule():
    s = snapshot_steps(8800)
    assert s[0] == 0 and s[-1] == 8800 and np.all(np.diff(s) > 0) and 200 <= len(s) <= 230
    assert list(snapshot_steps(50)) == list(range(51))
    assert list(snapshot_steps(25, record=10)) == [0, 10, 20, 25]


def test_auto_steps_follow_the_widget_rule(manual_gd):
    cfg = config.preset(1, "Small")
    res = run(cfg)
    _, losses, _ = manual_gd(cfg, 1000)
    T = next(k for k in range(100, 1001, 100) if losses[k] < 0.05)
    assert res.summary["total_steps"] == max(4 * T, 500) and res.summary["auto_reached"] is True
    assert len(res.history) == len(snapshot_steps(res.summary["total_steps"]))


def test_long_run_memory_is_bounded_by_snapshots():
    res = run(RunConfig.make(depth=1, steps=20_000, lr=0.01, n_snapshots=50))
    assert len(res.history) <= 60 and res.history["step"].iloc[-1] == 20_000


def test_frames_have_the_documented_columns_and_export(article_l1_small):
    res = article_l1_small
    assert list(res.history.columns) == frames.history_columns(6) == list(frames.HISTORY_COLUMNS)
    assert list(res.modes.columns) == list(frames.MODES_COLUMNS)
    assert list(res.mode_summary.columns) == list(frames.MODE_SUMMARY_COLUMNS)
    assert list(res.alignment.columns) == list(frames.ALIGNMENT_COLUMNS)
    assert list(res.layer_sv.columns) == list(frames.LAYER_SV_COLUMNS)
    assert list(res.updates.columns) == list(frames.UPDATE_COLUMNS)
    assert list(res.balance.columns) == list(frames.BALANCE_COLUMNS) and res.balance.empty  # L = 1
    assert set(res.alignment["pair"]) == {"U*ᵀU_L", "V_1ᵀV*"}
    np.testing.assert_allclose(res.history["t"], 0.01 * res.history["step"])
    out = frames.export_frame([("run-1", res)])
    assert list(out.columns[:4]) == ["run_id", "step", "t", "loss"]
    assert {"depth", "lr", "init_scale", "target_kind"} <= set(out.columns) and (out["depth"] == 1).all()
    assert len(out) == len(res.history)


def test_rotated_inputs_train_without_theory():
    res = run(RunConfig.make(input_kind="rotated", input_eigenvalues=(1.5, 1.0, 0.8, 1.2, 1.0, 0.9),
                             init_scheme="gaussian", init_scale=0.05, lr=0.02, steps=3000))
    assert res.summary["final_loss"] < 1e-6 * res.summary["initial_loss"]
    assert res.history["theory_1"].isna().all() and res.summary["halfway_step_theory"] == [None] * 6


def test_hierarchy_learns_broad_distinctions_first():
    res = run(RunConfig.make(target_kind="hierarchy", init_scale=1e-3, lr=0.05, steps=4000))
    hs = res.summary["halfway_step"]
    assert hs[0] < hs[1] < min(hs[2], hs[3]) and abs(hs[2] - hs[3]) <= 0.1 * hs[2]
    assert res.summary["final_loss"] < 1e-6
    assert isinstance(res.mode_summary, pd.DataFrame) and len(res.mode_summary) == 4
    # modes 3 and 4 share λ: the overlap heatmaps still come out diagonal (+1) at the end
    assert res.history["alignment"].iloc[-1] > 1 - 1e-6
    last = res.alignment[(res.alignment.step == res.alignment.step.max()) & (res.alignment.row == res.alignment.col)]
    assert last[last.row <= 4]["value"].min() > 1 - 1e-6


def test_signed_svds_keep_the_factorisation_with_degenerate_values():
    from dln_core.diagnostics import signed_svds

    rng = np.random.default_rng(0)
    Q1, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    Q2, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    W = np.stack([Q1 @ np.diag([3.0, 2.0, 2.0, 2.0, 0.5]) @ Q2.T, rng.standard_normal((5, 5))])
    ref = np.eye(5)
    ((U, s, V),) = signed_svds([W], ref)
    assert np.abs(U @ (s[..., :, None] * np.swapaxes(V, -1, -2)) - W).max() < 1e-12
    assert np.allclose(np.swapaxes(U, -1, -2) @ U, np.eye(5), atol=1e-12)
    # inside the tied group the basis is the one closest to the reference: its overlap block is symmetric PSD
    block = (ref.T @ U[0])[1:4, 1:4]
    assert np.allclose(block, block.T, atol=1e-12) and np.linalg.eigvalsh(block).min() > -1e-12


def test_auto_run_length_is_capped_and_reported():
    from dataclasses import replace

    from dln_core.limits import LOCAL

    res = run(RunConfig(), limits=replace(LOCAL, max_steps=300))  # L = 2 Small needs ~2300 steps
    assert res.summary["auto_reached"] is False and res.summary["total_steps"] == 300
    assert res.history["step"].iloc[-1] == 300


def test_progress_reaches_one_and_float32_tracks_float64():
    seen = []
    cfg = RunConfig.make(steps=2500, dtype="float32")
    res32 = run(cfg, progress=seen.append)
    assert seen[-1] == 1.0 and all(np.diff(seen) >= 0) and len(seen) > 10
    res64 = run(cfg.replace(dtype="float64"))
    assert res32.summary["halfway_step"][:5] == pytest.approx(res64.summary["halfway_step"][:5], abs=3)
    assert abs(res32.summary["final_loss"] - res64.summary["final_loss"]) < 1e-3


def test_memory_does_not_grow_with_steps():
    import tracemalloc

    run(RunConfig.make(depth=2, init_scale=0.3, steps=100, n_snapshots=50))  # imports happen outside the trace
    peaks = []
    for steps in (500, 5_000):
        tracemalloc.start()
        run(RunConfig.make(depth=2, init_scale=0.3, steps=steps, n_snapshots=50))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.3 * peaks[0]  # 10x the steps, same snapshot count: same memory


# ---------------------------------------------------------------------------------- theory start points
def _rel_errors(res):
    return [abs(m - t) / t for m, t in zip(res.summary["halfway_step"], res.summary["halfway_step_theory"])
            if t is not None]


@pytest.mark.parametrize(("depth", "scale", "lr", "steps"), [(2, 1e-3, 0.01, 2500), (3, 0.03, 0.02, 20_000)])
def test_gaussian_init_theory_starts_after_the_alignment_phase(depth, scale, lr, steps):
    """THEORY.md §2: a random small start first aligns, then each mode follows the sigmoid. With each
    mode's theory launched at the end of its alignment phase (overlay.theory_start_indices) the measured
    halfway step is within 10 % of theory for every mode (measured: ≤ 2.3 % at L = 2, ≤ 1.6 % at L = 3;
    at L = 3 mode 3 crosses before it decouples, so its theory starts after the crossing and it has no
    theory halfway step). The tolerance is loose on purpose: finite η = 0.02 alone moves mode 1 by ~1 %."""
    res = run(RunConfig.make(depth=depth, init_scheme="gaussian", init_scale=scale, lr=lr, steps=steps))
    s = res.summary
    assert None not in s["halfway_step"]
    # no prediction only for a mode learned before it aligned (its theory starts past its crossing)
    missing = [i for i, t in enumerate(s["halfway_step_theory"]) if t is None]
    assert len(missing) <= 1
    assert all(s["theory_start_step"][i] > s["halfway_step"][i] for i in missing)
    assert max(_rel_errors(res)) <= 0.10, (s["halfway_step"], s["halfway_step_theory"])
    starts = s["theory_start_step"]
    assert all(k is not None and k > 0 for k in starts)  # no mode's theory starts from the random u(0)
    assert list(res.mode_summary["theory_start_step"]) == starts
    # theory columns are NaN before a mode's start and follow the measured u from its start on
    for i, k in enumerate(starts, start=1):
        before = res.history[res.history.step < k]
        assert before[f"theory_{i}"].isna().all() and before[f"theory_gd_{i}"].isna().all()
        at = res.history[res.history.step == k].iloc[0]
        assert at[f"theory_{i}"] == pytest.approx(at[f"mode_{i}"], rel=1e-12)
    # launched from the measured u_i(0) instead, the theory misses by far more than 10 %
    old = overlay.halfway_steps_theory(res.problem, [s["u0"]], depth, lr)[0]
    errs = [1.0 if t is None else abs(m - t) / t for m, t in zip(s["halfway_step"], old)]
    assert max(errs) > 0.2


def test_near_identity_article_theory_starts_at_the_beginning(article_l2_small):
    """The near-identity article case is (essentially) aligned from the start: theory from step ≤ 2."""
    starts = article_l2_small.summary["theory_start_step"]
    assert max(starts) <= 2
    assert max(_rel_errors(article_l2_small)) <= 0.03


def test_aligned_init_starts_theory_at_step_zero():
    res = run(RunConfig.make(depth=3, init_scheme="aligned", init_scale=0.3, lr=0.02, steps=200, record=10))
    assert res.summary["theory_start_step"] == [0] * 6
    assert res.history[[f"theory_{i}" for i in range(1, 7)]].notna().all().all()


@pytest.mark.parametrize("lambda_b", [0.5, -0.5, 2.0])
def test_lambda_balanced_overlay_is_the_exact_l2_solution(lambda_b):
    """THEORY.md §4: from an unaligned λ-balanced start the overlay is the exact matrix flow projected on
    the modes. GD at η = 0.002 tracks it to 2 % of λ_1 at every snapshot and its halfway steps to 1 %;
    the balanced scalar ODE from u_i(0) is off by > 50 % (or has no answer) here."""
    cfg = RunConfig.make(init_scheme="lambda-balanced", lambda_b=lambda_b, init_scale=0.05, seed=1, lr=0.002,
                         steps=3000, rotate_seed=3)
    res = run(cfg)
    s = res.summary
    W1, W2 = res.initial_weights
    assert np.abs(W2.T @ W2 - W1 @ W1.T - lambda_b * np.eye(6)).max() < 1e-12
    h = res.history
    u = h[[f"mode_{i}" for i in range(1, 7)]].to_numpy()
    gf = h[[f"theory_{i}" for i in range(1, 7)]].to_numpy()
    exact = overlay.exact_l2_mode_curves(res.problem, res.initial_weights, lambda_b, h["t"].to_numpy())
    assert np.abs(gf - exact).max() < 1e-12 and np.abs(u - gf).max() < 0.02 * 6.0
    assert h[[f"theory_gd_{i}" for i in range(1, 7)]].isna().all().all()  # no exact finite-η recursion
    assert max(_rel_errors(res)) < 0.01 and s["theory_start_step"] == [0] * 6
    old = overlay.halfway_steps_theory(res.problem, [s["u0"]], 2, cfg.optim.lr)[0]
    assert any(t is None or abs(m - t) > 0.5 * m for m, t in zip(s["halfway_step"], old))


def test_mode_rates_are_the_gradient_flow_derivative_of_u():
    from dln_core.diagnostics import mode_rates, mode_strengths

    cfg = RunConfig.make(depth=3, init_scheme="gaussian", init_scale=0.5, rotate_seed=2, seed=4)
    p = build_problem(cfg.target)
    ws = init_weights(cfg, p)
    G = gradients(ws, p.sigma_xx, p.sigma_yx)
    h = 1e-6

    def u_at(eps):
        return mode_strengths(end_to_end([w - eps * g for w, g in zip(ws, G)]), p.U_star, p.V_star)

    fd = (u_at(h) - u_at(-h)) / (2 * h)
    assert np.abs(fd - mode_rates(ws, G, p.U_star, p.V_star)).max() < 1e-7 * max(1.0, np.abs(fd).max())


# ---------------------------------------------------------------------------------- step-size reporting
def test_step_size_above_the_cap_oscillates_and_is_reported():
    """THEORY.md §6: at L = 2 (article) lr_cap = 2 / (2·6) = 1/6. Slightly above it GD neither converges
    nor blows up (it settles in an oscillation at loss ~0.65); slightly below it converges."""
    shape = dict(depth=2, init_scheme="near-identity", init_scale=0.3, seed=1, steps=3000)
    above, below = run_batch([RunConfig.make(lr=1.05 / 6, **shape), RunConfig.make(lr=0.9 / 6, **shape)])
    assert above.summary["lr_cap"] == pytest.approx(1 / 6, rel=1e-12)
    assert above.summary["lr_over_cap"] is True and above.summary["diverged"] is False
    assert above.summary["converged"] is False and 0.1 < above.summary["final_loss"] < 10
    assert below.summary["lr_over_cap"] is False and below.summary["converged"] is True
    assert below.summary["diverged"] is False and below.summary["loss_floor"] == 0.0


def test_lr_cap_is_numeric_for_non_whitened_inputs_and_the_floor_counts_the_width():
    from dln_core.engine import loss_floor, lr_cap

    p = build_problem(RunConfig.make(target_kind="hierarchy").target)
    ws = theory.balanced_minimum(p, 2, 14)
    cap = lr_cap(p, 2, 14)
    assert cap == pytest.approx(2 / theory.sharpness_numeric(p.sigma_xx, p.sigma_yx, ws), rel=1e-12)
    # a width-2 network cannot learn the third mode: its best loss is ½λ_3², and reaching it is converging
    res = run(RunConfig.make(target_kind="spectrum", singular_values=(3, 2, 1), width=2, init_scale=0.1, lr=0.05,
                             steps=3000))
    assert res.summary["loss_floor"] == pytest.approx(0.5, rel=1e-12) and res.summary["converged"] is True
    assert loss_floor(res.problem, 1, 2) == 0.0  # depth 1 has no hidden width


def test_batch_key_separates_what_a_batch_must_share_from_init_and_lr():
    """run_batch's contract in one function: init and lr may differ; target, network, optim may not."""
    from dln_core.engine import batch_key
    from dln_core.errors import ConfigError

    base = RunConfig.make(depth=2, steps=20, lr=0.01, init_scale=1e-3, seed=0)
    same = RunConfig.make(depth=2, steps=20, lr=0.05, init_scale=0.1, seed=3, init_scheme="aligned")
    assert batch_key(base) == batch_key(same)
    for other in (RunConfig.make(depth=3, steps=20), RunConfig.make(depth=2, steps=30),
                  RunConfig.make(depth=2, steps=20, target_kind="spectrum", singular_values="3,1")):
        assert batch_key(other) != batch_key(base)
        with pytest.raises(ConfigError, match="batch members must share"):
            run_batch([base, other])
    a, b = run_batch([base, same])  # equal keys: accepted as one batch
    assert a.summary["lr"] == 0.01 and b.summary["lr"] == 0.05


def test_mode_series_reads_the_recorder_without_building_frames_and_equals_the_modes_frame():
    """RunResult.mode_series: the modes frame's (step, t, u) as arrays, exactly, before and after building."""
    cfgs = [RunConfig.make(depth=2, steps=300, lr=lr, init_scale=0.1, n_snapshots=40) for lr in (0.02, 0.3)]
    res = run_batch(cfgs)
    for r in res:
        steps, t, u = r.mode_series()
        assert r._frames == {}  # nothing was built
        modes = r.modes
        wide = modes.pivot(index="step", columns="mode", values="u")
        np.testing.assert_array_equal(steps, wide.index.to_numpy())
        np.testing.assert_array_equal(u, wide.to_numpy())
        np.testing.assert_array_equal(t, r.config.optim.lr * steps)
        again = r.mode_series()  # now from the built frame: identical
        for a, b in zip((steps, t, u), again):
            np.testing.assert_array_equal(a, b)
    assert res[1].summary["diverged"] and len(res[1].mode_series()[0]) < len(res[0].mode_series()[0])

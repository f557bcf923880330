"""Generalisation (THEORY §9): the exact level against GD on drawn configurations, the random-matrix
level's convergence with dimension, the loss conventions and the validation of the config.

Tolerances (issue 13): best step within 10 % and minimum test loss within 5 % of the exact level. With
the aligned start on the sample's modes the exact level *is* what GD does, so the curves also agree to
rounding (1e-9 relative), which is asserted too. A small Gaussian start is the small-init
approximation (THEORY §8 at depth 2): there the minimum test loss is asserted within 5 % of the excess
over the noise floor, and stopping at the predicted step within 1 % of the measured minimum.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dln_core import generalize_studies as gs
from dln_core import generalize_theory as gt
from dln_core.budget import BudgetError
from dln_core.errors import ConfigError
from dln_core.generalize import draw_sample, run_generalize, sample_problem, training_inputs
from dln_core.generalize_config import GeneralizeConfig
from dln_core.generalize_studies import study_depths, study_init_depth, study_rmt_gap
from dln_core.limits import LOCAL


def _draw(rng: np.random.Generator, **fixed) -> GeneralizeConfig:
    """A random small teacher / sample / student (the test draws its own configurations)."""
    n_in, n_out = int(rng.integers(6, 25)), int(rng.integers(6, 25))
    rank = int(rng.integers(1, 4))
    cfg = dict(n_in=n_in, n_out=n_out, rank=rank, singular_values=tuple(rng.uniform(1.5, 5.0, rank)),
               samples=int(n_in * rng.uniform(1.5, 4.0)), noise=float(rng.uniform(0.3, 1.5)), lr=0.02,
               seed=int(rng.integers(0, 10_000)))
    return GeneralizeConfig(**{**cfg, **fixed})


def _rel(a, b) -> float:
    return abs(a / b - 1.0)


def test_whitened_inputs_are_white_in_the_sample_and_raw_inputs_are_not():
    rng = np.random.default_rng(3)
    X = training_inputs(7, 19, True, rng)
    assert np.abs(X @ X.T / 19 - np.eye(7)).max() < 1e-13
    raw = training_inputs(7, 19, False, rng)
    assert np.abs(raw @ raw.T / 19 - np.eye(7)).max() > 0.05


@pytest.mark.parametrize("trial", range(6))
def test_exact_level_is_gd_for_the_aligned_start(trial):
    rng = np.random.default_rng(100 + trial)
    depth = int(rng.integers(1, 4))
    scale = float(10 ** rng.uniform(-3, -1.5)) if depth < 3 else float(10 ** rng.uniform(-1.5, -1))
    cfg = _draw(rng, depth=depth, init_scheme="aligned", init_scale=scale)
    res = run_generalize(cfg)
    s, h = res.summary, res.history
    assert s["theory_applies"] and not s["diverged"]
    floor = s["noise_floor"]
    assert _rel(s["best_step"], s["best_step_theory"]) <= 0.10  # issue tolerance
    assert _rel(s["test_loss_min"], s["test_loss_min_theory"]) <= 0.05
    assert _rel(s["test_loss_min"] - floor, s["test_loss_min_theory"] - floor) <= 0.05
    # and exactly: the aligned start stays aligned, so eq. 9.3 is the measured curve to rounding
    assert s["best_step"] == s["best_step_theory"]
    assert np.allclose(h["test_loss"], h["test_loss_theory"], rtol=1e-9, atol=0)
    assert np.allclose(h["train_loss"], h["train_loss_theory"], rtol=1e-9, atol=1e-12)
    assert np.allclose(h["mode_1"], h["mode_theory_1"], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("trial", range(5))
def test_small_gaussian_start_at_depth_2_within_the_stated_tolerance(trial):
    rng = np.random.default_rng(200 + trial)
    cfg = _draw(rng, depth=2, init_scheme="gaussian", init_scale=float(10 ** rng.uniform(-4, -2.5)))
    s = run_generalize(cfg).summary
    assert s["theory_level"].startswith("depth 2 small-init")
    floor = s["noise_floor"]
    assert _rel(s["test_loss_min"] - floor, s["test_loss_min_theory"] - floor) <= 0.05
    # stopping where the theory says costs under 1 % of the measured minimum's excess loss
    assert s["test_loss_at_best_step_theory"] - s["test_loss_min"] <= 0.01 * (s["test_loss_min"] - floor)


def test_default_run_overfits_after_its_minimum_and_train_loss_keeps_falling():
    res = run_generalize(GeneralizeConfig())
    h, s = res.history, res.summary
    assert 0 < s["best_step"] < s["steps"]
    assert s["final_test_loss"] > s["test_loss_min"] + 0.5  # the rise is large, not rounding
    assert np.all(np.diff(h["train_loss"]) <= 1e-12)  # GD on the sample: the train loss never rises
    assert s["final_train_loss"] < s["noise_floor"] < s["test_loss_min"]
    # the noise learned at the end is most of the rise; the teacher's modes are learned by the minimum
    j = int(np.argmin(h["test_loss"]))
    assert h["noise_learned"].iloc[-1] > 3 * h["noise_learned"].iloc[j]


def test_population_loss_identity_and_train_constant():
    cfg = GeneralizeConfig(n_in=9, n_out=5, rank=2, singular_values=(3.0, 1.0), samples=30, noise=0.7, seed=4)
    sample = draw_sample(cfg)
    problem, modes = sample_problem(sample)
    u = np.random.default_rng(0).normal(size=problem.r)
    W = (problem.U_star * u) @ problem.V_star.T
    direct = 0.5 * np.sum((W - sample.w_bar) ** 2) + sample.noise_floor
    assert abs(gt.population_loss(u, modes, float(np.sum(sample.teacher_s**2)), sample.noise_floor) - direct) < 1e-12
    q = (sample.teacher_U.T @ W @ sample.teacher_V).diagonal()
    assert np.allclose(gt.teacher_projections(u, modes), q, atol=1e-13)


def test_rmt_formulas_meet_the_bulk_at_the_threshold():
    n_in, n_out, P, sigma = 300, 120, 900, 1.3
    sc = gt.bbp_threshold(n_in, n_out, P, sigma)
    out = gt.rmt_outliers([sc * (1 + 1e-9)], n_in, n_out, P, sigma)
    assert abs(out["s_hat"][0] / gt.bulk_edges(n_in, n_out, P, sigma)[1] - 1) < 1e-8
    assert out["cos_u2"][0] < 1e-8 and out["cos_v2"][0] < 1e-8
    assert not gt.rmt_outliers([0.99 * sc], n_in, n_out, P, sigma)["detected"][0]
    # the Marchenko–Pastur quantiles: mean squared singular value ν² max(n_in, n_out), inside the edges
    q = gt.mp_singular_quantiles(n_in, n_out, P, sigma, 2000)
    lo, hi = gt.bulk_edges(n_in, n_out, P, sigma)
    assert abs(np.mean(q**2) / (sigma**2 / P * n_in) - 1) < 2e-3
    assert lo <= q.min() and q.max() <= hi


def test_rmt_level_converges_to_the_exact_level_as_dimension_grows():
    cfg = GeneralizeConfig(n_in=20, n_out=20, rank=3, singular_values=(4.0, 2.0, 1.0), samples=40, noise=1.0)
    summary = study_rmt_gap(cfg, sizes=(25, 50, 100, 200, 400), seeds=tuple(range(10, 16)))["summary"]
    logn = np.log(summary["n_in"])
    for col in ("outlier_gap", "overlap_gap", "best_step_gap", "test_min_gap"):
        slope = np.polyfit(logn, np.log(summary[col]), 1)[0]
        assert slope < -0.25, (col, slope, summary[col].tolist())
    for col in ("outlier_gap", "best_step_gap", "test_min_gap"):
        assert summary[col].iloc[-1] < 0.5 * summary[col].iloc[0], (col, summary[col].tolist())
    assert summary["test_min_gap"].iloc[-1] < 0.03


def test_depth_1_early_stopping_is_the_best_ridge():
    cfg = GeneralizeConfig(depth=1, init_scale=1e-6, lr=0.01)
    s = run_generalize(cfg).summary
    excess = s["test_loss_min"] - s["noise_floor"]
    assert abs(s["test_loss_min"] - s["ridge_test_loss_min"]) <= 1e-3 * excess


def test_best_step_moves_with_init_scale_and_depth_and_depth_2_beats_depth_1():
    frame = study_init_depth(GeneralizeConfig(), scales=(1e-4, 1e-2), depths=(2, 3))["summary"]
    d2 = frame[frame["depth"] == 2].set_index("init_scale")
    d3 = frame[frame["depth"] == 3].set_index("init_scale")
    assert d2.loc[1e-4, "best_step"] > d2.loc[1e-2, "best_step"]  # smaller start: later best step
    assert d3.loc[1e-2, "best_step"] > d2.loc[1e-2, "best_step"]  # deeper: later from the same scale
    assert (frame["best_step"] == frame["best_step_theory"]).all()
    both = study_depths(GeneralizeConfig(), depths=(1, 2))["summary"].set_index("depth")
    assert both.loc[2, "test_loss_min"] < both.loc[1, "test_loss_min"]


def test_raw_inputs_are_simulation_only():
    res = run_generalize(GeneralizeConfig(inputs="gaussian", samples=60))
    s = res.summary
    assert not s["theory_applies"] and not s["rmt_applies"] and "raw Gaussian" in s["theory_reason"]
    assert s["best_step_theory"] is None and s["test_loss_min_theory"] is None
    assert res.history["test_loss_theory"].isna().all() and res.history["test_loss"].notna().all()


def test_deep_random_start_says_why_there_is_no_theory():
    s = run_generalize(GeneralizeConfig(depth=3, init_scheme="gaussian", init_scale=0.05, steps=300)).summary
    assert not s["theory_applies"] and "depth ≥ 3" in s["theory_reason"]


def test_a_diverging_run_is_reported():
    s = run_generalize(GeneralizeConfig(lr=2.0, steps=500)).summary
    assert s["diverged"] and s["diverged_step"] is not None


def test_budget_refuses_before_any_work():
    with pytest.raises(BudgetError, match="estimated"):
        run_generalize(GeneralizeConfig(steps=100_000), limits=replace(LOCAL, max_cpu_seconds=0.05))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"samples": 10}, "samples"),  # fewer samples than n_in = 20: cannot whiten
        ({"rank": 2}, "singular_values"),  # 3 values for rank 2
        ({"rank": 30}, "rank"),
        ({"noise": -1.0}, "noise"),
        ({"width": 5}, "width"),  # below min(n_in, n_out): not every empirical mode fits
        ({"init_scheme": "near-identity"}, "init_scheme"),
        ({"inputs": "pink"}, "inputs"),
        ({"steps": "soon"}, "steps"),
        ({"lr": 0.0}, "lr"),
    ],
)
def test_bad_config_names_the_field(change, field):
    with pytest.raises(ConfigError) as info:
        GeneralizeConfig(**change)
    assert info.value.field == field


def test_rmt_gap_survives_a_minimum_at_step_zero_and_the_study_keeps_the_server_caps():
    """Noise far above the signal: the best step of both levels is 0 (a relative gap over 0 steps used
    to divide by zero). Under the hosted caps the sizes above max_width are skipped and named."""
    from dln_core.limits import HOSTED

    gap = gs.rmt_gap(GeneralizeConfig(singular_values=(0.5, 0.3, 0.2), rank=3, noise=20, init_scale=1.0))
    assert gap["best_step"] == 0 and gap["reached"] and np.isfinite(gap["best_step_gap"])
    out = gs.study_rmt_gap(GeneralizeConfig(), sizes=(25, 50, 100), seeds=(0,), limits=HOSTED)
    assert out["skipped"] == [100] and out["stopped_at"] is None
    assert list(out["summary"]["n_in"]) == [25, 50]


def test_an_approximate_theory_is_not_labelled_exact():
    from dln_core.charts import generalize as gcharts
    from dln_core.generalize import LEVEL_EXACT, LEVEL_SMALL

    assert gcharts.theory_source(LEVEL_EXACT) == "exact theory"
    assert gcharts.theory_source(LEVEL_SMALL) == "approximate theory"
    res = run_generalize(GeneralizeConfig(init_scheme="gaussian", init_scale=1e-3, depth=2, steps=400))
    assert res.summary["theory_level"] == LEVEL_SMALL
    spec = gcharts.loss_chart(res.history, res.summary).to_dict()
    text = str(spec)
    assert "approximate theory" in text and "exact theory" not in text

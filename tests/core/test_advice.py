"""Run verdicts and fixes (dln_core.advice) on runs the tests train themselves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dln_core import advice, engine, theory
from dln_core.config import RunConfig

LAM = [6.0, 4.0, 3.0, 2.0, 1.0, 0.5]


@pytest.mark.parametrize("depth", [2, 3, 4, 6, 8])
def test_scaled_init_puts_the_slowest_halfway_time_on_the_budget(depth):
    lr = 0.005
    c = advice.scaled_init(depth, LAM, lr)
    t_half = float(np.ravel(theory.tau_half(0.5, c**depth, depth))[0])
    assert t_half / lr == pytest.approx(advice.BUDGET_STEPS, rel=1e-6)  # smallest c meeting the budget


def test_scaled_init_generalises_the_article_l2_preset():
    c = advice.scaled_init(2, LAM, 0.01)
    assert 1e-6 < c < 1e-4  # the article's L = 2 Small preset is c = 1e-5


def test_scaled_init_makes_a_stuck_depth_learn():
    stuck = engine.run(RunConfig.make(depth=4, init_scale=1e-5, lr=0.01, steps=3000))
    assert not stuck.summary["converged"]
    msgs = advice.run_messages(stuck.summary, stuck.config)
    fix = next(m.fix for m in msgs if m.fix)
    c = 10 ** fix["log_scale"]
    run = engine.run(RunConfig.make(depth=4, init_scale=c, lr=0.01, steps=4 * advice.BUDGET_STEPS))
    assert run.summary["converged"]
    # still a staircase: the loss is on the first plateau for a while
    h = run.history
    assert h.loc[h["step"] <= 50, "loss"].min() > 0.9 * h["loss"].iloc[0]


def test_narrow_network_at_its_floor_is_told_it_converged():
    cfg = RunConfig.make(depth=2, width=3, init_scale=1e-2, lr=0.02, steps="auto")
    run = engine.run(cfg)
    s = run.summary
    assert s["loss_floor"] == pytest.approx(0.5 * (4 + 1 + 0.25))
    assert s["auto_reached"] and s["converged"] and s["steps"] < 20_000  # auto stops at the floor
    msgs = advice.run_messages(s, cfg)
    assert msgs[0].level == "success" and "best rank-limited solution" in msgs[0].text
    assert not any("stuck" in m.text for m in msgs)


def test_divergence_from_a_huge_init_names_the_init():
    cfg = RunConfig.make(depth=3, init_scale=10.0, lr=0.01, steps=300)
    run = engine.run(cfg)
    assert run.summary["diverged"] and run.summary["lr"] < run.summary["lr_cap"]
    (m,) = advice.run_messages(run.summary, cfg)
    assert "Likely cause: the init scale c = 10" in m.text and "log_scale" in m.fix
    assert 10 ** m.fix["log_scale"] < 1


def test_divergence_from_a_large_step_names_eta():
    cfg = RunConfig.make(depth=2, init_scale=1e-3, lr=0.5, steps=300)
    run = engine.run(cfg)
    assert run.summary["diverged"] and run.summary["lr"] > run.summary["lr_cap"]
    (m,) = advice.run_messages(run.summary, cfg)
    assert "Likely cause: the step size η = 0.5" in m.text
    assert m.fix == {"lr": pytest.approx(0.5 * run.summary["lr_cap"], rel=1e-2)}


def test_auto_explains_what_it_did(article_l2_small):
    msgs = advice.run_messages(article_l2_small.summary, article_l2_small.config)
    info = [m.text for m in msgs if m.level == "info"]
    steps = article_l2_small.summary["steps"]
    assert info == [next(t for t in info if t.startswith(f"'auto' chose {steps:,} steps"))]


def test_sweep_cap_warning_names_the_depths_over_the_cap():
    # cap(L) = 2 / (L λ^{2-2/L}) at λ = 1: 1, 0.667, 0.5, 0.4 for L = 2..5
    assert advice.sweep_cap_warning(0.3, [1.0], [2, 3, 4, 5]) is None
    text = advice.sweep_cap_warning(0.45, [1.0, 0.5], [2, 3, 4, 5])
    assert text.startswith("η = 0.45 is above the stable step-size cap 2/sharpness at L = 5 (cap 0.4)")
    assert "L = 4" not in text
    assert advice.sweep_cap_warning(0.45, [], [2]) is None
    assert math.isclose(float(theory.max_stable_lr(theory.sharpness_balanced(1.0, 4))), 0.5)

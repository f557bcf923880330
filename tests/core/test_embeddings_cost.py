"""The embedding cost model (dln_core.embeddings.cost) and the unlearned-modes message."""

import pandas as pd
import pytest

from dln_core import advice
from dln_core.embeddings import cost


def test_estimate_scales_with_the_work():
    a = cost.estimate(2000, 50, 200, 40, 1e10)
    b = cost.estimate(2000, 50, 400, 40, 1e10)
    assert b.train_s == pytest.approx(2 * a.train_s)
    c = cost.estimate(4000, 50, 200, 40, 1e10)
    assert c.train_s / a.train_s == pytest.approx(4, rel=0.05) and c.spectrum_s == pytest.approx(4 * a.spectrum_s)
    assert a.total_s == pytest.approx(a.statistics_s + a.spectrum_s + a.train_s + a.evaluate_s)
    with pytest.raises(ValueError):
        cost.estimate(10, 2, 1, 2, 0.0)


def test_verdict_thresholds_and_largest_vocab():
    rate = 2e10
    assert cost.verdict(cost.estimate(1000, 20, 100, 30, rate)) == "run"
    assert cost.verdict(cost.estimate(20_000, 50, 250, 40, rate)) == "refuse"
    top = cost.largest_vocab(50, 250, 40, rate)
    assert cost.estimate(top, 50, 250, 40, rate).total_s <= cost.REFUSE_ABOVE_S
    assert cost.estimate(top + 500, 50, 250, 40, rate).total_s > cost.REFUSE_ABOVE_S


def test_measured_rate_is_positive():
    assert cost.measure_rate(V=200, d=8, repeats=1) > 0


def test_unlearned_modes_are_explained():
    modes = pd.DataFrame({"halfway_step": [10.0, 40.0, None], "halfway_step_theory": [11.0, 39.0, 5200.0]})
    s = {"diverged": False, "lr": 4.6e-5, "lr_auto": True, "mu_max": 5000.0, "steps": 250}
    text = advice.embedding_modes_message(s, modes)
    assert text.startswith("Only 2 of d = 3 modes reached halfway in 250 steps") and "≈ 5,200 steps" in text
    assert advice.embedding_modes_message(s, modes.iloc[:2]) is None

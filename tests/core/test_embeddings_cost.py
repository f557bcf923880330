"""The embedding cost model (dln_core.embeddings.cost) and the unlearned-modes message."""


import pandas as pd
import pytest

from dln_core import advice, budget
from dln_core.embeddings import cost
from dln_core.embeddings import eigenbasis as eb


def test_estimate_scales_with_the_work():
    a = cost.estimate(2000, 50, 200, 40, 1e10, "dense")
    b = cost.estimate(2000, 50, 400, 40, 1e10, "dense")
    assert b.train_s == pytest.approx(2 * a.train_s, rel=0.01)  # (steps + 1) products
    c = cost.estimate(4000, 50, 200, 40, 1e10, "dense")
    assert c.train_s / a.train_s == pytest.approx(4, rel=0.05) and c.spectrum_s == pytest.approx(4 * a.spectrum_s)
    assert a.total_s == pytest.approx(a.statistics_s + a.spectrum_s + a.train_s + a.evaluate_s)
    with pytest.raises(ValueError):
        cost.estimate(10, 2, 1, 2, 0.0)


def test_the_estimate_follows_the_route():
    """Eigenbasis route: V³ decomposition (none when cached) and O(V·d²) steps; dense: O(V²·d) steps."""
    args = (5000, 100, 1500, 100, 3e10)
    dense, eig = cost.estimate(*args, "dense"), cost.estimate(*args, "eigenbasis")
    assert cost.estimate(*args) == eig  # "auto" takes the cheaper route, as the run does
    assert budget.embed_route("auto", 5000, 100, 1500, 100) == eb.choose_method("auto", 5000, 100, 1500, 100,
                                                                             "float32", cached=False)
    assert eig.train_s < dense.train_s / 5
    assert eig.spectrum_s == pytest.approx(budget.EIGH_COST["float32"] * 5000**3 / 3e10)
    assert cost.estimate(*args, "eigenbasis", cached=True).spectrum_s == 0.0
    # doubling the steps adds the rotated steps only: V·d² each, not V²·d
    more = cost.estimate(5000, 100, 3000, 100, 3e10, "eigenbasis")
    assert more.train_s - eig.train_s == pytest.approx(budget.ROTATED_STEP_COST * 5000 * 100**2 * 1500 / 3e10)


@pytest.mark.parametrize("cfg", [(300, 10, 20, 5, "dense"), (2500, 50, 250, 40, "auto"),
                                 (5000, 100, 1500, 100, "eigenbasis"), (800, 20, 300, 40, "dense")])
def test_the_budget_and_the_page_price_the_same_counts(cfg):
    """One model: the hosted budget is the page's estimate at the reference rate, times the margin."""
    V, d, steps, snaps, method = cfg
    page = cost.estimate(V, d, steps, snaps, budget.EMBED_RATE, method)
    assert budget.embed_seconds(V, d, steps, snaps, method) == pytest.approx(budget.MARGIN * page.total_s, rel=1e-12)


def test_verdict_thresholds_and_largest_vocab():
    rate = 2e10
    assert cost.verdict(cost.estimate(1000, 20, 100, 30, rate)) == "run"
    assert cost.verdict(cost.estimate(30_000, 50, 250, 40, rate)) == "refuse"
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

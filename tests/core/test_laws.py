"""dln_core.laws and ``study``: the depth exponent 2 − 2/L measured three ways (THEORY.md §2)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from dln_core import laws, studies_laws, theory
from dln_core.cli import main
from dln_core.config import RunConfig
from dln_core.engine import run


def test_lambda_law_exponents_match_two_minus_two_over_depth():
    """A sweep over λ at fixed u₀/λ: the fitted exponent of λ is within 0.03 of 2 − 2/L at L = 2, 3, 4, 6,
    and the collapse τ½ λ^{2−2/L} is one curve per depth (within 4 % of g_L(u₀/λ) for every λ; the
    largest gap is finite η at the largest λ, where ηλ^{2−2/L} = 0.05)."""
    out = studies_laws.study_lambda_law(depths=(2, 3, 4, 6))  # defaults: λ = 0.5 … 4, u₀/λ = 0.01, 0.03
    fits = out["fits"]
    assert list(fits["depth"]) == [2, 3, 4, 6]
    for row in fits.itertuples():
        assert row.theory == pytest.approx(2 - 2 / row.depth)
        assert abs(row.measured - row.theory) <= 0.03, row
        assert 0 < row.stderr < 0.03
    s = out["summary"]
    g = np.array([float(theory.tau_half(1.0, r, int(d))[0]) for d, r in zip(s["depth"], s["ratio"])])
    np.testing.assert_allclose(s["collapse"], g, rtol=0.04)
    assert set(out["theory"].columns) == {"depth", "ratio", "collapse_theory"}


def test_lambda_law_fit_recovers_a_planted_exponent_with_intercepts_per_ratio():
    lam = np.tile([0.5, 1.0, 2.0, 4.0], 2)
    ratio = np.repeat([0.01, 0.1], 4)
    tau = np.where(ratio == 0.01, 7.0, 2.0) * lam ** -1.25 * (1 + 1e-3 * np.sin(7 * lam))
    frame = pd.DataFrame({"depth": 3, "lambda": lam, "ratio": ratio, "tau_half": tau})
    fit = laws.fit_lambda_law(frame).iloc[0]
    assert fit["measured"] == pytest.approx(1.25, abs=2e-3) and fit["stderr"] < 2e-3


def test_slope_and_stderr_are_scipy_linregress():
    from scipy import stats

    rng = np.random.default_rng(5)
    x = rng.uniform(-2, 2, 12)
    y = 1.7 * x + 0.3 + 0.05 * rng.standard_normal(12)
    ref = stats.linregress(x, y)
    fit = laws._linregress(x, y)
    assert fit.slope == pytest.approx(ref.slope, rel=1e-12) and fit.stderr == pytest.approx(ref.stderr, rel=1e-10)


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_ode_exponent_of_aligned_runs_is_two_minus_two_over_depth(depth):
    cfg = RunConfig.make(depth=depth, init_scheme="aligned", init_scale=0.3, lr=0.01, steps=1500, n_snapshots=400)
    s = run(cfg).summary
    assert s["ode_exponent_theory"] == pytest.approx(2 - 2 / depth)
    fitted = [e for e in s["ode_exponent"] if e is not None]
    assert len(fitted) >= 3
    assert max(abs(e - (2 - 2 / depth)) for e in fitted) <= 0.03


def test_ode_exponent_is_a_measurement_an_unbalanced_gaussian_run_misses():
    s = run(RunConfig.make(depth=3, init_scheme="gaussian", init_scale=0.2, lr=0.02, steps=1500)).summary
    fitted = [e for e in s["ode_exponent"] if e is not None]
    assert fitted and max(abs(e - 4 / 3) for e in fitted) > 0.1


def test_u0_law_reports_the_exponent_with_its_stderr():
    out = studies_laws.study_u0_law(depths=(3, 4), u0_min=1e-5, u0_max=1e-3, n_points=4, lr=0.05)
    fits = out["exponent_fits"]
    assert list(fits["depth"]) == [3, 4]
    for row in fits.itertuples():
        # finite u₀ bends the power law; the exact theory at the same u₀ bends it the same way
        assert abs(row.measured - row.theory_same_u0) <= 0.02 and row.stderr > 0
        assert abs(row.measured - row.theory) <= 0.08


def test_study_cli_prints_one_json_line_with_fits(tmp_path, capsys):
    csv = tmp_path / "ll.csv"
    assert main(["study", "lambda-law", "--depth", "2", "--csv", str(csv)]) == 0
    line = json.loads(capsys.readouterr().out.strip())
    assert line["study"] == "lambda-law" and line["rows"] == len(pd.read_csv(csv))
    (fit,) = line["fits"]
    assert set(fit) == {"quantity", "depth", "measured", "theory", "stderr"}
    assert fit["quantity"] == "lambda_exponent" and fit["depth"] == 2 and abs(fit["measured"] - 1.0) <= 0.03


def test_study_cli_bad_input_is_one_line_exit_2(capsys):
    assert main(["study", "lambda-law", "--depth", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--depth" in err[0]
    assert main(["study", "stability", "--depth", "3"]) == 2


def test_batched_ode_exponents_equal_the_one_by_one_fit():
    """A batch of members (depths 2–4, a diverging member, modes that never rise): the masked-sum fit
    gives every member's slopes of laws.ode_exponents to rounding, NaN in the same places."""
    from dln_core import engine
    from dln_core.config import RunConfig

    rng = np.random.default_rng(7)
    seen_nan = seen_fit = 0
    for depth in (2, 3, 4):
        lrs = [0.02, 0.05, 0.3] if depth == 2 else [0.02, 0.05]
        cfgs = [RunConfig.make(depth=depth, init_scheme="gaussian", init_scale=float(rng.uniform(0.01, 0.2)),
                               lr=lr, seed=int(rng.integers(1000)), steps=1500, n_snapshots=80) for lr in lrs]
        results = engine.run_batch(cfgs)
        for res in results:
            ex = res.summary.ode_exponent
            m = res.frame("modes")
            wide_u = m.pivot(index="step", columns="mode", values="u").to_numpy()
            wide_r = m.pivot(index="step", columns="mode", values="u_rate").to_numpy()
            one = laws.ode_exponents(res.problem, wide_u, wide_r, depth)
            for a, b in zip(ex, one):
                assert (a is None) == (b is None)
                if a is not None:
                    assert a == pytest.approx(b, rel=1e-12, abs=1e-12)
                    seen_fit += 1
                else:
                    seen_nan += 1
        assert any(r.summary.diverged for r in results) or depth > 2
    assert seen_fit >= 10 and seen_nan >= 1


def test_batched_ode_exponents_in_blocks_equal_one_block(monkeypatch):
    """Fitting in blocks of members (memory bound) changes nothing: synthetic rises u = λ·logistic with
    the rate of the mode ODE times noise, members keeping different snapshot prefixes."""
    from dln_core.engine import build_problem

    p = build_problem(RunConfig.make(depth=3).target)
    rng = np.random.default_rng(3)
    S, B = 60, 7
    t = np.linspace(-8, 8, S)[:, None, None] + rng.normal(0, 0.5, (1, B, p.r))
    u = p.lambda_star * (1 / (1 + np.exp(-t)))
    rate = theory.mode_rate(u, p.lambda_star, 3) * np.exp(rng.normal(0, 0.05, u.shape))
    kept = np.array([60, 60, 10, 0, 35, 60, 2])
    whole = laws.ode_exponents_batch(p, u, rate, kept, 3)
    monkeypatch.setattr(laws, "FIT_BLOCK", 2)
    assert np.array_equal(laws.ode_exponents_batch(p, u, rate, kept, 3), whole, equal_nan=True)
    assert np.isnan(whole[3]).all() and np.isfinite(whole[0]).all()
    one = laws.ode_exponents(p, u[:35, 4], rate[:35, 4], 3)
    assert np.allclose(whole[4], [np.nan if x is None else x for x in one], rtol=1e-12, equal_nan=True)

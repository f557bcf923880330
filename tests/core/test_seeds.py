"""Seeds as an axis (dln_core.seeds): t-intervals, seed groups, band curves, a tiny sweep aggregated,
and the standard error of the fitted exponents (sweep.fit_scaling)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dln_core import seeds, sweep
from dln_core._numeric import fit_power_law

T_2_975 = 4.3026527  # t quantile, 2 degrees of freedom, two-sided 95 % (tables: 4.303)


def test_t_interval_formula_and_coverage():
    mean, half, n = seeds.t_interval([1.0, 2.0, 4.0])
    assert n == 3 and mean == pytest.approx(7 / 3)
    assert half == pytest.approx(T_2_975 * np.std([1, 2, 4], ddof=1) / math.sqrt(3), rel=1e-7)
    assert math.isnan(seeds.t_interval([5.0])[1]) and seeds.t_interval([])[2] == 0
    rng = np.random.default_rng(0)  # coverage of the true mean 0 over 4000 draws of 5 normals
    hits = 0
    for _ in range(4000):
        m, h, _ = seeds.t_interval(rng.standard_normal(5))
        hits += abs(m) <= h
    assert abs(hits / 4000 - 0.95) < 0.012


def test_seed_groups_only_seed_differs():
    base = {"depth": 2, "lr": 0.02, "seed": 0}
    flats = {"a": base, "b": {**base, "seed": 1}, "c": {**base, "seed": 2, "lr": 0.05}, "d": {**base, "seed": 3}}
    assert seeds.seed_groups(flats) == [["a", "b", "d"]]
    assert seeds.seed_groups({"a": base, "b": dict(base)}) == []  # same seed twice: not a seed group


def test_tiny_sweep_aggregated_over_seeds():
    spec = sweep.SweepSpec(depths=(2,), init_scales=(1e-3,), lrs=(0.05, 0.1), seeds=(0, 1, 2),
                           singular_values=("3,1",),
                           base={"init_scheme": "gaussian", "steps": 800, "target_kind": "spectrum",
                                 "n_snapshots": 40})
    res = sweep.run_sweep(spec, keep_results=True)
    agg = seeds.aggregate_seeds(res.summary)
    assert len(agg) == 2 * 2 and (agg["n_seeds"] == 3).all()  # 2 learning rates × 2 modes
    for _, row in agg.iterrows():
        g = res.summary[(res.summary["lr"] == row["lr"]) & (res.summary["mode"] == row["mode"])]
        v = g["halfway_time"].to_numpy(float)
        assert len(v) == 3 and np.ptp(v) > 0  # the seeds really differ
        assert row["halfway_time_mean"] == pytest.approx(v.mean())
        half = T_2_975 * v.std(ddof=1) / math.sqrt(3)
        assert row["halfway_time_hi"] - row["halfway_time_mean"] == pytest.approx(half, rel=1e-7)
        assert row["halfway_time_se"] == pytest.approx(v.std(ddof=1) / math.sqrt(3))
    # band curves of the three seeds of one learning rate, on their shared snapshot steps
    runs = [r for r in res.results if r.config.optim.lr == 0.05]
    band = seeds.band_frame([r.history for r in runs], ["mode_1", "loss"])
    assert list(band.columns) == list(seeds.BAND_COLUMNS) and set(band["series"]) == {"mode_1", "loss"}
    row = band[(band["series"] == "mode_1")].iloc[len(band) // 4]
    vals = [float(r.history.set_index("step").loc[row["step"], "mode_1"]) for r in runs]
    assert row["mean"] == pytest.approx(np.mean(vals)) and row["n"] == 3
    half = T_2_975 * np.std(vals, ddof=1) / math.sqrt(3)
    assert row["hi"] - row["mean"] == pytest.approx(half, rel=1e-7) and row["lo"] < row["mean"] < row["hi"]
    flats = {str(i): r.config.to_flat() for i, r in enumerate(res.results)}
    assert sorted(len(g) for g in seeds.seed_groups(flats)) == [3, 3]


def test_fitted_exponent_standard_error_matches_regression():
    from scipy.stats import linregress

    rng = np.random.default_rng(4)
    u0 = np.geomspace(1e-6, 1e-3, 8)
    tau = u0 ** (-1 / 3) * np.exp(0.05 * rng.standard_normal(8))
    fit = fit_power_law(u0, tau)
    ref = linregress(np.log(u0), np.log(tau))
    assert fit.slope == pytest.approx(ref.slope) and fit.stderr == pytest.approx(ref.stderr, rel=1e-9)
    summary = pd.DataFrame({"mode": 1, "diverged": False, "depth": 3, "lambda": 1.0, "u0": u0,
                            "halfway_time": tau, "tau_half_theory": u0 ** (-1 / 3)})
    fits = sweep.fit_scaling(summary)
    assert fits.loc[0, "fitted_slope_se"] == pytest.approx(ref.stderr, rel=1e-9)


def test_cli_sweep_writes_the_seed_summary(tmp_path, monkeypatch):
    import contextlib
    import io
    import json

    from dln_core import cli

    monkeypatch.setenv("DLN_LAB_HOME", str(tmp_path))
    monkeypatch.delenv("DLN_LAB_PROFILE", raising=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(["sweep", "--target", "3,1", "--depth", "2", "--init", "gaussian", "--init-scale", "1e-3",
                         "--lr", "0.05", "--steps", "600", "--seeds", "3", "--quiet", "--csv",
                         str(tmp_path / "s.csv")])
    assert code == 0
    line = json.loads(out.getvalue())
    agg = pd.read_csv(line["seeds_csv"])
    assert line["seeds_csv"].endswith("s.seeds.csv") and len(agg) == 2 and (agg["n_seeds"] == 3).all()
    full = pd.read_csv(tmp_path / "s.csv")
    m1 = full[full["mode"] == 1]["halfway_time"]
    assert agg.loc[agg["mode"] == 1, "halfway_time_mean"].iloc[0] == pytest.approx(m1.mean())

"""Sweeps: grid → batches → summary, caps, fits, and the scaling laws they are built to test.

Engine-backed tests use 1×1 or 2×2 problems with the aligned init (u0 = scale**L exactly) so they
run in well under a second each.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from dln_core import studies, sweep
from dln_core.errors import ConfigError
from dln_core.limits import LOCAL

# ------------------------------------------------------------------------------ grid and batches


def test_grid_is_the_cartesian_product_in_stable_order():
    spec = sweep.SweepSpec(depths=(2, 3), init_scales=(1e-3, 1e-2), lrs=(0.01, 0.02), seeds=(0, 1),
                           base={"init_scheme": "aligned", "steps": 100})
    members = sweep.build_members(spec)
    assert len(members) == spec.size == 16
    assert [m.network.depth for m in members[:8]] == [2] * 8
    assert {(m.init.scale, m.optim.lr, m.init.seed) for m in members[:8]} == {
        (s, lr, seed) for s in (1e-3, 1e-2) for lr in (0.01, 0.02) for seed in (0, 1)
    }
    assert all(m.init.scheme == "aligned" and m.optim.steps == 100 for m in members)


def test_singular_value_axis_switches_to_a_spectrum_target():
    spec = sweep.SweepSpec(singular_values=("3,1", "2,1"), base={"steps": 10})
    members = sweep.build_members(spec)
    assert [m.target.kind for m in members] == ["spectrum", "spectrum"]
    assert [m.target.singular_values for m in members] == [(3.0, 1.0), (2.0, 1.0)]


def test_members_are_grouped_by_shape_only():
    spec = sweep.SweepSpec(depths=(2, 3), init_scales=(1e-3, 1e-1), lrs=(0.01, 0.05), seeds=(0, 4),
                           singular_values=("3,1", "2,1"), base={"steps": 50})
    members = sweep.build_members(spec)
    groups = sweep.group_by_shape(members)
    assert len(groups) == 4  # 2 depths × 2 targets; scale, lr and seed batch together
    assert sorted(i for g in groups for i in g) == list(range(len(members)))
    for g in groups:
        assert len({(members[i].network.depth, members[i].target) for i in g}) == 1


def test_over_cap_sweeps_are_refused_naming_the_limit():
    members = sweep.build_members(sweep.SweepSpec(init_scales=(1e-3, 1e-2, 1e-1), base={"steps": 1000}))
    with pytest.raises(ConfigError, match=r"sweep size: at most 2 .*got 3"):
        sweep.check_sweep_limits(members, replace(LOCAL, max_batch=2))
    with pytest.raises(ConfigError, match=r"sweep network-steps: at most 2999 .*got 3000"):
        sweep.check_sweep_limits(members, replace(LOCAL, max_network_steps=2999))
    sweep.check_sweep_limits(members, replace(LOCAL, max_network_steps=3000))  # exactly at the cap is fine


def test_snapshot_budget_is_refused_naming_the_cap():
    """members × snapshots is capped (memory grows with snapshots); counts match what the engine records."""
    from dln_core.engine import snapshot_steps

    log = sweep.build_members(sweep.SweepSpec(init_scales=(1e-3, 1e-2, 1e-1), base={"steps": 1000, "n_snapshots": 50}))
    per = len(snapshot_steps(1000, "log", 50))
    assert sweep.member_snapshots(log[0], LOCAL) == per
    with pytest.raises(ConfigError, match=rf"sweep snapshots: at most {3 * per - 1} .*networks × snapshots.*got {3 * per}"):
        sweep.check_sweep_limits(log, replace(LOCAL, max_sweep_snapshots=3 * per - 1))
    sweep.check_sweep_limits(log, replace(LOCAL, max_sweep_snapshots=3 * per))
    every = sweep.build_members(sweep.SweepSpec(lrs=(0.01, 0.02), base={"steps": 1050, "record": 100}))
    assert sweep.member_snapshots(every[0], LOCAL) == len(snapshot_steps(1050, 100)) == 12
    with pytest.raises(ConfigError, match="sweep snapshots: at most 23"):
        sweep.check_sweep_limits(every, replace(LOCAL, max_sweep_snapshots=23))
    # "auto" is bounded by the step cap: every 10 steps of at most 5000 is 501 snapshots a member
    auto = sweep.build_members(sweep.SweepSpec(base={"steps": "auto", "record": 10}))
    assert sweep.member_snapshots(auto[0], replace(LOCAL, max_steps=5000)) == 501
    # ... and by the per-run cap, which the engine enforces once the auto length is known
    assert sweep.member_snapshots(auto[0], replace(LOCAL, max_steps=5000, max_snapshots=300)) == 300


def test_auto_steps_members_run_alone_and_match_a_single_run():
    """'auto' picks each member's own length (as train does), so auto members are never batched."""
    from dln_core.engine import run

    spec = sweep.SweepSpec(depths=(2,), init_scales=(0.3, 1e-4), lrs=(0.01,),
                           base={"target_kind": "spectrum", "singular_values": "1", "init_scheme": "aligned",
                                 "steps": "auto", "n_snapshots": 20})
    members = sweep.build_members(spec)
    assert sweep.group_by_shape(members) == [[0], [1]]
    res = sweep.run_sweep(spec, limits=replace(LOCAL, max_steps=20_000), keep_results=True)
    steps = res.summary.set_index("init_scale")["steps"]
    alone = [run(m, limits=replace(LOCAL, max_steps=20_000)).summary["steps"] for m in members]
    assert [steps[0.3], steps[1e-4]] == alone
    assert steps[0.3] < steps[1e-4]  # the small init sits longer on the plateau: a longer auto run
    assert res.network_steps == sum(alone)


def test_run_members_refuses_before_running_anything():
    calls = []
    members = sweep.build_members(sweep.SweepSpec(init_scales=(1e-3, 1e-2), base={"steps": 10}))
    with pytest.raises(ConfigError, match="sweep size"):
        sweep.run_members(members, progress=lambda f, m: calls.append(f), limits=replace(LOCAL, max_batch=1))
    assert calls == []


@pytest.mark.parametrize(
    ("field", "text", "call"),
    [
        ("depths", "2,x", lambda: sweep.parse_ints("depths", "2,x")),
        ("depths", "0,2", lambda: sweep.parse_ints("depths", "0,2", 1, 12)),
        ("depths", "2.5", lambda: sweep.parse_ints("depths", "2.5")),
        ("lr", "", lambda: sweep.parse_floats("lr", "")),
        ("lr", "-1", lambda: sweep.parse_floats("lr", "-1", positive=True)),
    ],
)
def test_bad_lists_raise_one_config_error_naming_the_field(field, text, call):
    with pytest.raises(ConfigError) as info:
        call()
    assert info.value.field == field


# ------------------------------------------------------------------------------ fits and timing helpers


def test_fits_recover_known_slopes_exactly():
    u0 = np.geomspace(1e-8, 1e-3, 6)
    fit = sweep.fit_power_law(u0, 3.0 * u0 ** (-1 / 3))
    assert fit.slope == pytest.approx(-1 / 3, abs=1e-12) and fit.r2 == pytest.approx(1.0)
    fit = sweep.fit_log_law(u0, 0.25 * np.log(1 / u0) + 2.0)
    assert fit.slope == pytest.approx(0.25, abs=1e-12) and fit.intercept == pytest.approx(2.0, abs=1e-10)
    assert math.isnan(sweep.fit_power_law([1e-3], [1.0]).slope)  # one point: no fit, not a crash


def test_predicted_exponents():
    assert sweep.predicted_exponent(2, 2.0) == ("log", 0.25)
    assert sweep.predicted_exponent(3, 1.0) == ("power", pytest.approx(-1 / 3))
    assert sweep.predicted_exponent(5, 1.0) == ("power", pytest.approx(-0.6))


def test_measured_rise_time_of_a_logistic_matches_its_closed_form():
    # L = 2: u = λ/(1 + (λ/u0 − 1)e^{−2λt}); 10 %→90 % takes ln(81)/(2λ). Fine snapshots: 1e-4 abs.
    lam, u0 = 2.0, 1e-4
    t = np.linspace(0, 6, 6001)
    u = lam / (1 + (lam / u0 - 1) * np.exp(-2 * lam * t))
    assert sweep.measured_rise_time(t, u, lam) == pytest.approx(np.log(81) / (2 * lam), abs=1e-4)
    row = pd.DataFrame({"lambda": [lam], "u0": [u0], "input_variance": [1.0], "depth": [2]})
    assert sweep.add_theory(row)["rise_time_theory"].iloc[0] == pytest.approx(np.log(81) / (2 * lam), rel=1e-9)
    assert math.isnan(sweep.measured_rise_time(t, u + 0.5, lam))  # starts above 10 %: undefined


def test_summary_frame_for_no_results_has_the_documented_columns():
    frame = sweep.summarize([])
    assert list(frame.columns) == sweep.SUMMARY_COLUMNS
    assert isinstance(frame, pd.DataFrame)


# ------------------------------------------------------------------------------ engine-backed laws


def test_sweep_runs_batched_and_summarises_every_member_and_mode():
    spec = sweep.SweepSpec(depths=(2, 3), init_scales=(0.05, 0.1), lrs=(0.05,), seeds=(0,),
                           base={"target_kind": "spectrum", "singular_values": "1,0.5", "init_scheme": "aligned",
                                 "steps": 400})
    seen = []
    res = sweep.run_sweep(spec, progress=lambda f, m: seen.append(f))
    s = res.summary
    assert res.n_members == 4 and res.n_batches == 2 and res.network_steps == 1600
    assert len(s) == 8 and list(s.columns) == sweep.SUMMARY_COLUMNS
    assert seen[-1] == 1.0 and all(b >= a for a, b in itertools.pairwise(seen))  # monotone progress
    # aligned init: u0 = scale**L exactly
    assert np.allclose(s["u0"], s["init_scale"] ** s["depth"], rtol=1e-12)
    assert np.allclose(s["halfway_time"], s["lr"] * s["halfway_step"], equal_nan=True)
    # GD at η·λ = 0.05 tracks gradient flow: measured halfway within 5 % of the exact theory
    reached = s.dropna(subset=["halfway_step"])
    assert len(reached) >= 6
    assert np.allclose(reached["halfway_time"], reached["tau_half_theory"], rtol=0.05)


def test_l2_log_law_and_l3_power_law_from_a_small_sweep():
    # Aligned 1×1 networks, λ = 1, η = 0.05. Predicted (THEORY.md §2): L = 2, τ½ = ln(1/u0 − 1)/2, so
    # the slope of τ½ vs ln(1/u0) is 1/(2λ) = 0.5; L = 3, τ½ ≈ u0^(−1/3) + C, so at u0 ≤ 1e-6 the
    # log–log slope is −1/3 to within 0.01 (finite-u0 correction ≈ 0.002).
    members = []
    from dln_core.config import RunConfig

    for depth, u0s in ((2, np.geomspace(1e-8, 1e-3, 4)), (3, np.geomspace(1e-9, 1e-6, 4))):
        steps = studies.steps_to_reach(1.0, float(u0s.min()), depth, 0.05)
        members += [RunConfig.make(target_kind="spectrum", singular_values="1", depth=depth,
                                   init_scheme="aligned", init_scale=float(u) ** (1 / depth), lr=0.05,
                                   steps=steps, n_snapshots=20) for u in u0s]
    results, n_batches = sweep.run_members(members)
    assert n_batches == 2
    fits = sweep.fit_scaling(sweep.summarize(results)).set_index("depth")
    assert fits.loc[2, "fitted_slope"] == pytest.approx(0.5, abs=0.02)
    assert fits.loc[3, "fitted_slope"] == pytest.approx(-1 / 3, abs=0.01)
    assert fits.loc[3, "predicted_slope"] == pytest.approx(-1 / 3)
    assert (fits["r2"] > 0.999).all()


def test_diverging_member_is_marked_and_the_others_complete():
    spec = sweep.SweepSpec(depths=(2,), init_scales=(0.1,), lrs=(0.05, 2.0), seeds=(0,),
                           base={"init_scheme": "aligned", "steps": 600})  # article target, λ_max = 6
    res = sweep.run_sweep(spec)
    per = res.summary.drop_duplicates("member").set_index("lr")
    assert bool(per.loc[2.0, "diverged"]) and per.loc[2.0, "outcome"] == "diverged"
    assert 0 < per.loc[2.0, "diverged_step"] < 600
    assert not per.loc[0.05, "diverged"] and per.loc[0.05, "outcome"] == "converged"
    assert per.loc[0.05, "steps"] == 600
    assert res.network_steps == 600 + int(per.loc[2.0, "diverged_step"])


def test_converged_is_the_engines_verdict_with_a_narrow_hidden_layer():
    """Width 1 < rank 2: the best loss is ½·0.5² = 0.125 (Eckart–Young), which counts as converged."""
    spec = sweep.SweepSpec(depths=(2,), init_scales=(0.1,), lrs=(0.1,),
                           base={"target_kind": "spectrum", "singular_values": "1,0.5", "width": 1,
                                 "init_scheme": "gaussian", "steps": 2000})
    res = sweep.run_sweep(spec, keep_results=True)
    assert res.summary["final_loss"].to_numpy() == pytest.approx(0.125, rel=1e-9)
    assert res.summary["converged"].all() and (res.summary["outcome"] == "converged").all()
    assert res.results[0].summary.get("converged") is True


def test_a_summary_only_sweep_gives_the_full_sweeps_summary_exactly():
    """Without keep_results the snapshots record only record.SUMMARY_FIELDS (no SVD): every summary
    column, theory launch and rise times included, must be the full recording's, bit for bit. The
    grid mixes depths, a gaussian (unaligned) start whose launch reads the alignments, a diverging
    member and seeds."""
    spec = sweep.SweepSpec(depths=(2, 3), init_scales=(0.02, 0.2), lrs=(0.05, 1.5), seeds=(0, 1),
                           base={"init_scheme": "gaussian", "steps": 1500, "n_snapshots": 60})
    fast = sweep.run_sweep(spec)
    full = sweep.run_sweep(spec, keep_results=True)
    assert fast.results == [] and len(full.results) == 16
    assert fast.summary["diverged"].any() and not fast.summary["diverged"].all()
    assert fast.summary["halfway_step_theory"].notna().any() and fast.summary["rise_time"].notna().any()
    pd.testing.assert_frame_equal(fast.summary, full.summary, check_exact=True)


def test_a_summary_only_result_says_why_it_has_no_frames():
    from dln_core import engine
    from dln_core.config import RunConfig

    cfg = RunConfig.make(depth=2, init_scheme="aligned", init_scale=0.1, lr=0.05, steps=300, n_snapshots=20)
    fast = engine.run_batch([cfg], record_fields="summary")[0]
    full = engine.run(cfg)
    assert fast.summary.halfway_step_theory == full.summary.halfway_step_theory
    assert fast.summary.ode_exponent == full.summary.ode_exponent
    with pytest.raises(ValueError, match="record_fields='all'"):
        fast.frame("loss")
    with pytest.raises(ConfigError, match="record_fields"):
        engine.run_batch([cfg], record_fields="some")

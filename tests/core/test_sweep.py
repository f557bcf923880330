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

from dln_core import sweep
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
    assert sweep.theory_rise_time(lam, u0, 2) == pytest.approx(np.log(81) / (2 * lam), rel=1e-9)
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
        steps = sweep.steps_to_reach(1.0, float(u0s.min()), depth, 0.05)
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


@pytest.mark.parametrize("depth", [2, 3])
def test_step_size_cap_separates_converging_from_not_converging(depth):
    # whitened, λ = (3, 1): cap η* = 2/(L·3^(2−2/L)); 0.9·η* converges, 1.1·η* cannot settle
    data = sweep.study_stability(depths=(depth,), singular_values="3,1", factors=(0.9, 1.1), u0=1e-3)
    caps = data["caps"].iloc[0]
    assert caps["lr_cap"] == pytest.approx(2 / (depth * 3 ** (2 - 2 / depth)), rel=1e-12)
    per = data["summary"].drop_duplicates("member").set_index("lr_over_cap")
    assert per.loc[0.9, "outcome"] == "converged" and per.loc[0.9, "final_loss"] < 1e-8
    assert per.loc[1.1, "outcome"] in ("not converged", "diverged")
    assert per.loc[1.1, "final_loss"] > 1e-3


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


def test_commuting_inputs_flip_the_learning_order_in_simulation_and_theory():
    # λ = (3, 1), d = (6, 1): end points λ/d = (0.5, 1) would rank mode 2 first, but the speed is set
    # by λ, so mode 1 (small end point, high variance) is learned first (THEORY.md §6).
    data = sweep.study_commuting(depth=2, singular_values="3,1", input_eigenvalues="6,1", init_scale=1e-2,
                                 lr=0.02)
    order = data["order"].set_index("mode")
    assert list(order["order_by_target_strength"]) == [2, 1]
    assert list(order["order_measured"]) == [1, 2]
    assert list(order["order_theory"]) == [1, 2]
    assert np.allclose(order["halfway_time"], order["tau_half_theory"], rtol=0.05)
    curves = data["commuting_curves"]
    end = curves[curves["source"] == "measured"].groupby("mode")["fraction"].last()
    assert np.allclose(end, 1.0, atol=0.02)  # each mode reaches its own end point λ/d
    assert set(data["noncommuting_curves"]["source"]) == {"measured"}  # simulation only


def test_learning_order_follows_lambda():
    data = sweep.study_learning_order(singular_values="4,2,1", depth=2, init_scale=1e-2, lr=0.02)
    s = data["summary"].sort_values("lambda", ascending=False)
    assert s["halfway_time"].is_monotonic_increasing
    assert np.allclose(s["halfway_time"], s["tau_half_theory"], rtol=0.05)


def test_sharpness_ratio_shrinks_with_depth_as_predicted():
    r = sweep.study_sharpness(depths=(2, 3, 4), lam=1.0, u0=1e-3)["ratios"]
    assert r["ratio_measured"].is_monotonic_decreasing
    assert np.allclose(r["ratio_measured"], r["ratio_theory"], rtol=0.03)


def test_exact_l2_solution_matches_gd_to_first_order_in_the_step():
    e = sweep.study_exact_l2(singular_values="2,1", init_scale=0.1, lr=0.02, t_max=4.0, n_times=5)["errors"]
    last = e.sort_values("t").groupby("lr").last()
    assert (last["rel_error"] < 0.02).all()
    # the gap is discretisation error: η/4 gives about a quarter of it (tolerance: factor 3 to 5)
    ratio = last.loc[0.02, "error"] / last.loc[0.005, "error"]
    assert 3 < ratio < 5


def test_converged_runs_end_where_the_step_is_stable_even_off_the_balanced_minimum():
    # Commuting Σxx: the balanced minimum has sharpness 7 (numerical), so its cap is 2/7; at 1.1 × that
    # cap GD leaves it along a direction seeded by round-off and settles in a flatter unbalanced
    # minimum. Whatever minimum a run converges to, its sharpness must be below 2/η (THEORY.md §6).
    data = sweep.study_stability(depths=(2,), singular_values="3,1", factors=(0.9, 1.1), u0=1e-3,
                                 input_eigenvalues="2,0.5")
    assert data["caps"].iloc[0]["sharpness"] == pytest.approx(7.0, rel=1e-6)
    per = data["summary"].drop_duplicates("member").set_index("lr_over_cap")
    assert (per["outcome"] == "converged").all()
    assert (per["sharpness_final"] < per["two_over_lr"]).all()
    assert per.loc[1.1, "sharpness_final"] < 7.0 - 0.5  # not the balanced minimum any more

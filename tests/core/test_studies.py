"""Studies: each page figure's one call (grid → batched runs → frames) reproduces its law.

Engine-backed, on 1×1 to 3×3 problems with the aligned init (u0 = scale**L exactly) so each runs in
about a second or less.
"""

from __future__ import annotations

import numpy as np
import pytest

from dln_core import studies, studies_matrix


@pytest.mark.parametrize("depth", [2, 3])
def test_step_size_cap_separates_converging_from_not_converging(depth):
    # whitened, λ = (3, 1): cap η* = 2/(L·3^(2−2/L)); 0.9·η* converges, 1.1·η* cannot settle
    data = studies.study_stability(depths=(depth,), singular_values="3,1", factors=(0.9, 1.1), u0=1e-3)
    caps = data["caps"].iloc[0]
    assert caps["lr_cap"] == pytest.approx(2 / (depth * 3 ** (2 - 2 / depth)), rel=1e-12)
    per = data["summary"].drop_duplicates("member").set_index("lr_over_cap")
    assert per.loc[0.9, "outcome"] == "converged" and per.loc[0.9, "final_loss"] < 1e-8
    assert per.loc[1.1, "outcome"] in ("not converged", "diverged")
    assert per.loc[1.1, "final_loss"] > 1e-3


def test_commuting_inputs_flip_the_learning_order_in_simulation_and_theory():
    # λ = (3, 1), d = (6, 1): end points λ/d = (0.5, 1) would rank mode 2 first, but the speed is set
    # by λ, so mode 1 (small end point, high variance) is learned first (THEORY.md §6).
    data = studies_matrix.study_commuting(depth=2, singular_values="3,1", input_eigenvalues="6,1", init_scale=1e-2,
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
    data = studies.study_learning_order(singular_values="4,2,1", depth=2, init_scale=1e-2, lr=0.02)
    s = data["summary"].sort_values("lambda", ascending=False)
    assert s["halfway_time"].is_monotonic_increasing
    assert np.allclose(s["halfway_time"], s["tau_half_theory"], rtol=0.05)


def test_sharpness_ratio_shrinks_with_depth_as_predicted():
    r = studies.study_sharpness(depths=(2, 3, 4), lam=1.0, u0=1e-3)["ratios"]
    assert r["ratio_measured"].is_monotonic_decreasing
    assert np.allclose(r["ratio_measured"], r["ratio_theory"], rtol=0.03)


def test_exact_l2_solution_matches_gd_to_first_order_in_the_step():
    e = studies_matrix.study_exact_l2(singular_values="2,1", init_scale=0.1, lr=0.02, t_max=4.0, n_times=5)["errors"]
    last = e.sort_values("t").groupby("lr").last()
    assert (last["rel_error"] < 0.02).all()
    # the gap is discretisation error: η/4 gives about a quarter of it (tolerance: factor 3 to 5)
    ratio = last.loc[0.02, "error"] / last.loc[0.005, "error"]
    assert 3 < ratio < 5


def test_converged_runs_end_where_the_step_is_stable_even_off_the_balanced_minimum():
    # Commuting Σxx: the balanced minimum has sharpness 7 (numerical), so its cap is 2/7; at 1.1 × that
    # cap GD leaves it along a direction seeded by round-off and settles in a flatter unbalanced
    # minimum. Whatever minimum a run converges to, its sharpness must be below 2/η (THEORY.md §6).
    data = studies.study_stability(depths=(2,), singular_values="3,1", factors=(0.9, 1.1), u0=1e-3,
                                   input_eigenvalues="2,0.5")
    assert data["caps"].iloc[0]["sharpness"] == pytest.approx(7.0, rel=1e-6)
    per = data["summary"].drop_duplicates("member").set_index("lr_over_cap")
    assert (per["outcome"] == "converged").all()
    assert (per["sharpness_final"] < per["two_over_lr"]).all()
    assert per.loc[1.1, "sharpness_final"] < 7.0 - 0.5  # not the balanced minimum any more

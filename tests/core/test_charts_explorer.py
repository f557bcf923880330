"""Unit tests of the explorer chart builders on small synthetic frames (docs/API.md columns)."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import pytest

from dln_core.charts import explorer as ch

STEPS = [0, 1, 3, 10, 30, 100, 300]
LAMBDA = [6.0, 4.0]
LR = 0.01


def _history() -> pd.DataFrame:
    k = np.array(STEPS)
    return pd.DataFrame(
        {
            "step": k,
            "t": LR * k,
            "loss": 26.0 * np.exp(-k / 100.0),
            "mode_1": 6.0 * (1 - np.exp(-k / 50.0)),
            "mode_2": 4.0 * (1 - np.exp(-k / 150.0)),
            "balance_drift": 1e-6 * k,
            "update_eff_rank": np.linspace(2.0, 1.0, len(k)),
        }
    )


def _modes() -> pd.DataFrame:
    rows = []
    for k in STEPS:
        for i, lam in enumerate(LAMBDA, start=1):
            u = lam * (1 - np.exp(-k / (50.0 * i)))
            rows.append((k, LR * k, i, lam, u, 1.01 * u, 0.99 * u))
    return pd.DataFrame(rows, columns=["step", "t", "mode", "lambda", "u", "theory_gf", "theory_gd"])


def _alignment() -> pd.DataFrame:
    rows = []
    for k in (0, 100):
        for pair in ("U*ᵀU_L", "V_1ᵀV*", "V_2ᵀU_1"):
            for r in range(2):
                for c in range(2):
                    value = (1.0 if r == c else 0.0) if k else (0.5 if r == c else -0.5)
                    rows.append((k, pair, r + 1, c + 1, value))
    return pd.DataFrame(rows, columns=["step", "pair", "row", "col", "value"])


def _spec(chart) -> dict:
    return chart.to_dict()


def _datasets(spec: dict) -> list[list[dict]]:
    return list(spec.get("datasets", {}).values())


def test_nearest_snapshot_picks_closest_recorded_step():
    assert ch.nearest_snapshot(STEPS, 12) == 10
    assert ch.nearest_snapshot(STEPS, 250) == 300
    with pytest.raises(ValueError):
        ch.nearest_snapshot([], 3)


def test_loss_chart_log_x_and_plateau_rules():
    spec = _spec(ch.loss_chart(_history(), plateau_levels=[26.0, 8.0, 0.0]))
    layers = spec["layer"]
    assert layers[0]["encoding"]["x"]["scale"]["type"] == "log"
    # step 0 cannot sit on a log axis and is dropped; every other snapshot is drawn
    loss_rows = next(d for d in _datasets(spec) if d and "loss" in d[0])
    assert sorted(r["step"] for r in loss_rows) == STEPS[1:]
    plateaus = next(d for d in _datasets(spec) if d and "plateau" in d[0])
    assert [r["plateau"] for r in plateaus] == [26.0, 8.0, 0.0]
    assert len(layers) == 2


def test_current_marker_is_a_valid_rule_layer_at_the_snapshot():
    h = _history()
    base = ch.to_spec(ch.loss_chart(h, plateau_levels=[26.0]))
    marked = ch.with_current_step(base, h, 30)
    assert len(marked["layer"]) == len(base["layer"]) + 1 and base is not marked
    assert marked["datasets"]["current_time"] == [{"step": 30}]
    assert marked["layer"][-1]["mark"]["type"] == "rule"
    alt.LayerChart.from_dict(marked, validate=True)  # still a valid Vega-Lite spec
    on_t = ch.with_current_step(ch.to_spec(ch.loss_chart(h, time_axis="t")), h, 30, "t")
    assert on_t["datasets"]["current_time"][0]["t"] == pytest.approx(0.3, rel=1e-12)
    # step 0 (t = 0) has no place on a log axis; an unrecorded step has no marker
    assert ch.with_current_step(base, h, 0) is base
    assert ch.with_current_step(base, h, 31) is base


def test_loss_chart_time_axis_uses_t():
    spec = _spec(ch.loss_chart(_history(), time_axis="t"))
    assert spec["layer"][0]["encoding"]["x"]["field"] == "t"
    with pytest.raises(ValueError):
        ch.loss_chart(_history(), time_axis="epoch")


def test_modes_chart_theory_is_dashed_and_measured_solid():
    spec = _spec(ch.modes_chart(_modes(), show_gd=True))
    dash = spec["layer"][0]["encoding"]["strokeDash"]["scale"]
    styles = dict(zip(dash["domain"], dash["range"]))
    assert styles["measured"] == [1, 0]
    assert styles["theory (gradient flow)"] == [6, 4]
    assert styles["theory (finite η)"] == [2, 2]
    assert spec["layer"][0]["encoding"]["color"]["field"] == "mode"


def test_mode_curves_frame_gd_toggle():
    without = ch.mode_curves_frame(_modes(), show_gd=False)
    with_gd = ch.mode_curves_frame(_modes(), show_gd=True)
    assert set(without["curve"]) == {"measured", "theory (gradient flow)"}
    assert len(with_gd) == len(without) * 3 // 2
    m = _modes()
    row = without[(without["step"] == 100) & (without["mode"] == 2) & (without["curve"] == "measured")]
    expected = m[(m["step"] == 100) & (m["mode"] == 2)]["u"].iloc[0]
    assert row["u"].iloc[0] == pytest.approx(expected, rel=1e-12)


def test_halfway_table_ratio():
    summary = pd.DataFrame(
        {
            "mode": [1, 2],
            "lambda": LAMBDA,
            "u0": [1e-5, 2e-5],
            "halfway_step": [110, None],
            "halfway_step_theory": [100.0, 250.0],
        }
    )
    table = ch.halfway_table(summary)
    assert table["measured / predicted"].iloc[0] == pytest.approx(1.1, rel=1e-12)
    assert np.isnan(table["measured / predicted"].iloc[1])


def test_alignment_chart_diverging_and_snapshot_selection():
    al = _alignment()
    frame = ch.alignment_frame(al, 80)  # nearest recorded snapshot is 100
    assert set(frame["step"]) == {100}
    assert len(frame) == 12
    spec = _spec(ch.alignment_chart(al, 80))
    colour = spec["spec"]["layer"][0]["encoding"]["color"]["scale"]
    assert colour["scheme"] == "redblue" and colour["domainMid"] == 0
    assert spec["facet"]["sort"] == ["U*ᵀU_L", "V_1ᵀV*", "V_2ᵀU_1"]
    values = [r["value"] for r in _datasets(spec)[0]]
    assert sorted(values) == [0.0] * 6 + [1.0] * 6


def test_balance_and_update_rank_charts_plot_their_columns():
    h = _history()
    bal = _spec(ch.balance_chart(h))
    rank = _spec(ch.update_rank_chart(h, time_axis="t"))
    assert bal["layer"][0]["encoding"]["y"]["field"] == "balance_drift"
    assert rank["layer"][0]["encoding"]["y"]["field"] == "update_eff_rank"
    assert rank["layer"][0]["encoding"]["x"]["field"] == "t"
    drift = next(d for d in _datasets(bal) if d and "balance_drift" in d[0])
    assert [r["balance_drift"] for r in drift] == pytest.approx([1e-6 * k for k in STEPS[1:]])


def test_update_spectrum_relative_to_top():
    updates = pd.DataFrame(
        {
            "step": [5, 5, 5, 5],
            "layer": [1, 1, 2, 2],
            "index": [1, 2, 1, 2],
            "value": [2.0, 0.5, 0.0, 0.0],
            "eff_rank": [1.2, 1.2, 0.0, 0.0],
        }
    )
    spec = _spec(ch.update_spectrum_chart(updates, 4))
    rel = {(r["layer"], r["index"]): r["relative"] for r in _datasets(spec)[0]}
    assert rel[(1, 1)] == pytest.approx(1.0) and rel[(1, 2)] == pytest.approx(0.25)
    assert rel[(2, 1)] == 0.0  # a zero update stays 0, no division by zero


def test_landscape_and_saddle_figures():
    w = np.linspace(-3, 3, 5)
    z = np.add.outer(w**2, w**2)
    path = pd.DataFrame({"w1": [0.1, 1.0], "w2": [0.1, 0.2], "loss": [5.0, 3.0]})
    fig = ch.landscape_figure(w, w, z, path=path, current=(1.0, 0.2, 3.0))
    kinds = [t.type for t in fig.data]
    assert kinds == ["surface", "scatter3d", "scatter3d"]
    assert list(fig.data[1].x) == [0.1, 1.0]
    hyper = pd.DataFrame({"branch": [1, 1, -1, -1], "a": [1.0, 2.0, -1.0, -2.0], "b": [2.0, 1.0, -2.0, -1.0],
                          "loss": [0.0] * 4})
    flows = [pd.DataFrame({"a": [0.1, 1.0], "b": [0.2, 2.0], "loss": [1.9, 0.0]})]
    sad = ch.saddle_figure(w, w, z, paths=flows, saddle=(0.0, 0.0, 2.0), hyperbola=hyper)
    assert [t.type for t in sad.data] == ["surface"] + ["scatter3d"] * 4  # 2 branches, 1 path, saddle
    assert sad.data[-1].z[0] == pytest.approx(2.0)
    assert list(sad.data[3].x) == [0.1, 1.0]


def test_to_spec_matches_validated_dict_and_has_no_row_cap():
    chart = ch.loss_chart(_history(), plateau_levels=[26.0])
    assert ch.to_spec(chart) == chart.to_dict()  # same spec as Altair's validated output
    big = pd.DataFrame({"step": np.arange(1, 6001), "t": np.arange(1, 6001) * LR, "loss": 1.0})
    spec = ch.to_spec(ch.loss_chart(big))
    assert max(len(d) for d in _datasets(spec)) == 6000


def test_shared_time_axis_is_the_same_in_explorer_and_runs_charts():
    """charts/_axes.py: one log time axis (nice=False, same titles) and one "> 0" filter for both pages."""
    from dln_core.charts import _axes
    from dln_core.charts import runs as runs_ch

    for axis in ("step", "t"):
        explorer_x = ch.loss_chart(_history(), time_axis=axis).to_dict()["layer"][0]["encoding"]["x"]
        runs_x = runs_ch.overlay_loss_chart({"a": _history()}, axis).to_dict()["encoding"]["x"]
        assert explorer_x == runs_x == _axes.time_x(axis).to_dict()
        assert runs_x["scale"] == {"type": "log", "nice": False} and runs_x["title"] == _axes.TIME_TITLES[axis]
    with pytest.raises(ValueError, match="time_axis"):
        runs_ch.overlay_loss_chart({"a": _history()}, "k")
    frame = pd.DataFrame({"t": [0.0, -1.0, np.nan, 0.5, 2.0], "v": [1.0, 1.0, 1.0, 0.0, "3"]})
    assert _axes.positive(frame, "t")["t"].tolist() == [0.5, 2.0]
    assert _axes.positive(frame, "t", "v").index.tolist() == [4]  # "3" is a number; v = 0 is dropped

"""Chart builders for the DLN explorer page: documented frames in, Altair / Plotly objects out.

Pure functions (no streamlit). Inputs are the frames of ``docs/API.md`` (``history``, ``modes``,
``mode_summary``, ``alignment``, ``updates``) and plain arrays for the landscape views. Conventions
follow THEORY.md §1: loss is ½‖·‖², the time axis is either the step k or t = η·k and says which.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ._axes import positive, time_field, time_x

CURVE_DASH = {  # line style per curve kind: solid measured, dashed theory (THEORY §2)
    "measured": [1, 0],
    "theory (gradient flow)": [6, 4],
    "theory (finite η)": [2, 2],
}
CURRENT_COLOUR = "#d62728"


def nearest_snapshot(steps: Sequence[int], step: int) -> int:
    """The recorded step closest to ``step`` (snapshots are log-spaced, so exact hits are rare)."""
    arr = np.asarray(steps)
    if arr.size == 0:
        raise ValueError("no snapshots")
    return int(arr[np.argmin(np.abs(arr - step))])


def current_x(history: pd.DataFrame, step: int, time_axis: str = "step") -> float | None:
    """Position of snapshot ``step`` on the time axis (None if not recorded or not drawable on log x)."""
    field = time_field(time_axis)
    row = history.loc[history["step"] == step, field]
    if row.empty or not row.iloc[0] > 0:
        return None
    return float(row.iloc[0])


def with_current_step(spec: dict, history: pd.DataFrame, step: int, time_axis: str = "step") -> dict:
    """A copy of a layered time chart's spec (from :func:`to_spec`) with a red rule at snapshot ``step``.

    Plain dict work, no Altair: the page caches the expensive spec once per run and only moves this
    marker while the time slider is scrubbed or played.
    """
    x = current_x(history, step, time_axis)
    if x is None:
        return spec
    field = time_field(time_axis)
    out = dict(spec)
    out["datasets"] = {**spec.get("datasets", {}), "current_time": [{field: x, "step": int(step)}]}
    out["layer"] = [
        *spec["layer"],
        {
            "data": {"name": "current_time"},
            "mark": {"type": "rule", "color": CURRENT_COLOUR, "strokeWidth": 2},
            "encoding": {
                "x": {"field": field, "type": "quantitative"},
                "tooltip": [{"field": "step", "type": "quantitative", "title": "current step"}],
            },
        },
    ]
    return out


def loss_chart(
    history: pd.DataFrame,
    plateau_levels: Sequence[float] = (),
    time_axis: str = "step",
    log_y: bool = False,
) -> alt.LayerChart:
    """Loss vs time (log x) with faint rules at the saddle plateaus ½Σ_{i>k}λ_i² (THEORY §5).
    Add the current-time marker with :func:`with_current_step`."""
    field = time_field(time_axis)
    data = positive(history[["step", "t", "loss"]], field)
    if log_y:
        data = data[data["loss"] > 0]
    y = alt.Y("loss:Q", title="loss ½‖·‖²")
    if log_y:
        y = y.scale(type="log")
    line = (
        alt.Chart(data)
        .mark_line(color="#1f4e79", strokeWidth=2)
        .encode(
            x=time_x(field),
            y=y,
            tooltip=["step:Q", alt.Tooltip("t:Q", format=".4g"), alt.Tooltip("loss:Q", format=".5g")],
        )
    )
    layers: list[alt.Chart] = [line]
    levels = [float(v) for v in plateau_levels if not (log_y and v <= 0)]
    if levels:
        guide = pd.DataFrame({"plateau": levels, "modes learned": range(len(levels))})
        layers.append(
            alt.Chart(guide)
            .mark_rule(color="gray", opacity=0.4, strokeDash=[3, 3])
            .encode(y="plateau:Q", tooltip=["modes learned:Q", alt.Tooltip("plateau:Q", format=".4g")])
        )
    return alt.layer(*layers).properties(height=300)


def mode_curves_frame(modes: pd.DataFrame, show_gd: bool = False) -> pd.DataFrame:
    """Long frame (step, t, mode, lambda, curve, u) of measured and theory mode strengths."""
    # rename first: melt's value column is also called "u"
    wide = modes.rename(columns={"u": "measured"})
    value_cols = {"measured": "measured", "theory_gf": "theory (gradient flow)"}
    if show_gd:
        value_cols["theory_gd"] = "theory (finite η)"
    long = wide.melt(
        id_vars=["step", "t", "mode", "lambda"],
        value_vars=list(value_cols),
        var_name="curve",
        value_name="u",
    )
    long["curve"] = long["curve"].map(value_cols)
    return long.dropna(subset=["u"])


def modes_chart(
    modes: pd.DataFrame,
    show_gd: bool = False,
    time_axis: str = "step",
) -> alt.LayerChart:
    """Mode strengths u_i = u*_iᵀ W v*_i: solid measured, dashed gradient-flow theory, dotted finite-η
    theory (THEORY §1–2), one colour per mode, faint rules at the targets λ_i."""
    field = time_field(time_axis)
    data = positive(mode_curves_frame(modes, show_gd), field)
    kinds = [k for k in CURVE_DASH if k in set(data["curve"])]
    lines = (
        alt.Chart(data)
        .mark_line(strokeWidth=2)
        .encode(
            x=time_x(field),
            y=alt.Y("u:Q", title="mode strength u_i"),
            color=alt.Color("mode:N", title="mode", legend=alt.Legend(orient="bottom")).scale(
                scheme="category10"
            ),
            strokeDash=alt.StrokeDash("curve:N", title=None, legend=alt.Legend(orient="bottom")).scale(
                domain=kinds, range=[CURVE_DASH[k] for k in kinds]
            ),
            detail="curve:N",
            tooltip=["mode:N", "curve:N", "step:Q", alt.Tooltip("u:Q", format=".4g")],
        )
    )
    targets = modes.groupby("mode", as_index=False)["lambda"].first()
    target_rules = (
        alt.Chart(targets)
        .mark_rule(opacity=0.25)
        .encode(y="lambda:Q", color=alt.Color("mode:N"), tooltip=["mode:N", "lambda:Q"])
    )
    return alt.layer(lines, target_rules).properties(height=300)


def halfway_table(mode_summary: pd.DataFrame) -> pd.DataFrame:
    """Display table of halfway steps per mode, measured vs gradient-flow theory (THEORY §2, τ½)."""
    out = pd.DataFrame(
        {
            "mode": mode_summary["mode"].astype(int),
            "λ": mode_summary["lambda"],
            "u(0)": mode_summary["u0"],
            "halfway step (measured)": mode_summary["halfway_step"],
            "halfway step (theory)": mode_summary["halfway_step_theory"],
        }
    )
    if "theory_start_step" in mode_summary:  # where each mode's theory curve starts (after aligning)
        out["theory from"] = mode_summary["theory_start_step"]
    measured = pd.to_numeric(out["halfway step (measured)"], errors="coerce")
    theory = pd.to_numeric(out["halfway step (theory)"], errors="coerce")
    out["measured / theory"] = measured / theory
    return out


def alignment_frame(alignment: pd.DataFrame, step: int) -> pd.DataFrame:
    """Overlap entries at the recorded snapshot nearest to ``step``."""
    at = nearest_snapshot(alignment["step"].unique(), step)
    return alignment[alignment["step"] == at]


def alignment_chart(alignment: pd.DataFrame, step: int, columns: int = 4) -> alt.FacetChart:
    """Heatmaps of the overlap matrices U*ᵀU_L, V_1ᵀV*, V_{l+1}ᵀU_l at one snapshot.

    Diverging red-blue centred on 0 (blue = +1, red = −1); aligned weights give diagonal ±1 blocks.
    """
    data = alignment_frame(alignment, step)
    order = list(dict.fromkeys(data["pair"]))  # keep the documented order: weight–target, then layers
    rect = (
        alt.Chart()
        .mark_rect()
        .encode(
            x=alt.X("col:O", title=None),
            y=alt.Y("row:O", title=None),
            color=alt.Color("value:Q", title="overlap").scale(
                scheme="redblue", domain=[-1, 1], domainMid=0
            ),
            tooltip=["pair:N", "row:O", "col:O", alt.Tooltip("value:Q", format=".3f")],
        )
        .properties(width=130, height=130)
    )
    return alt.layer(rect, data=data).facet(
        facet=alt.Facet("pair:N", sort=order, title=None), columns=columns
    )


def _metric_chart(
    history: pd.DataFrame,
    column: str,
    title: str,
    time_axis: str,
    y_format: str | None = None,
) -> alt.LayerChart:
    field = time_field(time_axis)
    data = positive(history[["step", "t", column]], field).dropna(subset=[column])
    line = (
        alt.Chart(data)
        .mark_line(color="#2ca02c")
        .encode(
            x=time_x(field),
            y=alt.Y(f"{column}:Q", title=title, axis=alt.Axis(format=y_format) if y_format else alt.Undefined),
            tooltip=["step:Q", alt.Tooltip(f"{column}:Q", format=".4g")],
        )
    )
    return alt.layer(line).properties(height=220)


def balance_chart(history: pd.DataFrame, time_axis: str = "step") -> alt.LayerChart:
    """Drift of the conserved quantity, max_l ‖H_l(k) − H_l(0)‖_F (THEORY §3): zero under gradient
    flow, O(η²) per step under GD."""
    return _metric_chart(history, "balance_drift", "balancedness drift", time_axis, ".1e")


def update_rank_chart(history: pd.DataFrame, time_axis: str = "step") -> alt.LayerChart:
    """Mean effective rank of each step's update ΔW_l (the article's low-rank-update claim)."""
    return _metric_chart(history, "update_eff_rank", "update effective rank", time_axis)


def update_spectrum_chart(updates: pd.DataFrame, step: int) -> alt.Chart:
    """Singular values of each layer's update at one snapshot, relative to that layer's largest."""
    at = nearest_snapshot(updates["step"].unique(), step)
    data = updates[updates["step"] == at].copy()
    top = data.groupby("layer")["value"].transform("max")
    data["relative"] = np.where(top > 0, data["value"] / top.where(top > 0, 1.0), 0.0)
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("index:O", title="singular value index"),
            y=alt.Y("relative:Q", title="σ / σ_max of ΔW_l").scale(domain=[0, 1]),
            column=alt.Column("layer:O", title="layer"),
            tooltip=["layer:O", "index:O", alt.Tooltip("value:Q", format=".3g")],
        )
        .properties(width=90, height=160)
    )


def landscape_figure(
    w1: np.ndarray,
    w2: np.ndarray,
    loss: np.ndarray,
    path: pd.DataFrame | None = None,
    current: tuple[float, float, float] | None = None,
    title: str = "",
    clip: float = 1.2,
) -> go.Figure:
    """3-D loss surface over the top two modes' per-layer strengths (THEORY §5), with the training
    path (red line) and the current point (red ball). ``loss[i, j]`` is at (w1[j], w2[i]).

    The surface and path are clipped at ``clip`` (the loss is 1 at the origin after normalising): at
    L ≥ 3 the corners rise by orders of magnitude and would flatten the wells and path into a strip."""
    loss = np.minimum(np.asarray(loss, dtype=float), clip)
    fig = go.Figure(
        go.Surface(
            x=w1, y=w2, z=loss, colorscale="Viridis", opacity=0.85, showscale=False, name="loss"
        )
    )
    if path is not None and len(path):
        fig.add_trace(
            go.Scatter3d(
                x=path["w1"], y=path["w2"], z=np.minimum(path["loss"], clip), mode="lines",
                line={"color": CURRENT_COLOUR, "width": 5}, name="training path",
            )
        )
    if current is not None:
        fig.add_trace(
            go.Scatter3d(
                x=[current[0]], y=[current[1]], z=[min(current[2], clip)], mode="markers",
                marker={"color": CURRENT_COLOUR, "size": 6}, name="now",
            )
        )
    fig.update_layout(
        title=title or None,
        scene={"xaxis_title": "w₁ (mode 1)", "yaxis_title": "w₂ (mode 2)",
               "zaxis": {"title": {"text": "loss / loss(0)"}, "range": [0, clip]},
               "camera": {"eye": {"x": 1.6, "y": -1.6, "z": 0.9}}},
        margin={"l": 10, "r": 10, "t": 30 if title else 10, "b": 10},
        height=460,
        showlegend=False,
    )
    return fig


def saddle_figure(
    a: np.ndarray,
    b: np.ndarray,
    loss: np.ndarray,
    paths: Sequence[pd.DataFrame] = (),
    saddle: tuple[float, float, float] | None = None,
    hyperbola: pd.DataFrame | None = None,
) -> go.Figure:
    """Single-mode L = 2 surface ½(λ − ab)² (THEORY §5): the strict saddle (black diamond), the
    hyperbola of global minima ab = λ (white) and gradient-flow paths (red; each keeps a² − b²).

    The z axis stops at twice the saddle's height ½λ² (the corners reach far higher and would
    flatten the saddle into the floor); the surface is clipped there."""
    top = 2.0 * float(saddle[2]) if saddle is not None and saddle[2] > 0 else float(np.nanmax(loss))
    loss = np.minimum(np.asarray(loss, dtype=float), top)
    fig = go.Figure(
        go.Surface(x=a, y=b, z=loss, colorscale="Cividis", opacity=0.85, showscale=False, name="loss")
    )
    if hyperbola is not None:
        for _, branch in hyperbola.groupby("branch"):
            fig.add_trace(
                go.Scatter3d(
                    x=branch["a"], y=branch["b"], z=branch["loss"], mode="lines",
                    line={"color": "white", "width": 4}, name="minima ab = λ",
                )
            )
    for p in paths:
        fig.add_trace(
            go.Scatter3d(
                x=p["a"], y=p["b"], z=np.minimum(p["loss"], top), mode="lines",
                line={"color": CURRENT_COLOUR, "width": 4}, name="gradient flow",
            )
        )
    if saddle is not None:
        fig.add_trace(
            go.Scatter3d(
                x=[saddle[0]], y=[saddle[1]], z=[saddle[2]], mode="markers",
                marker={"color": "black", "size": 6, "symbol": "diamond"}, name="saddle",
            )
        )
    fig.update_layout(
        scene={"xaxis_title": "a (layer 1)", "yaxis_title": "b (layer 2)",
               "zaxis": {"title": {"text": "loss"}, "range": [0, top]}},
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        height=420,
        showlegend=False,
    )
    return fig


def to_spec(chart: alt.TopLevelMixin) -> dict:
    """The chart as a Vega-Lite dict with its data inline, so a page can cache it and skip Altair's
    per-render work. No schema validation here (the unit tests validate every builder's output) and
    no 5,000-row cap (Streamlit ships the datasets as Arrow)."""
    with alt.data_transformers.enable("default", max_rows=None):
        return chart.to_dict(validate=False)

"""Chart builders for the Theory & scaling page: sweep frames in, Altair charts out (no streamlit).

Each builder takes the frame a study in :mod:`dln_core.studies` returns and draws measured values as
points (or solid lines) and theory as dashed lines, so every figure reads "experiment vs formula".
Times are gradient-flow time t = η·k (THEORY.md §1); halfway/rise times refer to THEORY.md §2.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from ._axes import positive

THEORY_DASH = [6, 4]
SOURCE_COLOURS = alt.Scale(domain=["measured", "theory (gradient flow)"], range=["#1f3b73", "#e4572e"])
OUTCOME_COLOURS = {"converged": "#2ca02c", "not converged": "#ff7f0e", "diverged": "#d62728"}


def halfway_vs_u0_chart(summary: pd.DataFrame, theory: pd.DataFrame, mode: int = 1) -> alt.LayerChart:
    """Figure 1: halfway time τ½ vs initial strength u0, log–log, one colour per depth.
    Points = measured (t = η·k at u = λ/2), dashed lines = exact gradient-flow τ½(u0)."""
    meas = positive(summary[summary["mode"] == mode], "u0", "halfway_time")
    theo = positive(theory, "u0", "tau_half_theory")
    colour = alt.Color("depth:N", title="depth L")
    x = alt.X("u0:Q", title="initial mode strength u0 (log)").scale(type="log")
    points = (
        alt.Chart(meas)
        .mark_point(filled=True, size=60)
        .encode(
            x=x,
            y=alt.Y("halfway_time:Q", title="halfway time τ½ = η·k (log)").scale(type="log"),
            color=colour,
            tooltip=["depth", "init_scale", "u0", "lr", "halfway_step", "halfway_time", "tau_half_theory"],
        )
    )
    lines = (
        alt.Chart(theo)
        .mark_line(strokeDash=THEORY_DASH)
        .encode(x=x, y=alt.Y("tau_half_theory:Q").scale(type="log"), color=colour, detail="depth:N")
    )
    return alt.layer(lines, points).properties(
        title="Halfway time vs init: points measured, dashed exact theory", height=360
    )


def learning_order_chart(summary: pd.DataFrame) -> alt.LayerChart:
    """Figure 2: halfway time of each mode vs its singular value λ (learning order), measured vs theory."""
    frame = positive(summary, "lambda")
    long = pd.concat(
        [
            frame.assign(source="measured", value=frame["halfway_time"]),
            frame.assign(source="theory (gradient flow)", value=frame["tau_half_theory"]),
        ],
        ignore_index=True,
    )
    long = positive(long, "value")
    base = alt.Chart(long).encode(
        x=alt.X("lambda:Q", title="singular value λ (log)").scale(type="log"),
        y=alt.Y("value:Q", title="halfway time τ½ = η·k (log)").scale(type="log"),
        color=alt.Color("source:N", title=None, scale=SOURCE_COLOURS),
        tooltip=["mode", "lambda", "u0", "source", "value"],
    )
    theory = base.transform_filter(alt.datum.source != "measured").mark_line(strokeDash=THEORY_DASH)
    measured = base.transform_filter(alt.datum.source == "measured").mark_point(filled=True, size=80)
    return alt.layer(theory, measured).properties(
        title="Learning order: larger λ is learned first", height=340
    )


def sharpness_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """Figure 3: rise time (10 %→90 %) over halfway time vs depth, measured points vs theory line."""
    long = pd.concat(
        [
            frame.assign(source="measured", ratio=frame["ratio_measured"]),
            frame.assign(source="theory (gradient flow)", ratio=frame["ratio_theory"]),
        ],
        ignore_index=True,
    )
    base = alt.Chart(long).encode(
        x=alt.X("depth:O", title="depth L"),
        y=alt.Y("ratio:Q", title="rise time / halfway time (log)").scale(type="log"),
        color=alt.Color("source:N", title=None, scale=SOURCE_COLOURS),
        tooltip=["depth", "u0", "source", "ratio", "rise_time", "halfway_time"],
    )
    theory = base.transform_filter(alt.datum.source != "measured").mark_line(strokeDash=THEORY_DASH)
    measured = base.transform_filter(alt.datum.source == "measured").mark_point(filled=True, size=90)
    return alt.layer(theory, measured).properties(
        title="Sharper steps with depth: a smaller ratio means a more sudden jump", height=320
    )


def stability_chart(summary: pd.DataFrame, caps: pd.DataFrame) -> alt.LayerChart:
    """Figure 4: outcome of each (depth, η) member, with the predicted cap η = 2/sharpness as a bar."""
    members = summary.drop_duplicates("member")
    x = alt.X("lr:Q", title="learning rate η (log)").scale(type="log")
    y = alt.Y("depth:O", title="depth L")
    points = (
        alt.Chart(members)
        .mark_point(filled=True, size=110)
        .encode(
            x=x,
            y=y,
            color=alt.Color("outcome:N", title="outcome").scale(
                domain=list(OUTCOME_COLOURS), range=list(OUTCOME_COLOURS.values())
            ),
            # same field as colour: one merged legend (legend=None here would hide the colour legend too)
            shape=alt.Shape("outcome:N", title="outcome").scale(domain=list(OUTCOME_COLOURS)),
            tooltip=["depth", "lr", "outcome", "final_loss", "diverged_step"],
        )
    )
    cap = (
        alt.Chart(caps)
        .mark_tick(thickness=3, size=36, color="black")
        .encode(x=x, y=y, tooltip=["depth", "lr_cap", "sharpness", "method"])
        .transform_calculate(lr="datum.lr_cap")
    )
    return alt.layer(points, cap).properties(
        title="Step size: points = runs, black bar = predicted cap 2/sharpness", height=80 + 50 * caps["depth"].nunique()
    )


def mode_curves_chart(frame: pd.DataFrame, title: str) -> alt.Chart:
    """Figure 5: normalised mode strengths u_i(t)/target over time; solid measured, dashed theory
    (the frame may hold measured rows only, e.g. the non-commuting simulation)."""
    frame = positive(frame, "t")
    kinds = [k for k in ("measured", "theory (gradient flow)") if k in set(frame["source"])]
    # only the kinds drawn: a measured-only frame must not list a "theory" entry
    dash = alt.StrokeDash("source:N", title=None).scale(
        domain=kinds, range=[{"measured": [1, 0]}.get(k, THEORY_DASH) for k in kinds]
    )
    return (
        alt.Chart(frame)
        .mark_line()
        .encode(
            x=alt.X("t:Q", title="time t = η·k (log)").scale(type="log"),
            y=alt.Y("fraction:Q", title="u / target"),
            color=alt.Color("label:N", title="mode", legend=alt.Legend(labelLimit=400)),
            strokeDash=dash,
            detail="source:N",
            tooltip=["label", "source", "t", "fraction"],
        )
        .properties(title=title, height=320)
    )


def exact_solution_chart(frame: pd.DataFrame) -> alt.Chart:
    """Figure 6: ‖W_GD(t) − W_exact(t)‖_F per step size η, and ‖W_exact(t)‖_F for scale; log–log."""
    errors = frame.assign(series=frame["lr"].map(lambda v: f"‖W_GD − W_exact‖, η = {v:g}"), value=frame["error"])
    smallest = frame[frame["lr"] == frame["lr"].min()]
    scale = smallest.assign(series="‖W_exact‖ (for scale)", value=smallest["norm_exact"])
    long = positive(pd.concat([errors, scale], ignore_index=True), "value", "t")
    return (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("t:Q", title="time t = η·k (log)").scale(type="log"),
            y=alt.Y("value:Q", title="Frobenius norm (log)").scale(type="log"),
            color=alt.Color("series:N", title=None, legend=alt.Legend(orient="bottom", labelLimit=400)),
            strokeDash=alt.condition(
                alt.datum.series == "‖W_exact‖ (for scale)", alt.value(THEORY_DASH), alt.value([1, 0])
            ),
            tooltip=["lr", "step", "t", "series", "value"],
        )
        .properties(title="Exact L = 2 solution (λ-balanced start) vs gradient descent", height=320)
    )

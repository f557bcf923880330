"""Charts of the depth exponent (dln_core.laws): frames in, Altair charts out (no streamlit).

Measured values are points, theory dashed lines (THEORY.md §2: τ½ = λ^{−(2−2/L)} g_L(u₀/λ)).
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from ._axes import positive

THEORY_DASH = [6, 4]


def tau_vs_lambda_chart(summary: pd.DataFrame) -> alt.Chart:
    """τ½ against λ at fixed u₀/λ, log–log, colour = depth, one point shape per ratio."""
    meas = positive(summary, "lambda", "tau_half")
    return (
        alt.Chart(meas)
        .mark_line(point=True)
        .encode(
            x=alt.X("lambda:Q", title="singular value λ (log)").scale(type="log"),
            y=alt.Y("tau_half:Q", title="halfway time τ½ = η·k (log)").scale(type="log"),
            color=alt.Color("depth:N", title="depth L"),
            shape=alt.Shape("ratio:N", title="u₀/λ"),
            detail="ratio:N",
            tooltip=["depth", "lambda", "ratio", "u0", "tau_half"],
        )
        .properties(title="At fixed u₀/λ the slope is −(2 − 2/L)", height=320)
    )


def collapse_chart(summary: pd.DataFrame, theory: pd.DataFrame) -> alt.LayerChart:
    """τ½ · λ^{2−2/L} against u₀/λ: every λ of a depth on one curve; dashed = exact g_L(u₀/λ)."""
    meas = positive(summary, "ratio", "collapse")
    theo = positive(theory, "ratio", "collapse_theory")
    colour = alt.Color("depth:N", title="depth L")
    x = alt.X("ratio:Q", title="relative init u₀/λ (log)").scale(type="log")
    points = alt.Chart(meas).mark_point(filled=True, size=60).encode(
        x=x, y=alt.Y("collapse:Q", title="τ½ · λ^(2−2/L) (log)").scale(type="log"), color=colour,
        tooltip=["depth", "lambda", "ratio", "tau_half", "collapse"],
    )
    lines = alt.Chart(theo).mark_line(strokeDash=THEORY_DASH).encode(
        x=x, y=alt.Y("collapse_theory:Q").scale(type="log"), color=colour, detail="depth:N",
    )
    return alt.layer(lines, points).properties(title="Collapse: one curve per depth (dashed: exact g_L)",
                                               height=320)


def ode_exponent_chart(points: pd.DataFrame, depth: int) -> alt.LayerChart:
    """One run's log(u̇ / (L(λ − d u))) against log u per mode during the rise, with a dashed line
    of slope 2 − 2/L through each mode's mean point (the Eq. 11 prefactor exponent)."""
    slope = 2.0 - 2.0 / depth
    ref = points.groupby("mode", as_index=False)[["log_u", "log_prefactor"]].mean()
    rows = []
    for r in ref.itertuples():
        sub = points[points["mode"] == r.mode]
        for x in (sub["log_u"].min(), sub["log_u"].max()):
            rows.append({"mode": r.mode, "log_u": x, "log_prefactor": r.log_prefactor + slope * (x - r.log_u)})
    line_frame = pd.DataFrame(rows, columns=["mode", "log_u", "log_prefactor"])
    colour = alt.Color("mode:N", title="mode")
    pts = alt.Chart(points).mark_point(filled=True, size=30).encode(
        x=alt.X("log_u:Q", title="log u"), y=alt.Y("log_prefactor:Q", title="log(u̇ / (L(λ − d·u)))"),
        color=colour, tooltip=["mode", "step", "log_u", "log_prefactor"],
    )
    lines = alt.Chart(line_frame).mark_line(strokeDash=THEORY_DASH).encode(
        x="log_u:Q", y="log_prefactor:Q", color=colour, detail="mode:N",
    )
    return alt.layer(lines, pts).properties(title=f"Dashed: slope 2 − 2/L = {slope:.3g}", height=260)


__all__ = ["collapse_chart", "ode_exponent_chart", "tau_vs_lambda_chart"]

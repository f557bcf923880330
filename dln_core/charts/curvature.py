"""Chart builders for curvature along the path and the hierarchy's geometry (THEORY §10.1, §10.3).

Pure functions (no streamlit): the ``curvature`` frame (curvature.CURVATURE_COLUMNS) → the sharpness
chart with the 2/η line; the hierarchy's SVD frames and the RSA frame (representation.py) → heatmaps.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from ._axes import positive, time_x

COLOURS = ["#1f4e9c", "#6baed6", "#9ecae1", "#ff7f0e"]  # λ₁, λ₂, λ₃ blues; Gauss–Newton orange (2/η is red)
SERIES = {  # curvature column -> legend label (which eigenvalue is which)
    "sharpness": "Hessian λ₁ (sharpness)",
    "hessian_2": "Hessian λ₂",
    "hessian_3": "Hessian λ₃",
    "gauss_newton": "Gauss–Newton part JᵀJ, top (= NTK top)",
}
DASH = {SERIES["sharpness"]: [1, 0], SERIES["hessian_2"]: [1, 0], SERIES["hessian_3"]: [1, 0],
        SERIES["gauss_newton"]: [5, 3]}
EDGE_COLOUR = "#d62728"  # the 2/η line
MIN_COLOUR = "#555555"  # the balanced minimum's sharpness


def sharpness_chart(curv: pd.DataFrame, time_axis: str = "step") -> alt.LayerChart:
    """The Hessian's top eigenvalues and the Gauss–Newton top along the run (log time, log eigenvalue),
    with the 2/η rule (red) and the balanced minimum's sharpness (grey dashed): THEORY §6, §10.1.

    The y axis spans 10⁻³ × the largest sharpness up to the larger of that and 2/η, so both the rise and
    the edge stay readable; smaller (and non-positive) values are clipped at the bottom edge."""
    field = time_axis
    cols = [c for c in SERIES if c in curv and curv[c].notna().any()]
    long = curv.melt(id_vars=["step", "t"], value_vars=cols, var_name="series", value_name="eigenvalue")
    long["series"] = long["series"].map(SERIES)
    long = positive(long.dropna(subset=["eigenvalue"]), field)
    top = float(max(curv["sharpness"].max(), curv["two_over_lr"].iloc[0], curv["sharpness_min"].max(skipna=True)
                    if curv["sharpness_min"].notna().any() else 0.0))
    floor = 1e-3 * float(curv["sharpness"].max()) if curv["sharpness"].max() > 0 else 1e-6
    long["eigenvalue"] = long["eigenvalue"].clip(lower=floor)
    yscale = alt.Scale(type="log", domain=[floor, 1.2 * top], clamp=True)
    order = [SERIES[c] for c in cols]
    lines = alt.Chart(long).mark_line().encode(
        x=time_x(time_axis),
        y=alt.Y("eigenvalue:Q", title="eigenvalue (log)", scale=yscale),
        color=alt.Color("series:N", sort=order, title=None,
                        scale=alt.Scale(domain=order, range=[COLOURS[list(SERIES.values()).index(o)] for o in order]),
                        legend=alt.Legend(orient="bottom", columns=2, labelLimit=320)),
        strokeDash=alt.StrokeDash("series:N", sort=order, scale=alt.Scale(domain=order,
                                  range=[DASH[s] for s in order]), legend=None),
        tooltip=["step:Q", "t:Q", "series:N", alt.Tooltip("eigenvalue:Q", format=".6g")],
    )
    rules = pd.DataFrame({"value": [float(curv["two_over_lr"].iloc[0])], "label": ["2/η"]})
    layers = [lines, alt.Chart(rules).mark_rule(color=EDGE_COLOUR, strokeWidth=2).encode(
        y=alt.Y("value:Q", scale=yscale), tooltip=["label:N", alt.Tooltip("value:Q", format=".6g")])]
    if curv["sharpness_min"].notna().any():
        mins = pd.DataFrame({"value": [float(curv["sharpness_min"].iloc[0])],
                             "label": ["balanced minimum (closed form / numeric)"]})
        layers.append(alt.Chart(mins).mark_rule(color=MIN_COLOUR, strokeDash=[4, 4]).encode(
            y=alt.Y("value:Q", scale=yscale), tooltip=["label:N", alt.Tooltip("value:Q", format=".6g")]))
    return alt.layer(*layers).properties(height=300, title="Curvature along the path")


def _heat(frame: pd.DataFrame, x: str, y: str, title: str, x_order=None, y_order=None, domain=None) -> alt.Chart:
    scale = alt.Scale(scheme="redblue", domainMid=0, reverse=True) if domain is None else \
        alt.Scale(scheme="redblue", domain=domain, reverse=True)
    return alt.Chart(frame).mark_rect().encode(
        x=alt.X(f"{x}:N", sort=x_order, title=None, axis=alt.Axis(labelAngle=-50, labelLimit=160, labelOverlap=False)),
        y=alt.Y(f"{y}:N", sort=y_order, title=None, axis=alt.Axis(labelLimit=180)),
        color=alt.Color("value:Q", scale=scale, title=None),
        tooltip=[f"{y}:N", f"{x}:N", alt.Tooltip("value:Q", format=".4f")],
    ).properties(title=title)


def svd_charts(svd: dict[str, pd.DataFrame]) -> alt.VConcatChart:
    """The target's SVD Σyx = U* diag(λ) V*ᵀ: items × modes (V*) and the singular values on top (modes
    by number), modes × features (U*ᵀ, modes by name) below."""
    modes = svd["singular_values"]["mode"].tolist()
    number = {m: m.split(":")[0] for m in modes}
    items = list(dict.fromkeys(svd["items_modes"]["row"]))
    feats = list(dict.fromkeys(svd["modes_features"]["col"]))
    im_frame = svd["items_modes"].assign(col=svd["items_modes"]["col"].map(number))
    im = _heat(im_frame, "col", "row", "items × modes (V*)", list(number.values()), items).properties(
        width=160, height=130)
    sv = alt.Chart(svd["singular_values"].assign(number=lambda f: f["mode"].map(number))).mark_bar().encode(
        x=alt.X("number:N", sort=list(number.values()), title="mode", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("lambda:Q", title="singular value λ"),
        tooltip=["mode:N", alt.Tooltip("lambda:Q", format=".4f")]).properties(width=160, height=130,
                                                                              title="singular values")
    mf = _heat(svd["modes_features"], "col", "row", "modes × features (U*ᵀ)", feats, modes).properties(
        width=22 * len(feats), height=130)
    return alt.vconcat(alt.hconcat(im, sv), mf).resolve_scale(color="independent")


def rsa_charts(rsa: pd.DataFrame, time_axis: str = "step") -> alt.FacetChart:
    """Item × item similarity, measured (top row) and predicted from the mode strengths (bottom row),
    one column per chosen snapshot (THEORY §10.3); one colour scale for all panels."""
    items = list(dict.fromkeys(rsa["item_a"]))
    f = rsa.rename(columns={"similarity": "value"}).copy()
    f["when"] = f[time_axis].map(lambda v: f"{'k' if time_axis == 'step' else 't'} = {v:,.6g}")
    peak = float(f["value"].abs().max()) or 1.0
    heat = alt.Chart(f).mark_rect().encode(
        x=alt.X("item_b:N", sort=items, title=None),
        y=alt.Y("item_a:N", sort=items, title=None),
        color=alt.Color("value:Q", scale=alt.Scale(scheme="redblue", domain=[-peak, peak], reverse=True),
                        title="h(a)·h(b)"),
        tooltip=["item_a:N", "item_b:N", "kind:N", "when:N", alt.Tooltip("value:Q", format=".4f")],
    ).properties(width=110, height=110)
    order = list(dict.fromkeys(f.sort_values("step")["when"]))
    return heat.facet(column=alt.Column("when:N", sort=order, title=None),
                      row=alt.Row("kind:N", sort=["measured", "theory"], title=None))


__all__ = ["SERIES", "rsa_charts", "sharpness_chart", "svd_charts"]

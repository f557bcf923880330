"""Chart builders for the Generalisation page: the frames of dln_core.generalize in, Altair charts out.

Pure functions (no streamlit). Measured curves are solid, the exact level (THEORY §9.1) dashed, the
asymptotic random-matrix level (§9.3) dotted; a level that does not apply has NaN columns, which are
dropped, so no curve is drawn for it. Loss ½‖·‖² (THEORY §1); the time axis is the step k (log).
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from ._axes import TIME_AXIS, positive

DASH = {"measured": [1, 0], "exact theory": [6, 4], "approximate theory": [6, 4], "asymptotic (RMT)": [2, 3]}


def theory_source(level: str | None) -> str:
    """Legend name of the sample-level theory: "exact theory" only for the exact level (aligned start,
    generalize.LEVEL_EXACT); a small-init or depth-1 random start gets "approximate theory"."""
    return "exact theory" if level and level.startswith("exact") else "approximate theory"


def _dash(long: pd.DataFrame) -> alt.Scale:
    """Line styles of the sources present (a level that does not apply gets no legend entry)."""
    present = [k for k in DASH if k in set(long["source"])]
    return alt.Scale(domain=present, range=[DASH[k] for k in present])
STEP_X = alt.X("step:Q", title="step k (log)", axis=TIME_AXIS).scale(type="log", nice=False)


def _long(history: pd.DataFrame, series: dict) -> pd.DataFrame:
    """{column: (quantity, source)} → long rows (step, t, quantity, source, value), drawable on log x."""
    parts = [history[["step", "t"]].assign(quantity=q, source=src, value=history[col])
             for col, (q, src) in series.items() if col in history]
    long = pd.concat(parts, ignore_index=True)
    long = long[long["value"].notna()]
    return positive(long, "step")


def loss_chart(history: pd.DataFrame, summary: dict) -> alt.LayerChart:
    """Train and test loss over steps: measured, exact level, RMT level; the noise floor and the
    measured and predicted best (early-stopping) steps as rules."""
    th = theory_source(summary.get("theory_level"))
    long = _long(history, {
        "train_loss": ("train loss", "measured"), "test_loss": ("test loss", "measured"),
        "test_loss_theory": ("test loss", th), "train_loss_theory": ("train loss", th),
        "test_loss_rmt": ("test loss", "asymptotic (RMT)"),
    })
    base = alt.Chart(long).mark_line().encode(
        x=STEP_X, y=alt.Y("value:Q", title="loss ½‖·‖²"),
        color=alt.Color("quantity:N", title=None, scale=alt.Scale(domain=["train loss", "test loss"],
                                                                   range=["#1f77b4", "#d62728"])),
        strokeDash=alt.StrokeDash("source:N", title=None, scale=_dash(long)),
        detail="source:N", tooltip=["step", "t", "quantity", "source", alt.Tooltip("value:Q", format=".5g")],
    )
    marks = [{"step": summary.get("best_step"), "what": "best step (measured)"},
             {"step": summary.get("best_step_theory"), "what": f"best step ({th})"}]
    marks = pd.DataFrame([m for m in marks if m["step"] is not None and m["step"] > 0])  # log x: step 0 cannot show
    layers = [base, alt.Chart(pd.DataFrame({"floor": [summary["noise_floor"]]})).mark_rule(
        color="#555", strokeDash=[1, 3]).encode(y="floor:Q", tooltip=[alt.Tooltip("floor:Q", title="noise floor ½n_out σ²")])]
    if len(marks):
        layers.append(alt.Chart(marks).mark_rule(color="#2ca02c").encode(
            x="step:Q", strokeDash=alt.StrokeDash("what:N", title=None, legend=alt.Legend(labelLimit=320), scale=alt.Scale(
                domain=list(marks["what"]), range=[DASH[th if "theory" in w else "measured"]
                                                   for w in marks["what"]])),
            tooltip=["what", "step"]))
    return alt.layer(*layers).resolve_scale(strokeDash="independent").properties(
        title="Train and test loss: the test loss rises again after its minimum", height=340)


def signal_noise_chart(history: pd.DataFrame, level: str | None = None) -> alt.LayerChart:
    """The excess test loss split in two: error on the teacher's own modes, ½Σ_j (q_j − s_j)², and
    everything else the student has learned (noise), measured vs the sample-level theory (``level``:
    the run's theory_level, which names it exact or approximate)."""
    th = theory_source(level)
    long = _long(history, {
        "signal_error": ("teacher-mode error", "measured"), "signal_error_theory": ("teacher-mode error", th),
        "noise_learned": ("noise learned", "measured"), "noise_learned_theory": ("noise learned", th),
    })
    return alt.Chart(long).mark_line().encode(
        x=STEP_X, y=alt.Y("value:Q", title="part of test loss − floor"),
        color=alt.Color("quantity:N", title=None, scale=alt.Scale(domain=["teacher-mode error", "noise learned"],
                                                                   range=["#9467bd", "#ff7f0e"])),
        strokeDash=alt.StrokeDash("source:N", title=None, scale=_dash(long)), detail="source:N",
        tooltip=["step", "quantity", "source", alt.Tooltip("value:Q", format=".5g")],
    ).properties(title="Signal first, noise later: where the excess test loss comes from", height=300)


def spectrum_chart(modes: pd.DataFrame, summary: dict, top: int = 40) -> alt.LayerChart:
    """The sample's singular values ŝ_i and their teacher content o_i (first ``top`` modes), the RMT
    prediction, and the bulk edge and BBP threshold as horizontal rules."""
    m = modes.head(top)
    long = pd.concat([
        m.assign(what="ŝ (this sample)", value=m["s_hat"]), m.assign(what="teacher content o (this sample)",
                                                                      value=m["overlap"]),
        m.assign(what="ŝ (RMT)", value=m["s_hat_rmt"]), m.assign(what="o (RMT)", value=m["overlap_rmt"]),
    ], ignore_index=True)
    long = long[long["value"].notna()]
    what = ["ŝ (this sample)", "teacher content o (this sample)", "ŝ (RMT)", "o (RMT)"]
    colours = alt.Scale(domain=what, range=["#1f77b4", "#d62728", "#9ecae1", "#fc9272"])
    points = alt.Chart(long).mark_point(filled=True, size=50).encode(
        x=alt.X("mode:Q", title="empirical mode i (by ŝ)"), y=alt.Y("value:Q", title="value"),
        color=alt.Color("what:N", title=None, scale=colours),
        shape=alt.Shape("what:N", title=None, scale=alt.Scale(domain=what, range=["circle", "square", "triangle-up",
                                                                                  "triangle-down"])), tooltip=["mode", "what", alt.Tooltip("value:Q", format=".4g")])
    rules = pd.DataFrame({"y": [summary["bulk_edge"], summary["bbp_threshold"]],
                          "rule": ["noise bulk edge ν(√n_in + √n_out)", "BBP threshold ν(n_in n_out)^¼"]})
    lines = alt.Chart(rules).mark_rule(strokeDash=[4, 3]).encode(
        y="y:Q", color=alt.Color("rule:N", title=None, scale=alt.Scale(range=["#555", "#2ca02c"])), tooltip=["rule", "y"])
    return alt.layer(points, lines).resolve_scale(color="independent").properties(
        title="The sample's spectrum: outliers carry the teacher, the bulk is noise", height=300)


def best_step_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """Best step vs init scale per depth: points measured, dashed lines exact theory (log–log)."""
    f = positive(frame, "init_scale", "best_step")
    x = alt.X("init_scale:Q", title="init scale (log)").scale(type="log")
    colour = alt.Color("depth:N", title="depth L")
    pts = alt.Chart(f).mark_point(filled=True, size=70).encode(
        x=x, y=alt.Y("best_step:Q", title="best (early-stopping) step (log)").scale(type="log"), color=colour,
        tooltip=["depth", "init_scale", "best_step", "best_step_theory", "test_loss_min", "test_loss_min_theory"])
    th = positive(frame, "init_scale", "best_step_theory")
    line = alt.Chart(th).mark_line(strokeDash=DASH["exact theory"]).encode(
        x=x, y=alt.Y("best_step_theory:Q").scale(type="log"), color=colour, detail="depth:N")
    return alt.layer(line, pts).properties(title="The best step moves with init scale and depth: points GD, "
                                                 "dashed exact theory", height=320)


def depth_compare_chart(curves: pd.DataFrame, summary: pd.DataFrame) -> alt.LayerChart:
    """Test loss vs time t for each depth, each marked at its own best stopping point."""
    long = pd.concat([curves.assign(source="measured", value=curves["test_loss"]),
                      curves.assign(source="exact theory", value=curves["test_loss_theory"])], ignore_index=True)
    long = positive(long[long["value"].notna()], "t")
    colour = alt.Color("depth:N", title="depth L")
    x = alt.X("t:Q", title="time t = η·k (log)", axis=TIME_AXIS).scale(type="log", nice=False)
    lines = alt.Chart(long).mark_line().encode(
        x=x, y=alt.Y("value:Q", title="test loss"), color=colour,
        strokeDash=alt.StrokeDash("source:N", title=None, scale=_dash(long)), detail="source:N",
        tooltip=["depth", "step", "source", alt.Tooltip("value:Q", format=".5g")])
    best = positive(summary, "best_time")
    pts = alt.Chart(best).mark_point(size=120, filled=True, shape="diamond").encode(
        x="best_time:Q", y="test_loss_min:Q", color=colour, tooltip=["depth", "best_step", "test_loss_min"])
    return alt.layer(lines, pts).properties(title="Depth 1 (ridge-like) vs deeper, each at its own best step",
                                            height=320)


def rmt_gap_chart(summary: pd.DataFrame) -> alt.Chart:
    """Mean gap between the asymptotic and the exact level vs n_in (log–log), one line per quantity."""
    names = {"outlier_gap": "outlier ŝ (relative)", "overlap_gap": "|cos_u cos_v| (absolute)",
             "best_step_gap": "best step (relative)", "test_min_gap": "min excess test loss (relative)"}
    long = summary.melt(id_vars="n_in", value_vars=list(names), var_name="gap", value_name="value")
    long["gap"] = long["gap"].map(names)
    long = positive(long, "value")
    return alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("n_in:Q", title="n_in (log; n_out, P scaled with it)").scale(type="log", nice=False),
        y=alt.Y("value:Q", title="gap RMT vs exact (log)").scale(type="log"),
        color=alt.Color("gap:N", title=None, legend=alt.Legend(labelLimit=320)),
        tooltip=["n_in", "gap", alt.Tooltip("value:Q", format=".3g")],
    ).properties(title="The random-matrix level closes in on the exact level as the dimension grows", height=300)


__all__ = ["best_step_chart", "depth_compare_chart", "loss_chart", "rmt_gap_chart", "signal_noise_chart",
           "spectrum_chart"]

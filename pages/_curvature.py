"""The explorer's curvature and hierarchy-geometry panels (UI glue only; math in dln_core).

``curvature_panel(result, time_axis)``: the sharpness along the path with the 2/η line, what GD did
relative to the cap, and what the measurement cost (dln_core.curvature, THEORY §10.1).
``hierarchy_panel(result, time_axis)``: the target's SVD heatmaps and the hidden layer's item × item
similarity at chosen snapshots and at any snapshot, against the mode-strength theory
(dln_core.representation, THEORY §10.3).
"""

from __future__ import annotations

import streamlit as st

from dln_core import curvature, representation
from dln_core.charts import curvature as charts
from pages._shared import show_error


def curvature_panel(result, time_axis: str) -> None:
    st.subheader("Curvature along the path")
    if result.curvature is None:
        st.caption("Off: switch on “Track sharpness” in the sidebar to measure the Hessian's top eigenvalues at "
                   "every snapshot (it retrains the run and costs extra time, shown here when on).")
        return
    c, s = result.curvature, result.summary
    try:
        st.altair_chart(charts.sharpness_chart(c, time_axis), key="sharpness_chart")
    except Exception as exc:  # a chart that cannot be drawn is reported, never a traceback
        show_error(exc, "could not draw the sharpness chart")
    st.info(curvature.verdict(s, c), icon=":material/insights:")
    method = c["method"].iloc[-1] if len(c) else "—"
    cap = "not computed" if s.lr_cap is None else f"{s.lr_cap:.4g}"
    st.caption(
        f"Sharpness = top eigenvalue of the Hessian of loss (H) in all weights, from exact Hessian-vector "
        f"products ({method}; Lanczos runs warm-start from the previous snapshot's eigenvector). λ₂, λ₃: the "
        f"next Hessian eigenvalues (full-Hessian path only). Dashed: the top eigenvalue of the Hessian's "
        f"Gauss–Newton part JᵀJ, which equals the top eigenvalue of the tangent kernel (NTK). Red: 2/η; grey "
        f"dashed: the sharpness of the balanced global minimum. Log scale: values below 10⁻³ × the largest "
        f"sharpness sit on the bottom edge. Step-size cap 2/sharpness = {cap}, "
        f"η above it: {'yes' if s.lr_over_cap else 'no'}, converged: {'yes' if s.converged else 'no'}. Cost: {result.sharpness_seconds:.2f} s for "
        f"{len(c)} snapshots ({1e3 * result.sharpness_seconds / max(1, len(c)):.1f} ms each), on top of "
        f"the training time.")


def hierarchy_panel(result, time_axis: str) -> None:
    if result.first_layer is None:
        return
    st.subheader("The hierarchy's geometry")
    try:
        st.altair_chart(charts.svd_charts(representation.svd_frames(result.problem)), key="hierarchy_svd")
    except Exception as exc:
        show_error(exc, "could not draw the SVD")
    st.caption("The target's SVD Σyx = U* diag(λ) V*ᵀ. Each input mode is named by its sign pattern over the "
               "items: mode 1 is shared by all items, mode 2 splits animals from plants, modes 3 and 4 split "
               "within each (equal λ). The feature heatmap shows which features each mode carries.")
    chosen = representation.learned_steps(result)
    st.altair_chart(charts.rsa_charts(representation.rsa_frame(result, chosen), time_axis), key="hierarchy_rsa")
    st.caption("Hidden-layer representational similarity h(a)·h(b), h(x) = W₁x for the one-hot item x, so "
               "the matrix is W₁ᵀW₁. Columns: step 0, the first snapshot where each mode reached 95 % of its "
               "target, and the last one. Top: measured; bottom: predicted from the mode strengths, "
               "V* diag(u^{2/L}) V*ᵀ (exact for balanced, aligned weights). The items differentiate as the "
               "modes are learned: all alike, then animals vs plants, then every item apart. The player above "
               "animates the same two matrices at every snapshot (its panel 7).")
    steps = result.first_layer[0].tolist()
    pick = st.select_slider("snapshot for the similarity check (step k)", steps, value=steps[-1],
                            key="rsa_snapshot")
    k, _, _, err, err_bal = representation.rsa_at(result, pick)
    a, b = st.columns(2)
    a.metric("mode-strength theory: relative error", f"{err:.2e}")
    b.metric("balanced prediction (WᵀW)^{1/L}: relative error", f"{err_bal:.2e}")
    st.caption(f"At step {k:,}: ‖measured − predicted‖_F / ‖measured‖_F. The mode-strength theory assumes the "
               "learned map is diagonal in the target's modes; mid-rise (and inside the equal-λ pair) it "
               "need not be, and the error there is real. (WᵀW)^{1/L} needs only balanced layers.")

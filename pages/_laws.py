"""The depth exponent on the pages: the two exponent studies of the Theory & scaling page (u₀ law,
λ law) and the explorer's "depth exponent of this run" panel. Widgets and charts only.

Kept apart from pages/scaling.py and pages/explorer.py so those pages stay short; the studies take
the scaling page's ``run_study`` and ``offer_downloads`` helpers.
"""

from __future__ import annotations

import streamlit as st

from dln_core import advice, laws, sweep
from dln_core.charts import laws as law_charts
from dln_core.charts import scaling as charts
from pages._shared import altair_figure, url, warn_if


def study_u0_law(run_study, offer_downloads) -> None:
    st.markdown(
        """
**The u₀ law: how long is the plateau?** A mode starting at strength u0 waits before it jumps. For two
layers the wait grows only like log(1/u0); for L ≥ 3 it grows like a power, u0^−(1−2/L), so shrinking
the init costs much more time in deeper nets. Points are measured halfway times of mode 1 (u = λ/2),
dashed lines the exact gradient-flow prediction. The tables fit the measured points per depth.
"""
    )
    defaults = {"depths": (2, 3, 4), "singular_values": "1", "u0_min": 1e-4, "u0_max": 1e-2, "n_points": 5,
                "lr": 0.02}
    with st.form("form_u0_law"):
        c = st.columns(6)
        depths = c[0].text_input("depths L", "2,3,4", **url("pl_depths"))
        sv = c[1].text_input("singular values λ", "1", **url("pl_sv"))
        u0_min = c[2].number_input("smallest u0", value=1e-4, format="%.1e", min_value=1e-12, **url("pl_u0_min"))
        u0_max = c[3].number_input("largest u0", value=1e-2, format="%.1e", min_value=1e-12, **url("pl_u0_max"))
        n_points = c[4].number_input("points per depth", value=5, min_value=2, max_value=50, step=1,
                                     **url("pl_n_points"))
        lr = c[5].number_input("learning rate η", value=0.02, format="%.4f", min_value=1e-6, **url("pl_lr"))
        submitted = st.form_submit_button("Run sweep", icon=":material/play_arrow:")

    def parse() -> dict:
        return {"depths": sweep.parse_ints("depths L", depths, 2, 12), "singular_values": sv,
                "u0_min": float(u0_min), "u0_max": float(u0_max), "n_points": int(n_points), "lr": float(lr)}

    data = run_study("u0_law", defaults, submitted, parse)
    if data is None:
        return
    warn_if(advice.sweep_cap_warning_for(st.session_state.get("scaling_params_u0_law", defaults)))
    altair_figure(charts.halfway_vs_u0_chart(data["summary"], data["theory"]), "scaling_halfway_vs_u0")
    st.markdown("**The u₀ exponent** (L ≥ 3): minus the slope of log τ½ against log u0, with its standard "
                "error; predicted 1 − 2/L as u0 → 0. *theory_same_u0* fits the exact theory at the same u0, "
                "which includes the finite-u0 bend.")
    st.dataframe(data["exponent_fits"], hide_index=True)
    st.markdown("**All fitted slopes** (L = 2: slope of τ½ against ln(1/u0), predicted 1/(2λ)).")
    st.dataframe(data["fits"], hide_index=True)
    offer_downloads(data, "u0_law")


def study_lambda_law(run_study, offer_downloads) -> None:
    st.markdown(
        """
**The λ law: the depth exponent 2 − 2/L.** Writing u = λw turns the mode equation into one without λ
except for a factor λ^(2−2/L) on the time, so at a fixed *relative* init u₀/λ the halfway time falls like
λ^−(2−2/L). Each point is one aligned one-mode network (one step size per depth, small enough that
finite η moves τ½ by at most a few %). Left: τ½ against λ. Right: τ½ · λ^(2−2/L) against u₀/λ, where every λ
of a depth falls on one curve. The table is the fitted exponent with its standard error.
"""
    )
    defaults = {"depths": (2, 3, 4, 6), "lambdas": "0.5,1,2,4", "ratios": "0.01,0.03"}
    with st.form("form_lambda_law"):
        c = st.columns(3)
        depths = c[0].text_input("depths L", "2,3,4,6")
        lambdas = c[1].text_input("singular values λ", "0.5,1,2,4")
        ratios = c[2].text_input("relative inits u₀/λ", "0.01,0.03")
        submitted = st.form_submit_button("Run sweep", icon=":material/play_arrow:")

    def parse() -> dict:
        return {"depths": sweep.parse_ints("depths L", depths, 2, 12), "lambdas": lambdas, "ratios": ratios}

    data = run_study("lambda_law", defaults, submitted, parse)
    if data is None:
        return
    left, right = st.columns(2)
    left.altair_chart(law_charts.tau_vs_lambda_chart(data["summary"]), width="stretch")
    right.altair_chart(law_charts.collapse_chart(data["summary"], data["theory"]), width="stretch")
    st.dataframe(data["fits"], hide_index=True)
    offer_downloads(data, "lambda_law")


@st.cache_data(max_entries=16, show_spinner=False)
def _exponent_view(_result, cfg):
    """This run's exponent chart (None without points), built once per run: building and validating
    the Altair spec was most of a cached explorer rerun's server time (benchmarks/bench_browser.py)."""
    depth = cfg.network.depth
    pts = laws.ode_exponent_points(_result.modes, depth, _result.problem.mode_d)
    return law_charts.ode_exponent_chart(pts, depth) if len(pts) else None


def depth_exponent_panel(result) -> None:
    """Explorer: the Eq. 11 prefactor exponent fitted from this run's trajectory (laws.ode_exponent)."""
    with st.expander("The depth exponent of this run"):
        chart = _exponent_view(result, result.config)
        st.caption(f"Slope of log(u̇ / (L(λ − d·u))) against log u during each rise; the mode ODE says "
                   f"2 − 2/L = {result.summary['ode_exponent_theory']:.3g}. Fitted per mode: "
                   + ", ".join("–" if e is None else f"{e:.3g}" for e in result.summary["ode_exponent"]))
        if chart is not None:
            st.altair_chart(chart, width="stretch")

"""The Runs page's seed section (UI glue only): selected runs that differ only in seed, as bands.

dln_core.seeds finds the groups and computes mean ± 95 % t-intervals; dln_core.charts.seeds draws them.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dln_core import seeds
from dln_core.charts import seeds as charts
from dln_core.charts.runs import mode_columns
from pages._shared import plain, show_error


def halfway_table(labels, summaries) -> pd.DataFrame:
    """Per mode: mean ± 95 % t-interval of the measured halfway step over the group's seeds."""
    per_run = [list(summaries[lbl].get("halfway_step") or []) for lbl in labels]
    r = max((len(h) for h in per_run), default=0)
    rows = []
    for i in range(r):
        vals = [h[i] for h in per_run if i < len(h) and h[i] is not None]
        mean, half, n = seeds.t_interval(vals)
        rows.append({"mode": i + 1, "halfway step (mean)": mean, "± 95 % interval": half, "seeds reached": n})
    return pd.DataFrame(rows)


def seed_section(histories: dict, flats: dict, summaries: dict, time_axis: str) -> None:
    groups = seeds.seed_groups(flats)
    if not groups:
        return
    st.markdown("**Same configuration, different seeds**")
    for k, labels in enumerate(groups[:3]):
        st.caption(plain(f"{len(labels)} runs: " + ", ".join(labels)))
        try:
            hist = [histories[lbl] for lbl in labels]
            band = seeds.band_frame(hist, mode_columns(hist[0]))
            st.altair_chart(charts.band_chart(band, time_axis, "mode strengths uᵢ"), key=f"seed_band_{k}")
            st.dataframe(halfway_table(labels, summaries), hide_index=True, key=f"seed_table_{k}")
        except Exception as exc:  # a run without a shared snapshot grid: say so, keep the page
            show_error(exc, "could not aggregate these seeds")
    st.caption("Shaded: mean ± 95 % t-interval over the seeds (t with n − 1 degrees of freedom) on the snapshot "
               "steps the runs share; with two seeds the interval is wide by construction.")

"""Chart builder for runs that differ only in seed: mean ± 95 % t-interval bands (dln_core.seeds)."""

from __future__ import annotations

import altair as alt
import pandas as pd

from ._axes import positive, time_x


def band_chart(band: pd.DataFrame, time_axis: str = "step", title: str = "") -> alt.LayerChart:
    """Shaded t-interval (lo–hi) with the mean line, one colour per series (seeds.BAND_COLUMNS)."""
    data = positive(band, time_axis)
    data = data.assign(series=data["series"].astype(str).str.replace("_", " "))  # "mode_1" reads "mode 1"
    base = alt.Chart(data).encode(x=time_x(time_axis), color=alt.Color("series:N", title=None))
    area = base.mark_area(opacity=0.25).encode(y=alt.Y("lo:Q", title="mean ± 95 % interval"), y2="hi:Q")
    line = base.mark_line().encode(y="mean:Q", tooltip=["step:Q", "series:N", alt.Tooltip("mean:Q", format=".4g"),
                                                         alt.Tooltip("lo:Q", format=".4g"),
                                                         alt.Tooltip("hi:Q", format=".4g"), "n:Q"])
    return alt.layer(area, line).properties(height=260, title=title)


__all__ = ["band_chart"]

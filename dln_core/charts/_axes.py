"""Axis helpers shared by the chart builders (explorer, runs, scaling): pure, no streamlit.

The time axis is the step k or gradient-flow time t = η·k (THEORY.md §1), always drawn on a log scale,
so rows at step 0 / t = 0 (and any non-positive or missing value) must be dropped before plotting.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

TIME_TITLES = {"step": "step k (log)", "t": "time t = η·k (log)"}
# Label only the powers of ten, in SI form (1k, 10k, 100k): a log axis otherwise labels 2,000, 3,000 …
# and past 10k steps the labels run into each other ("1,0002,000").
_DECADE = "abs(log(datum.value) / LN10 - round(log(datum.value) / LN10)) < 1e-6"
TIME_AXIS = alt.Axis(labelExpr=f"{_DECADE} ? format(datum.value, '~s') : ''", labelOverlap="greedy")


def time_field(time_axis: str) -> str:
    """The history column of a time axis choice (``"step"`` or ``"t"``); ValueError otherwise."""
    if time_axis not in TIME_TITLES:
        raise ValueError(f"time_axis must be 'step' or 't', got {time_axis!r}")
    return time_axis


def time_x(time_axis: str) -> alt.X:
    """The log time x encoding with its title (ValueError for an unknown axis)."""
    field = time_field(time_axis)
    # nice=False: a log axis would otherwise round the end up to the next power of ten
    return alt.X(f"{field}:Q", title=TIME_TITLES[field], axis=TIME_AXIS).scale(type="log", nice=False)


def positive(frame: pd.DataFrame, *cols: str) -> pd.DataFrame:
    """Rows drawable on log axes: a number > 0 in every given column (zeros, negatives, NaN and
    non-numbers are dropped)."""
    keep = pd.Series(True, index=frame.index)
    for c in cols:
        v = pd.to_numeric(frame[c], errors="coerce")
        keep &= v.notna() & (v > 0)
    return frame[keep]

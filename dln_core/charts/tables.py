"""Tables for display: every number formatted for reading, every missing value shown as "—".

Pure functions (no streamlit). The frames keep their raw numbers (exports and tests read those); the
pages show :func:`display_frame`'s strings, with :func:`column_help` as the column tooltips saying
what "—" means.
"""

from __future__ import annotations

import math

import pandas as pd

MISSING = "—"
MISSING_HELP = "— : no value (not reached in this run, or the theory does not apply here)"


def fmt_value(v) -> str:
    """A number as a person reads it: integers with separators, 4 significant digits otherwise,
    scientific notation below 1e-3 and from 1e6; None, NaN and ±inf are "—"."""
    if v is None or isinstance(v, bool):
        return MISSING if v is None else str(v)
    if isinstance(v, str):
        return v
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not math.isfinite(x):
        return MISSING
    if x == 0:
        return "0"
    if x.is_integer() and abs(x) < 1e6:
        return f"{int(x):,}"
    if abs(x) < 1e-3 or abs(x) >= 1e6:
        return f"{x:.2e}"
    return f"{x:.4g}"


def display_frame(frame: pd.DataFrame, keep: tuple[str, ...] = ()) -> pd.DataFrame:
    """A copy with every column except ``keep`` formatted by :func:`fmt_value` (strings)."""
    out = frame.copy()
    for col in out.columns:
        if col not in keep:
            out[col] = [fmt_value(v) for v in out[col].tolist()]
    return out


def column_help(frame: pd.DataFrame, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Tooltip per column: its own text from ``extra`` plus what "—" means where a value is missing."""
    extra = extra or {}
    out = {}
    for col in frame.columns:
        text = extra.get(col, "")
        if frame[col].isna().any():
            text = f"{text} {MISSING_HELP}".strip()
        if text:
            out[col] = text
    return out

"""Table and overlay builders for the Runs page: frames in, DataFrames / Altair charts out.

Pure functions (no streamlit). A run is described by its flat config (``RunConfig.to_flat()``), its
``summary`` dict and its ``history`` frame (docs/API.md). Loss is ½‖·‖², time is the step k or
t = η·k (THEORY.md §1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import pandas as pd

from ..stored import summary_cells
from ._axes import positive, time_field, time_x

# config columns worth a glance in the table, in this order (the rest stay in the CSV export)
CONFIG_COLUMNS = (
    "target_kind", "depth", "width", "init_scheme", "init_scale", "lr", "steps", "seed",
)
SUMMARY_COLUMNS = ("final_loss", "diverged", "steps_run", "halfway_steps")
# run labels are long (they spell out the config): legend below the plot, labels not cut short
RUN_LEGEND = alt.Legend(orient="bottom", direction="vertical", labelLimit=700)


def session_row(label: str, flat_config: Mapping, summary: Mapping) -> dict:
    """One table row for a run kept in this browser session (same columns as a saved run)."""
    row = {"source": "session", "run_id": None, "name": label}
    row.update({k: flat_config.get(k) for k in CONFIG_COLUMNS})
    row.update(summary_cells(summary))
    return row


def runs_table(saved: pd.DataFrame | None, session: Sequence[dict] = ()) -> pd.DataFrame:
    """Saved train runs (``RunStore.list()``) and session rows in one table, newest saved first.

    Columns: source, name, final_loss, diverged, steps_run, halfway_steps, the config columns, run_id.
    """
    # results first, then the config, the long id last: the table must be readable without scrolling
    columns = ["source", "name", *SUMMARY_COLUMNS, *CONFIG_COLUMNS, "run_id"]
    parts = []
    if saved is not None and len(saved):
        s = saved[saved["kind"] == "train"] if "kind" in saved else saved
        s = s.assign(source="saved").reindex(columns=columns)
        parts.append(s)
    if session:
        parts.append(pd.DataFrame(list(session)).reindex(columns=columns))
    if not parts:
        return pd.DataFrame(columns=columns)
    table = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    table["final_loss"] = pd.to_numeric(table["final_loss"], errors="coerce")
    return table


def _stack(histories: Mapping[str, pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    parts = [h.reindex(columns=list(columns)).assign(run=label) for label, h in histories.items()]
    if not parts:
        return pd.DataFrame(columns=[*columns, "run"])
    return pd.concat(parts, ignore_index=True)


def overlay_loss_chart(histories: Mapping[str, pd.DataFrame], time_axis: str = "step") -> alt.Chart:
    """Loss curves of several runs on one log-time axis, one colour per run."""
    data = _stack(histories, ["step", "t", "loss"])
    data = positive(data, time_field(time_axis))  # step 0 has no position on a log axis
    return (
        alt.Chart(data)
        .mark_line()
        .encode(
            x=time_x(time_axis),
            y=alt.Y("loss:Q", title="loss ½‖·‖²"),
            color=alt.Color("run:N", title="run", legend=RUN_LEGEND),
            tooltip=["run:N", "step:Q", alt.Tooltip("loss:Q", format=".5g")],
        )
        .properties(height=320)
    )


def mode_columns(history: pd.DataFrame) -> list[str]:
    """The measured mode-strength columns ``mode_1 … mode_r`` of a history frame, in mode order."""
    cols = [c for c in history.columns if c.startswith("mode_") and c[5:].isdigit()]
    return sorted(cols, key=lambda c: int(c[5:]))


def overlay_modes_frame(histories: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Long frame (run, step, t, mode, u) of the measured mode strengths of several runs."""
    parts = []
    for label, h in histories.items():
        cols = mode_columns(h)
        if not cols:
            continue
        long = h[["step", "t", *cols]].melt(id_vars=["step", "t"], var_name="mode", value_name="u")
        long["mode"] = long["mode"].str[5:].astype(int)
        parts.append(long.assign(run=label))
    if not parts:
        return pd.DataFrame(columns=["step", "t", "mode", "u", "run"])
    return pd.concat(parts, ignore_index=True)


def overlay_modes_chart(histories: Mapping[str, pd.DataFrame], time_axis: str = "step") -> alt.Chart:
    """Measured mode strengths u_i (THEORY §1) of several runs: colour = run, one line per mode."""
    data = overlay_modes_frame(histories)
    data = positive(data, time_field(time_axis))
    return (
        alt.Chart(data)
        .mark_line()
        .encode(
            x=time_x(time_axis),
            y=alt.Y("u:Q", title="mode strength u_i"),
            color=alt.Color("run:N", title="run", legend=RUN_LEGEND),
            detail="mode:N",
            tooltip=["run:N", "mode:N", "step:Q", alt.Tooltip("u:Q", format=".4g")],
        )
        .properties(height=320)
    )


# ------------------------------------------------------------------ other saved entries (embed, sweep)
# the frame a non-train entry is exported by; a kind not listed here exports its first frame
MAIN_FRAMES = {"embed": "history", "sweep": "summary"}
# kinds whose table row reports the size of its main frame (loading it is cheap: one row per member × mode)
COUNTED_KINDS = ("sweep",)
OTHER_COLUMNS = (
    "kind", "name", "created", "vocab", "dim", "analogy_accuracy", "final_loss", "rows", "members", "run_id",
)
EXPORT_KEYS = ("run_id", "kind", "name")


def main_frame_name(meta: Mapping) -> str | None:
    """The frame an entry is exported by (``MAIN_FRAMES``, else its first saved frame; None if it has none)."""
    names = list(meta.get("frames") or {})
    preferred = MAIN_FRAMES.get(meta.get("kind"))
    if preferred in names:
        return preferred
    return names[0] if names else None


def frame_stats(frame: pd.DataFrame) -> dict:
    """Size of a main frame for the table: rows, and distinct members if it has a ``member`` column."""
    members = int(frame["member"].nunique()) if "member" in frame.columns else None
    return {"rows": len(frame), "members": members}


def other_row(meta: Mapping, stats: Mapping | None = None) -> dict:
    """One table row for a non-train entry (a ``RunStore.entries()`` meta dict); ``stats`` from
    :func:`frame_stats` when its main frame was read. Fields an entry does not have stay empty."""
    config = meta.get("config") if isinstance(meta.get("config"), Mapping) else {}
    summary = meta.get("summary") if isinstance(meta.get("summary"), Mapping) else {}
    row = {"kind": meta.get("kind"), "name": meta.get("name"), "created": meta.get("created"),
           "run_id": meta.get("run_id")}
    if meta.get("kind") == "embed":
        row.update(vocab=config.get("vocab"), dim=config.get("dim"),
                   analogy_accuracy=summary.get("analogy_accuracy"), final_loss=summary.get("final_loss"))
    row.update(dict(stats or {}))
    return row


def other_runs_table(entries: Sequence[Mapping], stats: Mapping[str, Mapping] | None = None) -> pd.DataFrame:
    """Saved entries that are not train runs (embed, sweep), newest first as given; columns
    :data:`OTHER_COLUMNS`. ``stats`` maps run_id → :func:`frame_stats` for the entries whose frame was read."""
    stats = stats or {}
    rows = [other_row(m, stats.get(m.get("run_id"))) for m in entries if m.get("kind") != "train"]
    table = pd.DataFrame(rows, columns=list(OTHER_COLUMNS)) if rows else pd.DataFrame(columns=list(OTHER_COLUMNS))
    table["created"] = pd.to_datetime(table["created"], utc=True, format="ISO8601", errors="coerce")
    for col in ("vocab", "dim", "rows", "members"):
        table[col] = pd.to_numeric(table[col], errors="coerce").astype("Int64")
    for col in ("analogy_accuracy", "final_loss"):
        table[col] = pd.to_numeric(table[col], errors="coerce")
    return table


def tag_frame(frame: pd.DataFrame, run_id: str, kind: str, name: str | None) -> pd.DataFrame:
    """``frame`` with run_id, kind and name as its first columns, so frames of several entries can be
    concatenated into one CSV; a column of the frame with one of those names is kept as ``frame_<col>``."""
    out = frame.rename(columns={c: f"frame_{c}" for c in EXPORT_KEYS if c in frame.columns})
    for i, (col, value) in enumerate(zip(EXPORT_KEYS, (run_id, kind, name))):
        out.insert(i, col, value)
    return out


def other_export(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Tagged frames (:func:`tag_frame`) of several entries stacked; columns are the union, in order."""
    if not parts:
        return pd.DataFrame(columns=list(EXPORT_KEYS))
    return pd.concat(list(parts), ignore_index=True, sort=False)

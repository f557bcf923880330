"""Runs: saved runs (on-disk store) and this session's runs; overlay, delete, export as CSV.
A second section lists the other saved entries (word-embedding runs, sweeps): export, delete.

Thin page: the store and the session give frames; dln_core.charts.runs builds the tables and overlays.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dln_core import frames
from dln_core.charts import runs as charts
from dln_core.store import RunStore, export_stored
from pages._seeds import seed_section
from pages._shared import (
    ensure_entrypoint,
    figure_downloads,
    plain,
    private_runs,
    references,
    run_store,
    session_runs,
    show_error,
    table_downloads,
)

ensure_entrypoint()
st.title("Runs")
st.caption(("Saved runs are private to this browser session (reloading the page starts a new one)"
            if private_runs() else "Saved runs live on disk (DLN_LAB_HOME)")
           + "; session runs are the ones you trained in this browser session. Select rows to overlay their "
           "curves or export them.")

store = run_store()
saved = None
others: list[dict] = []  # saved entries that are not train runs (word embeddings, sweeps)
if store is not None:
    try:
        entries = store.entries()  # every saved run's meta read and checked once per rerun
        saved = store.table(entries)
    except Exception as exc:  # an unreadable store must not take the page down
        show_error(exc, "could not read the run store")
    else:
        for problem in store.problems:
            st.warning(plain(f"Skipped a damaged saved run: {problem}"), icon=":material/warning:")
        others = [m for m in entries if m.get("kind") != "train"]

session = session_runs()
session_results = {f"{label} [session {i + 1}]": result for i, (label, result) in enumerate(session)}
session_rows = [charts.session_row(lbl, r.config.to_flat(), r.summary) for lbl, r in session_results.items()]
table = charts.runs_table(saved, session_rows)

if table.empty and not others:
    st.info("No runs yet. Train one in the DLN explorer, then press **Save to runs** to keep it here.",
            icon=":material/info:")
    st.page_link("pages/explorer.py", label="Open the DLN explorer", icon=":material/ssid_chart:")
    references("runs")
    st.stop()


def delete_and_refresh(store, run_ids, table_key: str) -> None:
    """Delete saved runs, then rerun with a new table key so no stale selection survives."""
    for rid in run_ids:
        try:
            store.delete(rid)
        except Exception as exc:
            show_error(exc, f"could not delete {rid}")
    st.session_state[table_key] = st.session_state.get(table_key, 0) + 1
    st.rerun()


def _run_label(row: pd.Series) -> str:
    if row["source"] == "session":
        return str(row["name"])
    return f"{row['name'] or 'saved run'} [{row['run_id']}]"  # the id keeps equal names apart


def train_section(table: pd.DataFrame) -> None:
    """Train runs (saved and this session's): table, overlay of the selected rows, CSV export, delete."""
    event = st.dataframe(
        table,
        hide_index=True,
        on_select="rerun",
        selection_mode="multi-row",
        key=f"runs_table_{st.session_state.get('runs_table_gen', 0)}",  # new key after delete: no stale rows
        column_config={
            "init_scale": st.column_config.NumberColumn(format="%.3g"),
            "final_loss": st.column_config.NumberColumn(format="%.4g"),
            "lr": st.column_config.NumberColumn(format="%.4g"),
        },
    )
    rows = [r for r in (event.selection.rows if event is not None else []) if r < len(table)]
    picked = table.iloc[rows]
    if picked.empty:
        st.caption("Select one or more rows (tick the boxes on the left) to compare them.")
        return

    histories: dict[str, pd.DataFrame] = {}
    flats, summaries = {}, {}  # for the seed groups (pages/_seeds.py)
    exports: list[pd.DataFrame] = []
    loaded = []  # saved runs read (and checksummed) once: drawn and exported from the same copy
    saved_ids = [rid for rid, src in zip(picked["run_id"], picked["source"]) if src == "saved"]
    for _, row in picked.iterrows():
        lbl = _run_label(row)
        try:
            if row["source"] == "saved":
                run = store.load(row["run_id"], frames=["history"])
                histories[lbl] = run.history
                flats[lbl], summaries[lbl] = run.config_flat, run.summary
                loaded.append(run)
            else:
                result = session_results[row["name"]]
                histories[lbl] = result.history
                flats[lbl], summaries[lbl] = result.config.to_flat(), result.summary
                exports.append(frames.export_frame([result]).assign(source="session", name=row["name"]))
        except Exception as exc:  # a run deleted or damaged meanwhile
            show_error(exc, f"could not load {lbl}")
    if loaded:
        try:
            exports.insert(0, export_stored(loaded).assign(source="saved"))
        except Exception as exc:
            show_error(exc, "could not export the saved runs")

    time_axis = st.radio("time axis", ["step", "t"], horizontal=True, key="runs_time_axis",
                         format_func={"step": "step k", "t": "t = η·k"}.get)
    c1, c2 = st.columns(2)
    for col, title, build, stem in ((c1, "Loss", charts.overlay_loss_chart, "runs_loss"),
                                    (c2, "Mode strengths (measured)", charts.overlay_modes_chart, "runs_modes")):
        col.markdown(f"**{title}**")
        chart = build(histories, time_axis)
        col.altair_chart(chart, theme=None)
        figure_downloads(chart, stem, stem, where=col)
    st.caption("Same target, different depth or init scale: compare where the plateaus sit and how sharp "
               "the drops are.")
    seed_section(histories, flats, summaries, time_axis)

    d1, d2 = st.columns(2)
    if exports:
        d1.download_button("Download selection (CSV)", pd.concat(exports, ignore_index=True).to_csv(index=False),
                           file_name="dln_runs.csv", mime="text/csv", on_click="ignore", key="download_runs",
                           icon=":material/download:")
    if saved_ids and d2.button(f"Delete {len(saved_ids)} saved run(s)", key="delete_runs",
                               icon=":material/delete:"):
        delete_and_refresh(store, saved_ids, "runs_table_gen")
    if loaded:
        st.caption("Saved runs in the selection, for pandas, R or DuckDB (session runs: save them first):")
        table_downloads(loaded, "train_export")


@st.cache_data(show_spinner=False, max_entries=512)
def _frame_stats(home: str, run_id: str, frame: str) -> dict:
    """Rows/members of an entry's main frame (an entry never changes once written: safe to cache)."""
    return charts.frame_stats(RunStore(home).load(run_id, frames=[frame]).frame(frame))


def other_section(entries: list[dict]) -> None:
    """Saved word-embedding runs and sweeps: table, CSV of the selected entries' main frames, delete."""
    st.subheader("Other saved runs")
    st.caption("Word-embedding runs (exported: their history) and sweeps (exported: their summary frame). "
               "Select rows to download or delete them.")
    by_id = {m["run_id"]: m for m in entries}
    stats = {}
    for rid, meta in by_id.items():
        frame = charts.main_frame_name(meta)
        if meta.get("kind") in charts.COUNTED_KINDS and frame is not None:
            try:
                stats[rid] = _frame_stats(str(store.home), rid, frame)
            except Exception as exc:  # damaged: listed without its size, the page stays usable
                st.warning(plain(f"Could not read saved {meta.get('kind')} {rid}: {exc}"), icon=":material/warning:")
    table = charts.other_runs_table(entries, stats)
    event = st.dataframe(
        table,
        hide_index=True,
        on_select="rerun",
        selection_mode="multi-row",
        key=f"other_runs_table_{st.session_state.get('other_runs_table_gen', 0)}",  # new key after delete
        column_config={
            "created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
            "analogy_accuracy": st.column_config.NumberColumn(format="%.3f"),
            "final_loss": st.column_config.NumberColumn(format="%.4g"),
        },
    )
    rows = [r for r in (event.selection.rows if event is not None else []) if r < len(table)]
    picked = [rid for rid in table["run_id"].iloc[rows] if rid in by_id]
    if not picked:
        st.caption("Select one or more rows (tick the boxes on the left) to download or delete them.")
        return
    parts, loaded = [], []
    for rid in picked:
        meta = by_id[rid]
        frame = charts.main_frame_name(meta)
        if frame is None:
            st.warning(plain(f"Saved {meta.get('kind')} {rid} has no frame to export."), icon=":material/warning:")
            continue
        try:
            loaded.append(store.load(rid, frames=[frame]))
            data = loaded[-1].frame(frame)
        except Exception as exc:  # deleted or damaged meanwhile
            st.warning(plain(f"Could not load saved {meta.get('kind')} {rid}: {exc}"), icon=":material/warning:")
            continue
        parts.append(charts.tag_frame(data, rid, meta.get("kind"), meta.get("name")))
    d1, d2 = st.columns(2)
    if parts:
        d1.download_button("Download selection (CSV)", charts.other_export(parts).to_csv(index=False),
                           file_name="dln_other_runs.csv", mime="text/csv", on_click="ignore",
                           key="download_other_runs", icon=":material/download:")
    if d2.button(f"Delete {len(picked)} saved entr{'y' if len(picked) == 1 else 'ies'}", key="delete_other_runs",
                 icon=":material/delete:"):
        delete_and_refresh(store, picked, "other_runs_table_gen")
    if loaded:
        st.caption("History (embedding runs) and runs tables (all selected entries), for pandas, R or DuckDB:")
        table_downloads(loaded, "other_export")


st.subheader("Training runs")
if table.empty:
    st.info("No DLN training runs yet. Train one in the DLN explorer, then press **Save to runs**.",
            icon=":material/info:")
else:
    train_section(table)
if others:
    other_section(others)
references("runs")

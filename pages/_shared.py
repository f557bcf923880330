"""Helpers shared by the pages (UI glue only: no math here).

- ``show_error(exc)``: a user-facing message for bad input, never a traceback.
- ``remember_run(result, label)`` / ``session_runs()``: runs made in this browser session, which the
  Runs page lists next to the saved ones.
- ``run_store()``: the on-disk store (``DLN_LAB_HOME``), or None if it cannot be opened.
- ``references(page)``: the page's references block; ``figure_downloads(chart, ...)``: SVG/PDF buttons
  for a 2-D chart; ``table_downloads(runs, ...)``: CSV/Parquet, wide/long tables of saved runs.
"""

from __future__ import annotations

import streamlit as st

from dln_core.errors import ConfigError
from dln_core.store import RunStore

SESSION_RUNS_KEY = "dln_session_runs"
ENTRY_KEY = "dln_entrypoint_ran"


def ensure_entrypoint() -> None:
    """Rerun through app.py if this page was started without it.

    On the very first request after ``streamlit run app.py``, Streamlit still treats a folder called
    ``pages/`` as legacy auto-discovered pages and runs a deep-linked page (``/explorer?...``) on its
    own, without app.py's page config and navigation, and stays in that legacy mode until the public
    ``st.navigation`` is called. Switching the legacy flag off and rerunning goes through app.py,
    keeping the URL (page and query parameters).
    """
    if st.session_state.get(ENTRY_KEY):
        return
    st.session_state[ENTRY_KEY] = True  # rerun at most once, whatever happens
    try:
        from streamlit.runtime.pages_manager import PagesManager

        PagesManager.uses_pages_directory = False
    except (ImportError, AttributeError):  # a future Streamlit without the legacy flag: nothing to fix
        return
    st.rerun()


def show_error(exc: BaseException, what: str = "") -> None:
    """Show bad input as an error box; unexpected failures get a short, honest message."""
    prefix = f"{what}: " if what else ""
    if isinstance(exc, ConfigError):
        st.error(f"{prefix}{exc}", icon=":material/error:")
    else:
        st.error(f"{prefix}{type(exc).__name__}: {exc}", icon=":material/error:")


def warn_if(text: str | None) -> None:
    """A warning box when dln_core.advice has something to say (None: nothing)."""
    if text:
        st.warning(text, icon=":material/warning:")


def remember_run(result, label: str) -> None:
    """Keep a finished run in this session (most recent last, at most 50)."""
    runs = st.session_state.setdefault(SESSION_RUNS_KEY, [])
    if runs and runs[-1][0] == label:
        return
    runs.append((label, result))
    del runs[:-50]


def session_runs() -> list:
    """[(label, RunResult)] made in this browser session."""
    return list(st.session_state.get(SESSION_RUNS_KEY, []))


def run_store():
    """The on-disk run store, or None if it is unavailable (e.g. a read-only hosted disk)."""
    try:
        return RunStore()
    except Exception:  # the store is optional for the pages: they still work without it
        return None


def url(key: str) -> dict:
    """Keyword arguments binding a widget to the URL query parameter ``key``: a link restores it."""
    return {"key": key, "bind": "query-params"}


def references(page: str) -> None:
    """The page's short references block: the papers its theory comes from (dln_core.references)."""
    from dln_core.references import page_references

    st.divider()
    items = "\n".join(f"- [{paper.cite}]({paper.url})" for paper in page_references(page))
    st.caption(f"**References**\n{items}\n\nCiting DLN Lab itself: see `CITATION.cff` in the repository.")


def figure_downloads(chart, stem: str, key: str, where=st, formats=("svg", "pdf")) -> None:
    """SVG / PDF download buttons for one 2-D chart (Altair, a Vega-Lite dict or a 2-D Plotly figure).

    The file is rendered only when a button is clicked (a callable ``data``), so the page pays nothing
    for figures nobody downloads (dln_core.charts.export)."""
    from dln_core.charts import export

    cols = where.columns(len(formats))
    for col, fmt in zip(cols, formats):
        col.download_button(f"{fmt.upper()}", lambda fmt=fmt: export.figure_bytes(chart, fmt),
                            file_name=f"{stem}.{fmt}", mime=export.MIME[fmt], on_click="ignore",
                            key=f"fig_{key}_{fmt}", icon=":material/image:", help=f"Download this figure as {fmt.upper()}")


def figure_set_downloads(build, names, stem: str, label: str = "Figures for papers (SVG / PDF)") -> None:
    """An expander of SVG / PDF downloads, one row per figure; ``build()`` -> {name: chart} runs only
    when a button is clicked."""
    from dln_core.charts import export

    with st.expander(label, icon=":material/image:"):
        for name in names:
            cols = st.columns([2, 1, 1])
            cols[0].markdown(name.replace("_", " "))
            for col, fmt in zip(cols[1:], ("svg", "pdf")):
                col.download_button(fmt.upper(), lambda name=name, fmt=fmt: export.figure_bytes(build()[name], fmt),
                                    file_name=f"{stem}_{name}.{fmt}", mime=export.MIME[fmt], on_click="ignore",
                                    key=f"figset_{stem}_{name}_{fmt}", icon=":material/download:")


def explorer_footer(result, time_axis: str, show_gd: bool) -> None:
    """The explorer's 2-D charts as SVG / PDF downloads (dln_core.charts.export) and its references."""
    from dln_core.charts.export import EXPLORER_FIGURES, explorer_figures

    figure_set_downloads(lambda: explorer_figures(result, time_axis, show_gd), EXPLORER_FIGURES, "dln_explorer")
    references("explorer")


def altair_figure(chart, stem: str) -> None:
    """An Altair chart at full width with its SVG / PDF download buttons under it."""
    st.altair_chart(chart, width="stretch")
    figure_downloads(chart, stem, stem)


def table_downloads(runs, key: str) -> None:
    """History and runs tables of loaded saved runs, CSV or Parquet, wide or long (dln_core.exports)."""
    from dln_core import exports

    c1, c2, c3, c4 = st.columns(4)
    fmt = c1.segmented_control("format", exports.FORMATS, default="csv", key=f"{key}_fmt") or "csv"
    layout = c2.segmented_control("layout", exports.LAYOUTS, default="wide", key=f"{key}_layout",
                                  help="long: one row per run × step × value (run_id, step, t, metric, index, "
                                  "value)") or "wide"
    mime = "text/csv" if fmt == "csv" else "application/vnd.apache.parquet"
    c3.download_button(f"History ({layout} {fmt})", lambda: exports.export_tables(runs, fmt, layout)[0],
                       file_name=f"dln_history_{layout}.{fmt}", mime=mime, on_click="ignore", key=f"{key}_history",
                       icon=":material/download:")
    c4.download_button(f"Runs table ({fmt})", lambda: exports.table_bytes(exports.runs_table(r.meta for r in runs), fmt),
                       file_name=f"dln_runs.{fmt}", mime=mime, on_click="ignore", key=f"{key}_runs",
                       icon=":material/download:", help="one row per run: config, summary and provenance")

"""Helpers shared by the pages (UI glue only: no math here).

- ``plain(text)``: user-supplied text escaped so Streamlit's markdown shows it literally.
- ``show_error(exc)``: a user-facing message for bad input, never a traceback.
- ``computation(text)``: a progress bar plus the cancel token that stops the work when the visitor leaves.
- ``upload_cap_mb(limits)``: the upload limit a page states (profile cap and server config agree).
- ``remember_run(result, label)`` / ``session_runs()``: runs made in this browser session, which the
  Runs page lists next to the saved ones.
- ``run_store()``: the on-disk store (``DLN_LAB_HOME``; hosted: this session's private store), or None.
- ``references(page)``: the page's references block; ``figure_downloads(chart, ...)``: SVG/PDF buttons
  for a 2-D chart; ``table_downloads(runs, ...)``: CSV/Parquet, wide/long tables of saved runs.
"""

from __future__ import annotations

import contextlib
import re
import secrets

import streamlit as st

from dln_core.errors import ConfigError
from dln_core.store import RunStore

SESSION_RUNS_KEY = "dln_session_runs"
ENTRY_KEY = "dln_entrypoint_ran"
OWNER_KEY = "dln_owner_token"  # hosted: the random token whose private store holds this session's runs


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


# every ASCII punctuation character: CommonMark lets a backslash escape any of them, and together they
# cover all markdown syntax (links, images, emphasis, code, HTML tags, :directives[], $maths$)
_MARKDOWN_SYNTAX = re.compile(r"([!-/:-@\[-`{-~])")
# GFM turns bare URLs and e-mail addresses into links *after* escapes are resolved, so escaping cannot
# stop it: a zero-width space breaks the patterns it looks for ("scheme://", "www.", "name@host")
_AUTOLINK = re.compile(r"(?i)(?<=[a-z])(?=://)|(?<=://)|(?<=www)(?=\.)|(?<=@)")
ZWSP = "\u200b"


def plain(text: object) -> str:
    """``text`` escaped for st.error / st.warning / st.info / st.caption, which render markdown: an
    error message, run name or file name a visitor typed is then shown literally. A payload such as
    ``![x](http://host/beacon.png)`` or ``[sign in](http://…)`` becomes text, not an image fetch or a
    live link (raw HTML is escaped too, bare URLs are not auto-linked). Newlines stay line breaks."""
    text = _AUTOLINK.sub(ZWSP, str(text))
    return _MARKDOWN_SYNTAX.sub(r"\\\1", text).replace("\n", "  \n")


def show_error(exc: BaseException, what: str = "") -> None:
    """Show bad input as an error box; unexpected failures get a short, honest message. The message
    often quotes what the visitor typed (``got '…'``), so it is shown as plain text (:func:`plain`)."""
    prefix = f"{what}: " if what else ""
    if isinstance(exc, ConfigError):
        st.error(plain(f"{prefix}{exc}"), icon=":material/error:")
    else:
        st.error(plain(f"{prefix}{type(exc).__name__}: {exc}"), icon=":material/error:")


@contextlib.contextmanager
def computation(text: str):
    """A real progress bar for one long computation of this session, which also stops it when the
    visitor leaves or changes a widget: yields ``progress(fraction, message="")`` for the library.

    Streamlit stops or reruns a script only where the script touches an element. The library's
    runners call dln_core.budget.checkpoint() between chunks; the cancel token set here answers it by
    touching the bar (at most every 0.2 s), and Streamlit raises its own stop / rerun there once the
    session has ended or a new run is wanted, which unwinds the computation within a chunk.
    Use it inside the cached function (a cached function may only write to elements it creates)."""
    from dln_core.budget import CancelToken, cancel_scope

    bar = st.progress(0.0, text=text)
    state = {"fraction": 0.0, "message": text}

    def progress(fraction: float, message: str = "") -> None:
        state["fraction"] = min(max(float(fraction), 0.0), 1.0)
        state["message"] = f"{text} {100 * state['fraction']:.0f} %" + (f" · {message}" if message else "")
        bar.progress(state["fraction"], text=state["message"])

    def poll() -> bool:
        bar.progress(state["fraction"], text=state["message"])  # Streamlit raises here when stopping
        return False

    try:
        with cancel_scope(CancelToken(poll)):
            yield progress
    finally:
        bar.empty()


def upload_cap_mb(limits) -> float:
    """The upload size a page may promise: the profile's cap, or the server's ``maxUploadSize`` if that is
    smaller (.streamlit/config.toml sets it to the hosted cap; the server refuses anything bigger)."""
    return float(min(limits.max_upload_mb, st.get_option("server.maxUploadSize")))


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


def private_runs() -> bool:
    """Saved runs belong to the visitor's session (the hosted profile); locally one shared store."""
    from dln_core.limits import current_profile

    return current_profile() == "hosted"


def run_store():
    """The run store this visitor sees, or None if it is unavailable (e.g. a read-only disk).

    Hosted: a private store of this browser session, found by a random owner token kept only in the
    session state (dln_core.session_store), with the profile's quota. Locally: the shared store."""
    try:
        from dln_core.store import default_home

        if not private_runs():
            return RunStore()
        from dln_core.session_store import prune_sessions

        if OWNER_KEY not in st.session_state:  # a new visitor: also clear stores of long-gone sessions
            st.session_state[OWNER_KEY] = secrets.token_urlsafe(24)
            prune_sessions(default_home())
        return session_store_for(st.session_state[OWNER_KEY])
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


def session_store_for(token: str):
    """The private store of the session holding ``token``, with the profile's quota."""
    from dln_core.limits import current_limits
    from dln_core.session_store import Quota, session_store
    from dln_core.store import default_home

    limits = current_limits()
    return session_store(default_home(), token, Quota(limits.max_session_runs, limits.max_session_mb * 1e6))

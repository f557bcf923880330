"""Helpers shared by the pages (UI glue only: no math here).

- ``show_error(exc)``: a user-facing message for bad input, never a traceback.
- ``remember_run(result, label)`` / ``session_runs()``: runs made in this browser session, which the
  Runs page lists next to the saved ones.
- ``run_store()``: the on-disk store (``DLN_LAB_HOME``), or None if it cannot be opened.
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

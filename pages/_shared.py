"""Helpers shared by the pages (UI glue only: no math here).

- ``show_error(exc)``: a user-facing message for bad input, never a traceback.
- ``remember_run(result, label)`` / ``session_runs()``: runs made in this browser session, which the
  Runs page lists next to the saved ones.
- ``run_store()``: the on-disk store (``DLN_LAB_HOME``), or None if it cannot be opened.
"""

from __future__ import annotations

import streamlit as st

from dln_core.errors import ConfigError

SESSION_RUNS_KEY = "dln_session_runs"


def show_error(exc: BaseException, what: str = "") -> None:
    """Show bad input as an error box; unexpected failures get a short, honest message."""
    prefix = f"{what}: " if what else ""
    if isinstance(exc, ConfigError):
        st.error(f"{prefix}{exc}", icon=":material/error:")
    else:
        st.error(f"{prefix}{type(exc).__name__}: {exc}", icon=":material/error:")


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
        from dln_core.store import RunStore

        return RunStore()
    except Exception:  # the store is optional for the pages: they still work without it
        return None

"""Heavy imports in the background, once per process (pure Python; no streamlit).

The first page a new server draws waits for numpy/torch/scipy/altair/plotly to import (seconds on a
loaded 2-core machine). :func:`warm_imports` starts them on a daemon thread as soon as the entrypoint
runs, so the home page draws at once and the explorer finds its modules loaded; a page that needs a
module first simply waits on Python's import lock, as it would have anyway.
"""

from __future__ import annotations

import importlib
import threading

HEAVY = ("dln_core.engine", "dln_core.landscape", "dln_core.charts.playback", "dln_core.charts.explorer",
         "dln_core.charts.embeddings", "dln_core.embeddings")
_started = threading.Event()


def _load(names) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # a broken optional module is reported by the page that uses it
            pass


def warm_imports(names=HEAVY) -> threading.Thread | None:
    """Start importing ``names`` on a daemon thread (only the first call does anything)."""
    if _started.is_set():
        return None
    _started.set()
    thread = threading.Thread(target=_load, args=(tuple(names),), name="dln-warm-imports", daemon=True)
    thread.start()
    return thread

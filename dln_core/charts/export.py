"""Figures as files for papers: SVG, PDF and PNG of the charts the pages draw (pure; no streamlit).

- Altair / Vega-Lite charts are rendered by vl-convert (``vl-convert-python``): a self-contained
  Vega engine, offline, no browser.
- 2-D Plotly figures (the embeddings page) are rendered by Plotly's kaleido, which drives a local
  Chrome/Chromium; :func:`plotly_export_available` says whether this machine has one. 3-D Plotly views
  are not exported as files: their own camera button downloads a PNG of the current viewpoint.

:func:`explorer_figures` is the set of the explorer's 2-D charts (built with the explorer's own
builders, at the run's last snapshot), written by ``python -m dln_core train --figures DIR``.
Files are written atomically (:func:`dln_core.store.atomic_write_bytes`), so an interrupted export
never leaves a complete-looking partial figure.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..store import atomic_write_bytes, probe_writable
from . import explorer as charts

FIGURE_FORMATS = ("svg", "pdf", "png")
MIME = {"svg": "image/svg+xml", "pdf": "application/pdf", "png": "image/png"}
PNG_SCALE = 2  # PNGs at twice the on-screen size (print resolution)
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
EXPLORER_FIGURES = ("loss", "modes", "balance", "update_rank", "alignment", "update_spectrum")
_VL_VERSION = re.compile(r"/vega-lite/v(\d+)\.(\d+)")


def parse_formats(text: str | Iterable[str]) -> tuple[str, ...]:
    """``"svg,pdf"`` -> ("svg", "pdf"); ConfigError naming the allowed formats for anything else."""
    items = text.split(",") if isinstance(text, str) else list(text)
    formats = tuple(dict.fromkeys(f.strip().lower() for f in items if f.strip()))
    bad = [f for f in formats if f not in FIGURE_FORMATS]
    if bad or not formats:
        raise ConfigError("figure format", f"a comma list of {', '.join(FIGURE_FORMATS)}", text)
    return formats


def _vl_version(spec: Mapping) -> str | None:
    """The vl-convert version key ("6.4") of a spec's ``$schema``, if vl-convert knows it."""
    import vl_convert

    match = _VL_VERSION.search(str(spec.get("$schema", "")))
    if not match:
        return None
    wanted = f"{match.group(1)}.{match.group(2)}"
    known = vl_convert.get_vegalite_versions()
    if wanted in known:
        return wanted
    same_major = [v for v in known if v.split(".")[0] == match.group(1)]
    return same_major[-1] if same_major else None


def vegalite_bytes(chart: Any, fmt: str) -> bytes:
    """An Altair chart (or its Vega-Lite dict, e.g. ``charts.explorer.to_spec``) as SVG/PDF/PNG bytes."""
    import vl_convert

    (fmt,) = parse_formats([fmt])
    spec = chart if isinstance(chart, Mapping) else _spec(chart)
    version = _vl_version(spec)
    if fmt == "svg":
        return vl_convert.vegalite_to_svg(spec, vl_version=version).encode("utf-8")
    if fmt == "pdf":
        return vl_convert.vegalite_to_pdf(spec, vl_version=version)
    return vl_convert.vegalite_to_png(spec, vl_version=version, scale=PNG_SCALE)


def _spec(chart: Any) -> dict:
    import altair as alt

    with alt.data_transformers.enable("default", max_rows=None):  # figures keep every row
        return chart.to_dict(validate=False)


def plotly_export_available() -> bool:
    """True when kaleido and a Chrome/Chromium are installed (needed for Plotly SVG/PDF)."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return False
    return bool(os.environ.get("BROWSER_PATH")) or any(shutil.which(b) for b in BROWSERS)


def plotly_bytes(fig: Any, fmt: str) -> bytes:
    """A 2-D Plotly figure as SVG/PDF/PNG bytes (kaleido + a local Chromium; RuntimeError if absent)."""
    (fmt,) = parse_formats([fmt])
    if not plotly_export_available():
        raise RuntimeError("Plotly figure export needs kaleido and a local Chrome/Chromium")
    import plotly.io as pio

    return pio.to_image(fig, format=fmt, scale=PNG_SCALE if fmt == "png" else 1)


def figure_bytes(chart: Any, fmt: str) -> bytes:
    """:func:`plotly_bytes` for a Plotly figure, :func:`vegalite_bytes` for everything else."""
    if type(chart).__module__.startswith("plotly"):
        return plotly_bytes(chart, fmt)
    return vegalite_bytes(chart, fmt)


def explorer_figures(result: Any, time_axis: str = "step", show_gd: bool = False) -> dict[str, Any]:
    """The explorer's 2-D charts of one run (``engine.RunResult``), by file stem: loss, mode strengths,
    balancedness drift and update rank over time, and the alignment heatmaps and update spectrum at
    the last snapshot."""
    history = result.history
    last = int(history["step"].iloc[-1])
    return {
        "loss": charts.loss_chart(history, result.summary["plateau_levels"], time_axis),
        "modes": charts.modes_chart(result.modes, show_gd, time_axis),
        "balance": charts.balance_chart(history, time_axis),
        "update_rank": charts.update_rank_chart(history, time_axis),
        "alignment": charts.alignment_chart(result.alignment, last),
        "update_spectrum": charts.update_spectrum_chart(result.updates, last),
    }


def check_figure_dir(folder: str | os.PathLike) -> Path:
    """Create ``folder`` if needed and check a file can be written there (OSError now, not later)."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    probe_writable(path)
    return path


def write_figures(figures: Mapping[str, Any], folder: str | os.PathLike, formats: Iterable[str]) -> list[str]:
    """Write every figure in every format as ``<folder>/<name>.<fmt>``; returns the paths written.

    All files are rendered in memory first, then each is written atomically: a rendering error
    writes nothing.
    """
    fmts = parse_formats(list(formats))
    path = check_figure_dir(folder)
    rendered = {path / f"{name}.{fmt}": figure_bytes(fig, fmt) for name, fig in figures.items() for fmt in fmts}
    for target, data in rendered.items():
        atomic_write_bytes(target, data)
    return [str(p) for p in rendered]

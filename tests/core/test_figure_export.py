"""Figures as files (dln_core/charts/export.py): SVG / PDF / PNG of the explorer's 2-D charts via
vl-convert, Plotly 2-D figures via kaleido, atomic writes, bad formats and folders."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import plotly.graph_objects as go
import pytest

from dln_core import engine
from dln_core.charts import export as ex
from dln_core.config import RunConfig
from dln_core.errors import ConfigError

MAGIC = {"svg": b"<svg", "pdf": b"%PDF-", "png": b"\x89PNG\r\n\x1a\n"}


@pytest.fixture(scope="module")
def result():
    return engine.run(RunConfig.make(depth=2, init_scale=1e-3, lr=0.04, steps=1500))


def _svg_text(data: bytes) -> str:
    root = ET.fromstring(data)  # well-formed XML
    return " ".join(t for t in root.itertext())


def test_explorer_figures_render_as_svg_and_pdf(result):
    figs = ex.explorer_figures(result)
    assert set(figs) == {"loss", "modes", "balance", "update_rank", "alignment", "update_spectrum"}
    for name, fig in figs.items():
        svg = ex.figure_bytes(fig, "svg")
        assert svg.startswith(MAGIC["svg"]), name
        assert ex.figure_bytes(fig, "pdf").startswith(MAGIC["pdf"]), name
    # the SVG is a real vector chart with its axis titles as text (editable in a paper's figure)
    text = _svg_text(ex.figure_bytes(figs["modes"], "svg"))
    assert "mode strength" in text and "step" in text


def test_spec_dicts_render_like_charts(result):
    from dln_core.charts import explorer as charts

    chart = charts.balance_chart(result.history)
    assert ex.figure_bytes(charts.to_spec(chart), "svg") == ex.figure_bytes(chart, "svg")


def test_write_figures_writes_every_format_atomically(result, tmp_path):
    figs = {k: v for k, v in ex.explorer_figures(result).items() if k in ("loss", "alignment")}
    written = ex.write_figures(figs, tmp_path / "new" / "figs", ex.parse_formats("svg,pdf,png"))
    assert sorted(os.path.basename(p) for p in written) == sorted(
        f"{n}.{f}" for n in ("loss", "alignment") for f in ("svg", "pdf", "png"))
    for p in written:
        with open(p, "rb") as fh:
            assert fh.read(8).startswith(MAGIC[p.rsplit(".", 1)[1]])
    assert not [p for p in (tmp_path / "new" / "figs").iterdir() if p.name.startswith(".")]  # no temp files


def test_a_failing_render_writes_nothing(result, tmp_path):
    figs = {"loss": ex.explorer_figures(result)["loss"], "broken": {"mark": "no-such-mark", "$schema": ""}}
    with pytest.raises(Exception):  # noqa: B017 - vl-convert's own error type
        ex.write_figures(figs, tmp_path, ["svg"])
    assert list(tmp_path.iterdir()) == []


def test_bad_formats_and_unwritable_folders():
    with pytest.raises(ConfigError, match="figure format: a comma list of svg, pdf, png"):
        ex.parse_formats("svg,eps")
    with pytest.raises(ConfigError):
        ex.parse_formats("")
    assert ex.parse_formats("SVG, pdf,svg") == ("svg", "pdf")
    with pytest.raises(OSError):
        ex.check_figure_dir("/proc/no-such-dir/figs")


@pytest.mark.skipif(not ex.plotly_export_available(), reason="needs kaleido and Chromium (CI installs both)")
def test_plotly_2d_figures_export_via_kaleido():
    fig = go.Figure(go.Scatter(x=[0, 1, 2], y=[2.0, 1.0, 0.5], name="loss"))
    fig.update_layout(xaxis_title="step k", yaxis_title="loss")
    svg = ex.figure_bytes(fig, "svg")
    assert svg.startswith(MAGIC["svg"]) and "step k" in _svg_text(svg)
    assert ex.figure_bytes(fig, "pdf").startswith(MAGIC["pdf"])

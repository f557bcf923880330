"""DLN explorer page (AppTest): renders with defaults, reacts to depth / init / target, dashed theory,
CSV export, and bad input keeps the previous charts with an error instead of a traceback."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.markdown_text import shown

APP = Path(__file__).resolve().parents[2] / "app.py"


def _open(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.switch_page("pages/explorer.py").run()
    return at


def _charts(at: AppTest) -> list[tuple[dict, list[pd.DataFrame]]]:
    """(Vega-Lite spec, its datasets as DataFrames) of every Altair chart on the page."""
    out = []
    for c in at.get("vega_lite_chart"):
        frames = [pa.ipc.open_stream(d.data.data).read_pandas() for d in c.proto.datasets]
        out.append((json.loads(c.proto.spec), frames))
    return out


def _data_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first chart dataset that has ``column`` (e.g. 'loss' for the loss curve)."""
    for _, frames in _charts(at):
        for df in frames:
            if column in df.columns:
                return df.reset_index(drop=True)
    raise AssertionError(f"no chart dataset with column {column!r}")


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_defaults_render_all_panels(home):
    at = _open()
    _ok(at)
    specs = [s for s, _ in _charts(at)]
    assert len(specs) >= 5  # loss, modes, alignment, balance drift, update rank
    plots = at.get("plotly_chart")
    kinds = [json.loads(p.proto.spec)["data"][0]["type"] for p in plots]
    assert kinds == ["surface", "surface"]  # two-mode landscape and one-mode saddle
    loss = _data_with(at, "loss")
    assert loss["loss"].iloc[-1] < 0.05 * loss["loss"].iloc[0]  # the default run learns the target
    assert at.slider(key="snap").value == at.slider(key="snap").max  # starts at the end of training


def test_theory_layer_is_dashed(home):
    at = _open()
    modes_spec = next(s for s, _ in _charts(at) if "layer" in s and "strokeDash" in s["layer"][0]["encoding"])
    scale = modes_spec["layer"][0]["encoding"]["strokeDash"]["scale"]
    styles = dict(zip(scale["domain"], scale["range"]))
    assert styles["measured"] == [1, 0]
    assert styles["theory (gradient flow)"] == [6, 4]


@pytest.mark.parametrize(
    ("key", "value", "column"),
    [("depth", 3, "loss"), ("init", "gaussian", "loss"), ("target", "hierarchy", "u")],
)
def test_changing_a_control_changes_the_charts(home, key, value, column):
    at = _open({"steps": "1500"})
    _ok(at)
    before = _data_with(at, column)
    widget = at.slider(key=key) if key == "depth" else at.selectbox(key=key)
    widget.set_value(value).run()
    _ok(at)
    after = _data_with(at, column)
    assert not before.equals(after)


def test_csv_download_holds_the_runs_rows(home, downloads):
    at = _open({"steps": "800"})
    _ok(at)
    data = downloads["dln_run.csv"]
    csv = pd.read_csv(io.BytesIO(data if isinstance(data, bytes) else data.encode()))
    loss = _data_with(at, "loss")  # the chart drops step 0 (log axis): one row fewer
    assert len(csv) == len(loss) + 1
    assert {"step", "loss", "depth", "lr"} <= set(csv.columns)
    assert csv["step"].max() == 800
    assert csv["loss"].iloc[1:].tolist() == pytest.approx(loss["loss"].tolist(), rel=1e-12)


@pytest.mark.parametrize("bad", ["6, abc, 2", "6, nan", "-1, 2", ""])
def test_bad_custom_target_shows_error_and_keeps_previous_charts(home, bad):
    at = _open({"steps": "800"})
    at.selectbox(key="target").set_value("spectrum").run()
    _ok(at)
    good = _data_with(at, "loss")
    at.text_input(key="sv").set_value(bad).run()
    assert not at.exception
    assert at.error and "singular_values" in shown(at.error[0].value)
    assert _data_with(at, "loss").equals(good)


def test_diverging_lr_warns_and_keeps_previous_charts(home):
    at = _open({"steps": "500"})
    good = _data_with(at, "loss")
    at.number_input(key="lr").set_value(2.0).run()
    assert not at.exception
    assert any("diverged" in w.value for w in at.warning)
    assert _data_with(at, "loss").equals(good)


def test_over_cap_steps_is_an_error_not_a_traceback(home, monkeypatch):
    monkeypatch.setenv("DLN_LAB_MAX_STEPS", "1000")
    at = _open({"steps": "5000"})
    assert not at.exception
    assert at.error and "steps" in at.error[0].value


def test_url_configures_the_run_and_garbage_is_dropped(home):
    at = _open({"depth": "3", "steps": "600", "init": "gaussian", "target": "random", "sv": "5, 2",
                "time_axis": "t"})
    _ok(at)
    assert at.slider(key="depth").value == 3
    assert at.selectbox(key="init").value == "gaussian"
    assert at.text_input(key="sv").value == "5, 2"
    assert _data_with(at, "u")["mode"].nunique() == 2  # the URL's two-mode target was trained
    loss_spec = next(spec for spec, frames in _charts(at) if any("loss" in df for df in frames))
    assert loss_spec["layer"][0]["encoding"]["x"]["field"] == "t"  # time axis t = η·k from the URL

    at = _open({"depth": "banana", "steps": "-3", "seed": "1e99", "target": "nonsense", "log_scale": "x"})
    _ok(at)
    assert at.slider(key="depth").value == 2
    assert at.number_input(key="seed").value == 0
    assert at.selectbox(key="target").value == "article"


def test_preset_button_sets_the_controls(home):
    at = _open({"steps": "600"})
    at.button(key="preset_3_Medium").click().run()
    _ok(at)
    assert at.slider(key="depth").value == 3
    assert at.number_input(key="lr").value == pytest.approx(0.02)
    assert 10 ** at.slider(key="log_scale").value == pytest.approx(0.3, rel=1e-3)


def test_time_slider_moves_the_marker_without_retraining(home):
    at = _open({"steps": "800"})
    wall = at.metric[3].value
    at.slider(key="snap").set_value(10).run()
    _ok(at)
    assert at.metric[3].value == wall  # same cached result
    marker = next(df for _, frames in _charts(at) for df in frames if list(df.columns) == ["step"])
    loss = _data_with(at, "loss")
    assert marker["step"].iloc[0] == loss["step"].iloc[9]  # snapshot 10 = 10th drawn row (step 0 hidden)


def test_save_to_runs_stores_the_run(home):
    from dln_core.store import RunStore

    at = _open({"steps": "600"})
    at.button(key="save_run").click().run()
    _ok(at)
    listed = RunStore().list()
    assert len(listed) == 1 and int(listed["depth"].iloc[0]) == 2


def test_auto_steps_give_up_on_a_hopeless_plateau(home, monkeypatch):
    monkeypatch.setenv("DLN_LAB_MAX_STEPS", "3000")  # the cap "auto" falls back to, kept tiny for the test
    at = _open({"depth": "3", "log_scale": "-5"})  # u0 ~ 1e-15 at L = 3: no drop within 3,000 steps
    _ok(at)
    assert any("'auto' stopped after 3,000 steps" in w.value for w in at.warning)
    assert at.metric[1].value == "3,000"


def test_lambda_b_is_bound_to_the_url(home, downloads):
    at = _open({"init": "lambda-balanced", "lambda_b": "0.5", "steps": "300"})
    _ok(at)
    assert at.number_input(key="lambda_b").value == 0.5
    csv = pd.read_csv(io.BytesIO(downloads["dln_run.csv"]))
    assert csv["lambda_b"].unique().tolist() == [0.5] and csv["init_scheme"].unique().tolist() == ["lambda-balanced"]


@pytest.fixture
def fake_summary(monkeypatch):
    """engine.run with extra summary keys (the step-size cap keys); a fresh cache before and after."""
    import streamlit as st

    from dln_core import engine

    extra: dict = {}
    real = engine.run

    def run(cfg, progress=None, **kw):
        result = real(cfg, progress, **kw)
        result.summary = result.summary.replace(**extra)
        return result

    monkeypatch.setattr(engine, "run", run)
    st.cache_data.clear()
    yield extra
    st.cache_data.clear()


@pytest.mark.parametrize("over, converged", [(True, False), (False, True)])
def test_warns_when_eta_is_over_the_cap_or_the_run_has_not_converged(home, fake_summary, over, converged):
    fake_summary.update(lr_cap=0.1234, lr_over_cap=over, converged=converged, diverged=False)
    at = _open({"steps": "321"})
    _ok(at)
    texts = [w.value for w in at.warning]
    assert any("above the stable cap 2/sharpness = 0.1234" in t for t in texts) == over
    assert any("Not converged after 321 steps" in t for t in texts) == (not converged)
    # the advice fits the cause: over the cap, more steps or a larger η would not help
    assert any("Lower η below the cap" in t for t in texts) == (over and not converged)


def test_one_rerun_builds_the_frames_once_and_a_scrub_builds_none(home, monkeypatch):
    """The run is built once per configuration with its frames; the chart caches get that run handed
    in, so a fresh configuration builds the frames exactly once and a snapshot scrub or a plain rerun
    builds none (issue 8: it used to be 6 builds per rerun, 3 per scrub)."""
    import streamlit as st

    from dln_core import frames

    builds: list[int] = []
    real = frames.run_frames

    def counting(*args, **kwargs):
        builds.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(frames, "run_frames", counting)
    st.cache_data.clear()
    at = _open({"steps": "377"})  # a configuration no other test trains
    _ok(at)
    assert len(builds) == 1
    at.slider(key="snap").set_value(at.slider(key="snap").max // 2).run()
    _ok(at)
    at.run()
    _ok(at)
    assert len(builds) == 1
    st.cache_data.clear()

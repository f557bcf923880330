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


def _payload(at: AppTest) -> dict:
    """The data the in-browser player received (dln_core.charts.playback.playback_payload)."""
    frames = at.get("iframe")
    assert len(frames) == 1, "one player per page"
    doc = frames[0].proto.srcdoc
    start = doc.index("window.DLN_PAYLOAD=") + len("window.DLN_PAYLOAD=")
    return json.loads(doc[start:doc.index(";</script>", start)])


def _data_with(at: AppTest, column: str) -> pd.DataFrame:
    """The player's series as a frame: 'loss' (step, t, loss) or 'u' (step, mode, u) of the run shown."""
    p = _payload(at)
    if column == "loss":
        return pd.DataFrame({"step": p["x"]["step"], "t": p["x"]["t"], "loss": p["loss"]})
    if column == "u":
        rows = [(s, i + 1, u) for i, us in enumerate(p["modes"]["u"]) for s, u in zip(p["x"]["step"], us)]
        return pd.DataFrame(rows, columns=["step", "mode", "u"])
    for _, frames in _charts(at):  # otherwise an Altair chart's dataset (e.g. the depth-exponent fit)
        for df in frames:
            if column in df.columns:
                return df.reset_index(drop=True)
    raise AssertionError(f"no player series or chart dataset {column!r}")


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_defaults_render_all_panels(home):
    at = _open()
    _ok(at)
    p = _payload(at)
    n = len(p["x"]["step"])
    assert n > 100 and len(p["loss"]) == n == len(p["drift"]) == len(p["rank"])  # every snapshot, sent once
    assert len(p["modes"]["u"]) == 6 and all(len(u) == n for u in p["modes"]["u"])
    assert p["align"]["pairs"] == ["U*ᵀU_{L}", "V_{1}ᵀV*", "V_{2}ᵀU_{1}"]  # math labels, not raw names
    assert all(len(v) == n for v in p["align"]["values"]) and len(p["upd"]["values"]) == 2
    assert len(p["land"]["path"]["w1"]) == n
    assert p["start"] == n - 1  # opens at the end of training with every curve drawn
    assert p["upd"]["noise"][-1] and not p["upd"]["noise"][n // 3]  # the converged tail is marked noise
    assert not at.get("plotly_chart")  # the WebGL views wait for the toggle
    at.toggle(key="show_3d").set_value(True).run()
    plots = at.get("plotly_chart")
    kinds = [json.loads(p.proto.spec)["data"][0]["type"] for p in plots]
    assert kinds == ["surface", "surface"]  # two-mode landscape and one-mode saddle
    loss = _data_with(at, "loss")
    assert loss["loss"].iloc[-1] < 0.05 * loss["loss"].iloc[0]  # the default run learns the target


def test_theory_curves_are_sent_and_labelled(home):
    at = _open({"steps": "1500"})
    p = _payload(at)
    assert all(any(v is not None for v in gf) for gf in p["modes"]["gf"])  # a theory curve per mode
    assert p["modes"]["gd"] is None
    doc = at.get("iframe")[0].proto.srcdoc
    assert 'class="dash"></b>theory (gradient flow)' in doc and "theory (finite η)" not in doc
    at.toggle(key="show_gd").set_value(True).run()
    assert _payload(at)["modes"]["gd"] is not None and "theory (finite η)" in at.get("iframe")[0].proto.srcdoc


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
    loss = _data_with(at, "loss")  # the player has every snapshot, step 0 included
    assert len(csv) == len(loss)
    assert {"step", "loss", "depth", "lr"} <= set(csv.columns)
    assert csv["step"].max() == 800
    assert csv["loss"].tolist() == pytest.approx(loss["loss"].tolist(), rel=1e-4)  # 5 digits in the player


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
    assert _payload(at)["axis"] == "t"  # time axis t = η·k from the URL
    assert not at.warning or not any("URL parameter" in shown(w.value) for w in at.warning)


@pytest.mark.parametrize(("query", "name", "used"), [
    ({"depth": "abc"}, "depth", "2"), ({"lr": "-1"}, "lr", "0.01"), ({"log_scale": "nan"}, "log_scale", "-5.0"),
    ({"init": "bogus"}, "init", "near-identity"), ({"seed": "1e99"}, "seed", "0"),
    ({"target": "nonsense"}, "target", "article"), ({"steps": "-3"}, "steps", "0"),
])
def test_bad_url_parameter_is_named_with_the_value_used(home, query, name, used):
    at = _open({**query, "steps": query.get("steps", "400")} if name != "steps" else query)
    _ok(at)
    texts = [shown(w.value) for w in at.warning if "URL parameter" in shown(w.value)]  # as displayed
    value = query[name]
    assert texts == [next(t for t in texts if t.startswith(f"URL parameter {name}={value!r} ignored"))]
    assert texts[0].endswith(f"using {name} = {used}.")


def test_preset_button_sets_the_controls(home):
    at = _open({"steps": "600"})
    at.button(key="preset_3_Medium").click().run()
    _ok(at)
    assert at.slider(key="depth").value == 3
    assert at.number_input(key="lr").value == pytest.approx(0.02)
    assert 10 ** at.slider(key="log_scale").value == pytest.approx(0.3, rel=1e-3)


def test_player_replays_the_cached_run_without_widgets_per_frame(home):
    at = _open({"steps": "800"})
    wall = at.metric[3].value
    # every snapshot view is drawn by the player in the browser; the one Altair chart left is the
    # (static) depth-exponent fit inside its expander
    assert len(at.get("vega_lite_chart")) <= 1
    assert len(at.expander) and any("depth exponent" in e.label for e in at.expander)
    assert [s.key for s in at.slider] == ["depth", "log_scale"]  # no server-side snapshot slider
    at.run()  # a rerun (any widget) reuses the cached run and the same player document
    assert at.metric[3].value == wall


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
    fix = at.button(key="fix_run_0")  # one click: the depth-scaled init, auto steps again
    assert fix.label.startswith("Use c = ")
    fix.click().run()
    assert at.slider(key="log_scale").value > -5


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


def test_one_rerun_builds_the_frames_once_and_a_view_change_builds_none(home, monkeypatch):
    """The run is built once per configuration with its frames; the chart caches get that run handed
    in, so a fresh configuration builds the frames exactly once and a view change (a new player) or a
    plain rerun builds none (issue 8: it used to be 6 builds per rerun; scrubbing is in the browser)."""
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
    at.radio(key="time_axis").set_value("t").run()
    _ok(at)
    assert _payload(at)["axis"] == "t"
    at.run()
    _ok(at)
    assert len(builds) == 1
    st.cache_data.clear()


def test_explorer_says_what_it_predicts_and_shows_the_depth_exponent(home):
    """Issue 10 point 5: the mode-panel caption says where the dashed curves start and that they are
    predictions, the halfway table says per mode whether it is one, and the depth-exponent panel
    plots this run's fit (the default near-identity L = 2 run: every mode predicted from step 0)."""
    at = _open()
    _ok(at)
    assert any("Every dashed curve starts at step 0" in c.value and "prediction" in c.value for c in at.caption)
    table = next(d.value for d in at.dataframe if "theory" in d.value.columns)
    assert list(table["theory"]) == ["prediction"] * 6
    assert "halfway step (predicted, finite η)" in table.columns and "halfway step (gradient flow)" in table.columns
    (panel,) = [e for e in at.expander if e.label == "The depth exponent of this run"]
    assert any("2 − 2/L = 1" in c.value for c in panel.caption)
    data = _data_with(at, "log_prefactor")
    assert len(data) >= 3 and set(data["mode"]) <= set(range(1, 7))

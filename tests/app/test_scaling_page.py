"""AppTest: the Theory & scaling page renders its default study, every study, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "app.py"


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("pages/scaling.py").run()
    return at


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def test_first_load_shows_a_log_log_chart_and_the_fit_table():
    at = open_page()
    assert not at.exception
    assert at.title[0].value == "Theory & scaling"
    specs = charts(at)
    assert len(specs) >= 1
    assert '"type": "log"' in json.dumps(specs[0])  # halfway time vs u0 is drawn log–log
    fits = at.dataframe[0].value
    assert list(fits["depth"]) == [2, 3, 4]
    assert fits["fitted_slope"].between(-0.6, 0.6).all()
    assert len(at.get("download_button")) >= 3  # summary, theory, fits


def test_bad_input_shows_an_error_and_keeps_the_previous_results():
    at = open_page()
    before = at.dataframe[0].value
    at.text_input[0].set_value("2,x")  # inside a form: takes effect on submit
    at.button[0].click().run()  # the form's submit button
    assert not at.exception
    assert any("depths L" in e.value for e in at.error)
    assert len(charts(at)) >= 1  # previous figure still on screen
    assert at.dataframe[0].value.equals(before)


@pytest.mark.parametrize(
    ("study", "n_charts"),
    [
        ("Learning order", 1),
        ("Sharper steps with depth", 1),
        ("Step-size limit", 1),
        ("Non-whitened inputs", 2),
        ("Exact L = 2 solution", 1),
    ],
)
def test_every_study_renders_its_charts(study, n_charts):
    at = open_page()
    at.get("button_group")[0].set_value(study).run()
    assert not at.exception, at.exception
    assert not at.error
    assert len(charts(at)) == n_charts


def test_a_study_can_be_saved_to_the_run_store(tmp_path, monkeypatch):
    monkeypatch.setenv("DLN_LAB_HOME", str(tmp_path))
    at = open_page()
    at.get("button_group")[0].set_value("Learning order").run()
    save = next(b for b in at.button if b.label == "Save to run store")
    save.click().run()
    assert not at.exception and not at.error
    assert any("Saved as" in s.value for s in at.success)
    from dln_core.store import RunStore

    listing = RunStore(tmp_path).list()
    assert list(listing["kind"]) == ["sweep"]
    stored = RunStore(tmp_path).load(listing["run_id"].iloc[0])
    assert len(stored.frame("summary")) == 6  # one row per mode of the article spectrum


# ------------------------------------------------------------------ chart builders (pure)


def test_halfway_chart_is_log_log_with_dashed_theory_and_drops_unusable_points():
    import pandas as pd

    from dln_core.charts import scaling as sc

    summary = pd.DataFrame({"mode": [1, 1, 2], "depth": [2, 3, 2], "u0": [1e-4, 0.0, 1e-4],
                            "halfway_time": [4.0, 9.0, 8.0], "init_scale": [1e-2] * 3, "lr": [0.02] * 3,
                            "halfway_step": [200, 450, 400], "tau_half_theory": [3.9, 9.1, 7.9]})
    theory = pd.DataFrame({"depth": [2, 2], "u0": [1e-4, 1e-2], "tau_half_theory": [4.6, 2.3]})
    spec = sc.halfway_vs_u0_chart(summary, theory).to_dict()
    line, points = spec["layer"]
    assert line["mark"]["strokeDash"] == sc.THEORY_DASH
    assert points["encoding"]["x"]["scale"]["type"] == "log" and points["encoding"]["y"]["scale"]["type"] == "log"
    rows = spec["datasets"][points["data"]["name"]]
    assert [(r["depth"], r["u0"]) for r in rows] == [(2, 1e-4)]  # mode 2 and u0 = 0 left out


def test_stability_chart_draws_one_point_per_run_and_the_cap_per_depth():
    import pandas as pd

    from dln_core.charts import scaling as sc

    summary = pd.DataFrame({"member": [0, 0, 1], "depth": [2, 2, 2], "lr": [0.1, 0.1, 0.2],
                            "outcome": ["converged", "converged", "diverged"], "final_loss": [0.0, 0.0, 1e9],
                            "diverged_step": [None, None, 5]})
    caps = pd.DataFrame({"depth": [2], "sharpness": [12.0], "lr_cap": [1 / 6], "method": ["closed form"]})
    spec = sc.stability_chart(summary, caps).to_dict()
    points, cap = spec["layer"]
    assert len(spec["datasets"][points["data"]["name"]]) == 2  # one point per member, not per mode
    assert spec["datasets"][cap["data"]["name"]][0]["lr_cap"] == pytest.approx(1 / 6)


def test_sweep_warns_when_eta_is_above_the_cap():
    at = open_page()
    assert not any("above the stable step-size cap" in w.value for w in at.warning)  # defaults are stable
    at.number_input[-1].set_value(0.9)  # η, inside the form (cap at λ = 1: L = 3 0.667, L = 4 0.5)
    at.button[0].click().run()
    assert not at.exception
    text = next(w.value for w in at.warning if "above the stable step-size cap" in w.value)
    assert "L = 3 (cap 0.667), L = 4 (cap 0.5)" in text and "L = 2" not in text

"""AppTest: the Generalisation page renders its four panels with the expected charts, the numbers it shows
are the library's, raw inputs say there is no theory, and bad input keeps the previous results."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from dln_core.generalize import run_generalize
from dln_core.generalize_config import GeneralizeConfig
from tests.app.markdown_text import shown

APP = Path(__file__).resolve().parents[2] / "app.py"
TITLES = ("Train and test loss", "Signal first, noise later", "The sample's spectrum", "The best step moves",
          "Depth 1 (ridge-like) vs deeper", "The random-matrix level closes in")


def open_page(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    at.switch_page("pages/generalisation.py").run()
    return at


def chart_titles(at: AppTest) -> list[str]:
    out = []
    for c in at.get("vega_lite_chart"):
        spec = json.loads(c.proto.spec)
        title = spec.get("title")
        out.append(title.get("text") if isinstance(title, dict) else title)
    return out


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_page_renders_every_panel_with_the_library_numbers(home):
    at = open_page()
    assert not at.exception, at.exception
    assert not at.error
    assert at.title[0].value == "Generalisation & early stopping"
    titles = chart_titles(at)
    assert len(titles) == len(TITLES)
    for want, got in zip(TITLES, titles):
        assert got.startswith(want), (want, got)
    s = run_generalize(GeneralizeConfig()).summary  # the page's default config
    assert metric(at, "best step (measured)") == str(s["best_step"])
    assert metric(at, "best step (exact theory)") == str(s["best_step_theory"])
    teacher = at.dataframe[0].value
    assert list(teacher["teacher_mode"]) == [1, 2, 3] and teacher["detected_rmt"].all()
    depths = at.dataframe[1].value
    assert list(depths["depth"]) == [1, 2]
    assert depths.set_index("depth").loc[2, "test_loss_min"] < depths.set_index("depth").loc[1, "test_loss_min"]
    assert len(at.dataframe[2].value) == 4  # the gap per size
    assert any(b.proto.label == "history.csv" for b in at.get("download_button"))


def test_raw_inputs_say_simulation_only(home):
    at = open_page({"g_inputs": "gaussian", "g_samples": "60"})
    assert not at.exception, at.exception
    assert any("raw Gaussian inputs: Σ̂xx ≠ I" in shown(i.value) for i in at.info)
    assert metric(at, "best step (theory)") == "—"
    spec = at.get("vega_lite_chart")[0].proto.spec  # the loss chart: its line styles are the sources drawn
    assert '"measured"' in spec and "exact theory" not in spec and "RMT" not in spec  # no theory curve


def test_bad_input_shows_an_error_and_keeps_the_previous_results(home):
    at = open_page()
    before = metric(at, "best step (measured)")
    at.number_input[2].set_value(5)  # samples P = 5 < n_in = 20: cannot whiten
    at.button[0].click().run()
    assert not at.exception
    assert any(shown(e.value).startswith("samples: must be an integer [20,") for e in at.error)
    assert metric(at, "best step (measured)") == before
    assert len(chart_titles(at)) == len(TITLES)


def test_hosted_defaults_fit_and_an_over_cap_request_is_refused(monkeypatch, home):
    monkeypatch.setenv("DLN_LAB_PROFILE", "hosted")
    at = open_page()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(chart_titles(at)) == len(TITLES)
    at.number_input[0].set_value(500)  # n_in above the hosted cap of 64
    at.number_input[2].set_value(1000)
    at.button[0].click().run()
    assert not at.exception
    assert any(shown(e.value).startswith("n_in: at most 64") for e in at.error), [e.value for e in at.error]


def test_a_run_that_ends_before_the_minimum_says_so(home):
    """20 steps end on the first plateau: the lowest test loss is the last one, which is not an
    early-stopping optimum, and the page must not present it as one."""
    at = open_page({"g_steps": "20"})
    assert not at.exception, at.exception
    assert metric(at, "best step (measured)") == "20"
    assert any("the minimum was not reached" in shown(w.value) for w in at.warning)

"""Word-embeddings page (AppTest, small test vocabulary via DLN_LAB_EMBED_TEST=1): renders with
defaults and Plotly charts, reacts to the analogy box, and turns bad input into an error message."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.markdown_text import shown

APP = Path(__file__).resolve().parents[2] / "app.py"


@pytest.fixture
def page(monkeypatch) -> AppTest:
    monkeypatch.setenv("DLN_LAB_EMBED_TEST", "1")
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/embeddings.py").run()
    return at


def _plotly(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_defaults_render_scatter_and_curves(page):
    assert not page.exception
    figs = _plotly(page)
    assert len(figs) >= 4
    scatter = figs[0]
    kinds = {t["type"] for t in scatter["data"]}
    assert "scatter3d" in kinds
    labelled = next(t for t in scatter["data"] if t.get("name") == "highlighted")
    assert {"man", "woman", "king"} <= set(labelled["text"])  # queen is beyond the test's V = 700
    assert any(t.get("name") == "man → woman" for t in scatter["data"])  # the analogy arrow
    # singular-value chart: one solid measured and one dashed theory trace per mode
    sv = figs[1]
    solid = [t for t in sv["data"] if "dash" not in t["line"]]
    dashed = [t for t in sv["data"] if t["line"].get("dash") == "dash"]
    assert len(solid) == len(dashed) >= 3
    assert page.number_input(key="emb_vocab").value == 700


def test_analogy_box_and_oov_warning(page):
    assert not page.exception
    page.text_input(key="emb_qc").set_value("zzzzqx").run()
    assert not page.exception
    assert any("word c" in w.value for w in page.warning)
    assert len(page.get("plotly_chart")) >= 4  # the rest of the page stays usable


def test_vocab_too_large_shows_error(page):
    page.number_input(key="emb_vocab").set_value(10_000_000).run()
    assert not page.exception
    assert any("vocab" in e.value for e in page.error)


def test_dim_not_below_vocab_shows_error(page):
    page.number_input(key="emb_dim").set_value(600).run()
    assert not page.exception
    assert any("dim" in e.value for e in page.error)


def _text(n_docs: int = 30) -> bytes:
    rng = np.random.default_rng(0)
    words = [a + b + c for a in "bdkmt" for b in "aeiou" for c in "lnrs"]  # 100 letter-only words
    return "\n\n".join(" ".join(rng.choice(words, 80)) for _ in range(n_docs)).encode()


def test_uploaded_corpus_trains_with_a_clamped_vocabulary(page):
    page.radio(key="emb_corpus").set_value("upload").run()
    assert not page.exception
    assert any("Upload" in i.value for i in page.info)  # waiting for a file, no error
    page.file_uploader(key="emb_upload").set_value(("toy.txt", _text(), "text/plain")).run()
    assert not page.exception
    assert any("only 100 distinct words" in w.value for w in page.warning)
    assert len(page.get("plotly_chart")) >= 4
    assert any("toy.txt" in shown(c.value) for c in page.caption)


def test_empty_upload_is_an_error(page):
    page.radio(key="emb_corpus").set_value("upload").run()
    page.file_uploader(key="emb_upload").set_value(("empty.txt", b"  \n", "text/plain")).run()
    assert not page.exception
    assert any("empty" in e.value for e in page.error)


def test_animation_toggle_ships_frames(page):
    page.toggle(key="emb_animate").set_value(True).run()
    assert not page.exception
    anim = _plotly(page)[0]
    assert len(anim["frames"]) == len(anim["layout"]["sliders"][0]["steps"]) >= 2


# ------------------------------------------------------------------ review fixes


def test_dim_one_renders_without_the_modes_slider(page):
    page.number_input(key="emb_vocab").set_value(300).run()
    page.number_input(key="emb_dim").set_value(1).run()
    assert not page.exception
    assert not page.error
    assert not [s for s in page.slider if s.key == "emb_nmodes"]  # st.slider(1, 1) would raise
    assert len(page.get("plotly_chart")) >= 4


def test_upload_without_analogy_words_shows_na_not_nan(page):
    page.radio(key="emb_corpus").set_value("upload").run()
    page.file_uploader(key="emb_upload").set_value(("toy.txt", _text(), "text/plain")).run()
    assert not page.exception
    values = {m.label: m.value for m in page.metric}
    assert values["Analogy accuracy (trained)"] == "n/a (0 in-vocabulary questions)"
    assert all("nan" not in str(v) for v in values.values()), values


def test_one_word_upload_is_one_error_without_warning(page):
    page.radio(key="emb_corpus").set_value("upload").run()
    page.file_uploader(key="emb_upload").set_value(("one.txt", b"hello " * 100, "text/plain")).run()
    assert not page.exception
    assert [e.value for e in page.error if "distinct words" in e.value]
    assert not [w.value for w in page.warning if "distinct words" in w.value]


def test_binary_upload_is_rejected(page):
    page.radio(key="emb_corpus").set_value("upload").run()
    page.file_uploader(key="emb_upload").set_value(("img.txt", b"\x89PNG\r\n\x00\x00" * 50, "text/plain")).run()
    assert not page.exception
    assert any("plain UTF-8 text" in shown(e.value) for e in page.error)


def test_over_budget_request_names_the_cap(page, monkeypatch):
    monkeypatch.setenv("DLN_LAB_MAX_EMBED_WORK", "1e9")  # 700² · 20 · 150 = 1.5e9
    page.run()
    assert not page.exception
    assert any("max_embed_work" in shown(e.value) for e in page.error)


def test_save_to_runs_and_the_runs_page_lists_it(page, tmp_path, monkeypatch):
    from dln_core.store import RunStore

    monkeypatch.setenv("DLN_LAB_HOME", str(tmp_path))
    page.button(key="emb_save").click().run()
    assert not page.exception
    assert any("Saved as run" in s.value for s in page.success)
    (entry,) = RunStore(tmp_path).entries()
    assert entry["kind"] == "embed" and entry["config"]["vocab"] == 700
    runs = AppTest.from_file(APP, default_timeout=60)
    runs.run()
    runs.switch_page("pages/runs.py").run()
    assert not runs.exception


def test_diverged_run_shows_na_scores(page):
    page.toggle(key="emb_auto_lr").set_value(False).run()
    page.number_input(key="emb_lr").set_value(1.0).run()  # far above the stable step
    assert not page.exception
    assert any("diverged at step" in w.value for w in page.warning)
    values = {m.label: m.value for m in page.metric}
    assert values["Analogy accuracy (trained)"] == "n/a" and values["WordSim-353 ρ"] == "n/a"
    assert values["Closed-form optimum"].endswith("%")  # independent of training


def test_probe_keystrokes_reuse_the_cached_figures(page, monkeypatch):
    """Typing in the analogy / neighbour boxes reruns the page; the charts come from the figure cache
    (keyed on config, corpus digest and view options), so no builder runs and the specs are identical.
    A changed view option does build its figure."""
    from dln_core.charts import embeddings as chart_mod

    built = []
    for name in ("embedding_scatter", "embedding_animation", "singular_values_chart", "loss_chart",
                 "accuracy_rank_chart", "halfway_chart"):
        real = getattr(chart_mod, name)
        monkeypatch.setattr(chart_mod, name, lambda *a, _real=real, _name=name, **k: built.append(_name) or _real(*a, **k))
    before = _plotly(page)
    page.text_input(key="emb_qc").set_value("paris").run()
    page.text_input(key="emb_nn").set_value("germany").run()
    assert not page.exception
    assert built == []
    assert _plotly(page) == before
    page.number_input(key="emb_ax3").set_value(5).run()  # a view no other test draws
    assert not page.exception and built == ["embedding_scatter"]
    scatter = _plotly(page)[0]
    assert scatter["layout"]["scene"]["zaxis"]["title"]["text"].endswith("5")


def test_cost_is_estimated_and_a_huge_vocabulary_is_refused(page, monkeypatch):
    from dln_core.embeddings import cost

    # V = 20,000 at the test-mode size is priced at about a minute and a half here (the spectrum of a
    # 20,000 × 20,000 M* and its steps), so a 30 s refusal limit must refuse it on any machine of this class
    monkeypatch.setattr(cost, "REFUSE_ABOVE_S", 30.0)
    assert any(c.value.startswith("Estimated cost of this configuration: ≈") for c in page.caption)
    page.number_input(key="emb_vocab").set_value(20_000).run()
    assert not page.exception
    assert page.error and page.error[0].value.startswith("Not run: V = 20,000")
    assert "the largest V within" in page.error[0].value
    assert not page.get("plotly_chart")  # nothing trained


def test_expensive_config_asks_first(page, monkeypatch):
    from dln_core.embeddings import cost

    monkeypatch.setattr(cost, "CONFIRM_ABOVE_S", 0.0)  # every run now counts as expensive
    page.number_input(key="emb_steps").set_value(120).run()
    assert any("The page is busy until it finishes" in w.value for w in page.warning)
    assert not page.get("plotly_chart")
    page.button(key="emb_confirm").click().run()
    assert not page.exception and len(page.get("plotly_chart")) >= 4


def test_init_scale_slider_is_continuous(page):
    page.slider(key="emb_init_log").set_value(-4.35).run()
    assert not page.exception
    assert any(c.value == "initial scale = 4.47e-05" for c in page.caption)

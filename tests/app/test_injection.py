"""Reflected markdown injection (issue 11): user-supplied text shown by a page (error messages that
quote the input, run and file names, uploaded words, probe words) is escaped, so a markdown image,
link or HTML tag is displayed as text, never rendered. Every text widget and the bound query
parameters get hostile payloads; the real-browser counterpart with a beacon server is in
tests/e2e/test_injection_browser.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.markdown_text import live_markdown, shown

APP = Path(__file__).resolve().parents[2] / "app.py"
HOST = "http://127.0.0.1:9"  # nothing listens there; the browser test uses a real beacon server
PAYLOADS = {
    "image": f"![x]({HOST}/beacon.png)",
    "link": f"[Session expired: sign in again]({HOST}/beacon)",
    "html": f"<img src='{HOST}/beacon.gif'><a href='{HOST}/beacon'>beacon</a>",
}
MARKDOWN_ELEMENTS = ("error", "warning", "info", "success", "caption", "markdown", "toast", "exception")


def _rendered(at: AppTest) -> list[str]:
    """The markdown source of every element that renders markdown."""
    return [str(e.value) for kind in MARKDOWN_ELEMENTS for e in at.get(kind)]


def assert_inert(at: AppTest, payload: str, must_show: bool = True) -> None:
    """No element renders the payload as markdown; if ``must_show``, some element shows it as text."""
    assert not at.exception, [e.value for e in at.exception]
    hits = [v for v in _rendered(at) if "beacon" in shown(v)]
    for v in hits:
        assert not live_markdown(v), f"live markdown in {v!r}"
    if must_show:
        assert any(payload in shown(v) for v in hits), _rendered(at)


def _open(page: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.switch_page(page).run()
    return at


def test_the_escape_helper_keeps_the_text_and_kills_the_syntax():
    from pages._shared import plain

    for payload in [*PAYLOADS.values(), "**bold** _it_ `code` $x$ :red[red] # head\n- item | a | b |"]:
        escaped = plain(payload)
        assert shown(escaped).replace("  \n", "\n") == payload
        assert not live_markdown(escaped)


@pytest.mark.parametrize("kind", list(PAYLOADS))
def test_explorer_singular_values_from_the_url(home, kind):
    at = _open("pages/explorer.py", {"target": "spectrum", "sv": PAYLOADS[kind]})
    assert at.error  # not a list of numbers
    assert_inert(at, PAYLOADS[kind])


@pytest.mark.parametrize("kind", list(PAYLOADS))
def test_explorer_singular_values_typed(home, kind):
    at = _open("pages/explorer.py", {"target": "spectrum"})
    at.text_input(key="sv").set_value(PAYLOADS[kind]).run()
    assert at.error
    assert_inert(at, PAYLOADS[kind])


@pytest.mark.parametrize("param", ["depth", "target", "rot_seed", "width", "init", "log_scale", "lambda_b", "lr",
                                   "steps", "seed", "show_gd", "time_axis"])
def test_explorer_every_bound_query_parameter(home, param):
    """Tampered numeric / choice parameters: Streamlit rejects them; nothing renders the payload."""
    query = {"target": "random", "init": "lambda-balanced", param: PAYLOADS["image"]}
    at = _open("pages/explorer.py", query)
    assert_inert(at, PAYLOADS["image"], must_show=False)


STUDY_TEXT_INPUTS = {  # study -> number of text inputs in its form
    "Plateau length vs init": 2,
    "Learning order": 1,
    "Sharper steps with depth": 1,
    "Step-size limit": 4,
    "Non-whitened inputs": 2,
    "Exact L = 2 solution": 1,
}


@pytest.mark.parametrize("study", list(STUDY_TEXT_INPUTS))
def test_scaling_every_text_input(home, study):
    at = _open("pages/scaling.py")
    at.get("button_group")[0].set_value(study).run()
    for i in range(STUDY_TEXT_INPUTS[study]):
        payload = PAYLOADS[list(PAYLOADS)[i % len(PAYLOADS)]]
        at.text_input[i].set_value(payload)
        at.button[0].click().run()  # the form's submit button
        assert at.error, (study, i)
        assert_inert(at, payload)
        at = _open("pages/scaling.py")
        at.get("button_group")[0].set_value(study).run()


@pytest.fixture
def embeddings(monkeypatch, home) -> AppTest:
    monkeypatch.setenv("DLN_LAB_EMBED_TEST", "1")
    return _open("pages/embeddings.py")


@pytest.mark.parametrize("key", ["emb_qa", "emb_qb", "emb_qc", "emb_nn"])
def test_embeddings_probe_words(embeddings, key):
    at = embeddings
    at.text_input(key=key).set_value(PAYLOADS["link"]).run()
    assert at.warning  # not in the vocabulary
    assert_inert(at, PAYLOADS["link"])


def test_embeddings_uploaded_file_name(embeddings):
    at = embeddings
    at.radio(key="emb_corpus").set_value("upload").run()
    words = " ".join(a + b for a in "bdkmt" for b in "aeiou") + "\n\n"
    name = "![x](beacon.png) <img src=beacon.gif>.txt"  # a file name cannot hold '/', so a relative URL
    at.file_uploader(key="emb_upload").set_value((name, (words * 40).encode(), "text/plain")).run()
    assert_inert(at, name)


def test_runs_page_damaged_entry_and_hostile_names(home):
    from dln_core.config import RunConfig
    from dln_core.engine import run
    from dln_core.store import RunStore

    store = RunStore()
    store.save(run(RunConfig.make(depth=1, init_scale=0.1, lr=0.02, steps=50)), name=PAYLOADS["html"])
    folder = "![x](beacon.png)"  # a planted folder whose name is markdown
    (store.root / folder).mkdir()
    (store.root / folder / "meta.json").write_text("{not json")
    at = _open("pages/runs.py")
    assert at.warning
    assert_inert(at, folder)
    assert PAYLOADS["html"] in set(at.dataframe[0].value["name"])  # names sit in the table, as text

"""The hosted-demo profile: every page's defaults fit its caps, so a visitor sees charts, not errors."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.markdown_text import shown

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGES = ["pages/home.py", "pages/explorer.py", "pages/embeddings.py", "pages/scaling.py", "pages/generalisation.py",
         "pages/runs.py"]


@pytest.mark.parametrize("page", PAGES)
def test_page_defaults_fit_the_hosted_caps(monkeypatch, home, page):
    monkeypatch.setenv("DLN_LAB_PROFILE", "hosted")
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(page).run()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]


def test_hosted_profile_refuses_an_over_cap_request_with_a_message(monkeypatch, home):
    monkeypatch.setenv("DLN_LAB_PROFILE", "hosted")
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/explorer.py").run()
    at.number_input(key="steps").set_value(10_000_000).run()
    assert not at.exception
    assert any("at most 50000" in e.value for e in at.error), [e.value for e in at.error]


def _explorer_save(at: AppTest) -> None:
    at.switch_page("pages/explorer.py").run()
    at.button(key="save_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]


def test_hosted_saved_runs_are_private_to_the_session(monkeypatch, home):
    """Visitor A saves a run; visitor B (another session) neither lists it nor can delete it. A does."""
    monkeypatch.setenv("DLN_LAB_PROFILE", "hosted")
    a = AppTest.from_file(APP, default_timeout=120).run()
    _explorer_save(a)
    a.switch_page("pages/runs.py").run()
    table = a.dataframe[0].value
    saved = list(table.loc[table["source"] == "saved", "run_id"])
    assert len(saved) == 1

    b = AppTest.from_file(APP, default_timeout=120).run()
    b.switch_page("pages/runs.py").run()
    assert not b.exception
    assert any("No runs yet" in i.value for i in b.info)
    from dln_core.store import RunNotFoundError
    from pages import _shared

    b_store = _shared.session_store_for(b.session_state[_shared.OWNER_KEY])
    with pytest.raises(RunNotFoundError):
        b_store.delete(saved[0])
    a.switch_page("pages/runs.py").run()
    assert list(a.dataframe[0].value.query("source == 'saved'")["run_id"]) == saved  # untouched


def test_local_profile_keeps_one_shared_store(monkeypatch, home):
    monkeypatch.delenv("DLN_LAB_PROFILE", raising=False)
    a = AppTest.from_file(APP, default_timeout=120).run()
    _explorer_save(a)
    b = AppTest.from_file(APP, default_timeout=120).run()
    b.switch_page("pages/runs.py").run()
    assert (b.dataframe[0].value["source"] == "saved").sum() == 1


def test_hosted_session_quota_is_an_error_box(monkeypatch, home):
    monkeypatch.setenv("DLN_LAB_PROFILE", "hosted")
    monkeypatch.setenv("DLN_LAB_MAX_SESSION_RUNS", "1")
    at = AppTest.from_file(APP, default_timeout=120).run()
    _explorer_save(at)
    at.button(key="save_run").click().run()
    assert not at.exception
    assert any("at most 1 saved runs" in shown(e.value) for e in at.error), [e.value for e in at.error]


def test_hosted_upload_limit_is_the_servers(monkeypatch, home):
    """The page states the hosted cap, the browser is told the same limit, and a bigger upload is refused
    before its bytes are read (config.toml's server.maxUploadSize is the same number)."""
    monkeypatch.setenv("DLN_LAB_PROFILE", "hosted")
    monkeypatch.setenv("DLN_LAB_EMBED_TEST", "1")
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/embeddings.py").run()
    at.radio(key="emb_corpus").set_value("upload").run()
    uploader = at.get("file_uploader")[0]
    assert uploader.proto.max_upload_size_mb == 5 and "at most 5 MB" in uploader.proto.label
    uploader.set_value(("big.txt", b"word " * 1_300_000, "text/plain")).run()  # 6.5 MB
    assert any("at most 5 MB" in shown(e.value) for e in at.error), [e.value for e in at.error]


def test_hosted_embedding_over_budget_is_refused_up_front_with_the_estimate(monkeypatch, home):
    monkeypatch.setenv("DLN_LAB_PROFILE", "hosted")
    monkeypatch.setenv("DLN_LAB_EMBED_TEST", "1")
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/embeddings.py").run()
    at.number_input(key="emb_vocab").set_value(5000)
    at.number_input(key="emb_dim").set_value(100)
    at.number_input(key="emb_steps").set_value(40).run()
    assert not at.exception
    msgs = [shown(e.value) for e in at.error]
    assert any("estimated at" in m and "allows 15 s per request" in m for m in msgs), msgs

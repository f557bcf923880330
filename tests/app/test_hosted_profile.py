"""The hosted-demo profile: every page's defaults fit its caps, so a visitor sees charts, not errors."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGES = ["pages/home.py", "pages/explorer.py", "pages/embeddings.py", "pages/scaling.py", "pages/runs.py"]


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

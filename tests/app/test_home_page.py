"""AppTest: the entrypoint and the home page."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def test_home_renders_claims_and_links():
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    for claim in ("Big directions first", "Saddles, not traps", "Low-rank updates", "Stairs from small init"):
        assert claim in text
    assert at.title[0].value == "DLN Lab"

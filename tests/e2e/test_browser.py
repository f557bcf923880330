"""Every page in real headless Chromium against a real `streamlit run app.py`.

Each visit waits until the script has finished, then asserts: no exception element, the expected
charts present, and saves a screenshot under test-artifacts/screenshots/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

# (url path, screenshot name, minimum Vega-Lite charts, minimum Plotly charts, a text the page must show);
# the explorer draws its snapshot views in one player (stIFrame, tests/e2e/test_playback.py)
PAGES = [
    ("", "home", 0, 0, "Four claims you can check here"),
    ("explorer", "explorer", 0, 0, "DLN explorer"),
    ("embeddings", "embeddings", 0, 4, "Word embeddings"),
    ("scaling", "scaling", 1, 0, "Theory"),
    ("generalisation", "generalisation", 3, 0, "Generalisation"),
    ("runs", "runs", 0, 0, "Runs"),
]


@pytest.mark.parametrize(("path", "name", "n_vega", "n_plotly", "text"), PAGES, ids=[p[1] for p in PAGES])
def test_page_renders_in_chromium(app, path, name, n_vega, n_plotly, text):
    page = app.page
    app.visit(path)
    expect(page.get_by_text(text).first).to_be_visible(timeout=60_000)
    if n_vega:
        expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible(timeout=60_000)
    if n_plotly:
        expect(page.get_by_test_id("stPlotlyChart").nth(n_plotly - 1)).to_be_visible(timeout=60_000)
    if path == "explorer":
        expect(page.get_by_test_id("stIFrame").first).to_be_visible(timeout=60_000)
    app.screenshot(name)
    assert app.count("stException") == 0, f"{name}: an exception is shown"
    assert app.count("stVegaLiteChart") >= n_vega
    assert app.count("stPlotlyChart") >= n_plotly


def test_navigation_from_home_reaches_explorer(app):
    page = app.page
    app.visit("")
    page.get_by_test_id("stSidebarNav").get_by_text("DLN explorer").click()
    app.wait()
    expect(page).to_have_url(f"{app.url}/explorer", timeout=30_000)
    expect(page.get_by_test_id("stIFrame").first).to_be_visible(timeout=60_000)
    assert app.count("stException") == 0


def test_deep_link_restores_configuration_on_a_fresh_server(fresh_app):
    """A shared link is the first request a new server sees: app.py's layout and the URL config apply."""
    app, page = fresh_app, fresh_app.page
    app.visit("explorer?depth=3&lr=0.02&log_scale=-1.0")
    expect(page.get_by_test_id("stIFrame").first).to_be_visible(timeout=60_000)
    assert app.count("stException") == 0
    # navigation is app.py's (sections and titles), not Streamlit's legacy file list
    nav = page.get_by_test_id("stSidebarNav").inner_text()
    assert "DLN explorer" in nav and "_shared" not in nav and "shared" not in nav.split()
    depth = page.get_by_test_id("stSlider").filter(has_text="depth L").locator("input[type=range]")
    assert depth.input_value() == "3"
    lr = page.get_by_test_id("stNumberInput").filter(has_text="learning rate").locator("input")
    assert float(lr.input_value()) == 0.02
    assert "depth=3" in page.url
    app.screenshot("explorer_deep_link")


def test_save_in_explorer_then_compare_on_the_runs_page(app):
    """A user's loop: train, save, open Runs, see the saved run listed with its overlay controls."""
    page = app.page
    app.visit("explorer")
    page.get_by_role("button", name="Save to runs").click(timeout=180_000)  # a loaded CI machine trains slowly
    app.wait()
    expect(page.get_by_test_id("stToast").filter(has_text="Saved as")).to_be_visible(timeout=30_000)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Runs").click()
    app.wait()
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible(timeout=60_000)
    assert page.get_by_text("No runs yet").count() == 0
    # tick the first row's box (the grid is a canvas: click where the row marker column sits)
    box = page.get_by_test_id("stDataFrame").first.bounding_box()
    page.mouse.click(box["x"] + 15, box["y"] + 35 + 17)
    app.wait()
    expect(page.get_by_test_id("stVegaLiteChart").nth(1)).to_be_visible(timeout=60_000)  # loss + modes
    assert app.count("stException") == 0
    app.screenshot("runs_after_save")


def test_changing_depth_retrains_and_writes_the_url(app):
    """Widget -> URL (AppTest cannot see this): the link then reproduces the new configuration."""
    page = app.page
    app.visit("explorer")
    steps_before = page.get_by_test_id("stMetric").filter(has_text="steps run").inner_text()
    thumb = page.get_by_test_id("stSlider").filter(has_text="depth L").get_by_role("slider")
    thumb.focus()
    page.keyboard.press("ArrowRight")  # depth 2 -> 3
    app.wait()
    expect(page).to_have_url(re.compile(r"depth=3"), timeout=30_000)
    expect(page.get_by_test_id("stMetric").filter(has_text="steps run")).not_to_have_text(steps_before,
                                                                                          timeout=60_000)
    assert app.count("stException") == 0

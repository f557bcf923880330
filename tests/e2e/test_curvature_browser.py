"""The explorer's curvature and hierarchy-geometry panels in real headless Chromium (no exception element)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e


def test_hierarchy_geometry_and_sharpness_panels_render(app):
    page = app.page
    app.visit("explorer?target=hierarchy&lr=0.05&log_scale=-3&steps=2000")
    expect(page.get_by_text("The hierarchy's geometry")).to_be_visible(timeout=120_000)
    expect(page.get_by_text("Hidden-layer representational similarity", exact=False)).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("stVegaLiteChart").nth(2)).to_be_attached(timeout=60_000)  # fit, SVD, RSA
    page.get_by_test_id("stSidebar").get_by_text("Track sharpness").click()
    app.wait()
    expect(page.get_by_text("Cost:", exact=False)).to_be_visible(timeout=180_000)
    chart = page.get_by_test_id("stVegaLiteChart").filter(has_text="Curvature along the path")
    expect(chart.first).to_be_visible(timeout=60_000)
    chart.first.scroll_into_view_if_needed()
    app.screenshot("explorer_curvature_hierarchy")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    chart.first.screenshot(path=str(ARTIFACTS / "explorer_sharpness_chart.png"))
    rsa = page.get_by_test_id("stVegaLiteChart").filter(has_text="theory").last
    rsa.scroll_into_view_if_needed()
    rsa.screenshot(path=str(ARTIFACTS / "explorer_rsa_chart.png"))
    svd = page.get_by_test_id("stVegaLiteChart").filter(has_text="modes × features")
    svd.first.screenshot(path=str(ARTIFACTS / "explorer_svd_chart.png"))
    assert app.count("stException") == 0
    assert app.count("stVegaLiteChart") >= 4
    # the in-browser player carries the RSA and sharpness panels too; scrubbing changes what they show
    frame = next(f for f in page.frames if f.url == "about:srcdoc")
    frame.wait_for_selector("#c_sharp", timeout=60_000)
    frame.wait_for_selector("body[data-drawn]", timeout=30_000)
    end = frame.locator("#c_rsa").screenshot()
    frame.locator("#reset").click()
    page.wait_for_timeout(300)
    assert frame.locator("#c_rsa").screenshot() != end  # step 0: every item alike (blank) vs learned
    frame.locator("#end").click()
    page.get_by_test_id("stIFrame").first.scroll_into_view_if_needed()
    frame.locator("#c_rsa").scroll_into_view_if_needed()
    page.get_by_test_id("stIFrame").first.screenshot(path=str(ARTIFACTS / "explorer_player_rsa_sharpness.png"))


@pytest.fixture
def seeded_server(tmp_path):
    """A server whose run store already holds three saved runs that differ only in seed."""
    from dln_core.config import RunConfig
    from dln_core.engine import run
    from dln_core.store import RunStore
    from tests.e2e.conftest import Server

    store = RunStore(tmp_path)
    for seed in (0, 1, 2):
        cfg = RunConfig.make(depth=2, init_scheme="gaussian", init_scale=1e-3, lr=0.05, steps=600, seed=seed)
        store.save(run(cfg), name=f"seed {seed}")
    server = Server({"DLN_LAB_HOME": str(tmp_path)})
    yield server
    server.stop()


def test_runs_page_seed_bands_render(page, seeded_server):
    from tests.e2e.conftest import Browser

    app = Browser(page, seeded_server.url)
    app.visit("runs")
    grid = page.get_by_test_id("stDataFrame").first
    expect(grid).to_be_visible(timeout=60_000)
    box = grid.bounding_box()
    for k in range(3):  # tick each row's box (the grid is a canvas: rows sit 35 px apart under the header)
        page.mouse.click(box["x"] + 15, box["y"] + 35 + 17 + 35 * k)
        app.wait()
    expect(page.get_by_text("Same configuration, different seeds")).to_be_visible(timeout=60_000)
    band = page.get_by_test_id("stVegaLiteChart").filter(has_text="mode strengths uᵢ")
    expect(band.first).to_be_visible(timeout=60_000)
    band.first.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    band.first.screenshot(path=str(ARTIFACTS / "runs_seed_bands.png"))
    assert app.count("stException") == 0

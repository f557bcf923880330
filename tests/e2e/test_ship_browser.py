"""Shipping checks in real headless Chromium: phones, shared links, figure downloads, references.

- Small screens: at 390 × 844 no page scrolls sideways: neither the document nor Streamlit's main
  scroll container (``stMain``) is wider than the viewport.
- A link to the embeddings or scaling page with query parameters reproduces the view, and changing a
  bound widget writes it back into the URL.
- The SVG download of a 2-D chart is a real SVG file.

Screenshots go to test-artifacts/screenshots/ (conftest).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Browser, wait_for_app_run

pytestmark = pytest.mark.e2e

PAGES = ["", "explorer", "embeddings?embed_test=1", "scaling", "generalisation", "runs"]
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser, app_url):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    yield Browser(context.new_page(), app_url)
    context.close()


def horizontal_overflow(page) -> dict:
    return page.evaluate("""() => {
        const main = document.querySelector('[data-testid="stMain"]');
        return {inner: window.innerWidth, doc: document.documentElement.scrollWidth,
                body: document.body.scrollWidth, main: main ? main.scrollWidth : 0,
                mainClient: main ? main.clientWidth : 0};
    }""")


@pytest.mark.parametrize("path", PAGES, ids=["home", "explorer", "embeddings", "scaling", "generalisation", "runs"])
def test_no_page_scrolls_sideways_on_a_phone(phone, path):
    phone.visit(path)
    page = phone.page
    expect(page.get_by_test_id("stMain")).to_be_visible(timeout=60_000)
    page.wait_for_timeout(1500)  # charts size themselves after the script ends
    assert phone.count("stException") == 0
    m = horizontal_overflow(page)
    phone.screenshot(f"phone_{path.split('?')[0] or 'home'}")
    assert m["doc"] <= m["inner"] and m["body"] <= m["inner"], m
    assert m["main"] <= m["mainClient"] + 1, m  # the scroller Streamlit pages actually use


def test_embeddings_link_reproduces_the_view(app):
    page = app.page
    app.visit("embeddings?emb_corpus=nogpl&emb_vocab=600&emb_dim=8&emb_steps=40&emb_seed=3")
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible(timeout=120_000)
    assert app.count("stException") == 0
    side = page.get_by_test_id("stSidebar")
    assert side.get_by_test_id("stNumberInput").filter(has_text="Vocabulary size").locator("input").input_value() == "600"
    assert side.get_by_test_id("stNumberInput").filter(has_text="GD steps").locator("input").input_value() == "40"
    assert side.get_by_test_id("stNumberInput").filter(has_text="Seed").locator("input").input_value() == "3"
    expect(page.get_by_text("corpus: nogpl").first).to_be_visible()  # the run itself used the link's corpus
    expect(page.get_by_text("40 steps on").first).to_be_visible()
    app.screenshot("embeddings_shared_link")
    # changing a bound widget writes it into the URL, so copying the address shares the new view
    seed = side.get_by_test_id("stNumberInput").filter(has_text="Seed").locator("input")
    seed.fill("4")
    seed.press("Enter")
    app.wait()
    page.wait_for_url(lambda url: "emb_seed=4" in url, timeout=30_000)
    assert "emb_vocab=600" in page.url


def test_scaling_link_reproduces_the_study_and_its_parameters(app):
    page = app.page
    app.visit("scaling?study=Learning+order&lo_depth=3&lo_sv=3%2C1")
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible(timeout=120_000)
    assert app.count("stException") == 0
    depth = page.get_by_test_id("stNumberInput").filter(has_text="depth L").locator("input")
    assert depth.input_value() == "3"
    sv = page.get_by_test_id("stTextInput").filter(has_text="target singular values").locator("input")
    assert sv.input_value() == "3,1"
    # the table under the chart is the computed study: two modes (3, 1) at depth 3
    table = page.get_by_test_id("stDataFrame").first
    expect(table).to_be_visible()
    app.screenshot("scaling_shared_link")
    assert "study=Learning" in page.url


def test_svg_download_of_a_chart_is_an_svg_file(app, tmp_path):
    page = app.page
    app.visit("scaling")
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible(timeout=120_000)
    button = page.get_by_test_id("stDownloadButton").filter(has_text="SVG").first
    with page.expect_download(timeout=60_000) as info:
        button.click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    assert path.name.endswith(".svg") and path.read_bytes().lstrip().startswith(b"<svg")
    with page.expect_download(timeout=60_000) as info:
        page.get_by_test_id("stDownloadButton").filter(has_text="PDF").first.click()
    pdf = tmp_path / info.value.suggested_filename
    info.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF-")


def test_every_page_ends_with_its_references(app):
    page = app.page
    for path in ("", "explorer", "scaling", "runs"):
        app.visit(path)
        refs = page.get_by_test_id("stCaptionContainer").filter(has_text="References").last
        expect(refs).to_be_visible(timeout=60_000)
        assert refs.locator("a[href*='arxiv.org/abs/']").count() >= 1
        wait_for_app_run(page)


def test_runs_page_downloads_a_long_parquet_table_pandas_reads(app, tmp_path):
    """Save in the explorer, select the run on the Runs page, download the tidy Parquet table."""
    import pandas as pd

    page = app.page
    app.visit("explorer")
    page.get_by_role("button", name="Save to runs").click(timeout=180_000)  # a loaded CI machine trains slowly
    app.wait()
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Runs").click()
    app.wait()
    box = page.get_by_test_id("stDataFrame").first.bounding_box()
    page.mouse.click(box["x"] + 15, box["y"] + 35 + 17)  # the first row's selection box (canvas grid)
    app.wait()
    expect(page.get_by_text("History (wide csv)")).to_be_visible(timeout=60_000)
    page.get_by_test_id("stButtonGroup").filter(has_text="parquet").get_by_text("parquet").click()
    app.wait()
    page.get_by_test_id("stButtonGroup").filter(has_text="long").get_by_text("long").click()
    app.wait()
    with page.expect_download(timeout=60_000) as info:
        page.get_by_test_id("stDownloadButton").filter(has_text="History (long parquet)").click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    table = pd.read_parquet(path)
    assert list(table.columns) == ["run_id", "step", "t", "metric", "index", "value"]
    assert {"loss", "mode", "theory"} <= set(table["metric"])
    app.screenshot("runs_tidy_export")


def test_embeddings_2d_chart_downloads_as_svg(app, tmp_path):
    """A 2-D Plotly chart of the embeddings page as SVG (kaleido + the local Chromium)."""
    page = app.page
    app.visit("embeddings?embed_test=1")
    expect(page.get_by_test_id("stPlotlyChart").nth(2)).to_be_visible(timeout=120_000)
    with page.expect_download(timeout=120_000) as info:
        page.get_by_test_id("stDownloadButton").filter(has_text="SVG").first.click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    assert path.name.startswith("embeddings_") and path.read_bytes().lstrip().startswith(b"<svg")

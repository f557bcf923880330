"""The Generalisation page in real headless Chromium against a real `streamlit run app.py`.

It opens the page, waits for the script to finish, and checks: no exception element, the six Vega-Lite
charts drawn (each with its canvas or SVG), the metrics, and that a changed widget (raw inputs) reruns
into the simulation-only note. Screenshots go to test-artifacts/screenshots/ (conftest).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

N_CHARTS = 6


def test_generalisation_page_draws_its_charts(app):
    page = app.page
    app.visit("generalisation")
    expect(page.get_by_text("Generalisation & early stopping").first).to_be_visible(timeout=60_000)
    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts.nth(N_CHARTS - 1)).to_be_visible(timeout=120_000)
    assert charts.count() == N_CHARTS
    app.screenshot("generalisation_top")  # the metrics and the loss chart
    for i in range(N_CHARTS):  # drawn, not just an empty container
        charts.nth(i).scroll_into_view_if_needed()
        expect(charts.nth(i).locator("canvas, svg").first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("best step (exact theory)").first).to_be_visible()
    expect(page.get_by_text("Theory: exact given the sample").first).to_be_visible()
    app.screenshot("generalisation_bottom")  # scrolled to the last chart: the RMT gap vs dimension
    assert app.count("stException") == 0


def test_raw_inputs_rerun_into_the_simulation_only_note(app):
    page = app.page
    app.visit("generalisation?g_inputs=gaussian&g_samples=60")
    expect(page.get_by_text("simulation only").first).to_be_visible(timeout=120_000)
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible(timeout=120_000)
    app.screenshot("generalisation_raw_inputs")
    assert app.count("stException") == 0

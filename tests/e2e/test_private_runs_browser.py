"""Private runs on the hosted profile in real Chromium (issue 11): two browser contexts are two
visitors. A saves a run and sees it on the Runs page; B's Runs page does not list it, B has nothing
to delete, and A's run is still on disk after B's visit."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Browser

pytestmark = pytest.mark.e2e


def test_visitor_b_neither_sees_nor_deletes_visitor_a_s_run(browser, hosted_server):
    ctx_a = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx_b = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        a = Browser(ctx_a.new_page(), hosted_server.url)
        a.visit("explorer")
        expect(a.page.get_by_test_id("stIFrame").first).to_be_visible(timeout=60_000)
        a.page.get_by_role("button", name="Save to runs").click(timeout=60_000)
        a.wait()
        expect(a.page.get_by_test_id("stToast").filter(has_text="Saved as")).to_be_visible(timeout=30_000)
        a.page.get_by_test_id("stSidebarNav").get_by_role("link", name="Runs").click()
        a.wait()
        expect(a.page.get_by_test_id("stDataFrame").first).to_be_visible(timeout=60_000)
        expect(a.page.get_by_text("private to this browser session")).to_be_visible()
        assert a.page.get_by_text("No runs yet").count() == 0
        a.screenshot("private_runs_visitor_a")
        stored = list(Path(hosted_server.home, "sessions").glob("*/runs/2*"))
        assert len(stored) == 1  # A's run, in A's private folder

        b = Browser(ctx_b.new_page(), hosted_server.url)
        b.visit("runs")
        expect(b.page.get_by_text("No runs yet")).to_be_visible(timeout=60_000)
        assert b.count("stDataFrame") == 0
        assert b.page.get_by_role("button", name="Delete").count() == 0  # nothing B could delete
        assert b.count("stException") == 0
        b.screenshot("private_runs_visitor_b")
        assert stored[0].is_dir()  # B's visit changed nothing

        a.page.get_by_test_id("stSidebarNav").get_by_role("link", name="DLN explorer").click()
        a.wait()
        a.page.get_by_test_id("stSidebarNav").get_by_role("link", name="Runs").click()
        a.wait()  # A, still in its session, still sees its run
        expect(a.page.get_by_test_id("stDataFrame").first).to_be_visible(timeout=60_000)
        assert a.page.get_by_text("No runs yet").count() == 0
    finally:
        ctx_a.close()
        ctx_b.close()

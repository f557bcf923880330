"""Playback in real headless Chromium: Play, pause and scrubbing stay in the browser.

The explorer embeds one player (st.iframe) holding every snapshot of the run. These tests press its
controls and watch two things at once: the app's script state (``data-test-script-state`` on stApp,
which is "running" whenever Streamlit reruns the page) and the pixels of the player's panels.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

PANELS = ("c_loss", "c_modes", "c_align", "c_land", "c_spec", "c_drift", "c_rank")


def _player(app, query: str = "explorer?steps=2000"):
    app.visit(query)
    app.page.get_by_test_id("stIFrame").wait_for(state="visible", timeout=60_000)
    frame = next(f for f in app.page.frames if f.url == "about:srcdoc")
    frame.wait_for_selector("body[data-drawn]", timeout=30_000)
    return frame


def _script_state(page) -> str:
    return page.get_by_test_id("stApp").get_attribute("data-test-script-state") or ""


def _shots(frame) -> dict[str, bytes]:
    return {name: frame.locator(f"#{name}").screenshot() for name in PANELS}


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"  # as conftest.screenshot


def _element_shot(app, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    app.page.get_by_test_id("stIFrame").screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_play_animates_without_a_rerun(app):
    page = app.page
    frame = _player(app)
    assert _script_state(page) == "notRunning"
    frame.select_option("#speed", "0.5")  # a full replay takes 16 s: screenshots are slow on a busy machine
    frame.click("#play")
    states, shots, positions = set(), [], []
    for k in range(30):  # 3 s, sampled every 100 ms
        states.add(_script_state(page))
        if k % 10 == 5:
            shots.append(frame.locator("#c_loss").screenshot())
            positions.append(float(frame.evaluate("document.body.dataset.pos")))
        page.wait_for_timeout(100)
    assert states == {"notRunning"}, f"the app reran during playback: {states}"
    assert positions == sorted(positions) and len(set(positions)) == 3, positions
    assert len(set(shots)) == 3, "the loss panel did not change between frames"
    assert frame.evaluate("document.body.dataset.playing") == "1"
    _element_shot(app, "playback_playing")  # the player only: a full-page shot resizes the viewport
    assert float(frame.evaluate("document.body.dataset.pos")) < frame.evaluate("window.dlnPlayer.S - 1")
    frame.click("#play")  # pause: the frame stays where it is
    assert frame.evaluate("document.body.dataset.playing") == "0"
    paused = frame.evaluate("document.body.dataset.pos")
    page.wait_for_timeout(600)
    assert frame.evaluate("document.body.dataset.pos") == paused
    frame.click("#reset")
    assert float(frame.evaluate("document.body.dataset.pos")) == 0.0
    assert app.count("stException") == 0


def test_scrubbing_updates_every_panel_without_a_rerun(app):
    page = app.page
    frame = _player(app)
    before = _shots(frame)
    states = set()
    scrub = frame.locator("#scrub")
    for value in ("20", "60", "110"):  # a drag is a run of input events
        scrub.evaluate("(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }", value)
        states.add(_script_state(page))
        page.wait_for_timeout(100)
    for _ in range(10):
        states.add(_script_state(page))
        page.wait_for_timeout(100)
    assert states == {"notRunning"}, f"scrubbing reran the app: {states}"
    assert float(frame.evaluate("document.body.dataset.pos")) == 110.0
    after = _shots(frame)
    unchanged = [name for name in PANELS if before[name] == after[name]]
    assert not unchanged, f"panels that did not follow the scrub bar: {unchanged}"
    assert "step k = " in frame.locator("#now").inner_text()
    _element_shot(app, "playback_scrubbed")


def test_pages_fetch_nothing_from_outside(app):
    """Offline: the favicon, fonts, player and charts all come from the app's own server."""
    outside = []
    app.page.on("request", lambda r: outside.append(r.url) if r.url.startswith(("http:", "https:"))
                and not r.url.startswith(app.url) else None)
    _player(app)
    app.visit("")
    assert outside == [], outside
    icon = app.page.locator("link[rel*='icon']").first.get_attribute("href")
    assert (icon and not icon.startswith("http")) or icon.startswith(app.url), icon

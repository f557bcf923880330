"""Reflected markdown injection in real Chromium (issue 11): hostile payloads pointing at a beacon
HTTP server on 127.0.0.1, in the URL and typed into text widgets. The payload is shown as text and
the browser never requests the beacon. A control page proves the beacon would see a request."""

from __future__ import annotations

import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


class Beacon:
    """A tiny HTTP server on a free loopback port that records every path requested."""

    def __init__(self) -> None:
        hits = self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                self.end_headers()
                self.wfile.write(b"GIF89a")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def beacon():
    b = Beacon()
    yield b
    b.stop()


def payloads(url: str) -> list[str]:
    return [
        f"![x]({url}/beacon-image.png)",
        f"[Session expired: sign in again]({url}/beacon-link)",
        f"<img src='{url}/beacon-html.gif'>",
    ]


def assert_no_live_elements(page, beacon) -> None:
    """No <img>/<a>/<iframe> points at the beacon and the beacon saw no request."""
    page.wait_for_timeout(1500)  # time for any image fetch to arrive
    live = page.evaluate(
        """(url) => [...document.querySelectorAll('img, a, iframe, source, link')]
             .map(e => e.src || e.href || '').filter(s => s.startsWith(url))""",
        beacon.url,
    )
    assert live == [], live
    assert beacon.hits == [], beacon.hits


def test_the_beacon_detects_a_fetch(page, beacon):
    """Control: a page that does render the image makes the browser hit the beacon."""
    page.set_content(f"<img src='{beacon.url}/control.gif'>")
    page.wait_for_timeout(1000)
    assert beacon.hits == ["/control.gif"]


def test_payloads_in_the_url_render_as_text(app, beacon):
    page = app.page
    for i, payload in enumerate(payloads(beacon.url)):
        app.visit("explorer?target=spectrum&sv=" + urllib.parse.quote(payload))
        alert = page.get_by_test_id("stAlert").filter(has_text="singular")
        expect(alert.first).to_be_visible(timeout=60_000)
        assert payload in alert.first.inner_text().replace("\u200b", "")  # shown literally
        assert app.count("stException") == 0
        if i == 0:
            app.screenshot("injection_url_payload")
    assert_no_live_elements(page, beacon)


def test_payloads_typed_into_widgets_render_as_text(app, beacon):
    page = app.page
    app.visit("explorer?target=spectrum")
    box = page.get_by_test_id("stTextInput").filter(has_text="singular values").locator("input")
    for payload in payloads(beacon.url):
        box.fill(payload)
        box.press("Enter")
        app.wait()
        expect(page.get_by_test_id("stAlert").filter(has_text="beacon").first).to_be_visible(timeout=60_000)
    assert_no_live_elements(page, beacon)

    app.visit("scaling")
    depths = page.get_by_test_id("stTextInput").filter(has_text="singular values").locator("input")
    depths.fill(payloads(beacon.url)[1])
    page.get_by_role("button", name="Run sweep").click()
    app.wait()
    alert = page.get_by_test_id("stAlert").filter(has_text="beacon")
    expect(alert.first).to_be_visible(timeout=60_000)
    assert "[Session expired: sign in again]" in alert.first.inner_text()
    assert alert.first.locator("a").count() == 0  # not a live link
    app.screenshot("injection_scaling_link_payload")
    assert_no_live_elements(page, beacon)

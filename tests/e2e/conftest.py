"""Real-browser fixtures: one `streamlit run app.py` server per session, Debian Chromium via Playwright.

The server listens on a free loopback port and is stopped by its own process id at the end.
Screenshots go to ``test-artifacts/screenshots/`` (created on demand).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# As root, with no network: no sandbox, no background connections the closed network would refuse.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`streamlit run app.py` on a free loopback port with its own DLN_LAB_HOME (and ``env`` on top of
    this process's environment, e.g. the hosted profile); stopped by its pid."""

    def __init__(self, env: dict | None = None) -> None:
        port = _free_port()
        self.home = tempfile.mkdtemp(prefix="dln_lab_e2e_")
        self.log = open(Path(self.home) / "streamlit.log", "w")
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", "app.py",
                "--server.headless=true", f"--server.port={port}", "--server.address=127.0.0.1",
                "--browser.gatherUsageStats=false", "--server.fileWatcherType=none",
                "--global.developmentMode=false",
            ],
            cwd=ROOT, env={**os.environ, "DLN_LAB_HOME": self.home, **(env or {})},
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError(f"streamlit did not start; see {self.log.name}")
            time.sleep(0.3)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture(scope="session")
def app_url():
    server = Server()
    yield server.url
    server.stop()


@pytest.fixture
def fresh_app_url():
    """A server whose very first request comes from the test (deep links on a fresh start)."""
    server = Server()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def hosted_server():
    """A server with the hosted profile (private runs, budget, small caps), one per test module."""
    server = Server({"DLN_LAB_PROFILE": "hosted"})
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium (see README)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    p = context.new_page()
    yield p
    context.close()


def wait_for_app_run(page, timeout_ms: int = 120_000) -> None:
    """Wait until the websocket is connected and the script has finished running."""
    page.locator("[data-testid='stApp'][data-test-connection-state='CONNECTED']").wait_for(
        state="attached", timeout=timeout_ms
    )
    # The script state goes initial -> running -> notRunning; give it a moment to leave 'initial'.
    page.wait_for_timeout(500)
    page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(
        state="attached", timeout=timeout_ms
    )
    page.wait_for_timeout(500)


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


class Browser:
    """What a test needs: open a page of the app and wait for it, take a screenshot."""

    def __init__(self, page, url: str) -> None:
        self.page = page
        self.url = url

    def visit(self, path: str = "") -> None:
        self.page.goto(f"{self.url}/{path}")
        wait_for_app_run(self.page)

    def wait(self) -> None:
        wait_for_app_run(self.page)

    def screenshot(self, name: str) -> Path:
        return screenshot(self.page, name)

    def count(self, test_id: str) -> int:
        return self.page.get_by_test_id(test_id).count()


@pytest.fixture
def app(page, app_url) -> Browser:
    return Browser(page, app_url)


@pytest.fixture
def fresh_app(page, fresh_app_url) -> Browser:
    return Browser(page, fresh_app_url)

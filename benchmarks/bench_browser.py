"""Page speed in a real browser: first chart on a fresh server, a cached rerun, playback frames/s.

Starts its own `streamlit run app.py` on a free loopback port (stopped by its pid at the end) and
drives Debian's headless Chromium with Playwright. Printed side by side in one run:

- ``first chart, fresh server (after warm-up)``: a just-started server whose start-up warm-up
  (pages/_startup.py: app.py's ``st.App`` lifespan runs the explorer's default view once, without a
  browser) has finished, and no visitor yet; from the first request to the explorer's player having
  drawn (its body gets ``data-drawn``); target < 3 s.
- ``first chart, fresh server, visitor at once``: the same, requested the moment the health endpoint
  answers, so the warm-up is still running (the visitor waits on its cache entries).
- ``first chart, new session``: the same from a new browser context on the now warm server.
- ``cached rerun``: a rerun of the same configuration (Streamlit's "R" shortcut) until the script is
  idle again and the player is on screen; target < 0.5 s.
- ``playback``: frames/s and ms per frame while the player runs (requestAnimationFrame; ≥ 20 target)
  for the default run and for depth 8.
- ``embeddings first figure``: the embeddings page's first Plotly chart on the warm server.
- ``server start-up warm-up``: launch of the second server to its "warm-up done" line on stderr.
- ``reference: bare Streamlit page``: the same first-element measurement on a one-line Streamlit app
  (a title and an iframe) served next to ours, so the framework's own share (loading its front end,
  the websocket, the first script run) can be read off on this machine, under its current load.

Measured 2026-12-02 on the shared 2-core machine (load average 2-7 from other jobs). Four runs of
this benchmark, each followed at once by the same benchmark on commit 63cd239 ("before": no start-up
warm-up, first request at once, as then); single samples, so the ratios are the numbers to read:

    measurement                         before (4 runs)              after (4 runs)
    first chart, fresh server           4.93 / 6.39 / 5.07 / 5.68 s  3.62 / 4.16 / 3.01 / 3.70 s
      ratio to the bare page            3.10 / 4.96 / 3.31 / 3.60 ×  2.09 / 2.75 / 2.16 / 2.21 ×
    first chart, fresh, visitor at once  -                           3.42 / 4.77 / 4.89 / 4.95 s
    first chart, new session            3.62 / 3.48 / 3.10 / 4.38 s  3.14 / 3.68 / 3.73 / 4.89 s
    cached rerun (median of 10)         0.42 / 0.62 / 0.44 / 0.56 s  0.43 / 0.49 / 0.43 / 0.47 s
    start-up warm-up, launch to done     -                           3.05 / 6.02 / 3.09 / 2.88 s

Interleaved A/B with this module's start_server / wait_warm / first_chart (4 rounds of: a fresh
63cd239 server idle 3 s, a fresh server of this version after its warm-up, a bare page), medians:
first chart on a fresh server 4.97 s before, 2.98 s after (bare page 1.30 s); then a new session on
the same server 3.35 s before, 2.81 s after.

The same day, after the helpers had stopped (load ~1; also with the block recorder and the serial
fused kernel merged): first chart on a fresh server after the warm-up 2.31 s, visitor at once 3.30 s,
new session 2.63 s, cached rerun 0.37 s (median of 10), playback 60 frames/s (1.2 ms a frame; depth 8
2.0 ms), warm-up 2.31 s, bare page 1.14 s fresh / 1.02 s new session.

The server-side share of a fresh start (imports ~1.6 s idle, the default run ~1 s, and the legacy
``pages/`` double run of a deep link, see pages/_shared.ensure_entrypoint) is now paid before the
first visitor; what is left is in the browser: a warm server's script run takes ~0.15 s, but the
front end loads ~150 lazy chunks (~3 MB: the data grid, Arrow, Vega) for the elements below the
player while the player draws. Stopping the page right after the player draws it ~1 s sooner.

    python benchmarks/bench_browser.py [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic"]


BARE_APP = 'import streamlit as st\nst.title("bare")\nst.iframe("<body data-drawn=1>ok</body>", height=80)\n'


WARM_LINE = "DLN Lab: warm-up"  # printed by pages/_startup.py when the server-start warm-up ends (or is skipped)


def start_server(script: Path | None = None) -> tuple[subprocess.Popen, str, float]:
    """``streamlit run`` on a free loopback port: this repository's app.py, or ``script``. The server's
    stderr goes to a file (``proc.log``) so :func:`wait_warm` can see the warm-up end."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = tempfile.mkdtemp(prefix="dln_bench_")
    log = Path(home) / "server.log"
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script or "app.py"), "--server.headless=true", f"--server.port={port}",
         "--server.address=127.0.0.1", "--browser.gatherUsageStats=false", "--server.fileWatcherType=none",
         "--global.developmentMode=false"],
        cwd=ROOT, env={**os.environ, "DLN_LAB_HOME": home}, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    proc.log = log
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=1):
                return proc, url, time.perf_counter() - t0
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("streamlit did not start") from None
            time.sleep(0.1)


def wait_warm(proc: subprocess.Popen, timeout: float = 120.0) -> float:
    """Seconds waited until the server printed the end of its start-up warm-up."""
    t0 = time.perf_counter()
    while WARM_LINE not in proc.log.read_text():
        if time.perf_counter() - t0 > timeout or proc.poll() is not None:
            raise RuntimeError("no warm-up line from the server")
        time.sleep(0.1)
    return time.perf_counter() - t0


def idle(page, timeout=120_000) -> None:
    page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(
        state="attached", timeout=timeout)


def player(page, timeout=120_000):
    page.get_by_test_id("stIFrame").wait_for(state="visible", timeout=timeout)
    for _ in range(600):
        frames = [f for f in page.frames if f.url == "about:srcdoc"]
        if frames:
            frames[0].wait_for_selector("body[data-drawn]", timeout=timeout)
            return frames[0]
        page.wait_for_timeout(20)
    raise RuntimeError("no player frame")


def first_chart(browser, url: str, path: str = "/explorer") -> float:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    t0 = time.perf_counter()
    page.goto(url + path)
    player(page)
    dt = time.perf_counter() - t0
    ctx.close()
    return dt


OBSERVE = """() => { window.__states = []; const app = document.querySelector("[data-testid='stApp']");
  new MutationObserver(() => window.__states.push([app.getAttribute("data-test-script-state"), performance.now()]))
    .observe(app, {attributes: true, attributeFilter: ["data-test-script-state"]}); }"""


def _rerun_seconds(page, click) -> float:
    """Seconds from a click to the script being idle again (state changes recorded in the page)."""
    page.evaluate("window.__states = []")
    t0 = page.evaluate("performance.now()")
    click()
    page.wait_for_function("window.__states.some(s => s[0] === 'running') && "
                           "window.__states[window.__states.length - 1][0] === 'notRunning'", timeout=120_000)
    return (page.evaluate("window.__states[window.__states.length - 1][1]") - t0) / 1000


def cached_rerun(browser, url: str, repeats: int = 5) -> float:
    """Median seconds of a rerun whose run and player are both cached: the time axis radio goes to
    't' (cached after the first time) and back to 'step'."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.goto(url + "/explorer")
    player(page)
    idle(page)
    page.evaluate(OBSERVE)
    radio = page.get_by_test_id("stRadio").filter(has_text="time axis")
    times = []
    for k in range(repeats + 1):
        for option in ("t", "step"):
            dt = _rerun_seconds(page, lambda o=option: radio.get_by_text(o, exact=True).click())
            if k:  # the first round builds the 't' player: not a cached rerun
                times.append(dt)
    ctx.close()
    return sorted(times)[len(times) // 2]


def playback(browser, url: str, query: str) -> tuple[float, float]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.goto(url + "/explorer" + query)
    frame = player(page)
    idle(page)
    frame.click("#reset")
    frame.click("#play")
    page.wait_for_timeout(3000)
    fps = float(frame.evaluate("document.body.dataset.fps || 0"))
    ms = float(frame.evaluate("document.body.dataset.drawms || 0"))
    ctx.close()
    return fps, ms


def bare_first(browser) -> tuple[float, float]:
    """(fresh server, new session) seconds to the bare reference app's iframe being drawn."""
    script = Path(tempfile.mkdtemp(prefix="dln_bare_")) / "bare.py"
    script.write_text(BARE_APP)
    proc, url, _ = start_server(script)
    try:
        return first_chart(browser, url, ""), first_chart(browser, url, "")
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def embeddings_first(browser, url: str) -> float:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    t0 = time.perf_counter()
    page.goto(url + "/embeddings")
    page.get_by_test_id("stPlotlyChart").first.wait_for(state="visible", timeout=300_000)
    dt = time.perf_counter() - t0
    ctx.close()
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chromium", default=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    proc, url, boot = start_server()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, headless=True, args=ARGS)
            rows = [("server start (health endpoint up)", boot, "s", "")]
            at_once = first_chart(browser, url)  # arrives while the start-up warm-up still runs
            rows.append(("first chart, fresh server, visitor at once", at_once, "s", ""))
            wait_warm(proc)
            new_session = first_chart(browser, url)
            rows.append(("first chart, new session", new_session, "s", "< 3"))
            rows.append(("cached rerun (median of 10)", cached_rerun(browser, url), "s", "< 0.5"))
            for name, query in (("default run", ""), ("depth 8", "?depth=8&log_scale=-0.35")):
                fps, ms = playback(browser, url, query)
                rows.append((f"playback {name}", fps, "frames/s", "≥ 20"))
                rows.append((f"playback {name}: draw time", ms, "ms/frame", ""))
            rows.append(("embeddings first figure (warm server)", embeddings_first(browser, url), "s", ""))
            stop(proc)
            proc, url, boot = start_server()  # a second fresh server: the first visitor after the warm-up
            warmed = boot + wait_warm(proc)
            rows.append(("server start-up warm-up (launch to done)", warmed, "s", ""))
            fresh_chart = first_chart(browser, url)
            rows.insert(1, ("first chart, fresh server (after warm-up)", fresh_chart, "s", "< 3"))
            stop(proc)
            fresh, session = bare_first(browser)
            rows.append(("reference: bare Streamlit page, fresh server", fresh, "s", ""))
            rows.append(("reference: bare Streamlit page, new session", session, "s", ""))
            rows.append(("ratio: our first chart / bare page (fresh server)", fresh_chart / fresh, "×", ""))
            rows.append(("ratio: visitor at once / bare page (fresh server)", at_once / fresh, "×", ""))
            rows.append(("ratio: our first chart / bare page (new session)", new_session / session, "×", ""))
            browser.close()
    finally:
        stop(proc)
    print(f"{'measurement':44s} {'value':>9s}  unit      target")
    for name, value, unit, target in rows:
        print(f"{name:44s} {value:9.2f}  {unit:9s} {target}")


if __name__ == "__main__":
    main()

"""The three ways to animate the explorer in the browser, measured side by side in headless Chromium.

For the same run (the article's L = 2 "Small" preset, every snapshot) each option is driven as fast as
it can redraw, and the frames per second are printed:

1. ``vega-lite param``: one Streamlit Vega-Lite chart (the loss curve) whose ``now`` parameter is bound
   to a range input and filters ``step <= now``; the input is moved by script, one step per animation
   frame, and only the frames in which Vega has repainted count (a scratch app, started here);
2. ``plotly frames``: the 3-D two-mode surface with the path so far, one Plotly frame per snapshot,
   played by ``Plotly.animate`` with zero duration (plotly.min.js from the installed plotly package,
   loaded from disk: no network);
3. ``canvas player``: dln_core.charts.playback, all seven panels at once.

    python benchmarks/bench_playback.py
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic"]

VEGA_APP = '''
import json, sys
import streamlit as st
data = json.load(open(sys.argv[1]))
spec = {"params": [{"name": "now", "value": 0, "bind": {"input": "range", "min": 0, "max": len(data) - 1, "step": 1}}],
        "data": {"values": data}, "transform": [{"filter": "datum.i <= now"}],
        "mark": "line", "encoding": {"x": {"field": "step", "type": "quantitative", "scale": {"type": "log"}},
        "y": {"field": "loss", "type": "quantitative"}}, "width": 600, "height": 300}
st.vega_lite_chart(spec)
'''


def _run():
    from dln_core import config, engine, landscape

    result = engine.run(config.preset(2, "Small"))
    return result, landscape.two_mode_view(result, n=31)


def canvas_fps(page, result, view, tmp: Path) -> float:
    from dln_core.charts import playback

    path = tmp / "player.html"
    path.write_text(playback.player_html(playback.playback_payload(result, view)), encoding="utf-8")
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-drawn]")
    page.click("#reset")
    page.select_option("#speed", "0.5")
    page.click("#play")
    page.wait_for_timeout(3000)
    return float(page.evaluate("document.body.dataset.fps || 0"))


def plotly_fps(page, view, tmp: Path) -> float:
    import numpy as np
    import plotly

    js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    z = np.minimum(view.loss, 1.2).round(4).tolist()
    path = view.path
    fig = {"data": [{"type": "surface", "x": view.w1.tolist(), "y": view.w2.tolist(), "z": z, "showscale": False},
                    {"type": "scatter3d", "mode": "lines", "x": [], "y": [], "z": []}],
           "frames": [{"name": str(k), "data": [{}, {"type": "scatter3d", "x": path["w1"][:k + 1].tolist(),
                                                   "y": path["w2"][:k + 1].tolist(),
                                                   "z": np.minimum(path["loss"][:k + 1], 1.2).tolist()}]}
                      for k in range(len(path))]}
    html = tmp / "plotly.html"
    html.write_text(f"""<html><body><div id="g" style="width:900px;height:600px"></div>
<script src="{js.as_uri()}"></script><script>
const F = {json.dumps(fig)};
window.done = 0;
Plotly.newPlot("g", F.data, {{}}).then(() => Plotly.addFrames("g", F.frames)).then(() => {{
  const t0 = performance.now();
  document.getElementById("g").on("plotly_animatingframe", () => window.done++);
  Plotly.animate("g", null, {{frame: {{duration: 0, redraw: true}}, transition: {{duration: 0}}, mode: "immediate"}})
    .then(() => {{ window.elapsed = performance.now() - t0; }});
}});
</script></body></html>""", encoding="utf-8")
    page.goto(html.as_uri())
    page.wait_for_function("window.elapsed !== undefined", timeout=300_000)
    return page.evaluate("window.done / (window.elapsed / 1000)")


def vega_fps(browser, result, tmp: Path) -> float:
    h = result.history
    data = [{"i": i, "step": int(s) or 1, "loss": float(v)} for i, (s, v) in enumerate(zip(h["step"], h["loss"]))]
    (tmp / "data.json").write_text(json.dumps(data))
    (tmp / "vega_app.py").write_text(VEGA_APP)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(tmp / "vega_app.py"), "--server.headless=true",
                             f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false",
                             "--server.fileWatcherType=none", "--", str(tmp / "data.json")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        ctx = browser.new_context(viewport={"width": 1200, "height": 900})
        page = ctx.new_page()
        page.goto(url)
        page.locator("input[type=range]").first.wait_for(state="attached", timeout=120_000)
        page.wait_for_timeout(1000)
        fps = page.evaluate("""async (n) => {
          const el = document.querySelector("input[type=range]");
          const canvas = () => document.querySelector("[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg");
          const frame = () => new Promise(r => requestAnimationFrame(r));
          let painted = 0, last = null;
          const t0 = performance.now();
          for (let i = 0; i < n; i++) {
            el.value = String(i); el.dispatchEvent(new Event("input", {bubbles: true}));
            await frame();
            const c = canvas(); const sig = c && (c.toDataURL ? c.toDataURL().length : c.innerHTML.length);
            if (sig !== last) { painted++; last = sig; }
          }
          return painted / ((performance.now() - t0) / 1000);
        }""", len(data) - 1)
        ctx.close()
        return fps
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def main() -> None:
    from playwright.sync_api import sync_playwright

    result, view = _run()
    tmp = Path(tempfile.mkdtemp(prefix="dln_bench_play_"))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
                                     headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        rows = [("canvas player (7 panels)", canvas_fps(page, result, view, tmp)),
                ("plotly frames (3-D surface + path)", plotly_fps(page, view, tmp)),
                ("vega-lite param + slider (loss only)", vega_fps(browser, result, tmp))]
        browser.close()
    print(f"{'option':40s} frames/s   (target ≥ 20; snapshots: {len(result.history)})")
    for name, fps in rows:
        print(f"{name:40s} {fps:8.1f}")


if __name__ == "__main__":
    main()

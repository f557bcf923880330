"""The hosted cost of the heaviest requests the hosted profile still allows, measured on a real server.

    python benchmarks/hosted_cost.py

Starts `streamlit run app.py` with the hosted profile (one BLAS thread, as in the Dockerfile), opens
each URL in headless Chromium, waits until the page has finished, and prints the server process's
CPU seconds for that request (/proc/<pid>/stat), next to the budget's estimate of its computation.
The URLs are the largest the caps and the 15 s budget let through (found by bisection on the estimate).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dln_core import budget  # noqa: E402
from dln_core.config import RunConfig  # noqa: E402
from dln_core.limits import HOSTED  # noqa: E402
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, Server, wait_for_app_run  # noqa: E402
from tests.e2e.test_disconnect_browser import cpu_seconds  # noqa: E402


def heaviest_steps(n_modes: int) -> tuple[str, int, float]:
    sv = ",".join(f"{1 + i / 16:g}" for i in range(n_modes))

    def cost(steps: int) -> float:
        cfg = RunConfig.make(target_kind="spectrum", singular_values=sv, depth=8, width=64, init_scheme="gaussian",
                             init_scale=0.1, lr=0.001, steps=steps)
        return budget.batch_seconds([cfg], steps)

    lo, hi = 1, HOSTED.max_steps
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if cost(mid) <= HOSTED.max_cpu_seconds else (lo, mid)
    return sv, lo, cost(lo)


def main() -> None:
    from playwright.sync_api import sync_playwright

    cases = []
    for n in (64, 8):
        sv, steps, est = heaviest_steps(n)
        url = (f"explorer?target=spectrum&sv={sv}&depth=8&width=64&init=gaussian&log_scale=-1&lr=0.001"
               f"&steps={steps}")
        cases.append((f"explorer depth 8, width 64, {n} modes, {steps} steps", url, est))
    server = Server({"DLN_LAB_PROFILE": "hosted", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(server.url + "/explorer")  # warm-up: imports and first-call costs
            wait_for_app_run(page, 300_000)
            for label, url, est in cases:
                c0, t0 = cpu_seconds(server.proc.pid), time.monotonic()
                page.goto(f"{server.url}/{url}")
                wait_for_app_run(page, 600_000)
                errors = page.get_by_test_id("stAlert").all_inner_texts()
                print(f"{label}: server CPU {cpu_seconds(server.proc.pid) - c0:.1f} s, wall "
                      f"{time.monotonic() - t0:.1f} s, budget estimate {est:.1f} s; alerts: {errors or 'none'}")
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()

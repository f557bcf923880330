"""Render time of the DLN explorer page with its default configuration, measured with AppTest.

Prints the cold render (empty st.cache_data: trains the default run) and the cached rerun (same
config: unpickles the cached result and rebuilds the charts). Targets: cold < 2 s, cached < 0.3 s.

    python benchmarks/bench_pages.py [--repeat 5]

Each measurement is a full AppTest script run of the explorer page (the navigation run of app.py is
done once beforehand and not counted). Caches are cleared before the cold run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _timed(at: AppTest, page: str | None = None) -> float:
    start = time.perf_counter()
    if page is not None:
        at.switch_page(page)
    at.run()
    elapsed = time.perf_counter() - start
    if at.exception:
        raise RuntimeError(at.exception[0].value)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="cached reruns to time (median printed)")
    args = parser.parse_args(argv)

    import os

    os.environ.setdefault("DLN_LAB_HOME", tempfile.mkdtemp(prefix="dln_bench_"))
    st.cache_data.clear()
    at = AppTest.from_file(ROOT / "app.py", default_timeout=120)
    at.run()  # home page: navigation only
    cold = _timed(at, "pages/explorer.py")
    cached = [_timed(at) for _ in range(args.repeat)]
    train_s = at.metric[3].value if len(at.metric) > 3 else "?"
    print(f"explorer default config: cold render {cold:.3f} s (engine wall time {train_s})")
    print(f"explorer default config: cached rerun median {statistics.median(cached):.3f} s "
          f"(min {min(cached):.3f}, max {max(cached):.3f}, n={len(cached)})")
    print(f"targets: cold < 2 s -> {'OK' if cold < 2 else 'MISSED'}; "
          f"cached < 0.3 s -> {'OK' if statistics.median(cached) < 0.3 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

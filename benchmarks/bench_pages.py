"""Render time of the DLN explorer page with its default configuration, measured with AppTest.

Prints three numbers for the default configuration:

- first render in a fresh process: cold cache plus one-off imports (altair, plotly, scipy);
- cold render in a warm process: st.cache_data cleared, so the run is trained and every chart built
  again (what a user meets for a configuration nobody has opened yet on a running server);
- cached rerun: same config, everything served from st.cache_data.

Targets: cold < 2 s, cached < 0.3 s.

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
    parser.add_argument("--app", type=Path, default=ROOT / "app.py", help="entrypoint (default: app.py)")
    args = parser.parse_args(argv)

    import os

    os.environ.setdefault("DLN_LAB_HOME", tempfile.mkdtemp(prefix="dln_bench_"))
    st.cache_data.clear()
    at = AppTest.from_file(args.app, default_timeout=120)
    at.run()  # home page: navigation only
    first = _timed(at, "pages/explorer.py")
    print(f"explorer default config: first render, fresh process {first:.3f} s (includes imports)")
    colds = []
    for _ in range(max(1, args.repeat // 2)):
        st.cache_data.clear()
        colds.append(_timed(at))
    cold = statistics.median(colds)
    train_s = at.metric[3].value if len(at.metric) > 3 else "?"
    print(f"explorer default config: cold render (warm process) median {cold:.3f} s "
          f"(min {min(colds):.3f}, n={len(colds)}; engine wall time of the last {train_s})")
    cached = [_timed(at) for _ in range(args.repeat)]
    print(f"explorer default config: cached rerun median {statistics.median(cached):.3f} s "
          f"(min {min(cached):.3f}, max {max(cached):.3f}, n={len(cached)})")
    print(f"targets: cold < 2 s -> {'OK' if cold < 2 else 'MISSED'}; "
          f"cached < 0.3 s -> {'OK' if statistics.median(cached) < 0.3 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

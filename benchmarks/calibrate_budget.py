"""Fit the cost model of dln_core/budget.py: CPU seconds of real runs vs their work counts.

    python benchmarks/calibrate_budget.py            # train + embed, prints the coefficient dicts
    python benchmarks/calibrate_budget.py --check    # only compare today's coefficients with runs

Each config is run for real and timed with time.process_time (CPU seconds of this process, the unit of
the budget), with one BLAS thread as in the Dockerfile. The coefficients are a non-negative
least-squares fit of the relative error; the table shows estimate / measured per config with the
model's safety margin, so a ratio below 1 is an under-estimate.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from scipy.optimize import nnls  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dln_core import budget  # noqa: E402
from dln_core.config import RunConfig  # noqa: E402
from dln_core.limits import LOCAL  # noqa: E402

TRAIN_GRID = [  # (depth, width, members, steps, snapshots, frames)
    (1, 6, 1, 2000, 50, True), (2, 6, 1, 5000, 200, True), (2, 6, 1, 500, 1500, True), (4, 8, 1, 2000, 2000, True),
    (3, 16, 1, 3000, 100, True), (4, 32, 1, 1500, 100, True), (8, 64, 1, 300, 200, True),
    (8, 64, 1, 1200, 20, True), (6, 48, 1, 800, 400, True), (2, 64, 1, 2000, 50, True),
    (2, 6, 64, 2000, 60, False), (3, 16, 32, 1000, 60, False), (4, 8, 128, 1000, 30, False),
    (8, 32, 16, 300, 40, False), (2, 64, 8, 500, 100, False), (2, 6, 256, 500, 200, False),
    (2, 6, 16, 1000, 1000, False),
]
EMBED_GRID = [  # (vocab, dim, steps, snapshots)
    (300, 10, 100, 20), (700, 20, 150, 30), (1500, 30, 100, 20), (2500, 50, 250, 40), (2500, 20, 50, 10),
    (4000, 60, 60, 20), (5000, 100, 40, 10),
]


def train_case(depth, width, members, steps, snapshots, frames):
    sv = ",".join(f"{v:.3f}" for v in np.linspace(2.0, 0.5, width))
    cfgs = [RunConfig.make(target_kind="spectrum", singular_values=sv, depth=depth, width=width,
                           init_scheme="gaussian", init_scale=0.05, seed=b, lr=0.01, steps=steps,
                           n_snapshots=snapshots) for b in range(members)]
    from dln_core.engine import run_batch, snapshot_steps

    n_snap = len(snapshot_steps(steps, "log", snapshots))
    t0 = time.process_time()
    results = run_batch(cfgs, limits=LOCAL)
    if frames:
        results[0].frames()
    seconds = time.process_time() - t0
    counts = budget.train_counts(cfgs[0].layer_dims, members, steps, n_snap, width, frames)
    return counts, seconds


def embed_case(vocab, dim, steps, snapshots):
    from dln_core.embeddings import EmbedConfig, load_default_corpus, run_embedding

    cfg = EmbedConfig(vocab=vocab, dim=dim, steps=steps, n_snapshots=snapshots, init_scale=1e-6)
    corpus = load_default_corpus()
    from dln_core.embeddings.cooccurrence import corpus_statistics

    corpus_statistics(corpus, vocab, cfg.window)  # cached per (corpus, V): not part of a page's request
    t0 = time.process_time()
    run_embedding(cfg, corpus, LOCAL)
    seconds = time.process_time() - t0
    return (vocab, dim, steps, snapshots), seconds


def fit(rows, coef_names):
    A = np.array([[c[k] for k in coef_names] for c, _ in rows])
    y = np.array([s for _, s in rows])
    w = 1.0 / y  # relative error
    x, _ = nnls(A * w[:, None], y * w)
    return dict(zip(coef_names, x.tolist()))


def report(title, cases, rows, coef):
    print(f"\n{title}: estimate (with margin {budget.MARGIN}) / measured CPU seconds")
    for case, (counts, seconds) in zip(cases, rows):
        est = budget.MARGIN * sum(coef[k] * v for k, v in counts.items())
        print(f"  {case!s:42} measured {seconds:7.3f} s  estimate {est:7.3f} s  ratio {est / seconds:5.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="only compare the current coefficients with runs")
    ap.add_argument("--only", choices=["train", "embed"])
    args = ap.parse_args()
    train_case(2, 6, 1, 100, 10, True)  # warm-up: imports and first-call costs are not a request's
    if args.only != "embed":
        rows = [train_case(*case) for case in TRAIN_GRID]
        # the grid runs no trace: its two coefficients are kept as measured (budget.py), not fitted to 0
        traced = {k: v for k, v in budget.TRAIN_COEF.items() if k.startswith("trace_")}
        coef = budget.TRAIN_COEF if args.check else {
            **fit(rows, [k for k in budget.TRAIN_COEF if k not in traced]), **traced}
        report("train", TRAIN_GRID, rows, coef)
        print("TRAIN_COEF =", {k: float(f"{v:.4g}") for k, v in coef.items()})
    if args.only != "train":
        embed_case(300, 10, 20, 5)  # warm-up (torch import, evaluation sets)
        rows = [embed_case(*case) for case in EMBED_GRID]
        # no fit: the embedding's counts are flop-equivalents priced at budget.EMBED_RATE (one model with
        # the page's estimate, embeddings/cost.py); this prints how the priced counts compare
        print(f"\nembed: estimate (with margin {budget.MARGIN}) / measured CPU seconds")
        for case, (sizes, seconds) in zip(EMBED_GRID, rows):
            est = budget.embed_seconds(*sizes)
            print(f"  {case!s:42} measured {seconds:7.3f} s  estimate {est:7.3f} s  ratio {est / seconds:5.2f}")


if __name__ == "__main__":
    main()

"""Side-by-side timings for the word-embedding pipeline (not a test; run by hand).

    python benchmarks/bench_embeddings.py [--vocab 5000 --dim 100 --repeats 10]

1. Corpus statistics for V from scratch (fresh cache directory) and again from the disk cache
   (for V ≤ the shipped seed's V both come from the seed: ``statistics_source``).
2. One full-batch GD step W ← W + η (M* − W Wᵀ) W at (V, d): the torch implementation used by
   dln_core.embeddings.model.train_gd vs a plain numpy implementation of the same step (same dtype,
   same data), reported as median milliseconds and their ratio.
3. The real loop: ``train_gd`` for ``--loop-steps`` steps (loss and mode strengths every step, as the
   app runs it), wall time per step, and its ratio to the numpy step.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up (allocations, thread pools)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vocab", type=int, default=5000)
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--corpus", default="default")
    p.add_argument("--loop-steps", type=int, default=20, help="steps of the real train_gd loop")
    args = p.parse_args(argv)

    home = tempfile.mkdtemp(prefix="dln_bench_")
    os.environ["DLN_LAB_HOME"] = home  # a cold cache, removed at the end
    try:
        return _run(args)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _run(args) -> int:
    import torch

    from dln_core.embeddings.cooccurrence import corpus_statistics, target_matrix
    from dln_core.embeddings.corpus import load_default_corpus
    from dln_core.embeddings.model import train_gd

    corpus = load_default_corpus(args.corpus)
    t0 = time.perf_counter()
    stats = corpus_statistics(corpus, args.vocab)
    scratch_s = time.perf_counter() - t0
    from dln_core.embeddings.cooccurrence import cache_dir

    # V ≤ the shipped seed's V is served by the seed (no counting, no cache file): say so
    source = "counted" if any(cache_dir().glob("cooc_*.npz")) else "shipped seed"
    t0 = time.perf_counter()
    stats = corpus_statistics(corpus, args.vocab)
    cached_s = time.perf_counter() - t0
    M = target_matrix(stats.counts)

    rng = np.random.default_rng(0)
    W = (1e-2 * rng.standard_normal((args.vocab, args.dim))).astype(np.float32)
    lr = np.float32(1e-4)

    def numpy_step():
        return W + lr * (M @ W - W @ (W.T @ W))

    # the library's layout (dln_core.embeddings.model._gd_loop): X = Wᵀ, X M* = (M* W)ᵀ as M* is symmetric
    Mt, Xt = torch.from_numpy(M), torch.from_numpy(W).T.contiguous()

    def torch_step():
        with torch.no_grad():
            return Xt + float(lr) * (Xt @ Mt - (Xt @ Xt.T) @ Xt)

    np.testing.assert_allclose(torch_step().T.numpy(), numpy_step(), rtol=1e-3, atol=1e-6)  # same step
    np_ms = median_ms(numpy_step, args.repeats)
    torch_ms = median_ms(torch_step, args.repeats)
    # the loop's per-step extras (loss, mode strengths) need d orthonormal columns; which ones does
    # not change the cost, so a random basis avoids timing an eigensolver here
    basis = np.linalg.qr(rng.standard_normal((args.vocab, args.dim)))[0]
    snaps = np.array([0, args.loop_steps])
    train_gd(M, W, float(lr), 2, basis, np.array([0, 2]), device="cpu")  # warm-up
    traj = train_gd(M, W, float(lr), args.loop_steps, basis, snaps, device="cpu")
    loop_ms = 1000 * traj.wall_time_s / args.loop_steps
    print(json.dumps({
        "vocab": args.vocab, "dim": args.dim, "corpus": corpus.name, "corpus_tokens": corpus.n_tokens,
        "statistics_from_scratch_s": round(scratch_s, 2), "statistics_from_cache_s": round(cached_s, 3),
        "statistics_source": source,
        "gd_step_numpy_ms": round(np_ms, 2), "gd_step_torch_ms": round(torch_ms, 2),
        "torch_over_numpy": round(torch_ms / np_ms, 3), "torch_threads": torch.get_num_threads(),
        "train_gd_ms_per_step": round(loop_ms, 2), "train_gd_over_numpy": round(loop_ms / np_ms, 3),
        "train_gd_steps": args.loop_steps,
        "note": "2 shared cores; numbers move with the machine's load",
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Side-by-side timings for the word-embedding pipeline (not a test; run by hand).

    python benchmarks/bench_embeddings.py [--vocab 5000 --dim 100 --repeats 10]

1. Corpus statistics for V from scratch (fresh cache directory) and again from the disk cache.
2. One full-batch GD step W ← W + η (M* − W Wᵀ) W at (V, d): the torch implementation used by
   dln_core.embeddings.model.train_gd vs a plain numpy implementation of the same step (same dtype,
   same data), reported as median milliseconds and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
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
    args = p.parse_args(argv)

    os.environ["DLN_LAB_HOME"] = tempfile.mkdtemp(prefix="dln_bench_")  # a cold cache
    import torch

    from dln_core.embeddings.cooccurrence import corpus_statistics, target_matrix
    from dln_core.embeddings.corpus import load_default_corpus

    corpus = load_default_corpus(args.corpus)
    t0 = time.perf_counter()
    stats = corpus_statistics(corpus, args.vocab)
    scratch_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    stats = corpus_statistics(corpus, args.vocab)
    cached_s = time.perf_counter() - t0
    M = target_matrix(stats.counts)

    rng = np.random.default_rng(0)
    W = (1e-2 * rng.standard_normal((args.vocab, args.dim))).astype(np.float32)
    lr = np.float32(1e-4)

    def numpy_step():
        return W + lr * (M @ W - W @ (W.T @ W))

    Mt, Wt = torch.from_numpy(M), torch.from_numpy(W)

    def torch_step():
        with torch.no_grad():
            return Wt + float(lr) * (Mt @ Wt - Wt @ (Wt.T @ Wt))

    np.testing.assert_allclose(torch_step().numpy(), numpy_step(), rtol=1e-3, atol=1e-6)  # same step
    np_ms = median_ms(numpy_step, args.repeats)
    torch_ms = median_ms(torch_step, args.repeats)
    print(json.dumps({
        "vocab": args.vocab, "dim": args.dim, "corpus": corpus.name, "corpus_tokens": corpus.n_tokens,
        "statistics_from_scratch_s": round(scratch_s, 2), "statistics_from_cache_s": round(cached_s, 3),
        "gd_step_numpy_ms": round(np_ms, 2), "gd_step_torch_ms": round(torch_ms, 2),
        "torch_over_numpy": round(torch_ms / np_ms, 3), "torch_threads": torch.get_num_threads(),
        "note": "2 shared cores; numbers move with the machine's load",
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

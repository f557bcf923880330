"""Snapshot recording memory and time: preallocated arrays vs a list of records stacked at the end.

    python benchmarks/bench_record.py [--networks 4096] [--snapshots 200] [--depth 3]

Both recorders measure the same diagnostics (dln_core.record.Recorder.record) of B networks (article
target, d = 6, near-identity init with per-member noise) at S snapshots; the weights move a little
between snapshots so no result is reused. Side by side in one run:

- ``list+stack``: the earlier layout, one dict of arrays per snapshot kept in a list and stacked into
  (S, B, ...) arrays once at the end (the stack holds a second copy of everything at its peak);
- ``preallocated``: the recorder as it is now, writing each snapshot into arrays allocated once for S.

Peak memory is tracemalloc's peak over recording + building Snapshots (numpy reports its buffers to
tracemalloc). Both must give identical arrays (checked, max abs diff printed).
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dln_core import engine  # noqa: E402
from dln_core.config import RunConfig  # noqa: E402
from dln_core.record import _PER_LAYER, FIELDS, Recorder, Snapshots  # noqa: E402


class ListRecorder(Recorder):
    """The earlier layout: a list of per-snapshot dicts, stacked once at the end."""

    def __init__(self, *a, **k) -> None:
        super().__init__(*a, **k)
        self.rows: list[dict] = []
        self.step_list: list[int] = []

    def _put(self, row: dict) -> None:
        self.rows.append(row)

    def record(self, step, weights) -> None:
        super().record(step, weights)
        self.step_list.append(int(step))

    def snapshots(self) -> Snapshots:
        rows, arrays = self.rows, {}
        for name in FIELDS:
            if name in _PER_LAYER:
                arrays[name] = [np.stack([row[name][li] for row in rows]) for li in range(len(rows[0][name]))]
            elif name == "overlaps":
                arrays[name] = {label: np.stack([row[name][label] for row in rows]) for label in rows[0][name]}
            else:
                arrays[name] = np.stack([row[name] for row in rows])
        self.rows = []
        return Snapshots(steps=np.array(self.step_list, dtype=np.int64), arrays=arrays, lrs=self.lrs)


def measure(cls, problem, weights, lrs, S: int):
    rng = np.random.default_rng(1)
    drift = [0.001 * rng.standard_normal(w.shape) for w in weights]
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    rec = cls(problem, lrs, weights, S)
    ws = [w.copy() for w in weights]
    for k in range(S):
        rec.record(k, ws)
        for w, d in zip(ws, drift):
            w += d
    snaps = rec.snapshots()
    wall = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return snaps, wall, peak


def flat(snaps: Snapshots) -> list[np.ndarray]:
    out = []
    for name in FIELDS:
        v = snaps.arrays[name]
        out += list(v) if isinstance(v, list) else list(v.values()) if isinstance(v, dict) else [v]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", type=int, default=4096)
    ap.add_argument("--snapshots", type=int, default=200)
    ap.add_argument("--depth", type=int, default=3)
    args = ap.parse_args(argv)
    B, S = args.networks, args.snapshots
    cfg = RunConfig.make(depth=args.depth, init_scheme="near-identity", init_scale=0.3)
    problem = engine.build_problem(cfg.target)
    rng = np.random.default_rng(0)
    w0 = engine.init_weights(cfg, problem)
    weights = [np.ascontiguousarray(w[None] + 0.05 * rng.standard_normal((B, *w.shape))) for w in w0]
    lrs = np.linspace(0.005, 0.02, B)
    old, t_old, p_old = measure(ListRecorder, problem, weights, lrs, S)
    new, t_new, p_new = measure(Recorder, problem, weights, lrs, S)
    diff = max(float(np.nanmax(np.abs(a - b), initial=0.0)) for a, b in zip(flat(old), flat(new)))
    size = sum(a.nbytes for a in flat(new))
    print(f"B={B} networks x S={S} snapshots, d=6, L={args.depth}, float64 (snapshot arrays: {size / 2**30:.2f} GiB)")
    print(f"{'':14s} {'peak GiB':>9s} {'KB/net-snap':>12s} {'wall s':>8s} {'ms/snapshot':>12s}")
    for name, t, p in (("list+stack", t_old, p_old), ("preallocated", t_new, p_new)):
        print(f"{name:14s} {p / 2**30:9.2f} {p / (B * S) / 1e3:12.2f} {t:8.1f} {1e3 * t / S:12.1f}")
    print(f"peak ratio preallocated / list+stack: {p_new / p_old:.2f}; same arrays: max abs diff {diff:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

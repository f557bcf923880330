"""Snapshot recording: the diagnostics of all B members of a batch at each snapshot → arrays.

:class:`Recorder` measures snapshots in blocks (dln_core.diagnostics, batched over the block's
snapshots × members) and writes them into arrays preallocated for the run's S snapshots (leading axes
(S, B)), so memory grows with the number of snapshots, never with the number of steps, and the records
are never stacked a second time at the end (4096 networks × 200 snapshots:
benchmarks/bench_sweep.py --memory-record).
:meth:`Recorder.snapshots` returns them as :class:`Snapshots`; :meth:`Snapshots.member` cuts one member's view (snapshots before its
divergence step only), which the theory overlay (overlay.py) and the frames (frames.py) read.

The recorded fields are declared once, in :data:`FIELDS` (name → what it holds); a summary-only run
(``Recorder(..., fields="summary")``) measures just :data:`SUMMARY_FIELDS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import budget, launch
from . import diagnostics as dg
from .steppers import forward
from .targets import Problem

# name -> what one snapshot record holds for the batch (B members, r modes, L layers)
FIELDS: dict[str, str] = {
    "loss": "(B,) loss (H) of the end-to-end map",
    "u": "(B, r) mode strengths u_i = u*_iᵀ W v*_i",
    "sv": "(B, r) leading singular values of W",
    "alignment": "(B,) alignment score of the signed overlap matrices (leading k×k block)",
    "mode_alignment": "(B, r) per-mode alignment u_i² / (‖W v*_i‖ ‖Wᵀu*_i‖)",
    "mode_rate": "(B, r) measured gradient-flow rate du_i/dt",
    "launch_align": "(B, r) alignment with equal-λ groups scored as blocks (launch.snapshot)",
    "blocks": "per equal-λ group (B, |G|, |G|): U_Gᵀ W V_G (launch.snapshot)",
    "drift": "(B, L−1) ‖H_l − H_l(0)‖_F per layer pair",
    "upd_rank": "(B, L) effective rank of each layer's step update",
    "layer_sv": "per layer (B, k_l): singular values of W_l",
    "upd_sv": "per layer (B, k_l): singular values of the step update −lr·G_l",
    "overlaps": "{pair label: (B, a, b)} signed singular-vector overlaps",
}
_PER_LAYER = ("layer_sv", "upd_sv", "blocks")  # lists of arrays (blocks: one per equal-λ group)

# What a run's summary reads (engine._results: the theory launch of overlay.batch_overlays, the
# prefactor fit of laws.ode_exponents_batch; a sweep's rise times): no SVD among them. A sweep that keeps
# only its summary records these alone (``fields="summary"``): at d = 6 the per-layer SVDs, overlaps
# and update spectra are ~85 % of a snapshot (benchmarks/bench_sweep_cli.py). Frames need them all.
SUMMARY_FIELDS = ("loss", "u", "mode_alignment", "mode_rate", "launch_align", "blocks")
RECORD_FIELDS = {"all": tuple(FIELDS), "summary": SUMMARY_FIELDS}


@dataclass(frozen=True)
class Snapshots:
    """Stacked records: ``steps`` (S,) and each recorded field of :data:`FIELDS` with leading axes (S, B)
    (``fields``: the names recorded, all of :data:`FIELDS` unless a summary-only run)."""

    steps: np.ndarray
    arrays: dict  # name -> (S, B, ...) array; per-layer fields: list of arrays; overlaps: {label: array}
    lrs: np.ndarray  # (B,)
    fields: tuple = tuple(FIELDS)

    @property
    def complete(self) -> bool:
        """Whether every field of :data:`FIELDS` was recorded (the frames need them all)."""
        return set(self.fields) == set(FIELDS)

    def kept(self, diverged_step: int | None) -> np.ndarray:
        """Mask of the snapshots before a member's divergence step (all when it did not diverge)."""
        return self.steps < diverged_step if diverged_step is not None else np.ones(len(self.steps), bool)

    def member(self, b: int, diverged_step: int | None) -> MemberSnapshots:
        """Member b's snapshots before its divergence step."""
        keep = self.kept(diverged_step)
        a = self.arrays
        fields = {}
        for name in FIELDS:
            if name not in a:
                fields[name] = None  # not recorded (a summary-only run)
            elif name in _PER_LAYER:
                fields[name] = [x[keep, b] for x in a[name]]
            elif name == "overlaps":
                fields[name] = {k: v[keep, b] for k, v in a[name].items()}
            else:
                fields[name] = a[name][keep, b]
        steps = self.steps[keep]
        return MemberSnapshots(steps=steps, t=float(self.lrs[b]) * steps, lr=float(self.lrs[b]), **fields)

    def u0(self) -> np.ndarray:
        """Measured u_i(0) of every member, (B, r)."""
        return self.arrays["u"][0].astype(float)


@dataclass(frozen=True)
class MemberSnapshots:
    """One member's recorded snapshots: ``steps`` (S,), ``t`` = lr·step, and the :data:`FIELDS` (S, ...)
    (None: a field a summary-only run did not record)."""

    steps: np.ndarray
    t: np.ndarray
    lr: float
    loss: np.ndarray
    u: np.ndarray
    sv: np.ndarray
    alignment: np.ndarray
    mode_alignment: np.ndarray
    mode_rate: np.ndarray
    launch_align: np.ndarray
    blocks: list
    drift: np.ndarray
    upd_rank: np.ndarray
    layer_sv: list
    upd_sv: list
    overlaps: dict


# Snapshots are measured in blocks: the weights of up to ``chunk`` snapshots are kept, then measured as one
# flattened stack of chunk·B members, so a single run pays numpy's per-call overhead once per block
# rather than once per snapshot (benchmarks/bench_recorded.py). The block is capped in members and
# in floats, so a large batch or a large network still measures one or a few snapshots at a time.
BLOCK_MEMBERS = 4096  # chunk·B at most this many network-snapshots per block
# ... and at most this many weight entries buffered (2 MB of float64; the measurement's working arrays
# are ~7x that). A block of a depth-8, width-64 network is then 8 snapshots (~0.1 s), so a cancelled
# request stops soon (budget.checkpoint before each block); a d = 6 network gets ~2400 per block.
BLOCK_FLOATS = 1 << 18


class Recorder:
    """Diagnostics of all B members at each snapshot (arrays with a leading batch axis)."""

    def __init__(self, problem: Problem, lrs: np.ndarray, weights0: list[np.ndarray], n_snapshots: int = 16,
                 hooks=(), fields: str = "all") -> None:
        if fields not in RECORD_FIELDS:
            raise ValueError(f"fields must be one of {sorted(RECORD_FIELDS)}, got {fields!r}")
        self.fields = RECORD_FIELDS[fields]  # "summary": only what the run summary reads
        self.p = problem
        self.hooks = tuple(hooks)  # optional extra measurements hook(step, weights) (e.g. curvature.py)
        self.lrs = np.asarray(lrs, dtype=float)
        self.H0 = dg.balance_matrices(weights0)
        self.capacity = max(1, int(n_snapshots))  # the run's snapshot count: storage is allocated once
        self.steps = np.zeros(self.capacity, dtype=np.int64)
        self.count = 0  # snapshots recorded (measured or pending)
        self.measured = 0  # of which measured into the store
        B = len(self.lrs)
        per_member = max(1, sum(int(np.prod(w.shape[1:])) for w in weights0))
        self.chunk = max(1, min(BLOCK_MEMBERS // B, BLOCK_FLOATS // (B * per_member), self.capacity))
        # the block's weights, written in place at each snapshot (snapshot-major: rows j·B … j·B + B − 1)
        self.block = [np.empty((self.chunk * B, *w.shape[1:])) for w in weights0]
        self.pending = 0  # snapshots in the block, not measured yet
        self.store: dict | None = None  # name -> (S, B, ...) array (per-layer: list; overlaps: dict)
        # leading k×k block of overlaps is scored: the modes with a nonzero target
        self.k_score = max(1, int(np.sum(problem.lambda_star > 0)))
        self.groups = launch.groups(problem)  # equal-λ groups: blocks of the alignment score and launch

    def _put(self, row: dict, c: int) -> None:
        """Write a block of ``c`` snapshots' records (each value with leading axis c·B, snapshot-major)
        into the preallocated arrays (allocated from the first block; doubled if a run records more
        than announced)."""
        B = len(self.lrs)

        def alloc(a):
            a = np.asarray(a)
            return np.empty((self.capacity, B, *a.shape[1:]), dtype=a.dtype)

        def grow(a):
            out = np.empty((2 * len(a), *a.shape[1:]), dtype=a.dtype)
            out[: len(a)] = a
            return out

        if self.store is None:
            self.store = {name: [alloc(x) for x in v] if isinstance(v, list) else
                          {k: alloc(x) for k, x in v.items()} if isinstance(v, dict) else alloc(v)
                          for name, v in row.items()}
        i = self.measured
        while i + c > len(self.store["loss"]):
            self.store = {name: [grow(x) for x in v] if isinstance(v, list) else
                          {k: grow(x) for k, x in v.items()} if isinstance(v, dict) else grow(v)
                          for name, v in self.store.items()}

        def block(x):
            x = np.asarray(x)
            return x.reshape(c, B, *x.shape[1:])

        for name, v in row.items():
            dst = self.store[name]
            if isinstance(v, list):
                for d, x in zip(dst, v):
                    d[i: i + c] = block(x)
            elif isinstance(v, dict):
                for k, x in v.items():
                    dst[k][i: i + c] = block(x)
            else:
                dst[i: i + c] = block(v)
        self.measured += c

    def record(self, step: int, weights: list[np.ndarray]) -> None:
        """Record the batch at this step: its weights are kept and measured (the recorder's fields)
        with the rest of their block; the hooks run now."""
        if self.count == self.capacity:
            self.capacity *= 2
            steps = np.zeros(self.capacity, dtype=np.int64)
            steps[: self.count] = self.steps[: self.count]
            self.steps = steps
        self.steps[self.count] = int(step)
        self.count += 1
        B = len(self.lrs)
        for buf, w in zip(self.block, weights):
            buf[self.pending * B: (self.pending + 1) * B] = w
        self.pending += 1
        if self.pending == self.chunk:
            self._flush()
        for hook in self.hooks:
            hook(int(step), weights)

    def _flush(self) -> None:
        """Measure the pending snapshots as one stack of c·B members (snapshot-major)."""
        c = self.pending
        if c == 0:
            return
        budget.checkpoint()  # the requester left: measure nothing more
        weights = [buf[: c * len(self.lrs)] for buf in self.block]
        self.pending = 0
        lrs = np.tile(self.lrs, c)
        H0 = [np.concatenate([h] * c) for h in self.H0] if self.fields != SUMMARY_FIELDS else []
        self._put(self._measure(weights, lrs, H0), c)

    def _measure(self, weights: list[np.ndarray], lrs: np.ndarray, H0: list[np.ndarray]) -> dict:
        """The recorder's fields for a stack of members (weights (N, ...), lrs (N,), H0 per pair)."""
        p = self.p
        with np.errstate(all="ignore"):
            prefix = forward(weights)
            W = prefix[-1]  # the end-to-end map
            grads = dg.gradients(weights, p.sigma_xx, p.sigma_yx, prefix)
            u = dg.mode_strengths(W, p.U_star, p.V_star)  # once: mode_alignment and launch reuse it
            mode_align = dg.mode_alignment(W, p.U_star, p.V_star, u)
            out = {
                "loss": p.loss(W),
                "u": u,
                "mode_alignment": mode_align,
                "mode_rate": dg.mode_rates(weights, grads, p.U_star, p.V_star),
                **dict(zip(("launch_align", "blocks"), launch.snapshot(W, p, self.groups, u, mode_align))),
            }
            if self.fields == SUMMARY_FIELDS:
                return out
            svds = dg.signed_svds(weights, p.U_star)
            mats = dg.overlaps(svds, p.U_star, p.V_star)
            upd_sv = [dg.gram_singular_values(lrs[:, None, None] * g) for g in grads]
            H = dg.balance_matrices(weights)
            drift = np.stack([dg.frobenius(h - h0) for h, h0 in zip(H, H0)], axis=-1) if H else \
                np.zeros((len(lrs), 0))
            return {
                **out,
                "sv": dg.singular_values(W)[:, : p.r],  # thin QR first for tall or wide W
                "alignment": dg.alignment_score(list(mats.values()), self.k_score, self.groups),  # equal λ: blocks
                "drift": drift,
                "upd_rank": np.stack([dg.effective_rank(s) for s in upd_sv], axis=-1),
                "layer_sv": [s for _, s, _ in svds],
                "upd_sv": upd_sv,
                "overlaps": mats,
            }

    def snapshots(self) -> Snapshots:
        """The recorded snapshots as :class:`Snapshots` (views of the preallocated arrays, no copy)."""
        self._flush()
        n = self.count
        a = {name: [x[:n] for x in v] if isinstance(v, list) else {k: x[:n] for k, x in v.items()}
             if isinstance(v, dict) else v[:n] for name, v in self.store.items()}
        return Snapshots(steps=self.steps[:n], arrays={name: a[name] for name in FIELDS if name in a}, lrs=self.lrs,
                         fields=tuple(name for name in FIELDS if name in a))


__all__ = ["FIELDS", "RECORD_FIELDS", "SUMMARY_FIELDS", "MemberSnapshots", "Recorder", "Snapshots"]

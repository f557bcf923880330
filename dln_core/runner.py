"""The batch runner: chunks of GD steps, exact events by replay, the "auto" length → arrays.

Per step the stepper (steppers.py) only does the update plus one elementwise max of the mode
strengths. Everything else happens at chunk boundaries (every ≤ :data:`CHUNK` steps and at every
snapshot): divergence check, recording the snapshot (record.py measures them in blocks), progress. Memory is O(snapshots),
never O(steps).

Exact event steps without per-step Python work:

- halfway step of mode i = the first step k whose state has u_i(k) ≥ target_i/2 (target_i = λ_i,
  or λ_i/d_i for commuting inputs). The step loop keeps a running max of u per chunk; when it shows a
  new crossing, that member's chunk is replayed from the saved chunk-start weights one step at a
  time (a sub-batch of the same stepper), which yields the exact first step.
- divergence: loss non-finite or > DIVERGE_FACTOR·max(ℓ(0), 1), checked at chunk ends; the chunk is
  replayed to find the exact first bad step k, the member is frozen at its state k − 1 (its lr
  becomes 0) and stops contributing snapshots; the rest of the batch continues.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import budget
from . import diagnostics as dg
from .inits import init_weights
from .record import Recorder, Snapshots
from .steppers import choose, make_stepper

CHUNK = 100  # steps between divergence / halfway checks (also the "auto" check interval)
AUTO_LOSS = 0.05  # "auto" steps: loss (H) below this = the widget's loss 0.1 (THEORY.md §1.6)
AUTO_MIN_STEPS = 500
DIVERGE_FACTOR = 1e6


def snapshot_steps(total: int, record: str | int = "log", n: int = 200) -> np.ndarray:
    """Sorted unique snapshot steps in [0, total], always including 0 and ``total``.

    ``record="log"``: about ``n`` log-spaced steps (the geometric grid is refined until it has n
    distinct integers, or every step when total < n); ``record=N``: every N steps.
    """
    if record != "log":
        return np.union1d(np.arange(0, total + 1, int(record)), [total]).astype(np.int64)
    if total + 1 <= n:
        return np.arange(total + 1, dtype=np.int64)
    m = n
    while True:
        s = np.unique(np.concatenate([[0, total], np.round(np.geomspace(1, total, m))]).astype(np.int64))
        if len(s) >= n or m > 100 * n:
            return s
        m = int(m * 1.1) + 1


@dataclass
class Member:
    """Per-member state of a batch run (what the summary is assembled from)."""

    lr: float
    loss0: float = math.nan
    threshold: float = math.inf
    diverged_step: int | None = None
    final_loss: float = math.nan
    halfway: np.ndarray = None  # type: ignore[assignment]  # (r,) int, -1 = not reached


class Runner:
    """One batch: holds the stepper, the member states and the snapshot recorder."""

    def __init__(self, cfgs, problem, backend, device, progress, work: float = 0.0, trace: int | None = None,
                 fields: str = "all") -> None:
        self.cfgs = cfgs
        self.problem = problem
        self.progress = progress
        self.optim = cfgs[0].optim
        self.depth = cfgs[0].network.depth
        self.init_weights = [init_weights(c, problem) for c in cfgs]  # float64 per member
        if backend == "auto":  # CPU default (``work``: network-steps expected): the measured rule of steppers.choose, for this shape
            w = self.init_weights[0]
            backend = choose((w[0].shape[1], *(wl.shape[0] for wl in w)), problem, self.optim.dtype, work, len(cfgs))
        self.backend, self.device = backend, device
        # replays advance a few members one step per call: numpy there (a fused call's thread start-up
        # would cost ~10 ms per step); the arithmetic is the same to rounding (tests/core/test_fused.py)
        self.replay_backend = "numpy" if backend == "fused" else backend
        self.lrs = np.array([c.optim.lr for c in cfgs])
        r = problem.r
        self.half = 0.5 * problem.target_strength
        self.has_target = problem.target_strength > 0  # a zero mode has no halfway point
        # every member's halfway steps are rows of one (B, r) array: a chunk check reads them without a
        # Python loop over the members (~1 ms per chunk at B = 2048)
        self.halfway = np.full((len(self.lrs), r), -1, dtype=np.int64)
        self.members = [Member(lr=float(lr), halfway=self.halfway[b]) for b, lr in enumerate(self.lrs)]
        self._thresholds = None  # (B,) the members' divergence thresholds, fixed once simulate sets them
        self._last_progress = -1.0
        self.snapshot_hooks: list = []  # optional hook(step, weights) at every snapshot (engine: sharpness)
        self.trace_every = trace  # None, or record loss and u every N steps inside the step loop (steppers.Trace)
        self.trace = None  # the filled steppers.Trace after simulate
        self.fields = fields  # what the recorder measures at snapshots (record.RECORD_FIELDS)

    # --- helpers
    def _stack(self, per_member: list[list[np.ndarray]]) -> list[np.ndarray]:
        return [np.stack([ws[li] for ws in per_member]) for li in range(self.depth)]

    def _new_stepper(self):
        return make_stepper(self.backend, self.device, self._stack(self.init_weights), self.lrs, self.problem,
                             self.optim.dtype)

    def _losses(self, weights: list[np.ndarray]) -> np.ndarray:
        with np.errstate(all="ignore"):
            return self.problem.loss(dg.end_to_end(weights))

    def _report(self, frac: float) -> None:
        if self.progress is not None and (frac - self._last_progress >= 0.01 or frac >= 1.0):
            self._last_progress = frac
            self.progress(float(min(max(frac, 0.0), 1.0)))

    def _bad(self, loss: np.ndarray) -> np.ndarray:
        thr = self._thresholds if self._thresholds is not None else np.array([m.threshold for m in self.members])
        return ~np.isfinite(loss) | (loss > thr)

    # --- exact events by replay
    def _replay(self, idx: np.ndarray, start: list[np.ndarray], k0: int, n: int, pending: np.ndarray,
                check_loss: np.ndarray):
        """Re-run members ``idx`` from their chunk-start weights one step at a time, as one sub-batch.

        ``pending`` (B', r): modes whose first crossing is wanted; ``check_loss`` (B',): members to
        watch for divergence. Returns (first crossing step (B', r), -1 = none; divergence step (B',),
        -1 = none; per-layer weights (B', ...) of the last good state; loss at the divergence step).
        """
        st = make_stepper(self.replay_backend, self.device, [w[idx] for w in start], self.lrs[idx], self.problem,
                           self.optim.dtype)
        thr = np.array([self.members[b].threshold for b in idx])
        found = np.full(pending.shape, -1, dtype=np.int64)
        div = np.full(len(idx), -1, dtype=np.int64)
        bad_loss = np.full(len(idx), np.nan)
        live = np.ones(len(idx), dtype=bool)  # not (yet) diverged in the replay
        prev = [w[idx] for w in start]
        for j in range(n):
            st.reset_umax()
            st.advance(1)  # umax now holds u of state k0 + j (taken before the update)
            newly = pending & (found < 0) & (st.umax_numpy() >= self.half) & live[:, None]
            found[newly] = k0 + j
            if check_loss.any():
                ws = st.weights()
                loss = self._losses(ws)
                now_bad = check_loss & live & (~np.isfinite(loss) | (loss > thr))
                div[now_bad], bad_loss[now_bad] = k0 + j + 1, loss[now_bad]
                live &= ~now_bad
                for p_l, w_l in zip(prev, ws):
                    p_l[live] = w_l[live]
                check_loss = check_loss & live
            if not check_loss.any() and not (pending & (found < 0) & live[:, None]).any():
                break
        return found, div, prev, bad_loss

    def _chunk_events(self, stepper, start, k0, k1, weights) -> None:
        """Divergence and halfway crossings that happened in steps [k0, k1)."""
        loss = self._losses(weights)
        active = np.array([m.diverged_step is None for m in self.members])
        bad = active & self._bad(loss)
        halfway = self.halfway.copy()  # as at the chunk start (the loop below writes into the members' rows)
        crossed = active[:, None] & self.has_target[None, :] & (halfway < 0) & (stepper.umax_numpy() >= self.half[None, :])
        idx = np.nonzero(bad | crossed.any(axis=1))[0]
        if not len(idx):
            return
        pending = (crossed[idx] | bad[idx, None]) & self.has_target[None, :] & (halfway[idx] < 0)
        found, div, before, bad_loss = self._replay(idx, start, k0, k1 - k0, pending, bad[idx].copy())
        for j, b in enumerate(idx):
            m = self.members[b]
            d = int(div[j]) if div[j] >= 0 else None
            hit = (found[j] >= 0) & (m.halfway < 0)
            if d is not None:
                hit &= found[j] < d
            m.halfway[hit] = found[j][hit]
            if bad[b]:
                good = [w[j] for w in before]
                if d is None:  # replay disagreed by rounding: take the chunk end as the step
                    d, good, bad_loss[j] = k1, [w[b] for w in start], loss[b]
                m.diverged_step = d
                m.final_loss = float(bad_loss[j]) if np.isfinite(bad_loss[j]) else math.inf
                stepper.set_member(b, good, lr=0.0)  # freeze at the last good state

    # --- phases
    def find_auto_steps(self, cap: int, total_cap: int | None = None, floor: float = 0.0) -> tuple[int, bool]:
        """'auto': T = first multiple of CHUNK with loss < floor + AUTO_LOSS for every live member, then ×4
        (at most ``total_cap``); the search gives up after ``cap`` steps (the step cap, or what the
        CPU budget affords: engine.run_batch). ``floor``: the architecture's lowest loss, so a narrow
        network stops at its rank limit."""
        total_cap = cap if total_cap is None else total_cap
        st = self._new_stepper()
        loss0 = self._losses(self._stack(self.init_weights))
        thr = DIVERGE_FACTOR * np.maximum(loss0, 1.0)
        alive = np.ones(len(self.cfgs), dtype=bool)
        k = 0
        while k < cap:
            budget.checkpoint()  # the requester left: stop between chunks
            n = min(CHUNK, cap - k)
            st.advance(n)
            k += n
            ws = st.weights()
            loss = self._losses(ws)
            bad = alive & (~np.isfinite(loss) | (loss > thr))
            for b in np.nonzero(bad)[0]:
                st.set_member(b, [w[b] for w in ws], lr=0.0)
                alive[b] = False
            if not alive.any():
                return min(total_cap, max(AUTO_MIN_STEPS, 2 * k)), False
            if np.all(loss[alive] < floor + AUTO_LOSS):
                return min(total_cap, max(4 * k, AUTO_MIN_STEPS)), True
            self._report(0.2 * (1 - math.exp(-k / 20_000)))
        return cap, False

    def simulate(self, total: int, frac0: float = 0.0) -> tuple[Snapshots, list[np.ndarray]]:
        """Run ``total`` steps in chunks; returns (the stacked snapshots, the final stacked weights)."""
        p = self.problem
        stepper = self._new_stepper()
        w0 = self._stack(self.init_weights)
        loss0 = self._losses(w0)
        for m, l0 in zip(self.members, loss0):
            m.loss0 = float(l0)
            m.threshold = DIVERGE_FACTOR * max(float(l0), 1.0)
        self._thresholds = np.array([m.threshold for m in self.members])
        u0 = dg.mode_strengths(dg.end_to_end(w0), p.U_star, p.V_star)
        for b, m in enumerate(self.members):
            m.halfway[(u0[b] >= self.half) & self.has_target] = 0
        snaps = snapshot_steps(total, self.optim.record, self.optim.n_snapshots)
        rec = Recorder(p, self.lrs, w0, len(snaps), self.snapshot_hooks, self.fields)
        rec.record(0, w0)
        if self.trace_every is not None:
            self.trace = stepper.start_trace(self.trace_every, total // self.trace_every + 2, p)
        bounds = np.union1d(snaps, np.arange(0, total, CHUNK))
        snapset = set(snaps.tolist())
        k = 0
        for kb in bounds[1:].tolist():
            budget.checkpoint()  # the requester left: stop between chunks
            start = stepper.weights()
            stepper.reset_umax()
            stepper.advance(kb - k)
            weights = stepper.weights()
            self._chunk_events(stepper, start, k, kb, weights)
            k = kb
            if all(m.diverged_step is not None for m in self.members):
                break  # everyone is frozen: later snapshots would be dropped anyway
            if kb in snapset:
                rec.record(kb, stepper.weights())
            self._report(frac0 + (1 - frac0) * kb / total)
        final = stepper.weights()
        uf = dg.mode_strengths(dg.end_to_end(final), p.U_star, p.V_star)
        lossf = self._losses(final)
        if self.trace is not None and k == total and (self.trace.n == 0 or self.trace.steps[self.trace.n - 1] < total):
            self.trace.put(total, uf, lossf)  # the last state, as the snapshots always include it
        for b, m in enumerate(self.members):
            if m.diverged_step is None:
                m.halfway[(m.halfway < 0) & (uf[b] >= self.half) & self.has_target] = total
                m.final_loss = float(lossf[b])
        return rec.snapshots(), final


__all__ = ["AUTO_LOSS", "AUTO_MIN_STEPS", "CHUNK", "DIVERGE_FACTOR", "Member", "Runner", "snapshot_steps"]

"""Training runs: ``run(cfg)`` and ``run_batch(cfgs)`` — config in, :class:`~dln_core.result.RunResult` out.

The path of a batch, one job per module: the configs are checked (here and config.py), the
problem is built (targets.py), the initial weights are drawn (inits.py), the runner advances all
members together (runner.py, on a stepper of steppers.py) and records snapshot arrays
(record.py), the theory overlay is planned once per member (overlay.py), the summary is assembled
here (result.RunSummary), and the frames are built from those arrays on first access (frames.py).

Batches: members must share :func:`batch_key` (target, network, optim except lr) and may differ in
init and lr; a batch equals running its members one by one (to rounding, ~1e-12 in float64).
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from . import budget, curvature, frames, laws, sharpness
from .config import RunConfig, check_trace, check_trace_size
from .errors import ConfigError
from .inits import init_weights
from .limits import Limits, check_cap, current_limits
from .linalg import psd_sqrt
from .overlay import Overlay, batch_overlays
from .record import RECORD_FIELDS, Snapshots
from .result import FRAME_NAMES, RunResult, RunSummary
from .runner import AUTO_MIN_STEPS, CHUNK, Runner, snapshot_steps
from .steppers import resolve_backend
from .targets import Problem, build_problem

Progress = Callable[[float], None]

CONVERGED_RTOL = 1e-6  # converged: final loss <= loss_floor + this x max(initial loss, 1)
SHARPNESS_MAX_PARAMS = 20_000  # above this many weights lr_cap is not computed (None): not cheap


# ------------------------------------------------------------------------------- step-size reporting
def lr_cap(problem: Problem, depth: int, width: int) -> float | None:
    """2 / sharpness at the balanced global minimum (THEORY.md §6): the largest step GD can settle with.

    The sharpness is sharpness.balanced_sharpness (closed form when whitened, else numeric). None if
    the numeric path would not be cheap (more than SHARPNESS_MAX_PARAMS weights) or fails.
    """
    try:
        if problem.input_kind != "whitened":  # only the numeric path costs anything
            n_out, n_in = problem.sigma_yx.shape
            dims = (n_in, *([width] * (depth - 1)), n_out)
            if sum(a * b for a, b in itertools.pairwise(dims)) > SHARPNESS_MAX_PARAMS:
                return None
        sharp, _ = sharpness.balanced_sharpness(problem, depth, width)
        return float(sharpness.max_stable_lr(sharp)) if sharp > 0 else None
    except (ValueError, ArithmeticError, np.linalg.LinAlgError):
        return None


def loss_floor(problem: Problem, depth: int, width: int) -> float:
    """Lowest loss (H) reachable by the architecture: 0 unless the hidden width k is below the rank.

    Loss (H) is ½‖(W − W*) Σxx^{1/2}‖²_F (THEORY.md §1), so by Eckart–Young the best rank-k W leaves
    ½ Σ of the squared singular values of W* Σxx^{1/2} beyond the k-th (any input kind).
    """
    if depth == 1 or width >= problem.r:
        return 0.0
    s = np.linalg.svd(problem.w_star @ psd_sqrt(problem.sigma_xx), compute_uv=False)
    return float(0.5 * np.sum(s[width:] ** 2))


# ------------------------------------------------------------------------------------------ batches
def batch_key(cfg: RunConfig) -> tuple:
    """What members of one run_batch must share: target, network and optim except lr.

    Configs with equal keys may run as one batch (they differ only in init and lr); sweep groups by it.
    """
    return cfg.target, cfg.network, replace(cfg.optim, lr=1.0)  # lr is per member: neutralise it


def _check_batch(cfgs: Sequence[RunConfig]) -> None:
    if not cfgs:
        raise ConfigError("configs", "need at least one RunConfig", 0)
    for c in cfgs:
        if not isinstance(c, RunConfig):
            raise ConfigError("configs", "must be RunConfig objects", type(c).__name__)
    key = batch_key(cfgs[0])
    for c in cfgs[1:]:
        if batch_key(c) != key:
            raise ConfigError("configs", "batch members must share target, network and optim "
                              "(except lr); they may differ in init and lr", c.to_flat())


def _member_frames(problem: Problem, snaps: Snapshots, b: int, diverged_step, overlay: Overlay,
                   summary: RunSummary) -> dict:
    """Member b's frames (a module function so unbuilt results pickle)."""
    if not snaps.complete:
        raise ValueError("this run recorded only its summary fields (run_batch(record_fields='summary'), as a "
                         "sweep without keep_results does): its frames need record_fields='all'")
    return frames.run_frames(problem, snaps.member(b, diverged_step), overlay, summary)


def _member_series(snaps: Snapshots, b: int, diverged_step) -> tuple:
    """Member b's (steps, t, u) without building any frame (a module function so results pickle)."""
    m = snaps.member(b, diverged_step)
    return m.steps, m.t, m.u


def _ode_exponents(problem: Problem, snaps: Snapshots, diverged_steps: list, depth: int) -> list:
    """Every member's fitted Eq. 11 prefactor exponent per mode (laws.ode_exponents_batch; None: not fitted)."""
    kept = [int(snaps.kept(d).sum()) for d in diverged_steps]  # a prefix: the snapshots before divergence
    slopes = laws.ode_exponents_batch(problem, snaps.arrays["u"], snaps.arrays["mode_rate"], np.array(kept), depth)
    return [[float(x) if np.isfinite(x) else None for x in row] for row in slopes.tolist()]


def _results(runner: Runner, snaps: Snapshots, final, total: int, auto: bool, auto_reached, wall: float):
    """One RunResult per member: the summary now, the frames on first access."""
    p, cfgs = runner.problem, runner.cfgs
    diverged_steps = [m.diverged_step for m in runner.members]
    measured = [[int(k) if k >= 0 else None for k in m.halfway] for m in runner.members]
    overlays = batch_overlays(p, cfgs, snaps, runner.init_weights, diverged_steps, measured, total)
    u0_all = snaps.u0()
    cap = lr_cap(p, runner.depth, cfgs[0].width)
    floor = loss_floor(p, runner.depth, cfgs[0].width)
    levels = p.plateau_levels().tolist()
    exponents = _ode_exponents(p, snaps, diverged_steps, runner.depth)
    out = []
    for b, (cfg, m, ov) in enumerate(zip(cfgs, runner.members, overlays)):
        summary = RunSummary(
            final_loss=m.final_loss,
            diverged=m.diverged_step is not None,
            diverged_step=m.diverged_step,
            steps=int(m.diverged_step if m.diverged_step is not None else total),
            halfway_step=[int(k) if k >= 0 else None for k in m.halfway],
            halfway_step_theory=ov.halfway_theory,
            theory_start_step=ov.start_steps,
            plateau_levels=list(levels),
            lambda_star=p.lambda_star.tolist(),
            target_strength=p.target_strength.tolist(),
            u0=u0_all[b].tolist(),
            initial_loss=m.loss0,
            wall_time_s=wall,
            lr=m.lr,
            depth=runner.depth,
            total_steps=int(total),
            lr_cap=cap,
            lr_over_cap=None if cap is None else bool(m.lr > cap),
            loss_floor=floor,
            converged=bool(m.diverged_step is None and np.isfinite(m.final_loss)
                           and m.final_loss <= floor + CONVERGED_RTOL * max(m.loss0, 1.0)),
            auto=auto,
            halfway_step_theory_gf=ov.halfway_theory_gf,
            theory_applies=ov.applies,
            theory_reason=ov.reasons,
            theory_alignment=ov.alignment,
            ode_exponent=exponents[b],
            ode_exponent_theory=2.0 - 2.0 / runner.depth,
            auto_reached=auto_reached,
        )
        builder = functools.partial(_member_frames, p, snaps, b, m.diverged_step, ov, summary)
        series = functools.partial(_member_series, snaps, b, m.diverged_step)
        out.append(RunResult(cfg, p, summary, [w[b].copy() for w in final], builder=builder,
                             initial_weights=[w.copy() for w in runner.init_weights[b]], series=series))
    return out


def _curvature_hooks(runner: Runner, cfgs, sharp: bool, first_layer: bool | None) -> tuple:
    """The optional snapshot hooks (curvature.py): sharpness tracker, first-layer trace (or None each).

    ``first_layer=None``: traced for a single run on a target with named items (the hierarchy).
    """
    tracker = trace = None
    if sharp:
        n = sum(a * b for a, b in itertools.pairwise(cfgs[0].layer_dims))
        if n > curvature.MAX_PARAMS:
            raise ConfigError("sharpness", f"needs a network with at most {curvature.MAX_PARAMS:,} weights", n)
        tracker = curvature.SharpnessTracker(runner.problem, len(cfgs))
        runner.snapshot_hooks.append(tracker)
    # None: a single run only; a sweep of hierarchy networks would keep S × B copies of W_1
    if first_layer or (first_layer is None and len(cfgs) == 1 and runner.problem.labels_in is not None):
        trace = curvature.FirstLayerTrace()
        runner.snapshot_hooks.append(trace)
    return tracker, trace


def _attach_curvature(out: list[RunResult], runner: Runner, tracker, trace) -> None:
    """Each member's curvature frame and first-layer trace, set on its RunResult (None when not asked)."""
    sharp_min = None
    if tracker is not None and out[0].summary.lr_cap is not None:
        sharp_min = 2.0 / out[0].summary.lr_cap
    for b, (res, m) in enumerate(zip(out, runner.members)):
        if tracker is not None:
            res.curvature = tracker.frame(b, m.lr, sharp_min, m.diverged_step)
            res.sharpness_seconds = tracker.seconds / len(out)
        if trace is not None:
            res.first_layer = trace.member(b, m.diverged_step)


def _attach_trace(out: list[RunResult], runner: Runner) -> None:
    """Each member's trace frame (rows before its divergence step, like its snapshots)."""
    tr = runner.trace
    steps = tr.steps[: tr.n]
    for b, (res, m) in enumerate(zip(out, runner.members)):
        keep = steps < m.diverged_step if m.diverged_step is not None else slice(None)
        res.trace = frames.trace_frame(steps[keep], m.lr, tr.loss[: tr.n, b][keep], tr.u[: tr.n, b][keep])


# ------------------------------------------------------------------------------------------- public
def run_batch(
    cfgs: Sequence[RunConfig],
    progress: Progress | None = None,
    *,
    limits: Limits | None = None,
    backend: str | None = None,
    sharpness: bool = False,
    first_layer: bool | None = None,
    trace: str | int | None = None,
    record_fields: str = "all",
) -> list[RunResult]:
    """Run B configs as one batched program; equals running each alone (to rounding, ~1e-12 in float64).

    Members must share target, network and optim (steps, record, n_snapshots, device, dtype) and may
    differ in init (scheme, scale, seed, lambda_b) and lr. ``progress(fraction)`` is called as the
    run advances. ``backend`` (a steppers.STEPPERS name: "numpy" | "fused" | "torch") overrides the CPU
    default, which is steppers.choose's measured rule (fused numba kernel for small float64 networks).
    ``sharpness=True``: each result also carries ``curvature`` (curvature.CURVATURE_COLUMNS, the
    Hessian's top eigenvalues at every snapshot) and ``sharpness_seconds`` (its cost); ``first_layer``
    (None: only for a single hierarchy run) records W_1 at every snapshot as ``result.first_layer``.
    ``trace`` ("none" | "every" | N, config.check_trace): also record loss and mode strengths every N
    steps inside the step loop (steppers.Trace, no SVD) as ``result.trace`` (frames.trace_columns);
    the full diagnostics stay at the snapshots. ``record_fields="summary"``: the snapshots measure only
    what the summary reads (record.SUMMARY_FIELDS, no SVD); the summary is the same, and the results
    have no frames (a sweep that keeps only its summary frame).
    """
    cfgs = list(cfgs)
    _check_batch(cfgs)
    if record_fields not in RECORD_FIELDS:
        raise ConfigError("record_fields", f"must be one of {', '.join(sorted(RECORD_FIELDS))}", record_fields)
    trace_every = check_trace(trace)
    limits = limits or current_limits()
    check_cap("batch", len(cfgs), limits.max_batch, "networks in one batch")
    for c in cfgs:
        c.check_limits(limits)
    steps = cfgs[0].optim.steps
    what = "this run" if len(cfgs) == 1 else f"this batch of {len(cfgs)} networks"
    cpu = limits.max_cpu_seconds
    extra = 0.0  # sharpness tracking is priced too (budget.sharpness_seconds), on top of the training
    if sharpness:
        opt = cfgs[0].optim
        n = sum(a * b for a, b in itertools.pairwise(cfgs[0].layer_dims))
        snaps = budget.snapshot_count(limits.max_steps if steps == "auto" else int(steps), opt.record, opt.n_snapshots)
        extra = budget.sharpness_seconds(n, len(cfgs), snaps)
    if steps == "auto" and trace_every is not None:  # the length is unknown: price the trace at the step cap
        extra += budget.trace_seconds(cfgs[0].layer_dims, len(cfgs), budget.trace_rows(limits.max_steps, trace_every))
    if steps == "auto":  # the search stops where the budget would run out (reported: auto_reached False)
        search_cap = budget.auto_search_cap(cfgs, cpu - extra, limits.max_steps, AUTO_MIN_STEPS)
        if search_cap < CHUNK:  # not even one chunk of search fits: refuse with the smallest run's cost
            smallest = budget.auto_seconds(cfgs, CHUNK, limits.max_steps, AUTO_MIN_STEPS) + extra
            budget.check_budget(max(smallest, math.nextafter(cpu, math.inf)), cpu, what, budget.TRAIN_HINT)
    else:
        if trace_every is not None:
            check_trace_size(trace_every, int(steps), len(cfgs), min(cfgs[0].layer_dims[0], cfgs[0].layer_dims[-1]))
        budget.check_budget(budget.batch_seconds(cfgs, int(steps), trace_every) + extra, cpu, what, budget.TRAIN_HINT)
    t0 = time.perf_counter()
    problem = build_problem(cfgs[0].target)
    requested = backend
    backend, device = resolve_backend(cfgs[0].optim.device, backend)
    if requested is None and backend == "numpy":
        backend = "auto"  # the runner picks numpy or fused for the network shape (steppers.choose)
    # network-steps, for steppers.choose: an "auto" run may stop after AUTO_MIN_STEPS, so it is priced
    # at that (its cap would buy a foreground compile for a run that may take a fraction of a second)
    work = len(cfgs) * (AUTO_MIN_STEPS if steps == "auto" else int(steps))
    runner = Runner(cfgs, problem, backend, device, progress, work, trace_every, record_fields)
    tracker, first = _curvature_hooks(runner, cfgs, sharpness, first_layer)
    auto_reached, frac0 = None, 0.0
    if steps == "auto":  # False: never within AUTO_LOSS of the floor within the search
        floor = loss_floor(problem, cfgs[0].network.depth, cfgs[0].width)
        total, auto_reached = runner.find_auto_steps(max(search_cap, CHUNK), limits.max_steps, floor)
        cfgs[0].check_snapshots(total, limits)  # 'every N' recording: the count is known only now
        if trace_every is not None:
            check_trace_size(trace_every, total, len(cfgs), problem.r)
        frac0 = 0.2
    else:
        total = int(steps)
    snaps, final = runner.simulate(total, frac0)
    out = _results(runner, snaps, final, total, steps == "auto", auto_reached, time.perf_counter() - t0)
    _attach_curvature(out, runner, tracker, first)
    if runner.trace is not None:
        _attach_trace(out, runner)
    runner._report(1.0)
    return out


def run(
    cfg: RunConfig,
    progress: Progress | None = None,
    *,
    limits: Limits | None = None,
    backend: str | None = None,
    sharpness: bool = False,
    first_layer: bool | None = None,
    trace: str | int | None = None,
) -> RunResult:
    """Train one network (see run_batch)."""
    return run_batch([cfg], progress, limits=limits, backend=backend, sharpness=sharpness,
                     first_layer=first_layer, trace=trace)[0]


__all__ = ["FRAME_NAMES", "RunResult", "RunSummary", "batch_key", "build_problem", "init_weights", "loss_floor",
           "lr_cap", "run", "run_batch", "snapshot_steps"]

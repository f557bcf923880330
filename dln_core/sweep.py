"""Sweeps: a grid of configurations → batched runs → one tidy summary frame (THEORY.md §2, §6).

A sweep varies any of depth, init scale, learning rate, target singular values and seed; everything
else (init scheme, target kind, width, input covariance, steps, snapshot spacing) is fixed for the
whole sweep and given as a flat config dict (the keys of :meth:`RunConfig.to_flat`).

Members that share a shape (same target, network, steps and snapshot schedule) run as ONE call to
:func:`dln_core.engine.run_batch`; grouping is automatic (steps="auto" members run one by one,
each to its own length). The caps: networks, networks × steps, networks × snapshots. The summary has one row per
(member, mode): the member's config, the measured halfway and rise times, and their gradient-flow
predictions from the *measured* initial strength u0 (THEORY.md §2: use the measured u_i(0), not
init_scale**L). With the ``aligned`` init (the default for scaling sweeps) u0 = init_scale**L exactly,
so the scaling laws show without alignment transients.

Time is gradient-flow time t = lr·step (THEORY.md §1) in every ``*_time`` column.

The Theory & scaling page's figures, built on this module, live in :mod:`dln_core.studies`.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import budget, theory
from ._numeric import crossing_time, fit_log_law, fit_power_law
from .budget import TRAIN_HINT, check_budget
from .config import RunConfig, parse_floats  # the one comma-list parser (re-exported for studies and the CLI)
from .engine import AUTO_MIN_STEPS, CHUNK, batch_key, run_batch
from .errors import ConfigError
from .limits import Limits, check_cap, current_limits
from .runner import snapshot_steps
from .sweep_executor import run_members_on

Progress = Callable[[float, str], None]

# Columns of the sweep summary, one row per (member, mode). Config columns first.
CONFIG_COLUMNS = [
    "member",
    "depth",
    "width",
    "init_scheme",
    "init_scale",
    "lr",
    "seed",
    "singular_values",
    "input_kind",
    "steps",
]
SUMMARY_COLUMNS = [
    *CONFIG_COLUMNS,
    "mode",
    "lambda",
    "input_variance",
    "u0",
    "halfway_step",
    "halfway_time",
    "halfway_step_theory",
    "halfway_time_theory",
    "halfway_step_theory_gf",
    "theory_start_step",
    "theory_applies",
    "tau_half_theory",
    "tau_half_asymptotic",
    "rise_time",
    "rise_time_theory",
    "final_loss",
    "converged",
    "diverged",
    "diverged_step",
    "outcome",
]

@dataclass(frozen=True)
class SweepSpec:
    """A grid: the cartesian product of the axis tuples, on top of the fixed ``base`` flat config.

    ``singular_values`` entries are comma strings (e.g. ``"6,4,3"``); an empty tuple keeps the base
    target. ``base`` holds any other flat key of :meth:`RunConfig.make` (init_scheme, target_kind,
    width, steps, record, input_kind, ...).
    """

    depths: tuple[int, ...] = (2,)
    init_scales: tuple[float, ...] = (1e-2,)
    lrs: tuple[float, ...] = (0.02,)
    seeds: tuple[int, ...] = (0,)
    singular_values: tuple[str, ...] = ()
    base: dict = field(default_factory=lambda: {"init_scheme": "aligned", "steps": 2000})

    def __post_init__(self) -> None:
        for name in ("depths", "init_scales", "lrs", "seeds"):
            if len(getattr(self, name)) == 0:
                raise ConfigError(name, "needs at least one value", ())

    @property
    def size(self) -> int:
        n_sv = max(1, len(self.singular_values))
        return len(self.depths) * len(self.init_scales) * len(self.lrs) * len(self.seeds) * n_sv


@dataclass
class SweepResult:
    """What a sweep returns: the summary frame plus cost figures (and optionally the raw results)."""

    summary: pd.DataFrame
    wall_time_s: float
    network_steps: int
    n_members: int
    n_batches: int
    results: list = field(default_factory=list)  # RunResult per member, if keep_results=True


# --------------------------------------------------------------------------------------------
# grid → members → batches


def build_members(spec: SweepSpec) -> list:
    """All member configs of the grid, in a stable order (depth, sv, scale, lr, seed)."""
    sv_axis: Sequence[str | None] = spec.singular_values or (None,)
    members = []
    for depth, sv, scale, lr, seed in itertools.product(
        spec.depths, sv_axis, spec.init_scales, spec.lrs, spec.seeds
    ):
        flat = dict(spec.base)
        flat.update(depth=int(depth), init_scale=float(scale), lr=float(lr), seed=int(seed))
        if sv is not None:
            flat["singular_values"] = sv
            if flat.get("target_kind", "article") == "article":
                flat["target_kind"] = "spectrum"
        members.append(RunConfig.make(**flat))
    return members


def member_steps(cfg, limits: Limits | None = None) -> int:
    """Steps a member may run (for steps="auto" the cap on steps, its upper bound)."""
    steps = cfg.optim.steps
    if isinstance(steps, int):
        return steps
    return (limits or current_limits()).max_steps


def member_snapshots(cfg, limits: Limits | None = None) -> int:
    """Snapshots a member records at most (runner.snapshot_steps: step 0, every N-th or ~n log-spaced
    steps, and the last), from the steps bound of :func:`member_steps` (for "auto" with every-N
    recording also bounded by the per-run cap limits.max_snapshots); memory grows with these."""
    total = member_steps(cfg, limits)
    record = cfg.optim.record
    if record == "log":  # about n, a few % more where the log grid is refined: count exactly
        return _log_snapshot_count(total, int(cfg.optim.n_snapshots))
    every = int(record)
    n = total // every + 1 + (total % every != 0)
    if cfg.optim.steps == "auto":  # the engine refuses an auto run over the per-run cap once T is known
        n = min(n, (limits or current_limits()).max_snapshots)
    return n


@functools.lru_cache(maxsize=64)
def _log_snapshot_count(total: int, n: int) -> int:
    return len(snapshot_steps(total, "log", n))


def check_sweep_limits(members: Sequence, limits: Limits) -> None:
    """Refuse a sweep over the caps: too many networks, too many network-steps or network-snapshots
    in total, or any member over a single run's caps."""
    check_cap("sweep size", len(members), limits.max_batch, "networks per sweep")
    total = sum(member_steps(c, limits) for c in members)
    check_cap("sweep network-steps", total, limits.max_network_steps, "networks × steps")
    snaps = sum(member_snapshots(c, limits) for c in members)
    check_cap("sweep snapshots", snaps, limits.max_sweep_snapshots, "networks × snapshots")
    for cfg in members:
        cfg.check_limits(limits)
    check_budget(sum(group_seconds(members, limits)), limits.max_cpu_seconds,
                 f"this sweep of {len(members)} networks", TRAIN_HINT)


def group_seconds(members: Sequence, limits: Limits) -> list[float]:
    """Estimated CPU seconds of each engine batch of a sweep (budget.py; an 'auto' member at its
    shortest run: the engine stops its search where the budget left for it runs out)."""
    out = []
    for group in group_by_shape(members):
        cfgs = [members[i] for i in group]
        steps = cfgs[0].optim.steps
        out.append(budget.auto_seconds(cfgs, CHUNK, limits.max_steps, AUTO_MIN_STEPS) if steps == "auto"
                   else budget.batch_seconds(cfgs, int(steps)))
    return out


def group_by_shape(members: Sequence) -> list[list[int]]:
    """Indices of members grouped into batches, in order of first appearance.

    A steps="auto" member runs alone: a batch finds one length for all its members (until every one
    is below the loss threshold), so only a batch of one gives each member the length ``train``
    would give it. Members share a batch when engine.batch_key (run_batch's contract) is equal."""
    groups: dict = {}
    for i, cfg in enumerate(members):
        key = (batch_key(cfg), i if cfg.optim.steps == "auto" else None)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


# --------------------------------------------------------------------------------------------
# running


def run_members(
    members: Sequence,
    progress: Progress | None = None,
    limits: Limits | None = None,
    record_fields: str = "all",
) -> tuple[list, int]:
    """Run configs grouped by shape, one engine batch per group. Returns (results, n_batches).
    ``record_fields``: engine.run_batch's ("summary": the results have a summary but no frames)."""
    limits = limits or current_limits()
    check_sweep_limits(members, limits)  # before any work: an over-cap sweep is refused outright
    groups = group_by_shape(members)
    weights = [sum(member_steps(members[i], limits) for i in g) for g in groups]
    estimates = group_seconds(members, limits)
    total = float(sum(weights)) or 1.0
    results: list = [None] * len(members)
    done = 0.0
    for gi, (group, w) in enumerate(zip(groups, weights)):
        label = f"batch {gi + 1}/{len(groups)}: {len(group)} networks, depth {members[group[0]].network.depth}"

        def on_batch(frac: float, _done=done, _w=w, _label=label) -> None:
            if progress is not None:
                progress(min(1.0, (_done + frac * _w) / total), _label)

        if progress is not None:
            progress(done / total, label)
        # each batch may spend the sweep's budget less what the other batches are estimated to need
        allowance = limits.max_cpu_seconds - (sum(estimates) - estimates[gi])
        batch = run_batch([members[i] for i in group], progress=on_batch,
                          limits=dataclasses.replace(limits, max_cpu_seconds=allowance), record_fields=record_fields)
        for i, res in zip(group, batch):
            results[i] = res
        done += w
    if progress is not None:
        progress(1.0, f"done: {len(members)} networks in {len(groups)} batches")
    return results, len(groups)


def run_sweep(
    spec: SweepSpec,
    progress: Progress | None = None,
    limits: Limits | None = None,
    keep_results: bool = False,
    rise_times: bool = True,
    executor=None,
) -> SweepResult:
    """Build the grid, refuse it if over the caps, run it batched, and summarise it.

    ``executor``: any ``concurrent.futures.Executor`` (e.g. :func:`dln_core.distributed.dask_executor`)
    runs the shape-group batches as parallel tasks (:mod:`dln_core.sweep_executor`); the summary is the
    serial one. Progress then advances per finished batch; ``keep_results`` is not available there.

    ``rise_times=False`` skips the measured 10→90 % rise times (read from each member's recorded mode
    strengths, RunResult.mode_series; no frame is built).

    Without ``keep_results`` the batches record only what the summary reads (engine.run_batch
    ``record_fields="summary"``: no SVD at the snapshots); the summary is the same, bit for bit."""
    members = build_members(spec)
    t0 = time.perf_counter()
    if executor is not None:
        return _run_on_executor(executor, members, progress, limits, rise_times, t0)
    # a summary-only sweep records what the summary reads, no SVD (the same summary; at d = 6 its
    # snapshots cost ~1/7 of the full ones)
    results, n_batches = run_members(members, progress=progress, limits=limits,
                                     record_fields="all" if keep_results else "summary")
    summary = summarize(results, rise_times=rise_times)
    wall = time.perf_counter() - t0  # grid → batches → summary, everything the caller waits for
    network_steps = int(sum(r.summary.steps for r in results))
    return SweepResult(
        summary=summary,
        wall_time_s=wall,
        network_steps=network_steps,
        n_members=len(members),
        n_batches=n_batches,
        results=list(results) if keep_results else [],
    )


def _run_on_executor(executor, members, progress, limits, rise_times, t0) -> SweepResult:
    limits = limits or current_limits()
    check_sweep_limits(members, limits)  # refused before anything is submitted
    groups = group_by_shape(members)
    weights = [sum(member_steps(members[i], limits) for i in g) for g in groups]
    rows = run_members_on(executor, run_batch_rows, members, groups, weights, limits, rise_times, progress)
    summary = summarize_rows(rows)
    if progress is not None:
        progress(1.0, f"done: {len(members)} networks in {len(groups)} batches")
    steps = {row["member"]: row["steps"] for row in rows}
    return SweepResult(summary=summary, wall_time_s=time.perf_counter() - t0,
                       network_steps=int(sum(steps.values())), n_members=len(members), n_batches=len(groups))


# --------------------------------------------------------------------------------------------
# summary


def input_variances(problem) -> np.ndarray:
    """d_i per mode: Σxx variance along v*_i (1 when whitened); NaN when inputs do not commute with
    Σyx, where no per-mode theory exists (THEORY.md §6)."""
    if not problem.has_theory:
        return np.full(problem.r, np.nan)
    return np.asarray(problem.mode_d, dtype=float)


def measured_rise_time(t: np.ndarray, u: np.ndarray, target: float) -> float:
    """Time from 10 % to 90 % of the mode's target (NaN if it starts above 10 % or never gets to 90 %).

    Crossings are interpolated in logit(u/target), where a sigmoidal rise is close to a straight line
    (exactly so at L = 2, THEORY.md §2), so a few snapshots across the rise already time it well."""
    if not np.isfinite(target) or target <= 0 or len(u) == 0 or u[0] >= 0.1 * target:
        return math.nan
    f = np.clip(np.asarray(u, float) / target, 1e-300, 1 - 1e-15)
    y = np.log(f) - np.log1p(-f)
    lo, hi = math.log(1 / 9), math.log(9)  # logit(0.1), logit(0.9)
    return crossing_time(t, y, hi) - crossing_time(t, y, lo)


def _scalar(x) -> float:
    return float(np.asarray(x, dtype=float).reshape(-1)[0])


def _nan(x) -> float:
    return math.nan if x is None else float(x)


def run_batch_rows(task: tuple) -> list[dict]:
    """Worker side of a distributed sweep: run one batch and return its summary rows (members keep
    their sweep index; dln_core.sweep_executor)."""
    indices, cfgs, limits, rise_times = task
    results = run_batch(list(cfgs), limits=limits, record_fields="summary")  # rows only: no frames needed
    return [row for i, res in zip(indices, results) for row in summarize_one(i, res, rise_times)]


def summarize_one(index: int, result, rise_times: bool = True) -> list[dict]:
    """Measured summary rows (one per mode) of one member's RunResult; the theory columns are filled
    in by :func:`add_theory` (vectorised over all members at once)."""
    cfg = result.config
    s = result.summary
    lr = cfg.optim.lr
    problem = result.problem
    lam = np.asarray(s.lambda_star, dtype=float)
    u0 = np.asarray(s.u0, dtype=float)
    d = input_variances(problem)
    diverged = s.diverged
    final_loss = float(s.final_loss)
    converged = s.converged  # the engine's verdict: it knows the architecture's loss floor
    outcome = "diverged" if diverged else ("converged" if converged else "not converged")
    t, u = np.zeros(0), np.zeros((0, len(lam)))
    if rise_times and not diverged:
        _, t, u = result.mode_series()  # straight from the recorder: no frame is built for a rise time
    common = {
        "member": index, "depth": cfg.network.depth, "width": cfg.width, "init_scheme": cfg.init.scheme,
        "init_scale": cfg.init.scale, "lr": lr, "seed": cfg.init.seed,
        "singular_values": ",".join(f"{v:g}" for v in lam), "input_kind": cfg.target.input_kind,
        "steps": s.steps, "final_loss": final_loss, "converged": converged, "diverged": diverged,
        "diverged_step": s.diverged_step, "outcome": outcome,
    }
    rows = []
    for i in range(len(lam)):
        hs = s.halfway_step[i]
        hst = s.halfway_step_theory[i]
        rows.append({
            **common,
            "mode": i + 1,
            "lambda": lam[i],
            "input_variance": d[i],
            "u0": u0[i],
            "halfway_step": math.nan if hs is None else float(hs),
            "halfway_time": math.nan if hs is None else lr * float(hs),
            "halfway_step_theory": math.nan if hst is None else float(hst),
            "halfway_time_theory": math.nan if hst is None else lr * float(hst),
            # halfway_step_theory is the finite-η prediction; the gradient-flow value beside it (launch)
            "halfway_step_theory_gf": _nan(s.get("halfway_step_theory_gf", [None] * len(lam))[i]),
            "theory_start_step": _nan(s.get("theory_start_step", [None] * len(lam))[i]),
            "theory_applies": bool(s.get("theory_applies", [hst is not None] * len(lam))[i]),
            "rise_time": math.nan if len(t) == 0 else measured_rise_time(t, u[:, i], lam[i] / d[i]),
        })
    return rows


def add_theory(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill tau_half_theory (exact, from the measured u0), tau_half_asymptotic and rise_time_theory
    (THEORY.md §2, §6), one vectorised theory call per depth. NaN where no per-mode theory applies
    (``theory_applies`` False, non-commuting inputs, u0 ≤ 0, λ = 0) and, for the rise, where u0
    already exceeds 10 %. These are gradient-flow values from u0 at step 0: exact for the aligned init
    the studies use; for other inits compare halfway_step with halfway_step_theory (the launched,
    finite-η prediction)."""
    for col in ("tau_half_theory", "tau_half_asymptotic", "rise_time_theory"):
        frame[col] = np.nan
    lam = frame["lambda"].to_numpy(float)
    u0 = frame["u0"].to_numpy(float)
    d = frame["input_variance"].to_numpy(float)
    ok = (u0 > 0) & (lam > 0) & np.isfinite(d) & (d > 0)
    if "theory_applies" in frame:  # from u0 only where the run's theory is launched at all (dln_core.launch)
        ok &= frame["theory_applies"].to_numpy(bool)
    for depth in np.unique(frame["depth"].to_numpy()):
        sel = ok & (frame["depth"].to_numpy() == depth)
        if not sel.any():
            continue
        L = int(depth)
        idx = np.nonzero(sel)[0]
        frame.loc[frame.index[idx], "tau_half_theory"] = theory.tau_half(lam[idx], u0[idx], L, d[idx])
        frame.loc[frame.index[idx], "tau_half_asymptotic"] = theory.tau_half_asymptotic(lam[idx], u0[idx], L, d[idx])
        rise = idx[(L >= 2) & (u0[idx] < 0.1 * lam[idx] / d[idx])]
        if len(rise):
            frame.loc[frame.index[rise], "rise_time_theory"] = theory.rise_time(lam[rise], u0[rise], L, d=d[rise])
    return frame


def summarize(results: Sequence, rise_times: bool = True) -> pd.DataFrame:
    """The tidy sweep summary: one row per (member, mode), columns :data:`SUMMARY_COLUMNS`
    (``rise_times=False``: measured rise_time left NaN, see :func:`run_sweep`)."""
    return summarize_rows([row for i, res in enumerate(results) for row in summarize_one(i, res, rise_times)])


def summarize_rows(rows: list[dict]) -> pd.DataFrame:
    """The summary frame from :func:`summarize_one` rows (serial and executor paths alike)."""
    frame = add_theory(pd.DataFrame(rows, columns=SUMMARY_COLUMNS))
    frame["diverged_step"] = frame["diverged_step"].astype("Int64")
    for col in ("converged", "diverged"):
        frame[col] = frame[col].astype(bool)
    return frame


# --------------------------------------------------------------------------------------------
# fitting the scaling laws (THEORY.md §2: log law at L = 2, power law 1 − 2/L beyond)


def predicted_exponent(depth: int, lam: float) -> tuple[str, float]:
    """(law, predicted slope): ("log", 1/(2λ)) at L = 2, ("power", −(1 − 2/L)) for L > 2."""
    if depth == 2:
        return "log", 1.0 / (2.0 * lam)
    return "power", -(1.0 - 2.0 / depth)


def fit_scaling(summary: pd.DataFrame, mode: int = 1) -> pd.DataFrame:
    """Per depth: the fitted slope of the measured halfway times with its standard error
    (``fitted_slope_se``, from the residuals of the fit over every member, seeds included; NaN with
    fewer than 3 points), the same fit applied to the exact theory at the same u0 (finite-u0
    corrections included) and the asymptotic prediction."""
    rows = []
    sel = summary[(summary["mode"] == mode) & ~summary["diverged"].astype(bool)]
    for depth, g in sel.groupby("depth"):
        depth = int(depth)
        if depth < 2:
            continue
        lam = float(g["lambda"].iloc[0])
        law, predicted = predicted_exponent(depth, lam)
        fitter = fit_log_law if law == "log" else fit_power_law
        meas = fitter(g["u0"], g["halfway_time"])
        theo = fitter(g["u0"], g["tau_half_theory"])
        rows.append(
            {
                "depth": depth,
                "law": "τ vs ln(1/u0)" if law == "log" else "log τ vs log u0",
                "fitted_slope": meas.slope,
                "fitted_slope_se": meas.stderr,
                "theory_slope_same_u0": theo.slope,
                "predicted_slope": predicted,
                "r2": meas.r2,
                "n_points": meas.n,
            }
        )
    return pd.DataFrame(
        rows,
        columns=["depth", "law", "fitted_slope", "fitted_slope_se", "theory_slope_same_u0", "predicted_slope", "r2",
                 "n_points"],
    )


# --------------------------------------------------------------------------------------------
# input parsing shared by the CLI and the page (comma lists → tuples, ConfigError on bad text)


def parse_ints(field: str, text: str, lo: int = 1, hi: int | None = None) -> tuple[int, ...]:
    """``"2,3,4"`` → (2, 3, 4), each in [lo, hi]; ConfigError naming ``field`` otherwise."""
    values = parse_floats(field, text)
    hi_txt = "∞" if hi is None else str(hi)
    if any(v != int(v) or v < lo or (hi is not None and v > hi) for v in values):
        raise ConfigError(field, f"must be a comma-separated list of integers in [{lo}, {hi_txt}]", text)
    return tuple(int(v) for v in values)

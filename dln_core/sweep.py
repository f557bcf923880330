"""Sweeps: a grid of configurations → batched runs → one tidy summary frame (THEORY.md §2, §6).

A sweep varies any of depth, init scale, learning rate, target singular values and seed; everything
else (init scheme, target kind, width, input covariance, steps, snapshot spacing) is fixed for the
whole sweep and given as a flat config dict (the keys of :meth:`RunConfig.to_flat`).

Members that share a shape (same target, network, steps and snapshot schedule) run as ONE call to
:func:`dln_core.engine.run_batch`; grouping is automatic. The summary has one row per
(member, mode): the member's config, the measured halfway and rise times, and their gradient-flow
predictions from the *measured* initial strength u0 (THEORY.md §2: use the measured u_i(0), not
init_scale**L). With the ``aligned`` init (the default for scaling sweeps) u0 = init_scale**L exactly,
so the scaling laws show without alignment transients.

Time is gradient-flow time t = lr·step (THEORY.md §1) in every ``*_time`` column.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from .errors import ConfigError
from .limits import Limits, check_cap, current_limits

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

# A member "converged" when its final loss is this close (relative to the loss at the origin)
# to the global minimum; a member that neither converged nor diverged is "oscillating/slow".
CONVERGED_RTOL = 1e-6


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
    from .config import RunConfig

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


def check_sweep_limits(members: Sequence, limits: Limits) -> None:
    """Refuse a sweep over the caps: too many networks, or too many network-steps in total."""
    check_cap("sweep size", len(members), limits.max_batch, "networks per sweep")
    total = sum(member_steps(c, limits) for c in members)
    check_cap("sweep network-steps", total, limits.max_network_steps, "networks × steps")
    for cfg in members:
        cfg.check_limits(limits)


def shape_key(cfg):
    """Members with equal keys can share one engine batch (engine.run_batch's contract):
    everything but the init (scale, seed, scheme) and the learning rate."""
    from .config import InitConfig

    return replace(cfg, init=InitConfig(), optim=replace(cfg.optim, lr=0.01))


def group_by_shape(members: Sequence) -> list[list[int]]:
    """Indices of members grouped into batches, in order of first appearance."""
    groups: dict = {}
    for i, cfg in enumerate(members):
        groups.setdefault(shape_key(cfg), []).append(i)
    return list(groups.values())


# --------------------------------------------------------------------------------------------
# running


def run_members(
    members: Sequence,
    progress: Progress | None = None,
    limits: Limits | None = None,
) -> tuple[list, int]:
    """Run configs grouped by shape, one engine batch per group. Returns (results, n_batches)."""
    limits = limits or current_limits()
    check_sweep_limits(members, limits)  # before any work: an over-cap sweep is refused outright
    from .engine import run_batch
    groups = group_by_shape(members)
    weights = [sum(member_steps(members[i], limits) for i in g) for g in groups]
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
        batch = run_batch([members[i] for i in group], progress=on_batch, limits=limits)
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
) -> SweepResult:
    """Build the grid, refuse it if over the caps, run it batched, and summarise it.

    ``rise_times=False`` skips the measured 10→90 % rise times: they need each member's snapshot
    frames, which the engine otherwise never builds (about 40 ms per network)."""
    members = build_members(spec)
    t0 = time.perf_counter()
    results, n_batches = run_members(members, progress=progress, limits=limits)
    summary = summarize(results, rise_times=rise_times)
    wall = time.perf_counter() - t0  # grid → batches → summary, everything the caller waits for
    network_steps = int(sum(int(r.summary["steps"]) for r in results))
    return SweepResult(
        summary=summary,
        wall_time_s=wall,
        network_steps=network_steps,
        n_members=len(members),
        n_batches=n_batches,
        results=list(results) if keep_results else [],
    )


# --------------------------------------------------------------------------------------------
# summary


def input_variances(problem) -> np.ndarray:
    """d_i per mode: Σxx variance along v*_i (1 when whitened); NaN when inputs do not commute with
    Σyx, where no per-mode theory exists (THEORY.md §6)."""
    if not problem.has_theory:
        return np.full(problem.r, np.nan)
    return np.asarray(problem.mode_d, dtype=float)


def crossing_time(t: np.ndarray, u: np.ndarray, level: float) -> float:
    """First time u(t) reaches ``level`` (linear interpolation between snapshots); NaN if never."""
    above = np.nonzero(u >= level)[0]
    if len(above) == 0:
        return math.nan
    k = int(above[0])
    if k == 0:
        return float(t[0])
    u0, u1 = u[k - 1], u[k]
    frac = (level - u0) / (u1 - u0) if u1 != u0 else 1.0
    return float(t[k - 1] + frac * (t[k] - t[k - 1]))


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


def theory_rise_time(lam: float, u0: float, depth: int, d: float = 1.0) -> float:
    """Gradient-flow 10 %→90 % rise time of the target λ/d (THEORY.md §2 via theory.rise_time);
    NaN when u0 already starts above 10 % (as for the measured value) or d is unknown."""
    from . import theory

    if depth < 2 or not np.isfinite(d) or d <= 0 or u0 >= 0.1 * lam / d:
        return math.nan
    return _scalar(theory.rise_time(lam, u0, depth, d=d))


def _scalar(x) -> float:
    return float(np.asarray(x, dtype=float).reshape(-1)[0])


def summarize_one(index: int, result, rise_times: bool = True) -> list[dict]:
    """Measured summary rows (one per mode) of one member's RunResult; the theory columns are filled
    in by :func:`add_theory` (vectorised over all members at once)."""
    cfg = result.config
    s = result.summary
    lr = cfg.optim.lr
    problem = result.problem
    lam = np.asarray(s["lambda_star"], dtype=float)
    u0 = np.asarray(s["u0"], dtype=float)
    d = input_variances(problem)
    diverged = bool(s["diverged"])
    levels = s.get("plateau_levels") or [0.5 * float(np.sum(lam**2))]
    final_loss = float(s["final_loss"])
    # converged: close to the global minimum loss (relative to the loss at the origin)
    min_loss = float(levels[-1]) if len(levels) else 0.0
    scale = max(float(levels[0]) if len(levels) else 1.0, 1e-12)
    converged = (not diverged) and np.isfinite(final_loss) and (final_loss - min_loss) <= CONVERGED_RTOL * scale
    outcome = "diverged" if diverged else ("converged" if converged else "not converged")
    if rise_times and not diverged:
        modes = result.modes  # builds this member's frames (the engine does so lazily)
        order = np.argsort(modes["step"].to_numpy(), kind="stable")
        m_all = modes["mode"].to_numpy()[order]
        t_all = modes["t"].to_numpy(float)[order]
        u_all = modes["u"].to_numpy(float)[order]
    else:
        m_all = t_all = u_all = np.zeros(0)
    common = {
        "member": index, "depth": cfg.network.depth, "width": cfg.width, "init_scheme": cfg.init.scheme,
        "init_scale": cfg.init.scale, "lr": lr, "seed": cfg.init.seed,
        "singular_values": ",".join(f"{v:g}" for v in lam), "input_kind": cfg.target.input_kind,
        "steps": int(s["steps"]), "final_loss": final_loss, "converged": bool(converged), "diverged": diverged,
        "diverged_step": s.get("diverged_step"), "outcome": outcome,
    }
    rows = []
    for i in range(len(lam)):
        hs = s["halfway_step"][i]
        hst = s["halfway_step_theory"][i]
        sel = m_all == i + 1
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
            "rise_time": math.nan if diverged or not sel.any()
            else measured_rise_time(t_all[sel], u_all[sel], lam[i] / d[i]),
        })
    return rows


def add_theory(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill tau_half_theory (exact, from the measured u0), tau_half_asymptotic and rise_time_theory
    (THEORY.md §2, §6), one vectorised theory call per depth. NaN where no per-mode theory applies
    (non-commuting inputs, u0 ≤ 0, λ = 0) and, for the rise, where u0 already exceeds 10 %."""
    from . import theory

    for col in ("tau_half_theory", "tau_half_asymptotic", "rise_time_theory"):
        frame[col] = np.nan
    lam = frame["lambda"].to_numpy(float)
    u0 = frame["u0"].to_numpy(float)
    d = frame["input_variance"].to_numpy(float)
    ok = (u0 > 0) & (lam > 0) & np.isfinite(d) & (d > 0)
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
    rows = [row for i, res in enumerate(results) for row in summarize_one(i, res, rise_times)]
    frame = add_theory(pd.DataFrame(rows, columns=SUMMARY_COLUMNS))
    frame["diverged_step"] = frame["diverged_step"].astype("Int64")
    for col in ("converged", "diverged"):
        frame[col] = frame[col].astype(bool)
    return frame


# --------------------------------------------------------------------------------------------
# fitting the scaling laws (THEORY.md §2: log law at L = 2, power law 1 − 2/L beyond)


@dataclass(frozen=True)
class Fit:
    slope: float
    intercept: float
    r2: float
    n: int


def _linfit(x: np.ndarray, y: np.ndarray) -> Fit:
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 2 or np.ptp(x) == 0:
        return Fit(math.nan, math.nan, math.nan, len(x))
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    ss = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / ss if ss > 0 else 1.0
    return Fit(float(slope), float(intercept), r2, len(x))


def fit_power_law(u0, tau) -> Fit:
    """Slope of log τ against log u0 (the power-law exponent; −(1 − 2/L) predicted for L > 2)."""
    u0 = np.asarray(u0, float)
    tau = np.asarray(tau, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _linfit(np.log(u0), np.log(tau))


def fit_log_law(u0, tau) -> Fit:
    """Slope of τ against ln(1/u0) (the L = 2 law; 1/(2λ) predicted)."""
    u0 = np.asarray(u0, float)
    tau = np.asarray(tau, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _linfit(np.log(1.0 / u0), tau)


def predicted_exponent(depth: int, lam: float) -> tuple[str, float]:
    """(law, predicted slope): ("log", 1/(2λ)) at L = 2, ("power", −(1 − 2/L)) for L > 2."""
    if depth == 2:
        return "log", 1.0 / (2.0 * lam)
    return "power", -(1.0 - 2.0 / depth)


def fit_scaling(summary: pd.DataFrame, mode: int = 1) -> pd.DataFrame:
    """Per depth: the fitted slope of the measured halfway times, the same fit applied to the exact
    theory at the same u0 (finite-u0 corrections included) and the asymptotic prediction."""
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
                "theory_slope_same_u0": theo.slope,
                "predicted_slope": predicted,
                "r2": meas.r2,
                "n_points": meas.n,
            }
        )
    return pd.DataFrame(
        rows,
        columns=["depth", "law", "fitted_slope", "theory_slope_same_u0", "predicted_slope", "r2", "n_points"],
    )


def theory_halfway_curve(lam: float, depths: Sequence[int], u0_min: float, u0_max: float, n: int = 60) -> pd.DataFrame:
    """Dense gradient-flow halfway-time curves τ½(u0) per depth (THEORY.md §2), for chart lines."""
    from . import theory

    u0 = np.geomspace(u0_min, u0_max, n)
    frames = []
    for depth in depths:
        tau = np.asarray(theory.tau_half(lam, u0, int(depth)), dtype=float).reshape(-1)
        frames.append(pd.DataFrame({"depth": int(depth), "u0": u0, "tau_half_theory": tau}))
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------------------------
# input parsing shared by the CLI and the page (comma lists → tuples, ConfigError on bad text)


def parse_floats(field: str, text: str, positive: bool = False) -> tuple[float, ...]:
    """``"1e-3, 1e-2"`` → (0.001, 0.01); ConfigError naming ``field`` on bad or empty input."""
    try:
        values = tuple(float(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        raise ConfigError(field, "must be a comma-separated list of numbers", text) from None
    if not values or not all(math.isfinite(v) for v in values):
        raise ConfigError(field, "must list at least one finite number", text)
    if positive and min(values) <= 0:
        raise ConfigError(field, "every value must be > 0", text)
    return values


def parse_ints(field: str, text: str, lo: int = 1, hi: int | None = None) -> tuple[int, ...]:
    """``"2,3,4"`` → (2, 3, 4), each in [lo, hi]; ConfigError naming ``field`` otherwise."""
    values = parse_floats(field, text)
    hi_txt = "∞" if hi is None else str(hi)
    if any(v != int(v) or v < lo or (hi is not None and v > hi) for v in values):
        raise ConfigError(field, f"must be a comma-separated list of integers in [{lo}, {hi_txt}]", text)
    return tuple(int(v) for v in values)


# --------------------------------------------------------------------------------------------
# studies: the page's figures, each one call (grid → batched runs → frames). Aligned init by
# default: u0 = init_scale**L exactly, so the laws of THEORY.md §2 show without alignment transients.


def steps_to_reach(lam: float, u0: float, depth: int, lr: float, fraction: float = 0.5, margin: float = 1.3,
                   d: float = 1.0) -> int:
    """Steps for a mode to reach ``fraction`` of its target λ/d under gradient flow (×margin), from
    THEORY.md §2's exact time-to-reach; used to size runs so the measured event is inside them."""
    from . import theory

    target = lam / d
    if depth == 1 or u0 >= fraction * target:
        t = 5.0 / (d * max(lam, 1e-12))  # L = 1 is exponential at rate d (any u0): a few e-folds
    else:
        t = _scalar(theory.time_to_reach(u0, fraction * target, lam, depth, d))
    return max(10, math.ceil(margin * t / lr))


def _record_every(steps: int, snapshots: int) -> int:
    """Snapshot spacing giving about ``snapshots`` snapshots (memory stays flat in steps)."""
    return max(1, steps // snapshots)


def _spectrum(text: str) -> tuple[float, ...]:
    values = parse_floats("singular values", text, positive=True)
    return tuple(sorted(values, reverse=True))


def study_scaling(
    depths: Sequence[int] = (2, 3, 4),
    singular_values: str = "1",
    u0_min: float = 1e-4,
    u0_max: float = 1e-2,
    n_points: int = 5,
    lr: float = 0.02,
    snapshots: int = 60,
    progress: Progress | None = None,
    limits: Limits | None = None,
) -> dict[str, pd.DataFrame]:
    """Figure 1: halfway time of mode 1 vs u0 per depth (aligned init, u0 = scale**L), with the exact
    theory curve and per-depth fits (log law at L = 2, power law −(1 − 2/L) beyond; THEORY.md §2)."""
    from .config import RunConfig

    lam = _spectrum(singular_values)
    if not (0 < u0_min < u0_max < lam[0] / 2):
        raise ConfigError("u0 range", f"must satisfy 0 < u0_min < u0_max < λ1/2 = {lam[0] / 2:g}", (u0_min, u0_max))
    if not 2 <= n_points <= 50:
        raise ConfigError("points per depth", "must be an integer in [2, 50]", n_points)
    sv = ",".join(f"{v!r}" for v in lam)
    members = []
    for depth in depths:
        if depth < 2:
            raise ConfigError("depths", "scaling laws need depth >= 2", depth)
        steps = steps_to_reach(lam[0], u0_min, depth, lr)
        for u0 in np.geomspace(u0_min, u0_max, n_points):
            members.append(RunConfig.make(
                target_kind="spectrum", singular_values=sv, depth=int(depth), init_scheme="aligned",
                init_scale=float(u0) ** (1.0 / depth), lr=lr, steps=steps,
                record=_record_every(steps, snapshots),
            ))
    results, _ = run_members(members, progress=progress, limits=limits)
    summary = summarize(results)
    theory_curve = theory_halfway_curve(lam[0], depths, u0_min, u0_max)
    return {"summary": summary, "theory": theory_curve, "fits": fit_scaling(summary, mode=1)}


def study_learning_order(
    singular_values: str = "6,4,3,2,1,0.5",
    depth: int = 2,
    init_scheme: str = "aligned",
    init_scale: float = 1e-3,
    lr: float = 0.01,
    seed: int = 0,
    snapshots: int = 400,
    progress: Progress | None = None,
    limits: Limits | None = None,
) -> dict[str, pd.DataFrame]:
    """Figure 2: one run; halfway time of every mode vs its λ, measured vs exact theory from the
    measured u0 (THEORY.md §2). Run length: until the weakest mode is well past halfway."""
    from .config import RunConfig

    lam = _spectrum(singular_values)
    u0_guess = init_scale**depth  # exact for aligned; the right order for the other schemes
    steps = steps_to_reach(lam[-1], u0_guess, depth, lr, margin=1.6)
    cfg = RunConfig.make(
        target_kind="spectrum", singular_values=",".join(f"{v!r}" for v in lam), depth=int(depth),
        init_scheme=init_scheme, init_scale=init_scale, lr=lr, seed=seed, steps=steps,
        record=_record_every(steps, snapshots),
    )
    results, _ = run_members([cfg], progress=progress, limits=limits)
    return {"summary": summarize(results)}


def study_sharpness(
    depths: Sequence[int] = (2, 3, 4, 5, 6),
    lam: float = 1.0,
    u0: float = 1e-3,
    lr_fraction: float = 0.02,
    snapshots: int = 150,
    progress: Progress | None = None,
    limits: Limits | None = None,
) -> dict[str, pd.DataFrame]:
    """Figure 3: rise time (10 %→90 %) over halfway time per depth, one aligned single-mode run each;
    η = lr_fraction × the stability cap so that GD tracks gradient flow (THEORY.md §2, §6)."""
    from . import theory
    from .config import RunConfig

    if not 0 < u0 < 0.1 * lam:
        raise ConfigError("u0", f"must be in (0, 0.1·λ = {0.1 * lam:g}) so the 10 % point lies ahead", u0)
    if not 0 < lr_fraction < 1:
        raise ConfigError("lr fraction", "must be in (0, 1)", lr_fraction)
    members = []
    for depth in depths:
        if depth < 2:
            raise ConfigError("depths", "must be integers >= 2 (L = 1 has no plateau)", depth)
        lr = lr_fraction * float(theory.max_stable_lr(theory.sharpness_balanced(lam, depth)))
        steps = steps_to_reach(lam, u0, depth, lr, fraction=0.95, margin=1.1)
        members.append(RunConfig.make(
            target_kind="spectrum", singular_values=repr(float(lam)), depth=int(depth), init_scheme="aligned",
            init_scale=u0 ** (1.0 / depth), lr=lr, steps=steps, record=_record_every(steps, snapshots),
        ))
    results, _ = run_members(members, progress=progress, limits=limits)
    summary = summarize(results)
    frame = summary[summary["mode"] == 1][
        ["depth", "lr", "u0", "rise_time", "halfway_time", "rise_time_theory", "tau_half_theory"]
    ].copy()
    frame["ratio_measured"] = frame["rise_time"] / frame["halfway_time"]
    frame["ratio_theory"] = frame["rise_time_theory"] / frame["tau_half_theory"]
    return {"summary": summary, "ratios": frame.reset_index(drop=True)}


def stability_cap(cfg) -> tuple[float, float, str]:
    """(sharpness, lr cap = 2/sharpness, method) at the balanced global minimum of ``cfg``'s problem:
    closed form L·λ_max^{2−2/L} when whitened, Hessian power iteration otherwise (THEORY.md §6)."""
    from . import theory
    from .targets import build_problem

    problem = build_problem(cfg.target)
    depth = cfg.network.depth
    whitened = cfg.target.input_kind == "whitened" and np.allclose(
        problem.sigma_xx, np.eye(problem.sigma_xx.shape[0])
    )
    if whitened:
        sharp = float(theory.sharpness_balanced(float(problem.lambda_star[0]), depth))
        method = "closed form L·λ^(2−2/L)"
    else:
        weights = theory.balanced_minimum(problem, depth, width=cfg.width)
        sharp = float(theory.sharpness_numeric(problem.sigma_xx, problem.sigma_yx, weights))
        method = "numerical (Hessian power iteration)"
    return sharp, float(theory.max_stable_lr(sharp)), method


def study_stability(
    depths: Sequence[int] = (2, 3),
    singular_values: str = "6,4,3,2,1,0.5",
    factors: Sequence[float] = (0.5, 0.8, 0.95, 1.05, 1.25, 2.0, 3.0),
    u0: float = 1e-3,
    input_eigenvalues: str | None = None,
    progress: Progress | None = None,
    limits: Limits | None = None,
) -> dict[str, pd.DataFrame]:
    """Figure 4: η = factor × predicted cap per depth; each run ends converged, diverged or neither
    (GD past the cap cannot settle into any minimum, THEORY.md §6). Aligned init, u0 = scale**L."""
    from .config import RunConfig

    lam = _spectrum(singular_values)
    if not factors or min(factors) <= 0:
        raise ConfigError("lr factors", "must be numbers > 0 (multiples of the predicted cap)", tuple(factors))
    flat_target: dict = {"target_kind": "spectrum", "singular_values": ",".join(f"{v!r}" for v in lam)}
    if input_eigenvalues:
        flat_target.update(input_kind="commuting", input_eigenvalues=input_eigenvalues)
    members, caps = [], []
    for depth in depths:
        probe = RunConfig.make(**flat_target, depth=int(depth), init_scheme="aligned", init_scale=0.1)
        sharp, cap, method = stability_cap(probe)
        caps.append({"depth": int(depth), "sharpness": sharp, "lr_cap": cap, "method": method})
        # long enough for the slowest mode to settle at the smallest η (≈ 20 e-folds past halfway)
        slow_rate = depth * lam[-1] ** (2 - 2 / depth)
        d_max = max(parse_floats("input eigenvalues", input_eigenvalues)) if input_eigenvalues else 1.0
        lr_min = min(factors) * cap
        steps = steps_to_reach(lam[-1], u0, depth, lr_min, margin=1.0, d=1.0) + math.ceil(
            20.0 * d_max / (slow_rate * lr_min)
        )
        # an unstable direction may start at round-off (1e-16) and grows by |1 − η·sharpness| per
        # step: give it ≥ 2000 steps to show (≈ 380 steps at 1.05 × the cap)
        steps = max(steps, 2000)
        for f in sorted(factors):
            members.append(RunConfig.make(
                **flat_target, depth=int(depth), init_scheme="aligned", init_scale=u0 ** (1.0 / depth),
                lr=float(f) * cap, steps=steps, record="log",
            ))
    results, _ = run_members(members, progress=progress, limits=limits)
    summary = summarize(results)
    # sharpness where each run ended: a run that converged must sit where 2/η exceeds it; with
    # non-whitened inputs that can be an unbalanced minimum flatter than the balanced one
    from . import theory

    final_sharp = [
        float(theory.sharpness_numeric(r.problem.sigma_xx, r.problem.sigma_yx, r.weights))
        if not r.summary["diverged"] else math.nan
        for r in results
    ]
    summary["sharpness_final"] = summary["member"].map(dict(enumerate(final_sharp)))
    summary["two_over_lr"] = 2.0 / summary["lr"]
    cap_frame = pd.DataFrame(caps)
    summary = summary.merge(cap_frame[["depth", "lr_cap"]], on="depth", how="left")
    summary["lr_over_cap"] = (summary["lr"] / summary["lr_cap"]).round(9)  # the requested factors
    return {"summary": summary, "caps": cap_frame}


def _mode_fraction_frame(result, with_theory: bool) -> pd.DataFrame:
    """Long frame of u_i(t)/target_i (measured, and gradient-flow theory with d_i when it exists)."""
    from . import theory

    problem = result.problem
    depth = result.config.network.depth
    modes = result.modes
    lam = np.asarray(problem.lambda_star, float)
    d = input_variances(problem)
    target = np.asarray(problem.target_strength, float)
    labels = {
        i + 1: f"mode {i + 1}: λ={lam[i]:g}" + (f", d={d[i]:g}, λ/d={target[i]:.3g}" if np.isfinite(d[i]) else "")
        for i in range(len(lam))
    }
    keep = target > 0
    frames = []
    meas = modes[modes["mode"].isin(np.nonzero(keep)[0] + 1)]
    frames.append(pd.DataFrame({
        "t": meas["t"].to_numpy(float), "mode": meas["mode"].to_numpy(int),
        "label": meas["mode"].map(labels).to_numpy(),
        "fraction": meas["u"].to_numpy(float) / target[meas["mode"].to_numpy(int) - 1],
        "source": "measured",
    }))
    if with_theory:
        t = np.unique(meas["t"].to_numpy(float))
        u0 = np.asarray(result.summary["u0"], float)
        idx = np.nonzero(keep)[0]
        curves = theory.mode_curve_gf(t, lam[idx], u0[idx], depth, d[idx])
        for j, i in enumerate(idx):
            frames.append(pd.DataFrame({
                "t": t, "mode": i + 1, "label": labels[i + 1], "fraction": curves[:, j] / target[i],
                "source": "theory (gradient flow)",
            }))
    return pd.concat(frames, ignore_index=True)


def _sv_fraction_frame(result) -> pd.DataFrame:
    """Long frame of the sorted singular values of W(t) over those of W* (for non-commuting inputs,
    where per-mode projections have no theory to compare with)."""
    hist = result.history
    w_sv = np.linalg.svd(result.problem.w_star, compute_uv=False)
    frames = []
    for i, sv in enumerate(w_sv):
        col = f"sv_{i + 1}"
        if col not in hist or sv <= 1e-12:
            continue
        frames.append(pd.DataFrame({
            "t": hist["t"].to_numpy(float), "mode": i + 1, "label": f"σ{i + 1}(W) / σ{i + 1}(W*) = {sv:.3g}",
            "fraction": hist[col].to_numpy(float) / sv, "source": "measured",
        }))
    return pd.concat(frames, ignore_index=True)


def study_commuting(
    depth: int = 2,
    singular_values: str = "3,1",
    input_eigenvalues: str = "6,1",
    init_scale: float = 1e-2,
    lr: float = 0.02,
    input_seed: int = 0,
    snapshots: int = 300,
    progress: Progress | None = None,
    limits: Limits | None = None,
) -> dict[str, pd.DataFrame]:
    """Figure 5: non-whitened inputs. Commuting Σxx (shares V* with Σyx): mode i obeys
    du/dt = L u^{2−2/L}(λ_i − d_i u) (THEORY.md §6), so its speed follows the cross-covariance λ_i
    while it converges to λ_i/d_i; a high-variance direction with a small λ_i/d_i can therefore be
    learned before one with a larger λ_i/d_i. Compared with theory. A rotated (non-commuting) Σxx with
    the same variances is simulated as well, with no theory (none is known)."""
    from .config import RunConfig

    lam = parse_floats("singular values", singular_values, positive=True)
    ev = parse_floats("input variances", input_eigenvalues, positive=True)
    if len(ev) != len(lam):
        raise ConfigError("input variances", f"need one per singular value ({len(lam)})", input_eigenvalues)
    if depth < 2:
        raise ConfigError("depth", "must be an integer >= 2 (L = 1 learns every mode at once)", depth)
    u0 = init_scale**depth
    steps = max(steps_to_reach(s, u0, depth, lr, fraction=0.95, margin=1.3, d=d) for s, d in zip(lam, ev))
    common = {
        "target_kind": "spectrum", "singular_values": singular_values, "input_eigenvalues": input_eigenvalues,
        "depth": int(depth), "init_scheme": "aligned", "init_scale": init_scale, "lr": lr, "steps": steps,
        "record": _record_every(steps, snapshots),
    }
    members = [
        RunConfig.make(**common, input_kind="commuting"),
        RunConfig.make(**common, input_kind="rotated", input_seed=input_seed),
    ]
    (commuting, rotated), _ = run_members(members, progress=progress, limits=limits)
    summary = summarize([commuting])
    order = summary[["mode", "lambda", "input_variance", "u0", "halfway_time", "tau_half_theory"]].copy()
    order["target_strength"] = order["lambda"] / order["input_variance"]
    order["order_measured"] = order["halfway_time"].rank(method="first").astype("Int64")
    order["order_theory"] = order["tau_half_theory"].rank(method="first").astype("Int64")
    order["order_by_target_strength"] = (-order["target_strength"]).rank(method="first").astype("Int64")
    return {
        "order": order,
        "commuting_curves": _mode_fraction_frame(commuting, with_theory=True),
        "noncommuting_curves": _sv_fraction_frame(rotated),
        "summary": summary,
    }


def study_exact_l2(
    singular_values: str = "3,2,1",
    rotate_seed: int = 1,
    init_scale: float = 0.1,
    lambda_b: float = 0.0,
    lr: float = 0.01,
    t_max: float = 6.0,
    n_times: int = 14,
    seed: int = 0,
    progress: Progress | None = None,
    limits: Limits | None = None,
) -> dict[str, pd.DataFrame]:
    """Figure 6: GD from a random, unaligned λ-balanced start vs the exact L = 2 matrix solution of
    THEORY.md §4. For step sizes η and η/4, ‖W_GD(t) − W_exact(t)‖_F at log-spaced times t = η·k; the
    gap is the discretisation error of GD (shrinking about in proportion to η), not a modelling error.

    The engine returns final weights only, so each time point is its own (deterministic) run from the
    same seeded start; the cost is a few times the longest run."""
    from . import theory
    from .config import RunConfig
    from .engine import init_weights, run_batch
    from .targets import build_problem

    if not 2 <= n_times <= 40:
        raise ConfigError("time points", "must be an integer in [2, 40]", n_times)
    if not t_max > 0:
        raise ConfigError("t_max", "must be > 0", t_max)
    base = RunConfig.make(
        target_kind="spectrum", singular_values=singular_values, rotate_seed=rotate_seed, depth=2,
        init_scheme="lambda-balanced", init_scale=init_scale, lambda_b=lambda_b, seed=seed, lr=lr, steps=1,
        n_snapshots=2,
    )
    problem = build_problem(base.target)
    W1_0, W2_0 = init_weights(base, problem)
    lrs = (lr, lr / 4)
    plans = []
    for eta in lrs:
        total = max(2, math.ceil(t_max / eta))
        ks = np.unique(np.round(np.geomspace(1, total, n_times)).astype(int))
        plans.extend((eta, int(k)) for k in ks)
    limits = limits or current_limits()
    check_sweep_limits([base.replace(steps=k, lr=eta) for eta, k in plans], limits)
    rows = []
    work = float(sum(k for _, k in plans))
    done = 0.0
    for eta, k in plans:
        if progress is not None:
            progress(done / work, f"GD with η={eta:g} to step {k}")
        res = run_batch([base.replace(steps=k, lr=eta)], limits=limits)[0]
        done += k
        W_gd = res.weights[1] @ res.weights[0]
        W_ex = theory.lambda_balanced_solution(problem.sigma_yx, W1_0, W2_0, eta * k, lambda_b)[0]
        rows.append({
            "lr": eta, "step": k, "t": eta * k, "error": float(np.linalg.norm(W_gd - W_ex)),
            "norm_exact": float(np.linalg.norm(W_ex)), "diverged": bool(res.summary["diverged"]),
        })
    if progress is not None:
        progress(1.0, "done")
    frame = pd.DataFrame(rows)
    frame["rel_error"] = frame["error"] / frame["norm_exact"]
    return {"errors": frame}

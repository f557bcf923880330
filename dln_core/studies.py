"""Studies: the Theory & scaling page's figures, each one call from parameters to tidy frames.

Every study builds a small family of run configs, runs it batched through
:func:`dln_core.sweep.run_members` (the grid machinery behind :func:`dln_core.sweep.run_sweep`, which
in turn calls :func:`dln_core.engine.run_batch`), summarises it with :func:`dln_core.sweep.summarize`
and returns a dict of DataFrames ready for :mod:`dln_core.charts.scaling`. Unless a study says
otherwise the init is ``aligned``, so each mode starts at exactly u0 = init_scale**L and the laws of
THEORY.md §2 show without an alignment transient. Time is gradient-flow time t = lr·step.

- :func:`study_scaling` — does the plateau length (halfway time of mode 1) grow with a small start
  u0 as predicted: logarithmically at depth 2, as a power u0^−(1−2/L) beyond?
- :func:`study_learning_order` — in one run, are the modes learned strongest-λ first, each at its
  exact gradient-flow halfway time?
- :func:`study_sharpness` — does the rise (10 %→90 %) get shorter relative to the plateau as depth
  grows, by the predicted ratio?
- :func:`study_stability` — does the step size 2/sharpness at the balanced minimum
  (:func:`stability_cap`) separate runs that converge from runs that cannot settle (THEORY.md §6)?
The last two live in :mod:`dln_core.studies_matrix` (they look past the scalar mode law):

- :func:`study_commuting` — with non-whitened inputs sharing the target's directions, is the learning
  order set by the cross-covariance λ_i rather than the end point λ_i/d_i? A rotated (non-commuting)
  input covariance is simulated alongside, with no theory to compare against.
- :func:`study_exact_l2` — does gradient descent from an unaligned λ-balanced start follow the exact
  depth-2 matrix solution (THEORY.md §4), with a gap that shrinks in proportion to the step size?

Helpers here size the runs (:func:`steps_to_reach`) and draw theory curves
(:func:`theory_halfway_curve`); every cap check is :mod:`dln_core.sweep`'s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import theory
from .config import RunConfig, split_floats
from .errors import ConfigError
from .limits import Limits, check_cap, current_limits
from .sweep import (
    Progress,
    _scalar,
    fit_scaling,
    parse_floats,
    run_members,
    summarize,
)
from .targets import build_problem


def steps_to_reach(lam: float, u0: float, depth: int, lr: float, fraction: float = 0.5, margin: float = 1.3,
                   d: float = 1.0) -> int:
    """Steps for a mode to reach ``fraction`` of its target λ/d under gradient flow (×margin), from
    THEORY.md §2's exact time-to-reach; used to size runs so the measured event is inside them."""
    target = lam / d
    if depth == 1 or u0 >= fraction * target:
        t = 5.0 / (d * max(lam, 1e-12))  # L = 1 is exponential at rate d (any u0): a few e-folds
    else:
        t = _scalar(theory.time_to_reach(u0, fraction * target, lam, depth, d))
    return max(10, math.ceil(margin * t / lr))


def _record_every(steps: int, snapshots: int) -> int:
    """Snapshot spacing giving about ``snapshots`` snapshots (memory stays flat in steps)."""
    return max(1, steps // snapshots)


def _check_sizes(limits: Limits | None, lists: dict, depths: Sequence | None = None, per_depth: int = 1) -> None:
    """The server's caps from the cheap parts first (list lengths), before any problem is built: a
    2000-value target is refused at once, not after an SVD or a sharpness of a 2000 × 2000 matrix."""
    limits = limits or current_limits()
    for field, value in lists.items():
        if value is None or value == "":
            continue
        try:
            n = len(split_floats(value)) if isinstance(value, str) else len(value)
        except ValueError:
            continue  # not numbers: the full parse below says so
        check_cap(field, n, limits.max_width, "target dimension")
    if depths is not None:
        check_cap("sweep size", len(depths) * per_depth, limits.max_batch, "networks per sweep")


def _spectrum(text: str) -> tuple[float, ...]:
    values = parse_floats("singular values", text, positive=True)
    return tuple(sorted(values, reverse=True))


def theory_halfway_curve(lam: float, depths: Sequence[int], u0_min: float, u0_max: float, n: int = 60) -> pd.DataFrame:
    """Dense gradient-flow halfway-time curves τ½(u0) per depth (THEORY.md §2), for chart lines."""
    u0 = np.geomspace(u0_min, u0_max, n)
    frames = []
    for depth in depths:
        tau = np.asarray(theory.tau_half(lam, u0, int(depth)), dtype=float).reshape(-1)
        frames.append(pd.DataFrame({"depth": int(depth), "u0": u0, "tau_half_theory": tau}))
    return pd.concat(frames, ignore_index=True)


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
    _check_sizes(limits, {"singular values": singular_values}, depths, n_points)
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
    _check_sizes(limits, {"singular values": singular_values})
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
    _check_sizes(limits, {}, depths)
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
    """(sharpness, lr cap = 2/sharpness, method) at the balanced global minimum of ``cfg``'s problem
    (theory.balanced_sharpness: closed form when whitened, else numeric; THEORY.md §6)."""
    sharp, method = theory.balanced_sharpness(build_problem(cfg.target), cfg.network.depth, cfg.width)
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
    _check_sizes(limits, {"singular values": singular_values, "input variances": input_eigenvalues},
                 depths, len(factors))
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
        slow_rate = theory.sharpness_balanced(lam[-1], depth)  # the slowest mode's rate L·λ^(2−2/L)
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
    final_sharp = [
        float(theory.sharpness_numeric(r.problem.sigma_xx, r.problem.sigma_yx, r.weights))
        if not r.summary.diverged else math.nan
        for r in results
    ]
    summary["sharpness_final"] = summary["member"].map(dict(enumerate(final_sharp)))
    summary["two_over_lr"] = 2.0 / summary["lr"]
    cap_frame = pd.DataFrame(caps)
    summary = summary.merge(cap_frame[["depth", "lr_cap"]], on="depth", how="left")
    summary["lr_over_cap"] = (summary["lr"] / summary["lr_cap"]).round(9)  # the requested factors
    return {"summary": summary, "caps": cap_frame}

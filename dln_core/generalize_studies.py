"""Generalisation studies (THEORY §9): many runs of one sample, and the random-matrix level vs dimension.

- :func:`study_init_depth`: the best (early-stopping) step and the lowest test loss over a grid of init
  scales × depths, measured by GD and predicted by the exact level, all on one sample.
- :func:`study_depths`: depth-1 (ridge-like) against deeper students, each at its own best stopping step.
- :func:`study_rmt_gap`: how far the asymptotic level (THEORY §9.3) is from the exact level (§9.1) as
  n_in grows at fixed n_out/n_in and P/n_in: theory only, no training.

Each prices itself first against the CPU budget (budget.check_budget) and calls ``progress(fraction)``.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from . import budget
from . import generalize_theory as gt
from .errors import ConfigError
from .generalize import (
    HINT,
    auto_steps,
    draw_sample,
    estimate_seconds,
    planned_steps,
    run_generalize,
    sample_problem,
    theory_seconds,
)
from .generalize_config import GeneralizeConfig
from .limits import Limits, current_limits
from .runner import snapshot_steps

SUMMARY_COLUMNS = ("depth", "init_scale", "best_step", "best_step_theory", "best_time", "test_loss_min",
                   "test_loss_min_theory", "final_test_loss", "final_test_loss_theory", "steps", "diverged")


def _price(cfgs, limits: Limits, what: str) -> None:
    """Refuse the whole study up front if its runs, at the lengths they will take (generalize.planned_steps:
    the 'auto' length is theory only), exceed the budget."""
    total = 0.0
    for c in cfgs:
        budget.checkpoint()
        total += estimate_seconds(c, planned_steps(c, limits))
    budget.check_budget(total, limits.max_cpu_seconds, what, HINT)


def _runs(cfgs, progress, limits) -> list:
    out = []
    for i, c in enumerate(cfgs):
        out.append(run_generalize(c, limits=limits))
        if progress is not None:
            progress((i + 1) / len(cfgs))
    return out


def _row(res) -> dict:
    s, c = res.summary, res.config
    best = s["best_step"]
    return {"depth": c.depth, "init_scale": c.init_scale, "best_step": best, "best_step_theory": s["best_step_theory"],
            "best_time": None if best is None else c.lr * best, "test_loss_min": s["test_loss_min"],
            "test_loss_min_theory": s["test_loss_min_theory"], "final_test_loss": s["final_test_loss"],
            "final_test_loss_theory": s["final_test_loss_theory"], "steps": s["steps"], "diverged": s["diverged"]}


def study_init_depth(cfg: GeneralizeConfig, scales=(1e-4, 1e-3, 1e-2, 1e-1), depths=(1, 2, 3), progress=None,
                     limits: Limits | None = None) -> dict:
    """{"summary"}: one row per (depth, init scale) of SUMMARY_COLUMNS, same sample (cfg.seed)."""
    limits = limits or current_limits()
    cfgs = [cfg.replace(depth=int(d), init_scale=float(c), width=None) for d in depths for c in scales]
    _price(cfgs, limits, f"this study of {len(cfgs)} runs")
    frame = pd.DataFrame([_row(r) for r in _runs(cfgs, progress, limits)], columns=list(SUMMARY_COLUMNS))
    return {"summary": frame}


def study_depths(cfg: GeneralizeConfig, depths=(1, 2), progress=None, limits: Limits | None = None) -> dict:
    """{"summary", "curves"}: each depth's run at its own best stopping step; ``curves`` stacks the
    histories (columns depth, step, t, test_loss, test_loss_theory, train_loss)."""
    limits = limits or current_limits()
    cfgs = [cfg.replace(depth=int(d), width=None) for d in depths]
    _price(cfgs, limits, f"this comparison of {len(cfgs)} runs")
    runs = _runs(cfgs, progress, limits)
    curves = pd.concat([r.history[["step", "t", "train_loss", "test_loss", "test_loss_theory"]].assign(
        depth=r.config.depth) for r in runs], ignore_index=True)
    summary = pd.DataFrame([_row(r) | {"ridge_test_loss_min": r.summary["ridge_test_loss_min"],
                                       "noise_floor": r.summary["noise_floor"]} for r in runs])
    return {"summary": summary, "curves": curves}


def _level_best(modes, u0, cfg, norm2, floor, steps) -> tuple[float, float]:
    grid = snapshot_steps(steps, "log", 300)
    curve = gt.population_loss(gt.mode_curves(grid, modes, u0, cfg.depth, cfg.lr), modes, norm2, floor)
    return gt.refine_best_step(grid, curve, modes, u0, cfg.depth, cfg.lr, norm2, floor)


def rmt_gap(cfg: GeneralizeConfig, cap: int | None = None) -> dict:
    """Exact vs asymptotic level on one whitened sample of ``cfg`` (aligned start u0 = init_scale^L):
    relative gaps of the detected outliers' ŝ (largest), of their overlap products |cos_u cos_v|
    (largest absolute), of the best step and of the minimum excess test loss (test − floor).

    ``cap``: the longest horizon searched (default: the server's step cap). ``reached`` False: the exact
    level's minimum lies beyond it, so the step and loss gaps are NaN rather than a comparison of two
    truncated curves."""
    cap = cap or current_limits().max_steps
    sample = draw_sample(cfg.replace(inputs="whitened"))
    _, exact = sample_problem(sample)
    rmt, out = gt.rmt_spectrum(sample.teacher_s, cfg.n_in, cfg.n_out, cfg.samples, cfg.noise)
    r = min(cfg.n_in, cfg.n_out)
    u0 = np.full(r, cfg.init_scale**cfg.depth)
    norm2, floor = float(np.sum(sample.teacher_s**2)), sample.noise_floor
    steps, reached = auto_steps(cfg, exact, u0, norm2, floor, cap)
    k_e, l_e = _level_best(exact, u0, cfg, norm2, floor, steps)
    k_r, l_r = _level_best(rmt, u0, cfg, norm2, floor, steps)
    det = out["detected"]
    match = np.argmax((exact.A * exact.B) ** 2, axis=1)[det]
    prod = np.abs(exact.A * exact.B)[np.nonzero(det)[0], match]
    prod_rmt = np.sqrt(out["cos_u2"][det] * out["cos_v2"][det])
    return {
        "outlier_gap": float(np.max(np.abs(exact.s_hat[match] / out["s_hat"][det] - 1))) if det.any() else np.nan,
        "overlap_gap": float(np.max(np.abs(prod - prod_rmt))) if det.any() else np.nan,
        # relative to the exact step (at least 1: a minimum at step 0 is compared in steps)
        "best_step_gap": abs(k_r - k_e) / max(k_e, 1) if reached else np.nan,
        "test_min_gap": abs((l_r - floor) / (l_e - floor) - 1) if reached and l_e > floor else np.nan,
        "reached": bool(reached),
        "best_step": k_e, "best_step_rmt": k_r, "excess_min": l_e - floor, "excess_min_rmt": l_r - floor,
    }


def study_rmt_gap(cfg: GeneralizeConfig, sizes=(25, 50, 100, 200, 400), seeds=(0, 1, 2), progress=None,
                  limits: Limits | None = None) -> dict:
    """{"gaps" (one row per size × seed), "summary" (mean gap per size), "skipped" (sizes over the server's
    caps), "stopped_at" (the n_in where the CPU budget ran out, or None)}: n_in = size, n_out and P scaled
    with it at cfg's ratios (so the BBP threshold and the outliers' predicted values stay fixed)."""
    limits = limits or current_limits()
    rho, alpha = cfg.n_out / cfg.n_in, cfg.samples / cfg.n_in
    cfgs, skipped = [], []
    for n in sizes:
        scaled = [cfg.replace(n_in=int(n), n_out=max(cfg.rank, round(rho * n)), samples=max(int(n), round(alpha * n)),
                              seed=int(s), inputs="whitened", width=None) for s in seeds]
        try:
            scaled[0].check_limits(limits)  # the server's caps on n_in, n_out, P hold for the study too
        except ConfigError:
            skipped.append(int(n))
            continue
        cfgs += scaled
    # theory only: the sample draw (QR, SVD: ~6 n_in² P + 20 r³ flops) and four mode recursions of a few
    # thousand steps (the 'auto' horizon of the exact level, its refinement, the asymptotic level)
    cost = sum(budget.MARGIN * (budget.TRAIN_COEF["flops"] * (6.0 * c.n_in**2 * c.samples + 20.0 * min(c.n_in, c.n_out)**3)
               + 4 * theory_seconds(2_000, min(c.n_in, c.n_out))) for c in cfgs)
    budget.check_budget(cost, limits.max_cpu_seconds, f"this study of {len(cfgs)} samples", HINT)
    # the estimate assumes a few thousand steps; a slow η makes the horizons longer: the measured CPU time
    # is the hard cap, and the sizes it leaves out are reported (stopped_at)
    rows, t0, stopped_at = [], time.process_time(), None
    for i, c in enumerate(cfgs):
        budget.checkpoint()
        if time.process_time() - t0 > limits.max_cpu_seconds:
            stopped_at = c.n_in
            break
        rows.append({"n_in": c.n_in, "n_out": c.n_out, "samples": c.samples, "seed": c.seed,
                     **rmt_gap(c, limits.max_steps)})
        if progress is not None:
            progress((i + 1) / len(cfgs))
    gaps = pd.DataFrame(rows, columns=["n_in", "n_out", "samples", "seed", "outlier_gap", "overlap_gap",
                                       "best_step_gap", "test_min_gap", "reached", "best_step", "best_step_rmt",
                                       "excess_min", "excess_min_rmt"])
    summary = gaps.groupby("n_in", as_index=False)[["outlier_gap", "overlap_gap", "best_step_gap",
                                                     "test_min_gap"]].mean()
    return {"gaps": gaps, "summary": summary, "skipped": skipped, "stopped_at": stopped_at}


__all__ = ["rmt_gap", "study_depths", "study_init_depth", "study_rmt_gap"]

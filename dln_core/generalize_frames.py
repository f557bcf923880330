"""The generalisation experiment's frames and summary (columns documented in docs/API.md; THEORY §9).

Measured rows come from :func:`dln_core.generalize.run_generalize`; the theory columns are the exact
level (the sample's own spectrum and overlaps, generalize_theory.empirical_modes) and the asymptotic
random-matrix level (generalize_theory.rmt_spectrum), both through eq. 9.3 with the same mode
recursion and start u0. Where a level does not apply its columns are NaN and the summary says why.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import generalize_theory as gt


def _best(steps: np.ndarray, curve: np.ndarray) -> tuple[int | None, float | None]:
    if not len(curve) or not np.isfinite(curve).any():
        return None, None
    j = int(np.nanargmin(curve))
    return int(steps[j]), float(curve[j])


def _level(cfg, grid, modes, u0, norm2, floor):
    """(u (S, r), test loss (S,), best step, best loss) of one theory level on the snapshot grid, refined."""
    u = gt.mode_curves(grid, modes, u0, cfg.depth, cfg.lr)
    curve = gt.population_loss(u, modes, norm2, floor)
    if not np.isfinite(curve).any():
        return u, curve, None, None
    k, v = gt.refine_best_step(grid, curve, modes, u0, cfg.depth, cfg.lr, norm2, floor)
    return u, curve, k, v


def ridge_best(sample) -> float:
    """Lowest test loss of any ridge (uniform shrinkage c·Σ̂yx) on a whitened sample: c* = ⟨Σ̂, W̄⟩/‖Σ̂‖²
    (THEORY §9.2: depth-1 early stopping from 0 is exactly this family)."""
    S, W = sample.sigma_yx, sample.w_bar
    c = float(np.sum(S * W) / np.sum(S * S))
    return 0.5 * float(np.sum((c * S - W) ** 2)) + sample.noise_floor


def build_frames(cfg, sample, problem, modes, u0, grid, kept, rows, level, reason,
                 train_const: float) -> tuple[dict, dict]:
    """({history, modes, teacher}, summary) of one run; ``kept`` = the snapshot steps measured (all of
    ``grid`` unless the run diverged); ``train_const`` = generalize.train_constant (the train loss of
    the least-squares fit, so the theory's train loss is ½Σ(u_i − ŝ_i)² + it)."""
    r, rank = problem.r, len(sample.teacher_s)
    norm2, floor = float(np.sum(sample.teacher_s**2)), sample.noise_floor
    n_in, n_out = cfg.n_in, cfg.n_out
    S = len(kept)
    nan_r, nan_1 = np.full((len(grid), r), np.nan), np.full(len(grid), np.nan)
    exact = u0 is not None
    if exact:
        u_th, test_th, best_th, min_th = _level(cfg, grid, modes, u0, norm2, floor)
        q_th = gt.teacher_projections(u_th, modes)
    else:
        u_th, test_th, best_th, min_th, q_th = nan_r, nan_1, None, None, np.full((len(grid), rank), np.nan)
    rmt_modes, out = gt.rmt_spectrum(sample.teacher_s, n_in, n_out, cfg.samples, cfg.noise)
    if exact and sample.whitened:
        _, test_rmt, best_rmt, min_rmt = _level(cfg, grid, rmt_modes, u0, norm2, floor)
    else:
        test_rmt, best_rmt, min_rmt = nan_1, None, None

    measured = {k: np.array([row[k] for row in rows]) for k in ("train_loss", "test_loss", "signal_error",
                                                                 "noise_learned")}
    U = np.array([row["u"] for row in rows])
    Q = np.array([row["q"] for row in rows])
    sig_th = 0.5 * np.sum((q_th - sample.teacher_s) ** 2, axis=-1)
    hist = {
        "step": kept, "t": cfg.lr * kept, **{k: v for k, v in measured.items() if k in ("train_loss", "test_loss")},
        "test_loss_theory": test_th[:S], "test_loss_rmt": test_rmt[:S],
        "train_loss_theory": 0.5 * np.sum((u_th[:S] - modes.s_hat) ** 2, axis=-1) + train_const,
        "signal_error": measured["signal_error"], "signal_error_theory": sig_th[:S],
        "noise_learned": measured["noise_learned"], "noise_learned_theory": (test_th - floor - sig_th)[:S],
        "noise_floor": np.full(S, floor),
    }
    for i in range(r):
        hist[f"mode_{i + 1}"] = U[:, i]
        hist[f"mode_theory_{i + 1}"] = u_th[:S, i]
    for j in range(rank):
        hist[f"teacher_{j + 1}"] = Q[:, j]
        hist[f"teacher_theory_{j + 1}"] = q_th[:S, j]
    history = pd.DataFrame(hist)

    lo, hi = gt.bulk_edges(n_in, n_out, cfg.samples, cfg.noise)
    modes_frame = pd.DataFrame({
        "mode": np.arange(1, r + 1), "s_hat": modes.s_hat, "overlap": modes.o,
        "signal_fraction": np.divide(modes.o, modes.s_hat, out=np.zeros(r), where=modes.s_hat > 0),
        "u0": u0 if exact else np.full(r, np.nan), "u_final": U[-1], "u_final_theory": u_th[S - 1],
        "s_hat_rmt": rmt_modes.s_hat, "overlap_rmt": rmt_modes.o, "outlier": modes.s_hat > hi,
    })
    AB = (modes.A * modes.B) ** 2  # (rank, r): which empirical mode carries teacher mode j
    match = np.argmax(AB, axis=1)
    teacher = pd.DataFrame({
        "teacher_mode": np.arange(1, rank + 1), "s": sample.teacher_s, "detected_rmt": out["detected"],
        "matched_mode": match + 1, "s_hat": modes.s_hat[match],
        "s_hat_rmt": np.where(out["detected"], out["s_hat"], np.nan),
        "cos_u2": modes.A[np.arange(rank), match] ** 2, "cos_u2_rmt": out["cos_u2"],
        "cos_v2": modes.B[np.arange(rank), match] ** 2, "cos_v2_rmt": out["cos_v2"],
        "q_final": Q[-1], "q_final_theory": q_th[S - 1],
    })
    best, test_min = _best(kept, measured["test_loss"])
    summary = {
        "best_step": best, "best_step_theory": best_th,
        "test_loss_min": test_min, "test_loss_min_theory": min_th,
        "final_test_loss": float(measured["test_loss"][-1]),
        "final_test_loss_theory": float(test_th[-1]) if exact and np.isfinite(test_th[-1]) else None,
        "best_step_rmt": best_rmt, "test_loss_min_rmt": min_rmt,
        "final_train_loss": float(measured["train_loss"][-1]),
        "noise_floor": floor, "ridge_test_loss_min": ridge_best(sample) if sample.whitened else None,
        "theory_applies": exact, "theory_level": level, "theory_reason": reason,
        "rmt_applies": bool(exact and sample.whitened),
        "bbp_threshold": gt.bbp_threshold(n_in, n_out, cfg.samples, cfg.noise), "bulk_edge": hi,
        "bulk_lower_edge": lo, "n_outliers": int(np.sum(modes.s_hat > hi)), "n_outliers_rmt": int(out["detected"].sum()),
        "snapshot_steps": len(grid),
    }
    return {"history": history, "modes": modes_frame, "teacher": teacher}, summary


__all__ = ["build_frames", "ridge_best"]

"""Generalisation experiment: teacher → noisy sample → DLN trained by GD on it → test loss (THEORY §9).

- :func:`draw_sample`: a teacher W̄ = U* diag(s) V*ᵀ (Haar-random singular vectors from the seed) and P
  samples y = W̄x + σξ. Whitened inputs are X = √P Qᵀ with Q (P × n_in) orthonormal columns from the
  QR of a Gaussian matrix, so Σ̂xx = X Xᵀ/P = I exactly and the student is exactly the DLN on
  Σ̂yx = W̄ + noise (eq. 9.1). Raw Gaussian inputs (``inputs="gaussian"``) keep Σ̂xx ≠ I: simulation only.
- :func:`sample_problem`: the engine's :class:`~dln_core.targets.Problem` for the sample (Σ̂yx, Σ̂xx and
  the empirical modes), so training reuses the one GD kernel (steppers.make_stepper).
- :func:`run_generalize`: trains, measures train/test loss and per-mode strengths at log-spaced
  snapshots, and sets them against the exact level and the random-matrix level (generalize_theory).

Losses (THEORY §9.1, eq. 9.2): train loss = ½·mean‖y − Wx‖² over the sample; test loss = the population
loss for fresh standard Gaussian inputs, ½‖W − W̄‖²_F + ½ n_out σ² (the second term is the noise floor).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pandas as pd

from . import budget, launch
from . import generalize_theory as gt
from .config import InitConfig
from .diagnostics import end_to_end, mode_strengths
from .generalize_config import GeneralizeConfig
from .generalize_frames import build_frames
from .inits import SCHEMES
from .limits import Limits, current_limits
from .linalg import haar_columns
from .runner import CHUNK, DIVERGE_FACTOR, snapshot_steps
from .steppers import make_stepper
from .targets import Problem

Progress = Callable[[float], None]
AUTO_START = 1_000  # 'auto': first theory horizon, ×4 until the test loss has risen (or the cap)
AUTO_RISE = 0.9  # ... by this fraction of the way from its minimum to its t → ∞ value
AUTO_FALLBACK = 1_000  # 'auto' when the theory diverges (lr above the cap): GD then reports it
HINT = "fewer steps, samples or snapshots, smaller dimensions, or a shallower network"

LEVEL_EXACT = "exact given the sample (aligned start on the sample's modes)"
LEVEL_DEPTH1 = "depth 1 from a random start: exact for the modes, off-diagonal start ignored"
LEVEL_SMALL = "depth 2 small-init approximation: effective strengths ū (THEORY §8)"
REASON_RAW = "raw Gaussian inputs: Σ̂xx ≠ I, so the mode law does not apply (simulation only)"
REASON_DEEP = "random start at depth ≥ 3: no prediction from step 0 (THEORY §2.8)"
REASON_LARGE = "depth 2 random start not small (max ‖W_l(0)‖² > ¼ ŝ_min): no prediction from step 0"


@dataclass(frozen=True, eq=False)
class Sample:
    """One draw: the teacher and the sample's moments (the inputs themselves are not kept)."""

    teacher_U: np.ndarray  # (n_out, rank)
    teacher_s: np.ndarray  # (rank,) descending
    teacher_V: np.ndarray  # (n_in, rank)
    sigma_yx: np.ndarray  # Σ̂yx = Y Xᵀ / P
    sigma_xx: np.ndarray  # Σ̂xx = X Xᵀ / P (exactly I when whitened)
    tr_yy: float  # tr Σ̂yy = ‖Y‖² / P (for the train loss's constant)
    noise: float
    samples: int
    whitened: bool

    @property
    def w_bar(self) -> np.ndarray:
        return (self.teacher_U * self.teacher_s) @ self.teacher_V.T

    @property
    def noise_floor(self) -> float:
        """½ n_out σ²: the test loss of the teacher itself (eq. 9.2)."""
        return 0.5 * self.teacher_U.shape[0] * self.noise**2


def training_inputs(n_in: int, samples: int, whitened: bool, rng: np.random.Generator) -> np.ndarray:
    """X (n_in × P): standard Gaussian columns, or whitened in the sample, X = √P Qᵀ with Q (P × n_in) the
    orthonormal factor of a Gaussian matrix, so X Xᵀ/P = I to rounding (needs P ≥ n_in)."""
    G = rng.standard_normal((samples, n_in))
    if not whitened:
        return G.T
    Q, _ = np.linalg.qr(G)
    return math.sqrt(samples) * Q.T


def draw_sample(cfg: GeneralizeConfig) -> Sample:
    """Teacher, inputs and noise from independent streams of ``cfg.seed`` (changing P keeps the teacher)."""
    teacher_rng, input_rng, noise_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(3))
    s = np.sort(np.asarray(cfg.singular_values, dtype=float))[::-1]
    U = haar_columns(cfg.n_out, cfg.rank, teacher_rng)
    V = haar_columns(cfg.n_in, cfg.rank, teacher_rng)
    P = cfg.samples
    X = training_inputs(cfg.n_in, P, cfg.inputs == "whitened", input_rng)
    Y = ((U * s) @ (V.T @ X)) + cfg.noise * noise_rng.standard_normal((cfg.n_out, P))
    sxx = np.eye(cfg.n_in) if cfg.inputs == "whitened" else X @ X.T / P
    return Sample(U, s, V, Y @ X.T / P, 0.5 * (sxx + sxx.T), float(np.sum(Y * Y)) / P, float(cfg.noise), P,
                  cfg.inputs == "whitened")


def sample_problem(sample: Sample) -> tuple[Problem, gt.ModeSet]:
    """The engine's Problem for the sample (the empirical modes) and its exact ModeSet."""
    modes, U, V = gt.empirical_modes(sample.sigma_yx, sample.teacher_U, sample.teacher_s, sample.teacher_V)
    w_star = sample.sigma_yx if sample.whitened else np.linalg.solve(sample.sigma_xx.T, sample.sigma_yx.T).T
    problem = Problem(
        sigma_yx=sample.sigma_yx, sigma_xx=sample.sigma_xx, U_star=U, lambda_star=modes.s_hat, V_star=V,
        input_eigenvalues=None, w_star=w_star, target_strength=np.sum(U * (w_star @ V), axis=0),
        input_kind="whitened" if sample.whitened else "rotated",
    )
    return problem, modes


def train_constant(sample: Sample, problem: Problem) -> float:
    """½ (tr Σ̂yy − tr(W* Σ̂xx W*ᵀ)): empirical train loss = loss (H) on the sample + this (≥ 0)."""
    fit = float(np.einsum("ij,jk,ik->", problem.w_star, sample.sigma_xx, problem.w_star))
    return 0.5 * (sample.tr_yy - fit)


# ----------------------------------------------------------------------------------------- cost
def theory_seconds(steps: int, r: int) -> float:
    """finite_step.mode_curve_gd: Python floats per mode below 33 modes, one numpy update per step above."""
    return steps * (0.4e-6 * r if r <= 32 else 8e-6 + 2e-8 * r)


def estimate_seconds(cfg: GeneralizeConfig, steps: int) -> float:
    """Estimated CPU seconds of :func:`run_generalize` for ``steps`` GD steps (budget.py's train model
    for the GD part, plus the sample draw and the theory curves)."""
    r = min(cfg.n_in, cfg.n_out)
    snaps = budget.snapshot_count(steps, "log", cfg.n_snapshots)
    data = budget.TRAIN_COEF["flops"] * (4.0 * cfg.n_in**2 * cfg.samples + 2.0 * cfg.n_out * cfg.n_in * cfg.samples)
    theory = 3 * theory_seconds(steps, r) * (2 if cfg.inputs == "whitened" else 1)  # exact + asymptotic
    return budget.train_seconds(cfg.layer_dims, 1, steps, snaps, r, frames=False) + budget.MARGIN * (data + theory)


def affordable_steps(cfg: GeneralizeConfig, cap: int, seconds: float) -> int:
    """The most steps (≤ cap) whose estimate fits in ``seconds`` (0 if none)."""
    if estimate_seconds(cfg, cap) <= seconds:
        return cap
    lo, hi = 0, cap
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if estimate_seconds(cfg, mid) <= seconds else (lo, mid)
    return lo


# --------------------------------------------------------------------------------------- the run
@dataclass
class GeneralizeResult:
    """``summary`` (dict, the CLI's JSON), ``history`` (one row per snapshot), ``modes`` (one row per
    empirical mode), ``teacher`` (one row per teacher mode). Columns: docs/API.md."""

    config: GeneralizeConfig
    summary: dict
    history: pd.DataFrame
    modes: pd.DataFrame
    teacher: pd.DataFrame
    extra: dict = field(default_factory=dict)


def _init(cfg: GeneralizeConfig, problem: Problem) -> list[np.ndarray]:
    """The student's initial weights: an inits.SCHEMES draw (aligned on the sample's modes, or Gaussian)."""
    view = SimpleNamespace(layer_dims=cfg.layer_dims, init=InitConfig(scheme=cfg.init_scheme, scale=cfg.init_scale,
                                                                       seed=cfg.seed))
    return SCHEMES[cfg.init_scheme].draw(view, problem, np.random.default_rng(cfg.seed))


def theory_start(cfg: GeneralizeConfig, problem: Problem, weights0: list[np.ndarray]) -> tuple:
    """(u0 (r,) or None, level, reason): where the mode law starts each empirical mode, if anywhere."""
    if not problem.has_theory:
        return None, "", REASON_RAW
    if cfg.init_scheme == "aligned":
        return np.full(problem.r, cfg.init_scale**cfg.depth), LEVEL_EXACT, ""
    if cfg.depth == 1:
        return mode_strengths(weights0[0], problem.U_star, problem.V_star), LEVEL_DEPTH1, ""
    if cfg.depth == 2:
        if not launch.small_init(problem, weights0).all():
            return None, "", REASON_LARGE
        return np.diag(launch.effective_strengths(problem, *weights0)).copy(), LEVEL_SMALL, ""
    return None, "", REASON_DEEP


def auto_steps(cfg, modes: gt.ModeSet, u0, norm2: float, floor: float, cap: int) -> tuple[int, bool]:
    """'auto' length from the theory: past the minimum until the test loss has risen AUTO_RISE of the way
    to its t → ∞ value (at least twice the best step). (steps, reached) — reached False at the cap."""
    final = gt.population_loss(modes.s_hat, modes, norm2, floor)
    horizon = min(AUTO_START, cap)
    while True:
        grid = snapshot_steps(horizon, "log", 200)
        curve = gt.population_loss(gt.mode_curves(grid, modes, u0, cfg.depth, cfg.lr), modes, norm2, floor)
        if not np.isfinite(curve).all():
            return min(AUTO_FALLBACK, cap), False
        j = int(np.argmin(curve))
        lo = curve[j]
        risen = np.nonzero((np.arange(len(grid)) > j) & (curve - lo >= AUTO_RISE * (final - lo)))[0]
        if len(risen) and final > lo:
            k = max(int(grid[risen[0]]), 2 * int(grid[j]), 100)
            return min(int(float(f"{k:.2g}") + 0.5) if k >= 100 else k, cap), True
        if final <= lo and curve[-1] - final <= 1e-3 * max(abs(final), 1.0):  # no overfitting: converged
            return max(int(grid[-1]), 100), True
        if horizon >= cap:
            return cap, False
        horizon = min(4 * horizon, cap)


def _length(cfg, sample, problem, modes, weights0, u0, limits) -> tuple[int, bool | None]:
    """(steps, auto_reached): cfg.steps, or the 'auto' length from the theory within the step cap and
    the CPU budget (a start without theory uses the largest measured |u_i(0)| for every mode: a guess
    for the length only)."""
    if cfg.steps != "auto":
        return int(cfg.steps), None
    u0_len = u0 if u0 is not None else np.full(problem.r, np.max(np.abs(
        mode_strengths(end_to_end(weights0), problem.U_star, problem.V_star))))
    cap = affordable_steps(cfg, limits.max_steps, limits.max_cpu_seconds)
    if cap < 1:
        budget.check_budget(estimate_seconds(cfg, 1), limits.max_cpu_seconds, "this experiment", HINT)
    return auto_steps(cfg, modes, u0_len, float(np.sum(sample.teacher_s**2)), sample.noise_floor, cap)


def planned_steps(cfg: GeneralizeConfig, limits: Limits | None = None) -> int:
    """The number of GD steps :func:`run_generalize` will take (the 'auto' length is theory only: cheap),
    so a study can price its runs before any training."""
    limits = limits or current_limits()
    if cfg.steps != "auto":
        return int(cfg.steps)
    sample = draw_sample(cfg)
    problem, modes = sample_problem(sample)
    weights0 = _init(cfg, problem)
    u0, _, _ = theory_start(cfg, problem, weights0)
    return _length(cfg, sample, problem, modes, weights0, u0, limits)[0]


def _stepper(problem, weights, lr):
    return make_stepper("numpy", "cpu", [w[None] for w in weights], np.array([lr]), problem, "float64")


def _simulate(problem, weights0, lr, grid, measure, test_loss, progress) -> tuple[list, int | None, tuple]:
    """GD (the engine's stepper) to every snapshot step, ``measure(W)`` at each; stops at divergence.

    The best step is then found to the single step: GD is replayed one step at a time from the
    snapshot before the best snapshot to the one after it (``test_loss(W)`` each step), from weights
    kept during the run (two copies, never one per snapshot). Returns (rows, diverged step or None,
    (best step, its test loss))."""
    stepper = _stepper(problem, weights0, lr)
    rows = [measure(end_to_end(weights0))]
    threshold = DIVERGE_FACTOR * max(rows[0]["train_loss"], 1.0)
    best, anchor, prev = (rows[0]["test_loss"], 0, 0), None, weights0
    k, total, diverged = 0, int(grid[-1]), None
    for idx, target in enumerate(grid[1:].tolist(), start=1):
        while k < target:
            budget.checkpoint()  # the requester left: stop between chunks
            n = min(CHUNK, target - k)
            stepper.advance(n)
            k += n
        ws = [w[0] for w in stepper.weights()]
        row = measure(end_to_end(ws))
        if not np.isfinite(row["train_loss"]) or row["train_loss"] > threshold:
            diverged = int(target)
            break
        rows.append(row)
        if row["test_loss"] < best[0]:
            best, anchor = (row["test_loss"], int(target), idx), (int(grid[idx - 1]), prev)
        prev = ws
        if progress is not None:
            progress(0.1 + 0.8 * target / max(total, 1))
    if anchor is None:
        return rows, diverged, (best[1], best[0])
    hi = int(grid[min(best[2] + 1, len(rows) - 1)])
    k, st = anchor[0], _stepper(problem, anchor[1], lr)
    fine = (best[0], best[1])
    while k < hi:
        if (k - anchor[0]) % CHUNK == 0:
            budget.checkpoint()
        st.advance(1)
        k += 1
        loss = test_loss(end_to_end([w[0] for w in st.weights()]))
        if loss < fine[0]:
            fine = (loss, k)
    return rows, diverged, (fine[1], fine[0])


def run_generalize(cfg: GeneralizeConfig, progress: Progress | None = None, *,
                   limits: Limits | None = None) -> GeneralizeResult:
    """Draw the sample, train the student, and compare with both theory levels (module docstring)."""
    limits = limits or current_limits()
    cfg.check_limits(limits)
    t0 = time.perf_counter()
    budget.check_budget(estimate_seconds(cfg, 1), limits.max_cpu_seconds, "this experiment", HINT)
    sample = draw_sample(cfg)
    problem, modes = sample_problem(sample)
    weights0 = _init(cfg, problem)
    u0, level, reason = theory_start(cfg, problem, weights0)
    norm2, floor = float(np.sum(sample.teacher_s**2)), sample.noise_floor
    if progress is not None:
        progress(0.05)

    total, auto_reached = _length(cfg, sample, problem, modes, weights0, u0, limits)
    if cfg.steps != "auto":
        budget.check_budget(estimate_seconds(cfg, total), limits.max_cpu_seconds, "this experiment", HINT)
    grid = snapshot_steps(total, "log", cfg.n_snapshots)
    if u0 is not None:  # record the predicted best step too: the measured loss there is then exact
        curve = gt.population_loss(gt.mode_curves(grid, modes, u0, cfg.depth, cfg.lr), modes, norm2, floor)
        if np.isfinite(curve).any():
            k_th, _ = gt.refine_best_step(grid, curve, modes, u0, cfg.depth, cfg.lr, norm2, floor)
            grid = np.union1d(grid, [k_th]).astype(np.int64)

    const = train_constant(sample, problem)
    W_bar = sample.w_bar
    T_U, T_V = sample.teacher_U, sample.teacher_V

    def test_loss(W: np.ndarray) -> float:
        with np.errstate(all="ignore"):
            return 0.5 * float(np.sum((W - W_bar) ** 2)) + floor

    def measure(W: np.ndarray) -> dict:
        with np.errstate(all="ignore"):
            q = mode_strengths(W, T_U, T_V)
            test = test_loss(W)
            signal = 0.5 * float(np.sum((q - sample.teacher_s) ** 2))
            return {"train_loss": float(problem.loss(W)) + const, "test_loss": test, "signal_error": signal,
                    "noise_learned": test - floor - signal, "u": mode_strengths(W, problem.U_star, problem.V_star),
                    "q": q}

    rows, diverged_step, (best_step, best_loss) = _simulate(problem, weights0, cfg.lr, grid, measure, test_loss,
                                                            progress)
    kept = grid[: len(rows)]
    frames, summary = build_frames(cfg, sample, problem, modes, u0, grid, kept, rows, level, reason, const)
    at_th = summary["best_step_theory"]
    summary.update({
        "best_step": best_step, "test_loss_min": best_loss,
        "test_loss_at_best_step_theory": (float(frames["history"]["test_loss"][kept == at_th].iloc[0])
                                          if at_th is not None and at_th in kept else None),
        "steps": int(total), "auto": cfg.steps == "auto", "auto_reached": auto_reached,
        "diverged": diverged_step is not None, "diverged_step": diverged_step,
        "train_loss_constant": const, "wall_time_s": time.perf_counter() - t0,
    })
    if progress is not None:
        progress(1.0)
    return GeneralizeResult(cfg, summary, frames["history"], frames["modes"], frames["teacher"])


__all__ = ["GeneralizeConfig", "GeneralizeResult", "Sample", "draw_sample", "estimate_seconds", "planned_steps", "run_generalize",
           "sample_problem", "theory_start", "train_constant", "training_inputs"]

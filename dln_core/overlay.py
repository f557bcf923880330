"""The theory overlay of a run: where each mode's theory starts, its curves and its halfway step.

One entry point, :func:`batch_overlays`: for every member of a batch it decides the theory plan
once and computes the predicted halfway steps; the returned :class:`Overlay` then gives the theory
curves for the member's frames (frames.py), so the summary and the frames read the same plan.

The plan is dln_core.launch's (its module docstring states the rules): depth 2 with a small init
predicts every mode from step 0 (effective strength ū_i = ‖a_i(0) + b_i(0)‖²/4 with the hidden
directions of stronger modes projected out, THEORY.md §8); otherwise one launch step per run at the
end of the alignment phase, and a mode already rising there (or past halfway, at u ≤ 0, unbalanced)
gets no theory and a reason. Depth 1 starts at step 0. The λ-balanced init at L = 2 with whitened
inputs keeps the exact matrix solution of THEORY.md §4 projected on the modes (unaligned starts
included; from step 0; no finite-η recursion exists for it, so its ``theory_gd`` is NaN and both its
halfway values are the exact gradient-flow crossing). The reported ``halfway_step_theory`` is the
finite-η prediction; ``halfway_step_theory_gf`` the gradient-flow value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import diagnostics as dg
from . import launch, theory
from .inits import SCHEMES
from .record import MemberSnapshots, Snapshots
from .targets import Problem


def exact_l2_mode_curves(problem, weights0, lambda_b: float, t: np.ndarray) -> np.ndarray:
    """u_i(t) = u*_iᵀ W(t) v*_i of the exact λ-balanced gradient flow from W_1(0), W_2(0): (T, r) (THEORY §4)."""
    t = np.asarray(t, dtype=float)
    if t.size == 0:
        return np.zeros((0, problem.r))
    W = theory.lambda_balanced_solution(problem.sigma_yx, weights0[0], weights0[1], t, lambda_b)
    return dg.mode_strengths(W, problem.U_star, problem.V_star)


EXACT_REFINE = (64, 64)  # grid points per refinement round: the bracket shrinks 4096-fold
EXACT_HORIZON = 10.0  # search the crossing up to this multiple of the run's last snapshot time


def exact_l2_halfway_steps(problem, weights0, lambda_b: float, lr: float, steps: np.ndarray) -> list:
    """First step where the exact λ-balanced L = 2 curve reaches target_i/2, per mode (None: not within
    EXACT_HORIZON × the run's time, or λ_i = 0). Bracketed at the snapshots, then refined on two
    64-point grids inside the bracket and interpolated linearly (THEORY §4)."""
    half = 0.5 * problem.target_strength
    t = lr * np.asarray(steps, dtype=float)
    if len(t) and t[-1] > 0:  # beyond the run: a coarse geometric extension of the grid
        t = np.concatenate([t, np.geomspace(t[-1], EXACT_HORIZON * t[-1], 33)[1:]])
    u = exact_l2_mode_curves(problem, weights0, lambda_b, t)
    out: list = []
    for i in range(problem.r):
        hit = np.nonzero(u[:, i] >= half[i])[0] if half[i] > 0 else []
        if not len(hit):
            out.append(None)
            continue
        j = int(hit[0])
        if j == 0:
            out.append(0.0)
            continue
        lo, hi, u_lo, u_hi = t[j - 1], t[j], u[j - 1, i], u[j, i]
        for n in EXACT_REFINE:
            grid = np.linspace(lo, hi, n + 1)
            ug = exact_l2_mode_curves(problem, weights0, lambda_b, grid)[:, i]
            k = int(np.nonzero(ug >= half[i])[0][0]) if (ug >= half[i]).any() else n
            k = max(k, 1)
            lo, hi, u_lo, u_hi = grid[k - 1], grid[k], ug[k - 1], ug[k]
        frac = (half[i] - u_lo) / (u_hi - u_lo) if u_hi > u_lo else 1.0
        out.append(float((lo + frac * (hi - lo)) / lr))
    return out


def has_exact_l2(problem: Problem, cfg) -> bool:
    """The overlay is the exact matrix solution (THEORY §4): an init scheme that declares it
    (λ-balanced), depth 2, whitened inputs."""
    return SCHEMES[cfg.init.scheme].exact_l2 and cfg.network.depth == 2 and problem.input_kind == "whitened"


@dataclass(frozen=True)
class Overlay:
    """One member's theory plan (launch.Launch) with its predicted halfway steps: ``start_steps``,
    ``halfway_theory`` (finite η), ``halfway_theory_gf``, ``applies``, ``reasons``, ``alignment``
    (r lists; None: no theory / no answer), and what :meth:`curves` needs."""

    problem: Problem
    depth: int
    lr: float
    exact: bool
    plan: launch.Launch
    start_steps: list
    halfway_theory: list
    halfway_theory_gf: list
    applies: list
    reasons: list
    alignment: list
    weights0: list | None = None  # W_1(0), W_2(0): the exact L = 2 solution starts from them
    lambda_b: float = 0.0

    def curves(self, snaps: MemberSnapshots) -> tuple[np.ndarray, np.ndarray]:
        """(gradient-flow (S, r), finite-η (S, r)) theory curves at the member's snapshots."""
        if self.exact:
            gf = exact_l2_mode_curves(self.problem, self.weights0, self.lambda_b, snaps.t)
            return gf, np.full_like(gf, np.nan)  # no exact finite-η recursion for an unaligned λ-balanced start
        return launch.curves(self.problem, self.plan, self.depth, self.lr, snaps.steps)


def batch_overlays(problem: Problem, cfgs, snaps: Snapshots, weights0: list, diverged_steps: list,
                   halfway_measured: list | None = None, total_steps: int | None = None) -> list[Overlay]:
    """The :class:`Overlay` of every member of a batch (THEORY.md §2, §4, §6, §8; launch.py).

    ``weights0``: each member's initial weights; ``diverged_steps``: each member's divergence step or
    None; ``halfway_measured``: each member's measured first crossings (the launch rule never compares
    a first crossing with a later rise); ``total_steps``: the run's length (the finite-η search
    horizon). The predicted halfway steps are computed for all members sharing an lr at once.
    """
    r, B = problem.r, len(cfgs)
    depth = cfgs[0].network.depth
    measured = halfway_measured or [[None] * r for _ in range(B)]
    plans, gd, gf = [], [None] * B, [None] * B
    members = [snaps.member(b, diverged_steps[b]) for b in range(B)]
    for b, cfg in enumerate(cfgs):
        m = members[b]
        exact = has_exact_l2(problem, cfg)
        plans.append(launch.plan(problem, depth, weights0[b], m.steps, m.u, m.launch_align, m.blocks, measured[b],
                                 exact=exact, rate=m.mode_rate))
        if exact:
            gf[b] = exact_l2_halfway_steps(problem, weights0[b], cfg.init.lambda_b, m.lr, m.steps)
            gd[b] = list(gf[b])
    lrs = snaps.lrs
    todo = [b for b in range(B) if not plans[b].exact]
    for lr in np.unique(lrs[todo]) if todo else []:
        group = [b for b in todo if lrs[b] == lr]
        horizon = int(snaps.steps[-1]) if total_steps is None else int(total_steps)
        hd, hf = launch.halfway(problem, [plans[b] for b in group], depth, float(lr), horizon=horizon)
        for j, b in enumerate(group):
            gd[b], gf[b] = hd[j], hf[j]
    out = []
    for b in range(B):
        p = plans[b]
        out.append(Overlay(
            problem=problem, depth=depth, lr=float(lrs[b]), exact=p.exact, plan=p,
            start_steps=[int(k) if k >= 0 else None for k in p.step], halfway_theory=gd[b],
            halfway_theory_gf=gf[b], applies=[bool(x) for x in p.applies], reasons=list(p.reason),
            alignment=[float(x) if np.isfinite(x) else None for x in p.alignment],
            weights0=list(weights0[b][:2]) if p.exact else None, lambda_b=cfgs[b].init.lambda_b))
    return out


__all__ = ["Overlay", "batch_overlays", "exact_l2_halfway_steps", "exact_l2_mode_curves", "has_exact_l2"]

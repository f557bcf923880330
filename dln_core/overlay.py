"""The theory overlay of a run: where each mode's theory starts, its curves and its halfway step.

One entry point, :func:`batch_overlays`: for every member of a batch it decides the theory plan
once (the exact λ-balanced L = 2 solution, or per-mode starts) and computes the theory halfway
steps; the returned :class:`Overlay` then gives the theory curves for the member's frames
(frames.py), so the summary and the frames read the same plan.

Where the theory overlay starts (``theory_start_step``). The mode ODE du/dt = L u^{2−2/L}(λ − d u)
(THEORY.md §2, §6) describes a mode whose layers are aligned with u*_i, v*_i and decoupled from the
other modes. From a random start (gaussian init, a rotated or hierarchical target with near-identity
init) there is first an alignment phase (THEORY.md §2, last bullet: a power iteration on Σyx) that
the ODE does not describe: u_i can shrink, change sign, or be fed by cross terms with larger modes
that are still being learned, so a curve launched from the measured u_i(0) misses the measured
halfway step by tens of percent (gaussian L = 3: 8647 vs 1372 for mode 1). Each mode's theory
therefore starts at the end of *its own* alignment phase: the first snapshot where its end-to-end
alignment u_i² / (‖W v*_i‖ ‖Wᵀu*_i‖) (diagnostics.mode_alignment) is ≥ :data:`ALIGNED_SCORE`,
u_i > 0 (on the other side of the saddle the balanced ODE says it never grows) and, before its
halfway point, its measured gradient-flow rate du_i/dt (diagnostics.mode_rates) is within
:data:`RATE_RTOL` of the ODE's (an aligned but unbalanced mode grows faster than the balanced ODE: at
gaussian L = 3 the smallest mode was 10–30 % early without this check); it runs from the measured
(t(k_i), u_i(k_i)). If the rate check first passes only after the mode's halfway
crossing (snapshots too coarse to see the approach), the first aligned snapshot before the crossing
is used instead, or else step 0 with the measured u_i(0) > 0 (THEORY.md §2's default). A mode that crosses halfway before it aligns at all and starts at u_i(0) ≤ 0
(e.g. mode 3 of the article target at gaussian L = 3) starts at the first aligned snapshot after the crossing: its theory then
describes only the tail, and it has no theory halfway step (None). An aligned init starts at step 0, and so does the near-identity init on the
article target (its modes are ≥ 0.9 aligned at step 0 or 1). Before its start a mode's theory
columns are NaN. The network-wide alignment score of the history is not used: it is built from the
layers' SVDs, which are ill-defined while a layer's singular values are nearly equal (it reaches 0.9
only after three modes are learned at gaussian L = 3, and before the small modes decouple at L = 2).
Exceptions: depth 1 (u_i obeys du/dt = λ_i − d_i u_i exactly from any start: step 0), zero modes
(step 0), and the λ-balanced init at L = 2 with whitened inputs, whose overlay is the exact matrix
solution of THEORY.md §4 projected on the modes (unaligned starts included; from step 0; no finite-η
recursion exists for it, so its ``theory_gd`` is NaN).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import diagnostics as dg
from . import theory
from .inits import SCHEMES
from .record import MemberSnapshots, Snapshots
from .targets import Problem

ALIGNED_SCORE = 0.9  # per-mode alignment that ends a mode's alignment phase (module docstring)
RATE_RTOL = 0.1  # ... and its measured rate du_i/dt within this relative distance of the ODE's rate


def theory_start_indices(problem, mode_alignment: np.ndarray, u: np.ndarray, depth: int,
                         rate: np.ndarray | None = None) -> np.ndarray:
    """Snapshot index where each mode's theory curve starts, (r,) int, -1 = no theory (module docstring).

    ``mode_alignment``, ``u`` and ``rate`` are (S, r) at the snapshots: diagnostics.mode_alignment,
    the measured strengths and diagnostics.mode_rates. Mode i (λ_i > 0) starts at the first snapshot
    with mode_alignment_i ≥ ALIGNED_SCORE, u_i > 0 and, while u_i is below half its target, a rate
    within RATE_RTOL of the ODE's L u^{2−2/L}(λ − d u) (-1 if none). Zero modes and depth 1 start at
    0; non-commuting inputs have no theory (-1).
    """
    r = problem.r
    if not problem.has_theory or len(u) == 0:
        return np.full(r, -1, dtype=np.int64)
    starts = np.zeros(r, dtype=np.int64)
    if depth == 1:
        return starts
    u = np.asarray(u, dtype=float)
    ready = (np.asarray(mode_alignment) >= ALIGNED_SCORE) & (u > 0)
    if rate is not None:
        with np.errstate(all="ignore"):
            ode = theory.mode_rate(u, problem.lambda_star, depth, problem.mode_d)
            on_ode = np.abs(np.asarray(rate) - ode) <= RATE_RTOL * np.abs(ode)
        # past halfway the question is moot (the crossing is behind), and both rates tend to 0
        ready &= on_ode | (u >= 0.5 * problem.target_strength)
    aligned = (np.asarray(mode_alignment) >= ALIGNED_SCORE) & (u > 0)
    below_half = u < 0.5 * problem.target_strength
    for i in np.nonzero(problem.lambda_star > 0)[0]:
        pos = np.nonzero(ready[:, i])[0]
        starts[i] = pos[0] if len(pos) else -1
        if starts[i] >= 0 and not below_half[starts[i], i]:
            # the rate check passed only after the crossing (e.g. snapshots too coarse to see the
            # aligned approach): an aligned snapshot before the crossing still predicts it
            early = np.nonzero(aligned[:, i] & below_half[:, i])[0]
            early = early[early < starts[i]]
            if len(early):
                starts[i] = early[0]
            elif u[0, i] > 0:  # nothing aligned before the crossing was recorded: THEORY §2's default
                starts[i] = 0
    return starts


def theory_curves(problem, u: np.ndarray, depth: int, lr: float, steps: np.ndarray, starts=None):
    """Gradient-flow and finite-η mode curves (dln_core.theory, THEORY.md §2, §6) from measured strengths.

    ``u``: (K, r) measured strengths at ``steps`` with ``starts`` (r,) snapshot indices from
    :func:`theory_start_indices`; or the (r,) measured u_i(0), which starts every mode at step 0.
    Mode i's curves run from (t(k_i), u_i(k_i)). Returns (gf (K, r), gd (K, r)); NaN before a mode's
    start, where no closed form applies (non-commuting inputs) or the theory rejects the inputs.
    """
    steps = np.asarray(steps)
    K, r = len(steps), problem.r
    gf, gd = np.full((K, r), np.nan), np.full((K, r), np.nan)
    if not problem.has_theory or K == 0:
        return gf, gd
    u = np.asarray(u, dtype=float)
    if u.ndim == 1:
        u, starts = u[None, :], np.zeros(r, dtype=np.int64)
    lam, d = problem.lambda_star, problem.mode_d
    for s in np.unique(starts[starts >= 0]):  # modes sharing a start: one vectorised call
        m = starts == s
        dk = steps[s:] - steps[s]
        try:
            gf[s:, m] = np.asarray(theory.mode_curve_gf(lr * dk, lam[m], u[s, m], depth, d[m]), float)
        except (ValueError, ArithmeticError):
            pass
        try:
            with np.errstate(all="ignore"):
                gd[s:, m] = np.asarray(theory.mode_curve_gd(dk, lam[m], u[s, m], depth, lr, d[m]), float)
        except (ValueError, ArithmeticError):
            pass
    return gf, gd


def halfway_steps_theory(problem, u0: np.ndarray, depth: int, lr: float, start_steps=None) -> list[list[float | None]]:
    """start + τ½/lr for M members sharing lr: u0 (M, r) strengths at the start steps (M, r) (default 0)
    -> M lists of r values (None: never / no theory / start_step < 0)."""
    u0 = np.atleast_2d(np.asarray(u0, dtype=float))
    M, r = u0.shape
    k0 = np.zeros((M, r)) if start_steps is None else np.atleast_2d(np.asarray(start_steps, dtype=float))
    out = np.full(M * r, np.nan)
    if problem.has_theory:
        try:
            out = np.asarray(theory.tau_half(np.tile(problem.lambda_star, M), u0.reshape(-1), depth,
                                             np.tile(problem.mode_d, M)), dtype=float) / lr
        except (ValueError, ArithmeticError):
            pass
    out = np.where(k0.reshape(-1) >= 0, out + k0.reshape(-1), np.nan)
    # a mode whose theory starts past its halfway point (learned before it aligned) has no prediction
    # of the crossing: report none rather than the start step itself
    past = u0.reshape(-1) >= 0.5 * np.tile(problem.target_strength, M)
    out = np.where(past & (k0.reshape(-1) > 0), np.nan, out)
    return [[float(x) if np.isfinite(x) else None for x in row] for row in out.reshape(M, r)]


# ------------------------------------------------------------ exact λ-balanced L = 2 overlay (THEORY §4)
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
    """One member's theory plan: ``starts`` (r,) snapshot indices (-1: no theory), ``start_steps`` and
    ``halfway_theory`` (r lists, None: no answer), and what :meth:`curves` needs."""

    problem: Problem
    depth: int
    lr: float
    exact: bool
    starts: np.ndarray
    start_steps: list
    halfway_theory: list
    weights0: list | None = None  # W_1(0), W_2(0): the exact L = 2 solution starts from them
    lambda_b: float = 0.0

    def curves(self, snaps: MemberSnapshots) -> tuple[np.ndarray, np.ndarray]:
        """(gradient-flow (S, r), finite-η (S, r)) theory curves at the member's snapshots."""
        if self.exact:
            gf = exact_l2_mode_curves(self.problem, self.weights0, self.lambda_b, snaps.t)
            return gf, np.full_like(gf, np.nan)  # no exact finite-η recursion for an unaligned λ-balanced start
        return theory_curves(self.problem, snaps.u, self.depth, self.lr, snaps.steps, self.starts)


def batch_overlays(problem: Problem, cfgs, snaps: Snapshots, weights0: list, diverged_steps: list) -> list[Overlay]:
    """The :class:`Overlay` of every member of a batch (THEORY.md §2, §4, §6).

    ``weights0``: each member's initial weights; ``diverged_steps``: each member's divergence step or
    None. The halfway step is start_step + τ½(λ, u_i(start), L, d)/lr (one vectorised theory call
    per distinct lr); for the exact λ-balanced L = 2 overlay it is the first crossing of the exact
    curve, located to 1/4096 of a snapshot interval.
    """
    r, B = problem.r, len(cfgs)
    depth = cfgs[0].network.depth
    plans: list = [None] * B
    half_out: list = [None] * B
    u_start = np.ones((B, r))  # placeholder 1 where there is no start (masked out below)
    k_start = np.full((B, r), -1, dtype=np.int64)
    for b, cfg in enumerate(cfgs):
        m = snaps.member(b, diverged_steps[b])
        if has_exact_l2(problem, cfg):
            starts = np.zeros(r, dtype=np.int64)
            plans[b] = (True, starts, [0] * r)
            half_out[b] = exact_l2_halfway_steps(problem, weights0[b], cfg.init.lambda_b, m.lr, m.steps)
            continue
        starts = theory_start_indices(problem, m.mode_alignment, m.u, depth, m.mode_rate)
        ok = starts >= 0
        k_start[b, ok] = m.steps[starts[ok]]
        u_start[b, ok] = m.u[starts[ok], np.nonzero(ok)[0]]
        plans[b] = (False, starts, [int(k) if k >= 0 else None for k in k_start[b]])
    lrs = snaps.lrs
    todo = np.array([h is None for h in half_out], dtype=bool)
    for lr in np.unique(lrs[todo]):  # one vectorised theory call per distinct lr
        members = np.nonzero(todo & (lrs == lr))[0]
        hs = halfway_steps_theory(problem, u_start[members], depth, float(lr), k_start[members])
        for j, b in enumerate(members):
            half_out[b] = hs[j]
    return [Overlay(problem=problem, depth=depth, lr=float(lrs[b]), exact=plans[b][0], starts=plans[b][1],
                    start_steps=plans[b][2], halfway_theory=half_out[b],
                    weights0=list(weights0[b][:2]) if plans[b][0] else None, lambda_b=cfgs[b].init.lambda_b)
            for b in range(B)]


__all__ = ["ALIGNED_SCORE", "RATE_RTOL", "Overlay", "batch_overlays", "exact_l2_halfway_steps", "exact_l2_mode_curves",
           "halfway_steps_theory", "has_exact_l2", "theory_curves", "theory_start_indices"]

"""Where each mode's theory is launched, and from what state (THEORY.md §2, §8).

A dashed theory curve is a prediction only if it starts early relative to the mode's own rise, from a
state measured there. This module decides, per run, which modes get a prediction, the step it starts
from, the launch strength, and a one-line reason for every mode that gets none.

The rules (one per case, in this order):

- **No closed form.** Rotated (non-commuting) inputs, and modes with λ_i = 0 (nothing to learn): no
  theory.
- **Depth 1.** du/dt = λ_i − d_i u_i holds exactly from any start: step 0, measured u_i(0).
- **Depth 2, small init: from step 0.** While the weights are small the projections a_i = W₁v*_i,
  b_i = W₂ᵀu*_i (hidden-space vectors) follow the linear flow da_i/dt = λ_i b_i, db_i/dt = λ_i a_i, so
  c_i = a_i + b_i grows like e^{λ_i t} and a_i − b_i dies out. Mode i then behaves like a logistic
  started from ū_i = ‖c_i‖²/4 at t = 0 (THEORY.md §8). Hidden directions taken by stronger modes are
  suppressed once those are learned, so c_i is first stripped of its components along the earlier
  modes' c_j (Gram–Schmidt in order of decreasing λ): ū_i = ‖c_i − P_{<i} c_i‖²/4. A mode left with no
  hidden direction (width below the rank) is never learned and gets no curve. Modes with equal λ share
  a subspace: their block K = C_Gᵀ C_G / 4 (projected) is symmetric PSD, each of its eigen-directions
  follows its own logistic, and a mode's curve is the matching diagonal entry (the off-diagonal terms
  are what "the modes mix" means). GD with step η multiplies c_i by exactly (1 + ηλ_i) per step in the
  linear phase, which is the early growth of the finite-η recursion, so the same ū launches both
  curves. "Small" is a stated bound: max_l ‖W_l(0)‖²_op ≤ :data:`SMALL_INIT` × target_i (the cubic
  terms the linear flow drops are then at most that fraction of the linear ones); a mode above it
  is handled by the next rule.
- **Otherwise (depth > 2, or a depth-2 mode whose init is not small): one launch step for the whole
  run,** k* = the first snapshot at which every *pending* mode (λ_i > 0, u_i < :data:`RISING` ×
  target_i and not yet past its first halfway crossing) has alignment ≥ :data:`ALIGNED`. Alignment is
  u_i² / (‖W v*_i‖ ‖Wᵀu*_i‖) of the end-to-end map, and for a group of equal λ the same ratio of the
  whole block (its Frobenius norms), so a rotation inside the group costs nothing. At k* every pending
  mode with u_i > 0 whose measured rate du_i/dt (diagnostics.mode_rates) is within :data:`RATE_RTOL`
  of the balanced ODE's is launched from its measured state (its block, for equal λ); a mode that is
  already rising or past halfway, sits at u_i ≤ 0, or is aligned but unbalanced (an unbalanced mode
  grows faster than the balanced ODE: 20–25 % early at Gaussian L = 3) gets no theory, with the reason. No snapshot
  meeting the rule: no theory ("not aligned"). A launch at step 0 (every mode aligned there, as for the
  aligned init) predicts from the init itself, so it applies to every mode whatever its level.

So no curve starts late in a mode's own rise (u_i < RISING × target_i at the launch), none falls back
to step 0 for an unaligned mode at depth > 2, and a first crossing is never compared with the theory
of a later second rise (a mode past its first crossing at k* gets none). The λ-balanced init at L = 2
with whitened inputs keeps its exact matrix solution (THEORY.md §4) from step 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import theory
from .diagnostics import mode_alignment, mode_strengths
from .finite_step import balanced_layer_strength

ALIGNED = 0.8  # alignment that ends the alignment phase (depth > 2 launch rule)
RISING = 0.05  # a mode with u_i ≥ this fraction of its target is rising: too late to launch it
RATE_RTOL = 0.3  # ... and whose measured rate du_i/dt is within this of the balanced ODE's (else unbalanced)
SMALL_INIT = 0.25  # depth 2 from step 0 while max_l ‖W_l(0)‖²_op ≤ SMALL_INIT × target_i
DEGENERATE_RTOL = 1e-6  # singular values this close form one group (a shared subspace)
GD_MAX_STEPS = 5_000_000  # finite-η halfway search bound; beyond it the gradient-flow value is used

REASON_NO_CLOSED_FORM = "inputs do not commute with Σyx: no closed-form theory"
REASON_ZERO = "λ = 0: nothing to learn"
REASON_NO_DIRECTION = "no hidden direction left for this mode (width below the rank): never learned"
REASON_NOT_ALIGNED = "not aligned: the mode ODE does not apply yet"
REASON_RISING = "already rising at the launch step"
REASON_PAST = "already past its first halfway crossing at the launch step"
REASON_NEGATIVE = "u ≤ 0 at the launch step: on the far side of the saddle"
REASON_UNBALANCED = "aligned but not balanced at the launch step: faster than the balanced mode ODE"
REASON_DIVERGED = "the run diverged before the launch step"

RULE_DEPTH1 = "step 0, measured u(0) (depth 1: exact from any start)"
RULE_EFFECTIVE = "step 0, effective strength ū = ‖a + b‖²/4 (depth 2, small init)"
RULE_ALIGNED = "end of the alignment phase (every pending mode aligned ≥ {a:g})"
RULE_EXACT = "step 0, exact λ-balanced matrix solution (depth 2)"


@dataclass
class Launch:
    """One member's launch plan: per mode (r,) arrays plus the launch blocks.

    ``index`` is the snapshot index of the launch (-1 = none), ``step`` its GD step, ``strength`` the
    launch block K (r × r, block-diagonal over equal-λ groups; only launched modes' rows are used),
    ``applies``/``reason`` say whether mode i has a prediction and why not, ``alignment`` is the
    measured alignment at the launch snapshot, ``rule`` names the rule used (module docstring).
    """

    index: np.ndarray
    step: np.ndarray
    strength: np.ndarray
    applies: np.ndarray
    reason: list
    alignment: np.ndarray
    rule: list
    exact: bool = False
    groups: list = field(default_factory=list)


# ------------------------------------------------------------------------------------- groups
def groups(problem) -> list[np.ndarray]:
    """Modes with λ > 0 grouped by equal (λ_i, target_i), in order of decreasing λ (singletons mostly)."""
    lam, tgt = problem.lambda_star, problem.target_strength
    out: list[list[int]] = []
    for i in np.argsort(-lam, kind="stable"):
        if lam[i] <= 0:
            continue
        for g in out:
            j = g[0]
            if abs(lam[i] - lam[j]) <= DEGENERATE_RTOL * lam[j] and abs(tgt[i] - tgt[j]) <= DEGENERATE_RTOL * abs(tgt[j]):
                g.append(int(i))
                break
        else:
            out.append([int(i)])
    return [np.array(g, dtype=np.int64) for g in out]


def snapshot(W: np.ndarray, problem, grps: list[np.ndarray], u: np.ndarray | None = None,
             align: np.ndarray | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
    """Group-aware alignment (..., r) and the within-group blocks U_Gᵀ W V_G [(..., |G|, |G|)] of W.

    Alignment of a mode in group G: ‖U_Gᵀ W V_G‖²_F / (‖W V_G‖_F ‖Wᵀ U_G‖_F) (the per-mode ratio
    u_i² / (‖W v*_i‖ ‖Wᵀu*_i‖) when G = {i}); 0 where a norm vanishes. ``u`` (mode strengths) and
    ``align`` (per-mode ratios) when the caller has them already (record.py: computed once per snapshot).
    """

    U, V = problem.U_star, problem.V_star
    u = mode_strengths(W, U, V) if u is None else u
    # singletons: the per-mode ratio, all modes at once (a copy: the group entries are overwritten)
    align = mode_alignment(W, U, V, u) if align is None else align.copy()
    blocks = []
    for g in grps:
        if len(g) == 1:
            blocks.append(u[..., g][..., None])  # (..., 1, 1)
            continue
        Ug, Vg = U[:, g], V[:, g]
        WV = W @ Vg
        M = Ug.T @ WV
        num = np.sum(M * M, axis=(-2, -1))
        den = np.sqrt(np.sum(WV * WV, axis=(-2, -1)) * np.sum((np.swapaxes(W, -1, -2) @ Ug) ** 2, axis=(-2, -1)))
        a = np.divide(num, den, out=np.zeros_like(den), where=den > 0)
        align[..., g] = a[..., None]
        blocks.append(M)
    return align, blocks


# ------------------------------------------------------------------- depth 2: effective strength
def effective_strengths(problem, W1: np.ndarray, W2: np.ndarray, grps: list[np.ndarray] | None = None) -> np.ndarray:
    """Launch block K (r × r) of THEORY.md §8 from the initial W₁ (h × n_in), W₂ (n_out × h).

    c_i = W₁v*_i + W₂ᵀu*_i; groups in order of decreasing λ are projected off the span of the earlier
    groups' c's, then K_G = C_Gᵀ C_G / 4 (diagonal entry: ū_i = ‖c_i − P_{<i}c_i‖²/4).
    """
    grps = groups(problem) if grps is None else grps
    C = W1 @ problem.V_star + W2.T @ problem.U_star  # (h, r)
    K = np.zeros((problem.r, problem.r))
    Q = np.zeros((C.shape[0], 0))  # orthonormal basis of the earlier groups' c's
    for g in grps:
        Cg = C[:, g] - Q @ (Q.T @ C[:, g])
        K[np.ix_(g, g)] = Cg.T @ Cg / 4.0
        if Cg.size:
            Uq, s, _ = np.linalg.svd(Cg, full_matrices=False)
            keep = s > 1e-12 * max(1.0, float(np.max(np.abs(C))))
            Q = np.concatenate([Q, Uq[:, keep]], axis=1)
    return K


def small_init(problem, weights0) -> np.ndarray:
    """(r,) bool: max_l ‖W_l(0)‖²_op ≤ SMALL_INIT × target_i (the depth-2 from-step-0 condition)."""
    big = max(float(np.linalg.norm(w, 2)) ** 2 for w in weights0)
    return big <= SMALL_INIT * np.abs(problem.target_strength)


# ------------------------------------------------------------------------------------ the plan
def plan(problem, depth: int, weights0, steps: np.ndarray, u: np.ndarray, alignment: np.ndarray,
         blocks: list[np.ndarray], halfway_measured, exact: bool = False, rate: np.ndarray | None = None) -> Launch:
    """The launch plan of one member (module docstring).

    ``steps`` (S,) snapshot steps kept (before any divergence), ``u`` (S, r) measured strengths,
    ``alignment`` (S, r) group-aware alignment, ``blocks`` [(S, |G|, |G|)] within-group blocks (order
    of :func:`groups`), ``halfway_measured`` (r,) first crossing steps (None = not reached), ``rate``
    (S, r) measured gradient-flow rates du_i/dt (diagnostics.mode_rates) for the balance check.
    """
    r = problem.r
    grps = groups(problem)
    index = np.full(r, -1, dtype=np.int64)
    applies = np.zeros(r, dtype=bool)
    reason: list = [None] * r
    rule: list = [None] * r
    K = np.zeros((r, r))
    align_at = np.full(r, np.nan)
    lam = problem.lambda_star
    for i in np.nonzero(lam <= 0)[0]:
        reason[i] = REASON_ZERO
    if not problem.has_theory:
        reason = [REASON_NO_CLOSED_FORM] * r
        return Launch(index, np.full(r, -1), K, applies, reason, align_at, rule, groups=grps)
    if len(steps) == 0:
        reason = [REASON_DIVERGED if lam[i] > 0 else REASON_ZERO for i in range(r)]
        return Launch(index, np.full(r, -1), K, applies, reason, align_at, rule, groups=grps)
    half = 0.5 * problem.target_strength
    crossed = np.array([h if h is not None else np.iinfo(np.int64).max for h in halfway_measured], dtype=np.int64)

    def launch_at(j: int, members: np.ndarray, name: str) -> None:
        """Launch ``members`` (mode indices) at snapshot j from the measured blocks."""
        chosen = set(np.asarray(members).tolist())  # a set: np.isin costs ~40 us a call, 2048 plans × r
        for g, B in zip(grps, blocks):
            if chosen.isdisjoint(g.tolist()):
                continue
            Bj = np.asarray(B[j], dtype=float)
            Ks = 0.5 * (Bj + Bj.T)
            K[np.ix_(g, g)] = Ks
        for i in members:
            index[i], applies[i], rule[i], align_at[i] = j, True, name, alignment[j, i]

    if exact:
        on = np.nonzero(lam > 0)[0]
        for i in on:
            index[i], applies[i], rule[i], align_at[i] = 0, True, RULE_EXACT, alignment[0, i]
        return Launch(index, np.where(index >= 0, steps[0], -1), K, applies, reason, align_at, rule, True, grps)

    if depth == 1:
        launch_at(0, np.nonzero(lam > 0)[0], RULE_DEPTH1)
        return _finish(index, steps, K, applies, reason, align_at, rule, grps, u, half, crossed)

    todo = np.nonzero(lam > 0)[0]
    if depth == 2:
        W1, W2 = (np.asarray(w, float) for w in weights0)
        small = small_init(problem, weights0)
        Keff = effective_strengths(problem, W1, W2, grps)
        c = W1 @ problem.V_star + W2.T @ problem.U_star
        raw = np.sum(c * c, axis=0) / 4  # before the projection: a left-over of ~1e-16 of it is rounding
        for g in grps:
            if not small[g].all():
                continue
            K[np.ix_(g, g)] = Keff[np.ix_(g, g)]
            for i in g:
                if Keff[i, i] <= 1e-14 * raw[i]:
                    reason[i] = REASON_NO_DIRECTION
                    continue
                index[i], applies[i], rule[i], align_at[i] = 0, True, RULE_EFFECTIVE, alignment[0, i]
        todo = np.array([i for i in todo if index[i] < 0 and reason[i] is None], dtype=np.int64)
    if len(todo):
        rising = u >= RISING * problem.target_strength[None, :]
        past = steps[:, None] >= crossed[None, :]
        pending = ~rising[:, todo] & ~past[:, todo]
        pending[0] = True  # a launch at step 0 needs every mode aligned (any level is early there)
        ok = np.all(~pending | (alignment[:, todo] >= ALIGNED), axis=1)
        hits = np.nonzero(ok)[0]
        if not len(hits):
            for i in todo:
                reason[i] = REASON_NOT_ALIGNED
        else:
            j = int(hits[0])
            go = []
            for i in todo:  # at step 0 the launch state is the init itself: a prediction at any level
                if j > 0 and steps[j] >= crossed[i]:
                    reason[i] = REASON_PAST
                elif j > 0 and u[j, i] >= RISING * problem.target_strength[i]:
                    reason[i] = REASON_RISING
                elif u[j, i] <= 0:
                    reason[i] = REASON_NEGATIVE
                elif rate is not None and not _on_ode(problem, depth, u[j, i], rate[j, i], i):
                    reason[i] = REASON_UNBALANCED
                else:
                    go.append(i)
            launch_at(j, np.array(go, dtype=np.int64), RULE_ALIGNED.format(a=ALIGNED))
    return _finish(index, steps, K, applies, reason, align_at, rule, grps, u, half, crossed)


def _on_ode(problem, depth: int, u: float, rate: float, i: int) -> bool:
    """Measured rate du_i/dt within RATE_RTOL of the balanced ODE's L u^{2−2/L}(λ − d u) (THEORY.md §2)."""

    ode = float(np.asarray(theory.mode_rate(u, problem.lambda_star[i], depth, problem.mode_d[i])))
    return bool(np.isfinite(rate) and abs(rate - ode) <= RATE_RTOL * abs(ode))


def _finish(index, steps, K, applies, reason, align_at, rule, grps, u, half, crossed) -> Launch:
    step = np.where(index >= 0, steps[np.maximum(index, 0)], -1)
    return Launch(index, step, K, applies, reason, align_at, rule, False, grps)


# --------------------------------------------------------------------------------- predictions
def _eig_launch(launch: Launch, problem):
    """Launched eigen-directions: (lam, d, kappa, mode_of_row weights) over all launched groups.

    Returns (lam (n,), d (n,), kappa (n,), start index (n,), mix (r, n)) where the predicted u_i is
    Σ_j mix[i, j] m_j with m_j each eigen-direction's scalar theory from kappa_j.
    """
    lam_l, d_l, kap_l, idx_l, cols = [], [], [], [], []
    r = problem.r
    for g in launch.groups:
        on = g[launch.applies[g]]
        if not len(on):
            continue
        Kg = launch.strength[np.ix_(on, on)]
        if len(on) == 1:
            kap, Q = np.array([Kg[0, 0]]), np.ones((1, 1))
        else:
            kap, Q = np.linalg.eigh(0.5 * (Kg + Kg.T))
        for j in range(len(kap)):
            col = np.zeros(r)
            col[on] = Q[:, j] ** 2
            cols.append(col)
            lam_l.append(problem.lambda_star[on[0]])
            d_l.append(problem.mode_d[on[0]])
            kap_l.append(kap[j])
            idx_l.append(launch.index[on[0]])
    if not cols:
        z = np.zeros(0)
        return z, z, z, np.zeros(0, dtype=np.int64), np.zeros((r, 0))
    return (np.array(lam_l), np.array(d_l), np.array(kap_l), np.array(idx_l, dtype=np.int64),
            np.stack(cols, axis=1))


def curves(problem, launch: Launch, depth: int, lr: float, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient-flow and finite-η predicted u_i at the snapshots: (gf (K, r), gd (K, r)); NaN before a
    mode's launch and for modes without theory."""

    steps = np.asarray(steps)
    K, r = len(steps), problem.r
    gf, gd = np.full((K, r), np.nan), np.full((K, r), np.nan)
    lam, d, kap, idx, mix = _eig_launch(launch, problem)
    if K == 0 or not len(lam):
        return gf, gd
    for s in np.unique(idx):
        m = idx == s
        dk = steps[s:] - steps[s]
        with np.errstate(all="ignore"):
            try:
                e_gf = np.asarray(theory.mode_curve_gf(lr * dk, lam[m], kap[m], depth, d[m]), float)
            except (ValueError, ArithmeticError):
                e_gf = np.full((len(dk), int(m.sum())), np.nan)
            try:
                e_gd = np.asarray(theory.mode_curve_gd(dk, lam[m], kap[m], depth, lr, d[m]), float)
            except (ValueError, ArithmeticError):
                e_gd = np.full((len(dk), int(m.sum())), np.nan)
        rows = mix[:, m].sum(axis=1) > 0
        gf[s:, rows] = (e_gf @ mix[:, m].T)[:, rows]
        gd[s:, rows] = (e_gd @ mix[:, m].T)[:, rows]
    return gf, gd


def halfway(problem, launches: list, depth: int, lrs, horizon=None) -> tuple[list, list]:
    """Predicted halfway steps of M members: (finite-η, gradient flow), each M lists of r values,
    None where a mode has no theory (or never gets there).

    Finite η: the first step k whose predicted state (exact GD recursion of THEORY.md §2 from the launch
    state, per eigen-direction) has u_i(k) ≥ target_i/2, found by iterating the recursion for every
    member's launched directions at once, up to ``horizon`` (per member: the run's last step; default
    GD_MAX_STEPS) + 1000 steps. A crossing predicted beyond that, which the run cannot check, is
    reported as its gradient-flow value (iterating millions of steps of a plateau the run never left
    would cost far more than the run). Gradient flow: launch step + τ½/η (exact closed form for a
    single mode; for an equal-λ group, bisection on the predicted diagonal).
    """

    r = problem.r
    half = 0.5 * problem.target_strength
    lrs = np.broadcast_to(np.asarray(lrs, dtype=float), (len(launches),))
    horizon = np.broadcast_to(np.asarray(GD_MAX_STEPS if horizon is None else horizon, dtype=float),
                              (len(launches),))
    gd_all, gf_all = [[None] * r for _ in launches], [[None] * r for _ in launches]
    parts = []  # (member, lam, d, kap, mix) of members with launched directions
    single = []  # (member, mode, lam, kap, d) of modes launched alone: one vectorised τ½ call for all
    with np.errstate(all="ignore"):
        for b, launch in enumerate(launches):
            lam, d, kap, _, mix = _eig_launch(launch, problem)
            if not len(lam):
                continue
            for i in np.nonzero(launch.applies)[0]:
                cols = np.nonzero(mix[i] > 0)[0]
                if len(cols) == 1 and mix[i, cols[0]] == 1.0:
                    j = cols[0]
                    single.append((b, i, lam[j], kap[j], d[j]))
                    continue
                tau = _bisect_half(lam[cols], d[cols], kap[cols], mix[i, cols], half[i], depth)
                if np.isfinite(tau):
                    gf_all[b][i] = float(launch.step[i] + tau / float(lrs[b]))
            parts.append((b, lam, d, kap, mix))
        if single:  # elementwise closed form: the same value per mode as one call each
            _, _, lam1, kap1, d1 = (np.array(x) for x in zip(*single))
            taus = np.asarray(theory.tau_half(lam1, kap1, depth, d1), dtype=float).reshape(-1)
            for (b, i, *_), tau in zip(single, taus.tolist()):
                if math.isfinite(tau):
                    gf_all[b][i] = float(launches[b].step[i] + tau / float(lrs[b]))
    if not parts:
        return gd_all, gf_all
    # finite η: every member's launched directions in one recursion (per-direction lr)
    rows, bound = [], 0
    for b, *_ in parts:
        for i in range(r):
            if gf_all[b][i] is not None and gf_all[b][i] <= horizon[b] + 1000:
                rows.append((b, i))  # (a crossing past the run's horizon keeps its gradient-flow value)
                bound = max(bound, _gd_bound(gf_all[b][i], launches[b].step[i], horizon[b]))
    for b in range(len(launches)):
        for i in range(r):
            if gf_all[b][i] is not None and gf_all[b][i] > horizon[b] + 1000:
                gd_all[b][i] = gf_all[b][i]
    if not rows:
        return gd_all, gf_all
    offs = np.cumsum([0] + [len(p[1]) for p in parts])
    pos = {p[0]: k for k, p in enumerate(parts)}
    lam = np.concatenate([p[1] for p in parts])
    d = np.concatenate([p[2] for p in parts])
    kap = np.concatenate([p[3] for p in parts])
    lr = np.concatenate([np.full(len(p[1]), lrs[p[0]]) for p in parts])
    # each row mixes a few directions of its own member: (columns, weights) per row, not a dense
    # rows × directions matrix (that would be 1.2 GB for a sweep of 2048 networks × 6 modes)
    cols, weights = [], []
    for b, i in rows:
        k = pos[b]
        w = parts[k][4][i]
        nz = np.nonzero(w)[0]
        cols.append(offs[k] + nz)
        weights.append(w[nz])
    halves = np.array([half[i] for _, i in rows])
    ks = _gd_first_crossing(lam, d, kap, lr, cols, weights, halves, depth, bound)
    for row, (b, i) in enumerate(rows):
        start = launches[b].step[i]
        if ks[row] >= 0:
            gd_all[b][i] = float(start + ks[row])
        elif start + _gd_bound(gf_all[b][i], start, horizon[b]) < gf_all[b][i] + 1000 or \
                _gd_bound(gf_all[b][i], start, horizon[b]) >= GD_MAX_STEPS:
            gd_all[b][i] = gf_all[b][i]  # beyond the search bound: the gradient-flow value
    return gd_all, gf_all


def _gd_bound(gf_step, start, horizon=GD_MAX_STEPS) -> int:
    """Steps to iterate the recursion after the launch: twice the gradient-flow estimate plus a margin,
    but no further than the horizon (+1000) and GD_MAX_STEPS."""
    return int(min(GD_MAX_STEPS, 2.0 * (gf_step - start) + 1000, max(horizon - start, 0) + 1000))


def _bisect_half(lam, d, kap, w, half, depth) -> float:
    """Gradient-flow time where Σ_j w_j m_j(t) first reaches ``half`` (equal-λ group; bisection)."""

    def f(t):
        return float(np.asarray(theory.mode_curve_gf([t], lam, kap, depth, d))[0] @ w) - half

    if f(0.0) >= 0:
        return 0.0
    hi = 1.0 / max(float(lam[0]), 1e-12)
    while f(hi) < 0:
        hi *= 2
        if hi > 1e12:
            return float("inf")
    lo = 0.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
    return hi


GD_BLOCK = 128  # recursion steps between crossing checks (a block with a crossing is replayed step by step)


def _gd_first_crossing(lam, d, kap, lr, cols, weights, half, depth, bound) -> np.ndarray:
    """Steps after launch to each row's first predicted Σ_j w_j u_j ≥ half (row q mixes the directions
    ``cols[q]`` with ``weights[q]``) under the exact GD recursion of every eigen-direction (THEORY.md §2;
    same sign conventions as theory.mode_curve_gd); -1 = none within ``bound`` steps.

    Iterates in blocks of GD_BLOCK pure updates and replays only a block in which something crossed,
    so the per-step cost is the update itself; each block advances only the directions some row still
    waits for (the update is elementwise, so a direction's values do not depend on which others are
    advanced beside it). A row whose directions' recursion leaves the finite range stops there (-1
    unless it crossed first); the other rows go on."""
    L = depth
    sig, s = balanced_layer_strength(kap, L)
    c, ds = lr * sig, d * sig
    n = len(half)
    out = np.full(n, -1, dtype=np.int64)
    one_hot = all(len(w) == 1 and w[0] == 1.0 for w in weights)
    col = np.array([cc[0] for cc in cols], dtype=np.int64) if one_hot else None

    def rows_view(rows):
        """(active directions, a function of their states giving the rows' values, a function of
        per-direction flags giving whether each row uses a flagged direction)."""
        if one_hot:
            act, where = np.unique(col[rows], return_inverse=True)
            sg = sig[act]
            return act, lambda st: (sg * st**L)[where], lambda flag: flag[where]
        rc = [cols[q] for q in rows]
        act, where = np.unique(np.concatenate(rc), return_inverse=True)
        w = np.concatenate([weights[q] for q in rows])
        starts = np.cumsum([0] + [len(x) for x in rc[:-1]])
        sg = sig[act]
        return (act, lambda st: np.add.reduceat(w * (sg * st**L)[where], starts),
                lambda flag: np.logical_or.reduceat(flag[where], starts))

    with np.errstate(all="ignore"):
        act, value, _ = rows_view(np.arange(n))
        pending = ~(value(s[act]) >= half)
        out[~pending] = 0
        k = 0
        while pending.any() and k < bound:
            rows = np.nonzero(pending)[0]
            act, value, uses = rows_view(rows)
            st, la, cc, dd, hv = s[act], lam[act], c[act], ds[act], half[rows]

            def step(x, cc=cc, la=la, dd=dd):  # this block's active directions
                return x + cc * x ** (L - 1) * (la - dd * x**L)

            m = min(GD_BLOCK, bound - k)
            s0 = st
            for _ in range(m):
                st = step(st)
            # a crossing inside the block (or a state that left the finite range) is located exactly
            if (~(value(st) < hv)).any():
                left = np.ones(len(rows), bool)
                t = s0
                for j in range(1, m + 1):
                    t = step(t)
                    hit = left & (value(t) >= hv)
                    out[rows[hit]] = k + j
                    left &= ~hit
                pending[rows] = left
            s[act] = st
            k += m
            # a direction whose recursion left the finite range ends the search of the rows that read
            # it (their value is no longer a number), not of everyone else in the batch
            blown = ~np.isfinite(st)
            if blown.any():
                pending[rows[uses(blown)]] = False
    return out


# --------------------------------------------------------------------------------- what to say
def theory_note(mode_summary) -> tuple[str, str | None]:
    """(caption, warning) for a run's mode panel from its mode_summary frame (frames.MODE_SUMMARY_COLUMNS).

    The caption says where the dashed curves start and that they are predictions; ``warning`` is one
    line when no mode of the run has theory (None otherwise).
    """
    applies = mode_summary["theory_applies"].fillna(False).astype(bool)
    starts = mode_summary.loc[applies, "theory_start_step"].dropna().astype(int).unique().tolist()
    without = mode_summary.loc[~applies & (mode_summary["lambda"] > 0)]
    base = ("Solid: measured mode strength uᵢ = uᵢ⋆ᵀ W vᵢ⋆. Dashed: the mode ODE's prediction (gradient flow; the "
            "finite-η recursion when the overlay is on), computed only from the state at its start step "
            "and never refitted. ")
    if not applies.any():
        reasons = sorted(set(without["theory_reason"]) - {""}) or [REASON_ZERO]
        return base, "No mode of this run has a theory curve: " + "; ".join(reasons) + "."
    if starts == [0]:
        where = "Every dashed curve starts at step 0"
    else:
        where = "Dashed curves start at step " + ", ".join(f"{k:,}" for k in sorted(starts))
        where += " (the end of the alignment phase)" if 0 not in starts else ""
    lines = [base + where + "."]
    if len(without):
        names = ", ".join(str(int(m)) for m in without["mode"])
        lines.append(f"Mode{'s' if len(without) > 1 else ''} {names}: no theory (see 'theory' in the table).")
    return " ".join(lines), None


__all__ = [
    "ALIGNED",
    "RISING",
    "SMALL_INIT",
    "Launch",
    "curves",
    "effective_strengths",
    "groups",
    "halfway",
    "plan",
    "small_init",
    "snapshot",
    "theory_note",
]

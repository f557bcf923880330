"""The documented result frames (docs/API.md "frames.py"): column names, snapshot recording, builders.

Charts, the store, the CSV export and the tests all read these frames; the names live here only.
Time columns follow THEORY.md §1: ``step`` = GD step k, ``t`` = lr·k (gradient-flow time); ``loss`` is
loss (H) = ½‖·‖².

:class:`Recorder` turns batched snapshot diagnostics (dln_core.diagnostics) into per-member frames:
one record per snapshot holds arrays with a leading batch axis, so memory grows with the number of
snapshots, never with the number of steps.

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

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import diagnostics as dg

# ------------------------------------------------------------------------------------------ columns
HISTORY_BASE = ("step", "t", "loss")
HISTORY_TAIL = ("alignment", "balance_drift", "update_eff_rank")
HISTORY_PER_MODE = ("mode_{i}", "theory_{i}", "theory_gd_{i}", "sv_{i}")  # i = 1..r
MODES_COLUMNS = ("step", "t", "mode", "lambda", "u", "theory_gf", "theory_gd")
MODE_SUMMARY_COLUMNS = ("mode", "lambda", "u0", "halfway_step", "halfway_step_theory", "tau_half",
                        "tau_half_theory", "plateau_level", "theory_start_step")
ALIGNMENT_COLUMNS = ("step", "pair", "row", "col", "value")
LAYER_SV_COLUMNS = ("step", "layer", "index", "value")
UPDATE_COLUMNS = ("step", "layer", "index", "value", "eff_rank")
BALANCE_COLUMNS = ("step", "layer", "drift")


def history_columns(r: int) -> list[str]:
    """The wide history frame's columns for r modes, in order."""
    cols = list(HISTORY_BASE)
    for pattern in HISTORY_PER_MODE:
        cols += [pattern.format(i=i) for i in range(1, r + 1)]
    return cols + list(HISTORY_TAIL)


HISTORY_COLUMNS = tuple(history_columns(6))  # the article target (r = 6); use history_columns(r) otherwise


# ---------------------------------------------------------------------------------------- recording
class Recorder:
    """Diagnostics of all B members at each snapshot (arrays with a leading batch axis)."""

    def __init__(self, problem, lrs: np.ndarray, weights0: list[np.ndarray]) -> None:
        self.p = problem
        self.lrs = np.asarray(lrs, dtype=float)
        self.weights0 = [np.array(w, dtype=float) for w in weights0]  # initial W_l, (B, ...): exact L = 2 theory
        self.H0 = dg.balance_matrices(weights0)
        self.steps: list[int] = []
        self.rows: list[dict] = []
        # leading k×k block of overlaps is scored: the modes with a nonzero target
        self.k_score = max(1, int(np.sum(problem.lambda_star > 0)))

    def record(self, step: int, weights: list[np.ndarray]) -> None:
        p = self.p
        with np.errstate(all="ignore"):
            W = dg.end_to_end(weights)
            svds = dg.signed_svds(weights, p.U_star)
            mats = dg.overlaps(svds, p.U_star, p.V_star)
            grads = dg.gradients(weights, p.sigma_xx, p.sigma_yx)
            upd_sv = [dg.gram_singular_values(self.lrs[:, None, None] * g) for g in grads]
            H = dg.balance_matrices(weights)
            drift = np.stack([dg.frobenius(h - h0) for h, h0 in zip(H, self.H0)], axis=-1) if H else \
                np.zeros((len(self.lrs), 0))
            u = dg.mode_strengths(W, p.U_star, p.V_star)  # once: mode_alignment reuses it
            self.rows.append({
                "loss": p.loss(W),
                "u": u,
                "sv": dg.singular_values(W)[:, : p.r],
                "layer_sv": [s for _, s, _ in svds],
                "overlaps": mats,
                "alignment": dg.alignment_score(list(mats.values()), self.k_score),
                "mode_alignment": dg.mode_alignment(W, p.U_star, p.V_star, u),
                "mode_rate": dg.mode_rates(weights, grads, p.U_star, p.V_star),
                "drift": drift,
                "upd_sv": upd_sv,
                "upd_rank": np.stack([dg.effective_rank(s) for s in upd_sv], axis=-1),
            })
        self.steps.append(int(step))

    # -------------------------------------------------------------------------------- per member
    def _finalize(self) -> None:
        """Stack the snapshots once into arrays (S, B, ...) and drop the per-snapshot records."""
        if getattr(self, "_arr", None) is not None:
            return
        rows = self.rows
        arr = {key: np.stack([row[key] for row in rows]) for key in ("loss", "u", "sv", "alignment", "drift",
                                                                      "upd_rank", "mode_alignment",
                                                                      "mode_rate")}
        n_layers = len(rows[0]["layer_sv"])
        arr["layer_sv"] = [np.stack([row["layer_sv"][li] for row in rows]) for li in range(n_layers)]
        arr["upd_sv"] = [np.stack([row["upd_sv"][li] for row in rows]) for li in range(n_layers)]
        arr["overlaps"] = {label: np.stack([row["overlaps"][label] for row in rows]) for label in rows[0]["overlaps"]}
        arr["steps"] = np.array(self.steps, dtype=np.int64)
        self._arr = arr
        self.rows = []

    def u0(self) -> np.ndarray:
        """Measured u_i(0) of every member, (B, r)."""
        self._finalize()
        return self._arr["u"][0].astype(float)

    def _kept(self, diverged_step: int | None) -> np.ndarray:
        """Mask of the snapshots before a member's divergence step (all when it did not diverge)."""
        steps = self._arr["steps"]
        return steps < diverged_step if diverged_step is not None else np.ones(len(steps), bool)

    def mode_series(self, b: int, diverged_step: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Member b's measured mode strengths without building any frame: (steps (S,), t = lr·step (S,),
        u (S, r)) at the snapshots before its divergence step — the values of its ``modes`` frame."""
        self._finalize()
        keep = self._kept(diverged_step)
        steps = self._arr["steps"][keep]
        return steps, float(self.lrs[b]) * steps, self._arr["u"][keep, b]

    def theory_plan(self, b: int, cfg, diverged_step: int | None) -> tuple[bool, np.ndarray]:
        """(exact_l2, start index per mode into the kept snapshots, -1 = no theory): module docstring."""
        self._finalize()
        keep = self._kept(diverged_step)
        if _exact_l2(self.p, cfg):
            return True, np.zeros(self.p.r, dtype=np.int64)
        a = self._arr
        return False, theory_start_indices(self.p, a["mode_alignment"][keep, b], a["u"][keep, b],
                                           cfg.network.depth, a["mode_rate"][keep, b])

    def halfway_theory(self, cfgs, diverged_steps) -> tuple[list, list]:
        """Theory halfway step and theory start step per member and mode (THEORY.md §2, §4, §6).

        Returns (halfway, start): M lists of r values each (None: no answer / no theory). The halfway
        step is start_step + τ½(λ, u_i(start), L, d)/lr; for the exact λ-balanced L = 2 overlay it is
        the first crossing of the exact curve, located to 1/4096 of a snapshot interval.
        """
        self._finalize()
        a, r = self._arr, self.p.r
        B = len(self.lrs)
        depth = cfgs[0].network.depth
        half_out: list = [None] * B
        start_out: list = [None] * B
        u_start = np.ones((B, r))  # placeholder 1 where there is no start (masked out below)
        k_start = np.full((B, r), -1, dtype=np.int64)
        for b in range(B):
            exact, idx = self.theory_plan(b, cfgs[b], diverged_steps[b])
            steps = a["steps"][self._kept(diverged_steps[b])]
            if exact:
                w0 = [w[b] for w in self.weights0]
                half_out[b] = exact_l2_halfway_steps(self.p, w0, cfgs[b].init.lambda_b, float(self.lrs[b]), steps)
                start_out[b] = [0] * r
                continue
            ok = idx >= 0
            k_start[b, ok] = steps[idx[ok]]
            u_start[b, ok] = a["u"][idx[ok], b, np.nonzero(ok)[0]]
            start_out[b] = [int(k) if k >= 0 else None for k in k_start[b]]
        todo = np.array([half_out[b] is None for b in range(B)], dtype=bool)
        for lr in np.unique(self.lrs[todo]):  # one vectorised theory call per distinct lr
            members = np.nonzero(todo & (self.lrs == lr))[0]
            hs = halfway_steps_theory(self.p, u_start[members], depth, float(lr), k_start[members])
            for j, b in enumerate(members):
                half_out[b] = hs[j]
        return half_out, start_out

    def build(self, b: int, cfg, diverged_step: int | None) -> dict:
        """Frames of member b (snapshots before its divergence step only), theory columns included."""
        p = self.p
        lr = float(self.lrs[b])
        self._finalize()
        a = self._arr
        keep = self._kept(diverged_step)
        steps = a["steps"][keep]
        t = lr * steps
        r = p.r
        u = a["u"][keep, b]
        exact, starts = self.theory_plan(b, cfg, diverged_step)
        if exact:
            gf = exact_l2_mode_curves(p, [w[b] for w in self.weights0], cfg.init.lambda_b, t)
            gd = np.full_like(gf, np.nan)  # no exact finite-η recursion for an unaligned λ-balanced start
        else:
            gf, gd = theory_curves(p, u, cfg.network.depth, lr, steps, starts)
        sv = a["sv"][keep, b]
        hist = {"step": steps, "t": t, "loss": a["loss"][keep, b]}
        for name, block in (("mode", u), ("theory", gf), ("theory_gd", gd), ("sv", sv)):
            for i in range(r):
                hist[f"{name}_{i + 1}"] = block[:, i] if i < block.shape[1] else np.zeros(len(steps))
        hist["alignment"] = a["alignment"][keep, b]
        drift = a["drift"][keep, b]
        hist["balance_drift"] = drift.max(axis=-1) if drift.shape[-1] else np.zeros(len(steps))
        hist["update_eff_rank"] = a["upd_rank"][keep, b].mean(axis=-1)
        history = pd.DataFrame(hist, columns=history_columns(r))
        n = len(steps)
        modes = pd.DataFrame({
            "step": np.repeat(steps, r), "t": np.repeat(t, r), "mode": np.tile(np.arange(1, r + 1), n),
            "lambda": np.tile(p.lambda_star, n), "u": u.reshape(-1), "theory_gf": gf.reshape(-1),
            "theory_gd": gd.reshape(-1),
        }, columns=list(MODES_COLUMNS))
        layer_sv = _long_layers(steps, [x[keep, b] for x in a["layer_sv"]], LAYER_SV_COLUMNS)
        updates = _long_layers(steps, [x[keep, b] for x in a["upd_sv"]], UPDATE_COLUMNS[:4])
        ranks = a["upd_rank"][keep, b]  # (S', L)
        updates["eff_rank"] = ranks[np.searchsorted(steps, updates["step"].to_numpy()),
                                    updates["layer"].to_numpy() - 1]
        n_pairs = drift.shape[-1]
        balance = pd.DataFrame({"step": np.repeat(steps, n_pairs), "layer": np.tile(np.arange(1, n_pairs + 1), n),
                                "drift": drift.reshape(-1)}, columns=list(BALANCE_COLUMNS))
        return {
            "history": history,
            "modes": modes,
            "alignment": _long_overlaps(steps, {k: v[keep, b] for k, v in a["overlaps"].items()}),
            "layer_sv": layer_sv,
            "updates": updates,
            "balance": balance,
        }


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
        from . import theory

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
    from . import theory

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
        from . import theory

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
def _exact_l2(problem, cfg) -> bool:
    """The overlay is the exact matrix solution: λ-balanced init (L = 2), whitened inputs."""
    return (cfg.init.scheme == "lambda-balanced" and cfg.network.depth == 2 and problem.input_kind == "whitened")


def exact_l2_mode_curves(problem, weights0, lambda_b: float, t: np.ndarray) -> np.ndarray:
    """u_i(t) = u*_iᵀ W(t) v*_i of the exact λ-balanced gradient flow from W_1(0), W_2(0): (T, r) (THEORY §4)."""
    from . import theory

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


def _long_overlaps(steps: np.ndarray, mats: dict[str, np.ndarray]) -> pd.DataFrame:
    """Long alignment frame from {pair: (S, a, b)}: rows ordered by step, then pair, row, col."""
    parts = []
    for order, (label, M) in enumerate(mats.items()):
        S, na, nb = M.shape
        rr, cc = np.indices((na, nb))
        parts.append(pd.DataFrame({
            "step": np.repeat(steps, na * nb), "pair": label, "row": np.tile(rr.ravel() + 1, S),
            "col": np.tile(cc.ravel() + 1, S), "value": M.reshape(-1), "_o": order,
        }))
    if not parts:
        return pd.DataFrame(columns=list(ALIGNMENT_COLUMNS))
    df = pd.concat(parts, ignore_index=True).sort_values(["step", "_o"], kind="stable")
    return df.drop(columns="_o").reset_index(drop=True)[list(ALIGNMENT_COLUMNS)]


def _long_layers(steps: np.ndarray, per_layer: list[np.ndarray], columns) -> pd.DataFrame:
    """Long (step, layer, index, value) frame from per-layer (S, k_l) arrays, ordered by step, layer."""
    parts = []
    for li, X in enumerate(per_layer, start=1):
        S, k = X.shape
        parts.append(pd.DataFrame({"step": np.repeat(steps, k), "layer": li,
                                   "index": np.tile(np.arange(1, k + 1), S), "value": X.reshape(-1)}))
    df = pd.concat(parts, ignore_index=True).sort_values(["step", "layer"], kind="stable")
    return df.reset_index(drop=True)[list(columns)]


def mode_summary_frame(problem, u0, halfway, halfway_theory, lr: float, theory_start=None) -> pd.DataFrame:
    """One row per mode: measured vs theory halfway step and time (t = lr·k), plateau before it, and
    the step where the mode's theory curve starts (module docstring; nullable Int64)."""
    levels = problem.plateau_levels()

    def t_of(k):
        return math.nan if k is None else lr * k

    return pd.DataFrame({
        "mode": np.arange(1, problem.r + 1),
        "lambda": problem.lambda_star,
        "u0": np.asarray(u0, float),
        "halfway_step": pd.array(halfway, dtype="Int64"),
        "halfway_step_theory": [math.nan if h is None else h for h in halfway_theory],
        "tau_half": [t_of(k) for k in halfway],
        "tau_half_theory": [t_of(h) for h in halfway_theory],
        "plateau_level": levels[:-1],
        "theory_start_step": pd.array([None] * problem.r if theory_start is None else list(theory_start),
                                      dtype="Int64"),
    }, columns=list(MODE_SUMMARY_COLUMNS))


# ---------------------------------------------------------------------------------------- export
def export_frame(results: Iterable | Mapping) -> pd.DataFrame:
    """The CSV export: one row per run × snapshot = history columns + flat config columns.

    ``results``: RunResults, (run_id, RunResult) pairs, or a {run_id: RunResult} mapping; ``run_id``
    is the first column when known. Runs with different numbers of modes share one frame (missing
    mode columns are empty).
    """
    items: Sequence = list(results.items()) if isinstance(results, Mapping) else list(results)
    parts = []
    for item in items:
        run_id, res = item if isinstance(item, tuple) else (getattr(item, "run_id", None), item)
        flat = res.config.to_flat()
        df = res.history.copy()
        for key, value in flat.items():
            df[key] = value
        df["diverged"] = bool(res.summary.get("diverged", False))
        if run_id is not None:
            df.insert(0, "run_id", run_id)
        parts.append(df)
    if not parts:
        return pd.DataFrame(columns=list(HISTORY_BASE))
    return pd.concat(parts, ignore_index=True, sort=False)


__all__ = [
    "ALIGNED_SCORE",
    "ALIGNMENT_COLUMNS",
    "BALANCE_COLUMNS",
    "HISTORY_COLUMNS",
    "LAYER_SV_COLUMNS",
    "MODES_COLUMNS",
    "MODE_SUMMARY_COLUMNS",
    "UPDATE_COLUMNS",
    "Recorder",
    "exact_l2_halfway_steps",
    "exact_l2_mode_curves",
    "export_frame",
    "halfway_steps_theory",
    "history_columns",
    "mode_summary_frame",
    "theory_curves",
    "theory_start_indices",
]

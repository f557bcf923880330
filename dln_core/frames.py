"""The documented result frames (docs/API.md "frames.py"): column names, snapshot recording, builders.

Charts, the store, the CSV export and the tests all read these frames; the names live here only.
Time columns follow THEORY.md §1: ``step`` = GD step k, ``t`` = lr·k (gradient-flow time); ``loss`` is
loss (H) = ½‖·‖².

:class:`Recorder` turns batched snapshot diagnostics (dln_core.diagnostics) into per-member frames:
one record per snapshot holds arrays with a leading batch axis, so memory grows with the number of
snapshots, never with the number of steps.

Where each mode's theory starts, from what state, and which modes get none: dln_core.launch (its
module docstring states the rules). In short: depth 2 with a small init predicts every mode from step 0
(effective strength ū_i = ‖a_i(0) + b_i(0)‖²/4, corrected for hidden directions taken by stronger
modes); otherwise one launch step per run, the end of the alignment phase, and a mode already rising
there gets no theory (its ``theory_reason`` says why). Before its start, and for modes without theory,
a mode's theory columns are NaN. The λ-balanced init at L = 2 with whitened inputs keeps the exact
matrix solution of THEORY.md §4 from step 0 (no finite-η recursion exists for it: ``theory_gd`` NaN).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import diagnostics as dg
from . import launch

# ------------------------------------------------------------------------------------------ columns
HISTORY_BASE = ("step", "t", "loss")
HISTORY_TAIL = ("alignment", "balance_drift", "update_eff_rank")
HISTORY_PER_MODE = ("mode_{i}", "theory_{i}", "theory_gd_{i}", "sv_{i}")  # i = 1..r
MODES_COLUMNS = ("step", "t", "mode", "lambda", "u", "theory_gf", "theory_gd", "u_rate", "target")
MODE_SUMMARY_COLUMNS = ("mode", "lambda", "u0", "halfway_step", "halfway_step_theory", "tau_half",
                        "tau_half_theory", "plateau_level", "theory_start_step", "halfway_step_theory_gf",
                        "theory_applies", "theory_reason", "theory_alignment", "ode_exponent")
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
        self.groups = launch.groups(problem)  # equal-λ groups for the launch rule (dln_core.launch)
        self.plans: dict = {}  # member -> launch.Launch, set by halfway_theory

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
            self.rows.append({
                "loss": p.loss(W),
                "u": dg.mode_strengths(W, p.U_star, p.V_star),
                "sv": np.linalg.svd(W, compute_uv=False)[:, : p.r],
                "layer_sv": [s for _, s, _ in svds],
                "overlaps": mats,
                "alignment": dg.alignment_score(list(mats.values()), self.k_score, self.groups),  # equal λ: blocks
                "mode_alignment": dg.mode_alignment(W, p.U_star, p.V_star),
                "mode_rate": dg.mode_rates(weights, grads, p.U_star, p.V_star),
                **dict(zip(("launch_align", "blocks"), launch.snapshot(W, p, self.groups))),
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
                                                                      "mode_rate", "launch_align")}
        arr["blocks"] = [np.stack([row["blocks"][g] for row in rows]) for g in range(len(self.groups))]
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

    def theory_plan(self, b: int, cfg, diverged_step: int | None, halfway_measured=None) -> launch.Launch:
        """Member b's launch plan (dln_core.launch.plan) over the kept snapshots; cached per member."""
        if b in self.plans:
            return self.plans[b]
        self._finalize()
        keep = self._kept(diverged_step)
        a = self._arr
        measured = [None] * self.p.r if halfway_measured is None else halfway_measured
        plan = launch.plan(self.p, cfg.network.depth, [w[b] for w in self.weights0], a["steps"][keep],
                           a["u"][keep, b], a["launch_align"][keep, b], [x[keep, b] for x in a["blocks"]],
                           measured, exact=_exact_l2(self.p, cfg), rate=a["mode_rate"][keep, b])
        self.plans[b] = plan
        return plan

    def halfway_theory(self, cfgs, diverged_steps, halfway_measured=None, total_steps=None) -> list[dict]:
        """Per member: the theory of each mode (THEORY.md §2, §4, §8; dln_core.launch), as a dict of
        r-lists: ``halfway_step_theory`` (finite-η prediction), ``halfway_step_theory_gf`` (gradient
        flow), ``theory_start_step``, ``theory_applies``, ``theory_reason``, ``theory_alignment``.

        None where a mode has no theory. For the exact λ-balanced L = 2 overlay both halfway values are
        the first crossing of the exact gradient-flow curve (no finite-η recursion exists for it),
        located to 1/4096 of a snapshot interval. ``total_steps``: the run's length (the finite-η search
        horizon, dln_core.launch.halfway).
        """
        self._finalize()
        a = self._arr
        B = len(self.lrs)
        measured = halfway_measured or [None] * B
        plans = [self.theory_plan(b, cfgs[b], diverged_steps[b], measured[b]) for b in range(B)]
        gd: list = [None] * B
        gf: list = [None] * B
        depth = cfgs[0].network.depth
        todo = [b for b in range(B) if not plans[b].exact]
        for lr in np.unique(self.lrs[todo]) if todo else []:
            members = [b for b in todo if self.lrs[b] == lr]
            hd, hf = launch.halfway(self.p, [plans[b] for b in members], depth, float(lr),
                                    horizon=int(a["steps"][-1]) if total_steps is None else total_steps)
            for j, b in enumerate(members):
                gd[b], gf[b] = hd[j], hf[j]
        for b in range(B):
            if plans[b].exact:
                steps = a["steps"][self._kept(diverged_steps[b])]
                w0 = [w[b] for w in self.weights0]
                gf[b] = exact_l2_halfway_steps(self.p, w0, cfgs[b].init.lambda_b, float(self.lrs[b]), steps)
                gd[b] = list(gf[b])
        out = []
        for b, plan in enumerate(plans):
            out.append({
                "halfway_step_theory": gd[b],
                "halfway_step_theory_gf": gf[b],
                "theory_start_step": [int(k) if k >= 0 else None for k in plan.step],
                "theory_applies": [bool(x) for x in plan.applies],
                "theory_reason": list(plan.reason),
                "theory_alignment": [float(x) if np.isfinite(x) else None for x in plan.alignment],
            })
        return out

    def ode_exponents(self, b: int, depth: int, diverged_step: int | None) -> list:
        """Member b's fitted Eq. 11 prefactor exponent per mode (dln_core.laws.ode_exponent)."""
        from . import laws

        self._finalize()
        keep = self._kept(diverged_step)
        a = self._arr
        return laws.ode_exponents(self.p, a["u"][keep, b], a["mode_rate"][keep, b], depth)

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
        plan = self.theory_plan(b, cfg, diverged_step)
        if plan.exact:
            gf = exact_l2_mode_curves(p, [w[b] for w in self.weights0], cfg.init.lambda_b, t)
            gd = np.full_like(gf, np.nan)  # no exact finite-η recursion for an unaligned λ-balanced start
        else:
            gf, gd = launch.curves(p, plan, cfg.network.depth, lr, steps)
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
            "u_rate": a["mode_rate"][keep, b].reshape(-1),  # measured gradient-flow du/dt (laws.ode_exponent)
            "target": np.tile(p.target_strength, n),  # where mode i converges: λ_i/d_i (THEORY.md §6)
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


def mode_summary_frame(problem, u0, halfway, halfway_theory, lr: float, theory_start=None, theory=None) -> pd.DataFrame:
    """One row per mode: measured vs predicted halfway step (finite-η; ``halfway_step_theory_gf`` the
    gradient-flow value) and time (t = lr·k), plateau before it, the step where the mode's theory
    starts (nullable Int64), whether it applies and why not, the alignment at the launch
    (dln_core.launch), and the run's fitted depth exponent (dln_core.laws.ode_exponent).

    ``theory``: the other per-mode summary lists by name (missing ones are empty columns).
    """
    levels = problem.plateau_levels()
    theory = theory or {}
    r = problem.r

    def col(name, default=None):
        vals = theory.get(name)
        return [default] * r if vals is None else list(vals)

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
        "halfway_step_theory_gf": [math.nan if h is None else h for h in col("halfway_step_theory_gf")],
        "theory_applies": pd.array(col("theory_applies"), dtype="boolean"),
        "theory_reason": [x or "" for x in col("theory_reason")],
        "theory_alignment": [math.nan if x is None else x for x in col("theory_alignment")],
        "ode_exponent": [math.nan if x is None else x for x in col("ode_exponent")],
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
    "history_columns",
    "mode_summary_frame",
]

"""The documented result frames (docs/API.md "frames.py"): column names, snapshot recording, builders.

Charts, the store, the CSV export and the tests all read these frames; the names live here only.
Time columns follow THEORY.md §1: ``step`` = GD step k, ``t`` = lr·k (gradient-flow time); ``loss`` is
loss (H) = ½‖·‖².

:class:`Recorder` turns batched snapshot diagnostics (dln_core.diagnostics) into per-member frames:
one record per snapshot holds arrays with a leading batch axis, so memory grows with the number of
snapshots, never with the number of steps.
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
                        "tau_half_theory", "plateau_level")
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
            self.rows.append({
                "loss": p.loss(W),
                "u": dg.mode_strengths(W, p.U_star, p.V_star),
                "sv": np.linalg.svd(W, compute_uv=False)[:, : p.r],
                "layer_sv": [s for _, s, _ in svds],
                "overlaps": mats,
                "alignment": dg.alignment_score(list(mats.values()), self.k_score),
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
                                                                      "upd_rank")}
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

    def halfway_theory(self, depth: int) -> list[list[float | None]]:
        """Gradient-flow halfway step τ½(λ, u_i(0), L, d)/lr per member and mode (THEORY.md §2, §6)."""
        u0 = self.u0()
        out: list = [None] * len(u0)
        for lr in np.unique(self.lrs):  # one vectorised theory call per distinct lr
            members = np.nonzero(self.lrs == lr)[0]
            hs = halfway_steps_theory(self.p, u0[members], depth, float(lr))
            for j, b in enumerate(members):
                out[b] = hs[j]
        return out

    def build(self, b: int, cfg, diverged_step: int | None) -> dict:
        """Frames of member b (snapshots before its divergence step only), theory columns included."""
        p = self.p
        lr = float(self.lrs[b])
        self._finalize()
        a = self._arr
        keep = a["steps"] < diverged_step if diverged_step is not None else np.ones(len(a["steps"]), bool)
        steps = a["steps"][keep]
        t = lr * steps
        r = p.r
        u = a["u"][keep, b]
        gf, gd = theory_curves(p, a["u"][0, b], cfg.network.depth, lr, steps)
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


def theory_curves(problem, u0: np.ndarray, depth: int, lr: float, steps: np.ndarray):
    """Gradient-flow and finite-η mode curves (dln_core.theory, THEORY.md §2, §6) from measured u_i(0).

    Returns (gf (K, r), gd (K, r)); NaN where no closed form applies (non-commuting inputs) or the
    theory rejects the inputs.
    """
    K, r = len(steps), problem.r
    gf, gd = np.full((K, r), np.nan), np.full((K, r), np.nan)
    if not problem.has_theory:
        return gf, gd
    from . import theory

    lam, d, u0 = problem.lambda_star, problem.mode_d, np.asarray(u0, dtype=float)
    try:
        gf = np.asarray(theory.mode_curve_gf(lr * steps, lam, u0, depth, d), float).reshape(K, r)
    except (ValueError, ArithmeticError):
        pass
    try:
        with np.errstate(all="ignore"):
            gd = np.asarray(theory.mode_curve_gd(steps, lam, u0, depth, lr, d), float).reshape(K, r)
    except (ValueError, ArithmeticError):
        pass
    return gf, gd


def halfway_steps_theory(problem, u0: np.ndarray, depth: int, lr: float) -> list[list[float | None]]:
    """τ½/lr for M members sharing lr: u0 (M, r) -> M lists of r values (None: never / no theory)."""
    u0 = np.atleast_2d(np.asarray(u0, dtype=float))
    M, r = u0.shape
    out = np.full(M * r, np.nan)
    if problem.has_theory:
        from . import theory

        try:
            out = np.asarray(theory.tau_half(np.tile(problem.lambda_star, M), u0.reshape(-1), depth,
                                             np.tile(problem.mode_d, M)), dtype=float) / lr
        except (ValueError, ArithmeticError):
            pass
    return [[float(x) if np.isfinite(x) else None for x in row] for row in out.reshape(M, r)]


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


def mode_summary_frame(problem, u0, halfway, halfway_theory, lr: float) -> pd.DataFrame:
    """One row per mode: measured vs theory halfway step and time (t = lr·k), plateau before it."""
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
    "export_frame",
    "halfway_steps_theory",
    "history_columns",
    "mode_summary_frame",
    "theory_curves",
]

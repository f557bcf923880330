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
            upd_sv = [np.linalg.svd(self.lrs[:, None, None] * g, compute_uv=False) for g in grads]
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
    def build(self, b: int, cfg, diverged_step: int | None) -> dict:
        """Frames of member b (snapshots before its divergence step only) + u0 + theory halfway steps."""
        p = self.p
        lr = float(self.lrs[b])
        depth = cfg.network.depth
        keep = [j for j, k in enumerate(self.steps) if diverged_step is None or k < diverged_step]
        steps = np.array([self.steps[j] for j in keep], dtype=np.int64)
        rows = [self.rows[j] for j in keep]
        t = lr * steps
        r = p.r
        u0 = self.rows[0]["u"][b].astype(float)
        u = np.array([row["u"][b] for row in rows]).reshape(len(rows), r)
        gf, gd, hs_theory = theory_curves(p, u0, depth, lr, steps)
        hist = {"step": steps, "t": t, "loss": np.array([row["loss"][b] for row in rows])}
        sv = np.array([row["sv"][b] for row in rows]).reshape(len(rows), -1)
        for i in range(r):
            hist[f"mode_{i + 1}"] = u[:, i]
        for i in range(r):
            hist[f"theory_{i + 1}"] = gf[:, i]
        for i in range(r):
            hist[f"theory_gd_{i + 1}"] = gd[:, i]
        for i in range(r):
            hist[f"sv_{i + 1}"] = sv[:, i] if i < sv.shape[1] else np.zeros(len(rows))
        hist["alignment"] = np.array([row["alignment"][b] for row in rows])
        hist["balance_drift"] = np.array([row["drift"][b].max() if row["drift"].shape[-1] else 0.0 for row in rows])
        hist["update_eff_rank"] = np.array([row["upd_rank"][b].mean() for row in rows])
        history = pd.DataFrame(hist, columns=history_columns(r))
        n = len(rows)
        modes = pd.DataFrame({
            "step": np.repeat(steps, r), "t": np.repeat(t, r), "mode": np.tile(np.arange(1, r + 1), n),
            "lambda": np.tile(p.lambda_star, n), "u": u.reshape(-1), "theory_gf": gf.reshape(-1),
            "theory_gd": gd.reshape(-1),
        }, columns=list(MODES_COLUMNS))
        return {
            "history": history,
            "modes": modes,
            "alignment": _long_matrices(steps, [row["overlaps"] for row in rows], b),
            "layer_sv": _long_vectors(steps, [row["layer_sv"] for row in rows], b, LAYER_SV_COLUMNS),
            "updates": _updates(steps, rows, b),
            "balance": _balance(steps, rows, b),
            "u0": u0,
            "halfway_step_theory": hs_theory,
        }


def theory_curves(problem, u0: np.ndarray, depth: int, lr: float, steps: np.ndarray):
    """Gradient-flow and finite-η theory (dln_core.theory, THEORY.md §2, §6) from the measured u_i(0).

    Returns (gf (K, r), gd (K, r), halfway steps list). NaN / None where no closed form applies
    (non-commuting inputs, or the theory rejects the inputs).
    """
    K, r = len(steps), problem.r
    nan = np.full((K, r), np.nan)
    if not problem.has_theory:
        return nan, nan.copy(), [None] * r
    from . import theory

    lam, d = problem.lambda_star, problem.mode_d
    try:
        gf = theory.mode_curve_gf(lr * steps, lam, u0, depth, d)
    except (ValueError, ArithmeticError):
        gf = nan
    try:
        with np.errstate(all="ignore"):
            gd = theory.mode_curve_gd(steps, lam, u0, depth, lr, d)
    except (ValueError, ArithmeticError):
        gd = nan.copy()
    try:
        tau = np.asarray(theory.tau_half(lam, u0, depth, d), dtype=float)
        hs = [float(x) / lr if np.isfinite(x) else None for x in tau]
    except (ValueError, ArithmeticError):
        hs = [None] * r
    return np.asarray(gf, float).reshape(K, r), np.asarray(gd, float).reshape(K, r), hs


def _long_matrices(steps, per_snapshot: list[dict], b: int) -> pd.DataFrame:
    cols: dict[str, list] = {c: [] for c in ALIGNMENT_COLUMNS}
    for k, mats in zip(steps, per_snapshot):
        for label, M in mats.items():
            m = M[b]
            rr, cc = np.indices(m.shape)
            cols["step"].append(np.full(m.size, k))
            cols["pair"].append(np.full(m.size, label, dtype=object))
            cols["row"].append(rr.ravel() + 1)
            cols["col"].append(cc.ravel() + 1)
            cols["value"].append(m.ravel())
    if not cols["step"]:
        return pd.DataFrame(columns=list(ALIGNMENT_COLUMNS))
    return pd.DataFrame({c: np.concatenate(v) for c, v in cols.items()}, columns=list(ALIGNMENT_COLUMNS))


def _long_vectors(steps, per_snapshot: list[list[np.ndarray]], b: int, columns) -> pd.DataFrame:
    st, layer, idx, val = [], [], [], []
    for k, vecs in zip(steps, per_snapshot):
        for li, v in enumerate(vecs, start=1):
            s = v[b]
            st.append(np.full(len(s), k))
            layer.append(np.full(len(s), li))
            idx.append(np.arange(1, len(s) + 1))
            val.append(s)
    if not st:
        return pd.DataFrame(columns=list(columns))
    return pd.DataFrame({"step": np.concatenate(st), "layer": np.concatenate(layer),
                         "index": np.concatenate(idx), "value": np.concatenate(val)}, columns=list(columns)[:4])


def _updates(steps, rows, b) -> pd.DataFrame:
    df = _long_vectors(steps, [row["upd_sv"] for row in rows], b, UPDATE_COLUMNS)
    if df.empty:
        return pd.DataFrame(columns=list(UPDATE_COLUMNS))
    ranks = {(int(k), li + 1): float(row["upd_rank"][b][li]) for k, row in zip(steps, rows)
             for li in range(row["upd_rank"].shape[-1])}
    df["eff_rank"] = [ranks[(int(k), int(li))] for k, li in zip(df["step"], df["layer"])]
    return df


def _balance(steps, rows, b) -> pd.DataFrame:
    n_pairs = rows[0]["drift"].shape[-1] if rows else 0
    if n_pairs == 0:
        return pd.DataFrame({"step": pd.Series(dtype="int64"), "layer": pd.Series(dtype="int64"),
                             "drift": pd.Series(dtype="float64")})
    drift = np.array([row["drift"][b] for row in rows])
    return pd.DataFrame({"step": np.repeat(steps, n_pairs), "layer": np.tile(np.arange(1, n_pairs + 1), len(rows)),
                         "drift": drift.reshape(-1)}, columns=list(BALANCE_COLUMNS))


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
    "history_columns",
    "mode_summary_frame",
    "theory_curves",
]

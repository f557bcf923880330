"""The documented result frames (docs/API.md "frames.py"): column names and the builders.

Charts, the store, the CSV export and the tests all read these frames; the names live here only.
Time columns follow THEORY.md §1: ``step`` = GD step k, ``t`` = lr·k (gradient-flow time); ``loss`` is
loss (H) = ½‖·‖².

Data flows one way: the runner's recorder gives one member's snapshot arrays
(record.MemberSnapshots), the overlay gives its theory curves (overlay.Overlay), the summary gives
the per-mode numbers (result.RunSummary); :func:`run_frames` turns them into the frames of
result.FRAME_NAMES. Where each mode's theory starts, from what state, and which modes get none is
explained in launch.py (overlay.py applies it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .overlay import Overlay
from .record import MemberSnapshots
from .result import RunSummary
from .targets import Problem

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
TRACE_BASE = ("step", "t", "loss")  # + mode_1..mode_r: the cheap per-step trace (engine.run ``trace``)


def trace_columns(r: int) -> list[str]:
    """The trace frame's columns for r modes: step, t, loss, mode_1..mode_r."""
    return [*TRACE_BASE, *(f"mode_{i}" for i in range(1, r + 1))]


def history_columns(r: int) -> list[str]:
    """The wide history frame's columns for r modes, in order."""
    cols = list(HISTORY_BASE)
    for pattern in HISTORY_PER_MODE:
        cols += [pattern.format(i=i) for i in range(1, r + 1)]
    return cols + list(HISTORY_TAIL)


HISTORY_COLUMNS = tuple(history_columns(6))  # the article target (r = 6); use history_columns(r) otherwise


# ---------------------------------------------------------------------------------------- builders
def run_frames(problem: Problem, snaps: MemberSnapshots, overlay: Overlay, summary: RunSummary) -> dict:
    """All frames of one run (snapshots before its divergence step only), theory columns included."""
    steps, t, r = snaps.steps, snaps.t, problem.r
    u = snaps.u
    gf, gd = overlay.curves(snaps)
    hist = {"step": steps, "t": t, "loss": snaps.loss}
    for name, block in (("mode", u), ("theory", gf), ("theory_gd", gd), ("sv", snaps.sv)):
        for i in range(r):
            hist[f"{name}_{i + 1}"] = block[:, i] if i < block.shape[1] else np.zeros(len(steps))
    hist["alignment"] = snaps.alignment
    drift = snaps.drift
    hist["balance_drift"] = drift.max(axis=-1) if drift.shape[-1] else np.zeros(len(steps))
    hist["update_eff_rank"] = snaps.upd_rank.mean(axis=-1)
    history = pd.DataFrame(hist, columns=history_columns(r))
    n = len(steps)
    modes = pd.DataFrame({
        "step": np.repeat(steps, r), "t": np.repeat(t, r), "mode": np.tile(np.arange(1, r + 1), n),
        "lambda": np.tile(problem.lambda_star, n), "u": u.reshape(-1), "theory_gf": gf.reshape(-1),
        "theory_gd": gd.reshape(-1),
        "u_rate": snaps.mode_rate.reshape(-1),  # measured gradient-flow du/dt (laws.ode_exponent)
        "target": np.tile(problem.target_strength, n),  # where mode i converges: λ_i/d_i (THEORY.md §6)
    }, columns=list(MODES_COLUMNS))
    updates = _long_layers(steps, snaps.upd_sv, UPDATE_COLUMNS[:4])
    ranks = snaps.upd_rank  # (S', L)
    updates["eff_rank"] = ranks[np.searchsorted(steps, updates["step"].to_numpy()), updates["layer"].to_numpy() - 1]
    n_pairs = drift.shape[-1]
    balance = pd.DataFrame({"step": np.repeat(steps, n_pairs), "layer": np.tile(np.arange(1, n_pairs + 1), n),
                            "drift": drift.reshape(-1)}, columns=list(BALANCE_COLUMNS))
    return {
        "history": history,
        "modes": modes,
        "mode_summary": mode_summary_frame(problem, summary),
        "alignment": _long_overlaps(steps, snaps.overlaps),
        "layer_sv": _long_layers(steps, snaps.layer_sv, LAYER_SV_COLUMNS),
        "updates": updates,
        "balance": balance,
    }


def trace_frame(steps: np.ndarray, lr: float, loss: np.ndarray, u: np.ndarray) -> pd.DataFrame:
    """One member's trace (steps (S,), loss (S,), u (S, r)) as :func:`trace_columns` (t = lr·step)."""
    r = u.shape[1]
    data = {"step": steps, "t": lr * steps, "loss": loss, **{f"mode_{i + 1}": u[:, i] for i in range(r)}}
    return pd.DataFrame(data, columns=trace_columns(r))


def mode_summary_frame(problem: Problem, summary: RunSummary) -> pd.DataFrame:
    """One row per mode: measured vs predicted halfway step (finite η; ``halfway_step_theory_gf`` the
    gradient-flow value) and time (t = lr·k), the plateau before it, the step where the mode's theory
    starts (nullable Int64), whether it applies and why not, the alignment at the launch (launch.py)
    and the run's fitted depth exponent (laws.ode_exponent)."""
    lr, halfway, halfway_theory = summary.lr, summary.halfway_step, summary.halfway_step_theory
    r = problem.r

    def col(name):
        vals = getattr(summary, name, None)
        return [None] * r if vals is None else list(vals)

    def t_of(k):
        return math.nan if k is None else lr * k

    return pd.DataFrame({
        "mode": np.arange(1, problem.r + 1),
        "lambda": problem.lambda_star,
        "u0": np.asarray(summary.u0, float),
        "halfway_step": pd.array(halfway, dtype="Int64"),
        "halfway_step_theory": [math.nan if h is None else h for h in halfway_theory],
        "tau_half": [t_of(k) for k in halfway],
        "tau_half_theory": [t_of(h) for h in halfway_theory],
        "plateau_level": np.asarray(summary.plateau_levels, float)[:-1],
        "theory_start_step": pd.array(list(summary.theory_start_step), dtype="Int64"),
        "halfway_step_theory_gf": [math.nan if h is None else h for h in col("halfway_step_theory_gf")],
        "theory_applies": pd.array(col("theory_applies"), dtype="boolean"),
        "theory_reason": [x or "" for x in col("theory_reason")],
        "theory_alignment": [math.nan if x is None else x for x in col("theory_alignment")],
        "ode_exponent": [math.nan if x is None else x for x in col("ode_exponent")],
    }, columns=list(MODE_SUMMARY_COLUMNS))


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


# ---------------------------------------------------------------------------------------- export
def export_frame(runs: Iterable | Mapping, frame: str = "history") -> pd.DataFrame:
    """The CSV export: one row per run × snapshot = the rows of ``frame`` + flat config columns + ``diverged``.

    ``runs``: result.Run objects (live RunResult or stored StoredRun), ``(run_id, run)`` pairs, or a
    ``{run_id: run}`` mapping; ``run_id`` is the first column when known. Runs with different numbers
    of modes share one frame (missing mode columns are empty).
    """
    items: Sequence = list(runs.items()) if isinstance(runs, Mapping) else list(runs)
    parts = []
    for item in items:
        run_id, run = item if isinstance(item, tuple) else (getattr(item, "run_id", None), item)
        df = run.frame(frame).copy()
        for key, value in run.config_flat.items():
            df[key] = value
        df["diverged"] = bool(run.summary.get("diverged", False))
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
    "TRACE_BASE",
    "UPDATE_COLUMNS",
    "export_frame",
    "history_columns",
    "mode_summary_frame",
    "run_frames",
    "trace_columns",
    "trace_frame",
]

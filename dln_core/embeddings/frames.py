"""The documented frames of a word-embedding run (built from a GD trajectory; THEORY.md §7).

- ``history`` (one row per snapshot): ``step``, ``t`` (= η·step), ``loss`` (¼‖M* − WWᵀ‖²_F),
  ``analogy_accuracy`` (3CosAdd, in-vocabulary Google questions), ``eff_rank`` (exp of the entropy of
  the normalised eigenvalues of WᵀW), ``learned_rank`` (#k with eig_k(WᵀW) ≥ μ_k/2),
  ``sv_1..sv_d`` (sorted singular values of W; from ``Trajectory.grams`` = ZᵀZ when the eigenbasis
  route formed WᵀW from its own state), ``theory_sv_1..theory_sv_d`` (√ of the gradient-flow
  logistic u_k(t) from the measured u_k(0)), ``theory_gd_sv_1..theory_gd_sv_d`` (√ of the exact
  finite-η recursion), ``mode_1..mode_d`` (measured u_k = ‖v_kᵀW‖²).
- ``trace`` (every step): ``step``, ``t``, ``loss``, ``learned_rank`` (from the mode strengths u_k).
- ``modes`` (one row per mode k = 1..d): ``mode``, ``mu``, ``u0``, ``halfway_step``,
  ``halfway_step_theory`` (gradient flow τ½/η), ``halfway_step_gd_theory``, ``tau_half``,
  ``tau_half_theory``.
- ``embedding`` (3-D scatter; one row per scatter snapshot × word): ``step``, ``t``, ``word``,
  ``rank`` (0 = most frequent), ``highlight`` (bool), ``pc_1..pc_d`` (W(t) in the basis of the final
  W's right singular vectors, so at the end pc_a = U_a s_a).
- ``analogy_tracks`` (per snapshot, chosen analogies): ``step``, ``t``, ``question``, ``rank``,
  ``answer``, ``score``, ``correct``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..diagnostics import effective_rank
from . import evaluate as ev
from . import theory
from .model import Spectrum, Trajectory

HIGHLIGHT_WORDS = ("man", "woman", "king", "queen", "paris", "france", "berlin", "germany")
CHOSEN_ANALOGIES = (
    ("man", "woman", "king", "queen"),
    ("france", "paris", "germany", "berlin"),
    ("germany", "berlin", "france", "paris"),
    ("he", "his", "she", "her"),
    ("good", "better", "bad", "worse"),
)
TRACK_COLUMNS = ["step", "t", "question", "rank", "answer", "score", "correct"]


def question_label(a: str, b: str, c: str) -> str:
    return f"{a}:{b}::{c}:?"


def gd_theory_curve(traj: Trajectory, spec: Spectrum, lr: float) -> np.ndarray:
    """Exact finite-η mode strengths u_k at every step 0..K from the measured u_k(0), (K + 1, d):
    computed once per run and shared by :func:`history_frames` and :func:`modes_frame`."""
    return theory.mode_curve_gd(traj.steps_run, spec.mu, traj.modes[0], lr)


def history_frames(
    traj: Trajectory, spec: Spectrum, lr: float, vocab: list[str], questions: np.ndarray, gd: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(history, analogy_tracks) at the snapshot steps; ``gd`` = :func:`gd_theory_curve`."""
    d = len(spec.mu)
    K = traj.steps_run
    u0 = traj.modes[0]
    gf = theory.mode_curve_gf(lr * np.arange(K + 1), spec.mu, u0)
    mu_pos = np.where(spec.mu > 0, spec.mu, np.nan)
    index = ev.word_index(vocab)
    chosen = [q for q in CHOSEN_ANALOGIES if all(w in index for w in q)]
    chosen_ids = np.asarray([[index[w] for w in q] for q in chosen], dtype=np.int64).reshape(-1, 4)
    rows, tracks = [], []
    grams = traj.grams if traj.grams is not None else [None] * len(traj.snapshots)
    for step, W, gram in zip(traj.snapshot_steps, traj.snapshots, grams):
        if gram is None:  # the loop did not form WᵀW (the dense route): from the stored W
            Wd = W.astype(np.float64)  # one dtype on both sides keeps matmul on the BLAS path
            gram = Wd.T @ Wd
        eig = np.sort(np.clip(np.linalg.eigvalsh(gram), 0.0, None))[::-1]
        row = {
            "step": int(step),
            "t": lr * step,
            "loss": traj.loss[step],
            "analogy_accuracy": ev.analogy_accuracy(W, questions),
            "eff_rank": float(effective_rank(eig)),  # of the eigenvalues of WᵀW (module docstring)
            "learned_rank": int(np.sum(eig >= mu_pos / 2)),
        }
        row.update({f"sv_{k + 1}": float(np.sqrt(eig[k])) for k in range(d)})
        row.update({f"theory_sv_{k + 1}": float(np.sqrt(max(gf[step, k], 0.0))) for k in range(d)})
        row.update({f"theory_gd_sv_{k + 1}": float(np.sqrt(max(gd[step, k], 0.0))) for k in range(d)})
        row.update({f"mode_{k + 1}": float(traj.modes[step, k]) for k in range(d)})
        rows.append(row)
        if len(chosen):
            ids, scores = ev.answer_ids(ev.normalize_rows(W), chosen_ids, topk=3)
            for qi, q in enumerate(chosen):
                for r in range(3):
                    answer = vocab[ids[qi, r]]
                    tracks.append({"step": int(step), "t": lr * step, "question": question_label(*q[:3]),
                                   "rank": r + 1, "answer": answer, "score": float(scores[qi, r]),
                                   "correct": answer == q[3]})
    return pd.DataFrame(rows), pd.DataFrame(tracks, columns=TRACK_COLUMNS)


def scatter_frame(
    traj: Trajectory, vocab: list[str], lr: float, n_words: int, n_snapshots: int, W_final: np.ndarray,
    keep_steps=(),
) -> pd.DataFrame:
    """Word coordinates at up to ``n_snapshots`` evenly picked snapshots plus every snapshot at a
    step in ``keep_steps`` (the event-placed ones around each transition, embeddings/schedule.py),
    in a fixed basis (the final W's right singular vectors) so the cloud moves continuously."""
    d = W_final.shape[1]
    Wf = W_final.astype(np.float64)
    if np.all(np.isfinite(Wf)):
        # eigenvectors of the d × d Gram matrix = right singular vectors, far cheaper than an SVD
        g_eig, g_vec = np.linalg.eigh(Wf.T @ Wf)
        basis = g_vec[:, np.argsort(-g_eig)]
    else:
        basis = np.eye(d)
    index = ev.word_index(vocab)
    words = list(range(min(n_words, len(vocab))))
    words += [index[w] for w in HIGHLIGHT_WORDS if w in index and index[w] >= len(words)]
    words_arr = np.asarray(words)
    pc_cols = [f"pc_{a + 1}" for a in range(d)]
    n = len(traj.snapshots)
    picks = np.unique(np.linspace(0, n - 1, min(n_snapshots, n)).round().astype(int)) if n else []
    if n and len(keep_steps):
        picks = np.union1d(picks, np.nonzero(np.isin(traj.snapshot_steps, np.asarray(keep_steps)))[0])
    frames = []
    for i in picks:
        step = int(traj.snapshot_steps[i])
        coords = traj.snapshots[i][words_arr].astype(np.float64) @ basis
        frame = pd.DataFrame(coords.astype(np.float32), columns=pc_cols)
        frame.insert(0, "highlight", [vocab[w] in HIGHLIGHT_WORDS for w in words])
        frame.insert(0, "rank", words_arr)
        frame.insert(0, "word", [vocab[w] for w in words])
        frame.insert(0, "t", lr * step)
        frame.insert(0, "step", step)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["step", "t", "word", "rank", "highlight", *pc_cols])
    return pd.concat(frames, ignore_index=True)


def modes_frame(traj: Trajectory, spec: Spectrum, lr: float, gd: np.ndarray) -> pd.DataFrame:
    """Halfway times per mode: measured from the per-step strengths u_k, theory from u_k(0);
    ``gd`` = :func:`gd_theory_curve`."""
    K = traj.steps_run
    u0 = traj.modes[0]
    half = np.where(spec.mu > 0, spec.mu / 2, np.nan)
    measured = theory.first_crossing(traj.modes[: K + 1], half)
    gd_half = theory.first_crossing(gd, half)
    tau_th = theory.tau_half(spec.mu, u0)
    return pd.DataFrame(
        {
            "mode": np.arange(1, len(spec.mu) + 1),
            "mu": spec.mu,
            "u0": u0,
            "halfway_step": measured,
            "halfway_step_theory": tau_th / lr,
            "halfway_step_gd_theory": gd_half,
            "tau_half": measured * lr,
            "tau_half_theory": tau_th,
        }
    )


def trace_frame(traj: Trajectory, spec: Spectrum, lr: float) -> pd.DataFrame:
    K = traj.steps_run
    steps = np.arange(K + 1)
    trace = pd.DataFrame({"step": steps, "t": lr * steps, "loss": traj.loss[: K + 1]})
    trace["learned_rank"] = np.sum(traj.modes[: K + 1] >= np.where(spec.mu > 0, spec.mu / 2, np.inf), axis=1)
    return trace

"""corpus → co-occurrence → M* → spectrum → GD → evaluation → documented frames (THEORY.md §7).

:func:`run_embedding` is the one call the page and the CLI make. Frames (columns documented here,
and in docs/API.md's embeddings section):

- ``history`` (one row per snapshot): ``step``, ``t`` (= η·step), ``loss`` (¼‖M* − WWᵀ‖²_F),
  ``analogy_accuracy`` (3CosAdd, in-vocabulary Google questions), ``eff_rank`` (exp of the entropy of
  the normalised eigenvalues of WᵀW), ``learned_rank`` (#k with eig_k(WᵀW) ≥ μ_k/2),
  ``sv_1..sv_d`` (sorted singular values of W), ``theory_sv_1..theory_sv_d`` (√ of the gradient-flow
  logistic u_k(t) from the measured u_k(0)), ``theory_gd_sv_1..theory_gd_sv_d`` (√ of the exact
  finite-η recursion), ``mode_1..mode_d`` (measured u_k = ‖v_kᵀW‖²).
- ``trace`` (every step): ``step``, ``t``, ``loss``, ``learned_rank``.
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

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..limits import Limits, current_limits
from . import evaluate as ev
from . import theory
from .cooccurrence import corpus_statistics, target_matrix
from .corpus import Corpus, load_default_corpus
from .model import (
    EmbedConfig,
    closed_form_embedding,
    initial_embedding,
    snapshot_schedule,
    spectrum,
    train_gd,
)

HIGHLIGHT_WORDS = ("man", "woman", "king", "queen", "paris", "france", "berlin", "germany")
ARROW_PAIRS = (("man", "woman"), ("king", "queen"), ("france", "paris"), ("germany", "berlin"))
CHOSEN_ANALOGIES = (
    ("man", "woman", "king", "queen"),
    ("france", "paris", "germany", "berlin"),
    ("germany", "berlin", "france", "paris"),
    ("he", "his", "she", "her"),
    ("good", "better", "bad", "worse"),
)


@dataclass
class EmbedResult:
    config: EmbedConfig
    vocab: list[str]
    history: pd.DataFrame
    trace: pd.DataFrame
    modes: pd.DataFrame
    embedding: pd.DataFrame
    analogy_tracks: pd.DataFrame
    summary: dict
    W: np.ndarray  # final trained embedding (V × d, float32)
    W_closed: np.ndarray  # closed-form optimum (V × d, float32)
    timings: dict = field(default_factory=dict)


def eff_rank(eigs: np.ndarray) -> float:
    """exp(entropy) of the normalised non-negative spectrum (1 for one mode, d for a flat one)."""
    e = np.clip(np.asarray(eigs, dtype=np.float64), 0.0, None)
    s = e.sum()
    if not s > 0:
        return 0.0
    p = e[e > 0] / s
    return float(np.exp(-np.sum(p * np.log(p))))


def _question_label(a: str, b: str, c: str) -> str:
    return f"{a}:{b}::{c}:?"


def run_embedding(
    cfg: EmbedConfig,
    corpus: Corpus | None = None,
    limits: Limits | None = None,
    progress: Callable[[float], None] | None = None,
) -> EmbedResult:
    """Train one embedding and evaluate it. ConfigError for bad or over-cap input."""
    cfg.check_limits(limits or current_limits())
    corpus = corpus or load_default_corpus()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    stats = corpus_statistics(corpus, cfg.vocab, cfg.window)
    timings["statistics_s"] = time.perf_counter() - t0
    vocab = list(stats.vocab)
    M = target_matrix(stats.counts, cfg.psi)
    del stats
    t0 = time.perf_counter()
    spec = spectrum(M, cfg.dim)
    timings["spectrum_s"] = time.perf_counter() - t0
    lr_max = theory.stable_lr(float(spec.mu[0]), spec.mu_min, safety=1.0)
    lr = theory.stable_lr(float(spec.mu[0]), spec.mu_min) if cfg.lr == "auto" else float(cfg.lr)

    W0 = initial_embedding(cfg.vocab, cfg.dim, cfg.init_scale, cfg.seed)
    steps_snap = snapshot_schedule(cfg.steps, cfg.n_snapshots)
    traj = train_gd(M, W0, lr, cfg.steps, spec.vectors, steps_snap, cfg.device, cfg.dtype, progress)
    timings["train_s"] = traj.wall_time_s
    del M

    t0 = time.perf_counter()
    index = ev.word_index(vocab)
    questions = ev.in_vocab_questions(ev.load_analogies().questions, index)
    u0 = traj.modes[0]
    K = traj.steps_run
    gf = theory.mode_curve_gf(lr * np.arange(K + 1), spec.mu, u0)
    gd = theory.mode_curve_gd(K, spec.mu, u0, lr)
    mu_pos = np.where(spec.mu > 0, spec.mu, np.nan)

    rows, tracks, scatter = [], [], []
    chosen = [q for q in CHOSEN_ANALOGIES if all(w in index for w in q)]
    chosen_ids = np.asarray([[index[w] for w in q] for q in chosen], dtype=np.int64).reshape(-1, 4)
    for step, W in zip(traj.snapshot_steps, traj.snapshots):
        Wd = W.astype(np.float64)  # one dtype on both sides keeps matmul on the BLAS path
        eig = np.sort(np.clip(np.linalg.eigvalsh(Wd.T @ Wd), 0.0, None))[::-1]
        row = {
            "step": int(step),
            "t": lr * step,
            "loss": traj.loss[step],
            "analogy_accuracy": ev.analogy_accuracy(W, questions),
            "eff_rank": eff_rank(eig),
            "learned_rank": int(np.sum(eig >= mu_pos / 2)),
        }
        row.update({f"sv_{k + 1}": float(np.sqrt(eig[k])) for k in range(cfg.dim)})
        row.update({f"theory_sv_{k + 1}": float(np.sqrt(max(gf[step, k], 0.0))) for k in range(cfg.dim)})
        row.update({f"theory_gd_sv_{k + 1}": float(np.sqrt(max(gd[step, k], 0.0))) for k in range(cfg.dim)})
        row.update({f"mode_{k + 1}": float(traj.modes[step, k]) for k in range(cfg.dim)})
        rows.append(row)
        if len(chosen):
            ids, scores = ev.answer_ids(ev.normalize_rows(W), chosen_ids, topk=3)
            for qi, q in enumerate(chosen):
                for r in range(3):
                    answer = vocab[ids[qi, r]]
                    tracks.append(
                        {"step": int(step), "t": lr * step, "question": _question_label(*q[:3]), "rank": r + 1,
                         "answer": answer, "score": float(scores[qi, r]), "correct": answer == q[3]}
                    )
    history = pd.DataFrame(rows)
    W_final = traj.snapshots[-1] if traj.snapshots else W0.astype(np.float32)
    summary_acc = float(history["analogy_accuracy"].iloc[-1]) if len(history) else float("nan")

    # scatter: a fixed basis (final right singular vectors) so the cloud moves continuously in time
    # (eigenvectors of the d × d Gram matrix WᵀW = the right singular vectors, much cheaper than an SVD)
    Wf = W_final.astype(np.float64)
    if np.all(np.isfinite(Wf)):
        g_eig, g_vec = np.linalg.eigh(Wf.T @ Wf)
        basis = g_vec[:, np.argsort(-g_eig)]
    else:
        basis = np.eye(cfg.dim)
    words = list(range(min(cfg.scatter_words, cfg.vocab)))
    words += [index[w] for w in HIGHLIGHT_WORDS if w in index and index[w] >= len(words)]
    words_arr = np.asarray(words)
    picks = np.unique(np.linspace(0, len(traj.snapshots) - 1, min(cfg.n_scatter_snapshots, len(traj.snapshots))).round().astype(int))
    pc_cols = [f"pc_{a + 1}" for a in range(cfg.dim)]
    for i in picks:
        step = int(traj.snapshot_steps[i])
        coords = traj.snapshots[i][words_arr].astype(np.float64) @ basis
        frame = pd.DataFrame(coords.astype(np.float32), columns=pc_cols)
        frame.insert(0, "highlight", [vocab[w] in HIGHLIGHT_WORDS for w in words])
        frame.insert(0, "rank", words_arr)
        frame.insert(0, "word", [vocab[w] for w in words])
        frame.insert(0, "t", lr * step)
        frame.insert(0, "step", step)
        scatter.append(frame)
    embedding = pd.concat(scatter, ignore_index=True) if scatter else pd.DataFrame(columns=["step", "t", "word", "rank", "highlight", *pc_cols])

    # halfway times: measured from the per-step mode strengths, theory from u(0)
    half = spec.mu / 2
    measured = theory.first_crossing(traj.modes[: K + 1], np.where(spec.mu > 0, half, np.nan))
    gd_half = theory.first_crossing(gd, np.where(spec.mu > 0, half, np.nan))
    tau_th = theory.tau_half(spec.mu, u0)
    modes = pd.DataFrame(
        {
            "mode": np.arange(1, cfg.dim + 1),
            "mu": spec.mu,
            "u0": u0,
            "halfway_step": measured,
            "halfway_step_theory": tau_th / lr,
            "halfway_step_gd_theory": gd_half,
            "tau_half": measured * lr,
            "tau_half_theory": tau_th,
        }
    )
    trace = pd.DataFrame({"step": np.arange(K + 1), "t": lr * np.arange(K + 1), "loss": traj.loss[: K + 1]})
    trace["learned_rank"] = np.sum(traj.modes[: K + 1] >= np.where(spec.mu > 0, half, np.inf), axis=1)

    W_closed = closed_form_embedding(spec).astype(np.float32)
    wordsim = ev.load_similarity("wordsim353")
    simlex = ev.load_similarity("simlex999")
    rho_ws, n_ws = ev.similarity_rho(W_final, vocab, wordsim)
    rho_sl, n_sl = ev.similarity_rho(W_final, vocab, simlex)
    rho_men, n_men = ev.similarity_rho(W_final, vocab, ev.load_similarity("men"))
    kmw = None
    if all(w in index for w in ("man", "woman", "king")):
        kmw = ev.complete_analogy(W_final, vocab, "man", "woman", "king", topk=1)[0][0]
    summary = {
        "analogy_accuracy": summary_acc,
        "analogy_questions": len(questions),
        "closed_form_accuracy": ev.analogy_accuracy(W_closed, questions),
        "king_man_woman": kmw,
        "wordsim_rho": rho_ws,
        "wordsim_pairs": n_ws,
        "simlex_rho": rho_sl,
        "simlex_pairs": n_sl,
        "men_rho": rho_men,
        "men_pairs": n_men,
        "closed_form_wordsim_rho": ev.similarity_rho(W_closed, vocab, wordsim)[0],
        "final_loss": float(traj.loss[K]) if traj.diverged_step is None else float("nan"),
        "optimum_loss": theory.optimum_loss(spec.frob2, spec.mu),
        "lr": lr,
        "lr_auto": cfg.lr == "auto",
        "lr_max_stable": lr_max,
        "mu_max": float(spec.mu[0]),
        "mu_min": spec.mu_min,
        "mu_d": float(spec.mu[-1]),
        "diverged": traj.diverged_step is not None,
        "diverged_step": traj.diverged_step,
        "steps": K,
        "device": traj.device,
        "corpus": corpus.name,
        "corpus_tokens": corpus.n_tokens,
        "wall_time_s": sum(timings.values()),
    }
    timings["evaluate_s"] = time.perf_counter() - t0
    summary["wall_time_s"] = sum(timings.values())
    return EmbedResult(
        config=cfg,
        vocab=vocab,
        history=history,
        trace=trace,
        modes=modes,
        embedding=embedding,
        analogy_tracks=pd.DataFrame(tracks, columns=["step", "t", "question", "rank", "answer", "score", "correct"]),
        summary=summary,
        W=W_final.astype(np.float32),
        W_closed=W_closed,
        timings=timings,
    )

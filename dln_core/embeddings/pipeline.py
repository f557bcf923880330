"""corpus → co-occurrence → M* → spectrum → GD → evaluation → documented frames (THEORY.md §7).

:func:`run_embedding` is the one call the page and the CLI make; the frames it returns and their
columns are documented in :mod:`dln_core.embeddings.frames`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..limits import Limits, current_limits
from . import eigenbasis as eb
from . import evaluate as ev
from . import theory
from .cooccurrence import (
    CACHE_MAX_BYTES,
    cache_dir,
    check_window,
    corpus_statistics,
    evict_cache,
    target_matrix,
    unigram_probabilities,
)
from .corpus import Corpus, check_vocab_size, load_default_corpus
from .frames import (
    CHOSEN_ANALOGIES,
    HIGHLIGHT_WORDS,
    gd_theory_curve,
    history_frames,
    modes_frame,
    scatter_frame,
    trace_frame,
)
from .model import (
    EmbedConfig,
    closed_form_embedding,
    initial_embedding,
    snapshot_schedule,
    spectrum,
    train_gd,
)
from .schedule import event_schedule, initial_strengths

ARROW_PAIRS = (("man", "woman"), ("king", "queen"), ("france", "paris"), ("germany", "berlin"))
__all__ = ["ARROW_PAIRS", "CHOSEN_ANALOGIES", "HIGHLIGHT_WORDS", "EmbedResult", "run_embedding", "save_embedding_run"]


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


def run_embedding(
    cfg: EmbedConfig,
    corpus: Corpus | None = None,
    limits: Limits | None = None,
    progress: Callable[[float], None] | None = None,
) -> EmbedResult:
    """Train one embedding and evaluate it. ConfigError for bad or over-cap input (including the
    V·V·d·steps compute budget, checked before any counting).

    ``progress(fraction)`` is called during GD (about every 20 steps, and with 1.0 at the end)."""
    cfg.check_limits(limits or current_limits())
    corpus = corpus or load_default_corpus()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    # M* depends on the unigram convention too, so its eigendecomposition is cached per convention
    eig_key = corpus.digest if cfg.unigram == "cooccurrence" else f"{corpus.digest}-{cfg.unigram}"
    path = eb.cache_path(cache_dir(), eig_key, cfg.vocab, cfg.window, cfg.psi, cfg.dtype)
    basis = eb.load_cached(path, eig_key, cfg.vocab, cfg.dtype) if cfg.method != "dense" and path.exists() else None
    method = eb.choose_method(cfg.method, cfg.vocab, cfg.dim, cfg.steps, len(snapshot_schedule(cfg.steps, cfg.n_snapshots)),
                              cfg.dtype, cached=basis is not None)
    t_cache = time.perf_counter() - t0
    t0 = time.perf_counter()
    if method == "eigenbasis" and basis is not None:
        # the cached decomposition holds all the run needs from M* (eigenpairs and ‖M*‖²_F): the
        # counts are not read and M* is not built; the vocabulary is the corpus's top-V words either way
        check_vocab_size(cfg.vocab, len(corpus.vocab))
        check_window(cfg.window)
        vocab = list(corpus.vocab[: cfg.vocab])
        M = None
    else:
        stats = corpus_statistics(corpus, cfg.vocab, cfg.window)
        vocab = list(stats.vocab)
        unigram = unigram_probabilities(corpus, cfg.vocab, stats.counts, cfg.unigram)  # M*'s P_i convention
        M = target_matrix(stats.counts, cfg.psi, unigram=unigram)
        del stats
    timings["statistics_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if method == "eigenbasis":
        if basis is None:
            basis = eb.eigendecomposition(M, cfg.dtype, overwrite=True)  # M is not needed afterwards
            if eb.save_cached(path, basis, eig_key, CACHE_MAX_BYTES):
                evict_cache(path.parent, CACHE_MAX_BYTES, keep=path)
        del M
        spec = basis.top(cfg.dim, basis.frob2)
    else:
        spec = spectrum(M, cfg.dim)
    timings["spectrum_s"] = time.perf_counter() - t0 + t_cache
    lr_max = theory.stable_lr(float(spec.mu[0]), spec.mu_min, safety=1.0)
    lr = theory.stable_lr(float(spec.mu[0]), spec.mu_min) if cfg.lr == "auto" else float(cfg.lr)

    W0 = initial_embedding(cfg.vocab, cfg.dim, cfg.init_scale, cfg.seed)
    even_steps = snapshot_schedule(cfg.steps, cfg.n_snapshots)
    steps_snap, event_steps = event_schedule(cfg.steps, cfg.n_snapshots, spec.mu,
                                             initial_strengths(W0, spec.vectors), lr,
                                             cfg.event_snapshots)
    if method == "eigenbasis":
        traj = eb.train_gd_eigenbasis(basis, W0, lr, cfg.steps, steps_snap, spec.frob2, cfg.device, cfg.dtype, progress)
        del basis
    else:
        traj = train_gd(M, W0, lr, cfg.steps, spec.vectors, steps_snap, cfg.device, cfg.dtype, progress,
                        frob2=spec.frob2)
        del M
    timings["train_s"] = traj.wall_time_s

    t0 = time.perf_counter()
    index = ev.word_index(vocab)
    questions = ev.in_vocab_questions(ev.load_analogies().questions, index)
    gd = gd_theory_curve(traj, spec, lr)  # once: both the history and the halfway times use it
    # history rows (each scored on the analogy set, the costly part) at the evenly spaced steps only;
    # the event-placed snapshots feed the 3-D scatter
    even = ~np.isin(traj.snapshot_steps, event_steps) | np.isin(traj.snapshot_steps, even_steps)
    history_traj = dataclasses.replace(
        traj, snapshot_steps=traj.snapshot_steps[even],
        snapshots=[w for w, keep in zip(traj.snapshots, even) if keep],
        grams=None if traj.grams is None else [g for g, keep in zip(traj.grams, even) if keep])
    history, tracks = history_frames(history_traj, spec, lr, vocab, questions, gd)
    W_final = traj.snapshots[-1] if traj.snapshots else W0.astype(np.float32)
    embedding = scatter_frame(traj, vocab, lr, cfg.scatter_words, cfg.n_scatter_snapshots, W_final,
                              keep_steps=event_steps)
    W_closed = closed_form_embedding(spec).astype(np.float32)
    summary = _summary(cfg, corpus, traj, spec, lr, lr_max, history, W_final, W_closed, vocab, questions, method)
    timings["evaluate_s"] = time.perf_counter() - t0
    summary["wall_time_s"] = sum(timings.values())
    return EmbedResult(
        config=cfg,
        vocab=vocab,
        history=history,
        trace=trace_frame(traj, spec, lr),
        modes=modes_frame(traj, spec, lr, gd),
        embedding=embedding,
        analogy_tracks=tracks,
        summary=summary,
        W=W_final.astype(np.float32),
        W_closed=W_closed,
        timings=timings,
    )


def save_embedding_run(store, result: EmbedResult, name: str | None = None) -> str:
    """Save a run in a :class:`dln_core.store.RunStore` as kind "embed": the history, trace and modes
    frames; meta = config (EmbedConfig fields) + summary (+ name). Returns the run id."""
    frames = {"history": result.history, "trace": result.trace, "modes": result.modes}
    meta = {"config": dataclasses.asdict(result.config), "summary": dict(result.summary), "name": name}
    return store.save_frames(frames, meta, kind="embed")


def _summary(cfg, corpus, traj, spec, lr, lr_max, history, W_final, W_closed, vocab, questions, method) -> dict:
    """Scalar results: accuracy (trained and closed form), similarity ρ, loss, step size, spectrum.

    After a divergence the trained-embedding fields (accuracy, ρ, king_man_woman, final loss) are
    NaN/None: the last finite snapshot may be step 0, whose scores would describe the random init.
    """
    index = ev.word_index(vocab)
    diverged = traj.diverged_step is not None
    nan = float("nan")
    wordsim = ev.load_similarity("wordsim353")
    rho_ws, n_ws = ev.similarity_rho(W_final, vocab, wordsim)
    rho_sl, n_sl = ev.similarity_rho(W_final, vocab, ev.load_similarity("simlex999"))
    rho_men, n_men = ev.similarity_rho(W_final, vocab, ev.load_similarity("men"))
    kmw = None
    if not diverged and all(w in index for w in ("man", "woman", "king")):
        kmw = ev.complete_analogy(W_final, vocab, "man", "woman", "king", topk=1)[0][0]
    K = traj.steps_run
    acc = float(history["analogy_accuracy"].iloc[-1]) if len(history) and not diverged else nan
    return {
        "analogy_accuracy": acc,
        "analogy_questions": len(questions),
        "closed_form_accuracy": ev.analogy_accuracy(W_closed, questions),
        "king_man_woman": kmw,
        "wordsim_rho": nan if diverged else rho_ws,
        "wordsim_pairs": n_ws,
        "simlex_rho": nan if diverged else rho_sl,
        "simlex_pairs": n_sl,
        "men_rho": nan if diverged else rho_men,
        "men_pairs": n_men,
        "closed_form_wordsim_rho": ev.similarity_rho(W_closed, vocab, wordsim)[0],
        "final_loss": float(traj.loss[K]) if not diverged else nan,
        "optimum_loss": theory.optimum_loss(spec.frob2, spec.mu),
        "lr": lr,
        "lr_auto": cfg.lr == "auto",
        "lr_max_stable": lr_max,
        "mu_max": float(spec.mu[0]),
        "mu_min": spec.mu_min,
        "mu_d": float(spec.mu[-1]),
        "diverged": diverged,
        "diverged_step": traj.diverged_step,
        "steps": K,
        "device": traj.device,
        "method": method,
        "corpus": corpus.name,
        "corpus_tokens": corpus.n_tokens,
    }

"""Evaluation of word embeddings: analogies by 3CosAdd, similarity by Spearman ρ (THEORY.md §7).

Conventions:
- An analogy ``a:b::c:?`` is answered by the word whose row-normalised embedding has the largest
  cosine with ê_b − ê_a + ê_c, excluding a, b and c (3CosAdd). Google's ``questions-words.txt`` line
  ``athens greece berlin germany`` is the question athens:greece::berlin:? with answer germany.
- Accuracy counts only questions whose four words are all in the vocabulary; that count is always
  returned next to the accuracy.
- Similarity: Spearman ρ between human scores and embedding cosines over in-vocabulary pairs.
- A zero row (a word the model has not learned yet) has cosine 0 with everything, never NaN.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..resources import data_path

EVAL_DIR = data_path("eval")  # package data (dln_core/data/README.md: sources, terms)
SIMILARITY_FILES = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt", "men": "men.txt"}


@dataclass(frozen=True)
class Analogies:
    """Analogy questions as word tuples (a, b, c, d) with their section names."""

    sections: tuple[str, ...]
    questions: tuple[tuple[str, str, str, str], ...]


@functools.lru_cache(maxsize=4)
def load_analogies(path: str | None = None) -> Analogies:
    """Google analogy set (``: section`` lines start a section), lowercased."""
    sections, questions = [], []
    section = ""
    for line in Path(path or EVAL_DIR / "questions-words.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith(":"):
            section = line[1:].strip()
            continue
        parts = line.lower().split()
        if len(parts) == 4:
            sections.append(section)
            questions.append(tuple(parts))
    return Analogies(tuple(sections), tuple(questions))


@functools.lru_cache(maxsize=8)
def load_similarity(name: str = "wordsim353") -> tuple[tuple[str, str, float], ...]:
    """(word1, word2, human score) pairs; ``#`` lines are comments; tab or space separated."""
    if name not in SIMILARITY_FILES:
        raise ConfigError("similarity set", f"must be one of {sorted(SIMILARITY_FILES)}", name)
    pairs = []
    for line in (EVAL_DIR / SIMILARITY_FILES[name]).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) >= 3:
            pairs.append((parts[0].lower(), parts[1].lower(), float(parts[2])))
    return tuple(pairs)


def normalize_rows(E: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32 is ample for ranking cosines); zero rows stay zero."""
    E = np.asarray(E, dtype=np.float32)
    norms = np.linalg.norm(E, axis=1, keepdims=True)
    return E / np.where(norms > 0, norms, 1.0)


def word_index(vocab) -> dict[str, int]:
    return {w: i for i, w in enumerate(vocab)}


def in_vocab_questions(questions, index: dict[str, int]) -> np.ndarray:
    """(n, 4) int array of the questions whose four words are all in ``index``."""
    rows = [[index[w] for w in q] for q in questions if all(w in index for w in q)]
    return np.asarray(rows, dtype=np.int64).reshape(-1, 4)


def answer_ids(En: np.ndarray, q: np.ndarray, topk: int = 1, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """3CosAdd top-k answers (ids, cosine scores) for id questions ``q`` (n, ≥3) over normalised ``En``."""
    n = len(q)
    ids = np.zeros((n, topk), dtype=np.int64)
    scores = np.zeros((n, topk))
    for s in range(0, n, batch):
        qa, qb, qc = q[s : s + batch, 0], q[s : s + batch, 1], q[s : s + batch, 2]
        target = normalize_rows(En[qb] - En[qa] + En[qc])
        sim = target @ En.T
        rows = np.arange(len(qa))
        for col in (qa, qb, qc):  # the three query words never count as answers
            sim[rows, col] = -np.inf
        if topk == 1:  # the accuracy path: a plain argmax is several times cheaper than a partition
            ids[s : s + batch, 0] = np.argmax(sim, axis=1)
        else:
            top = np.argpartition(-sim, topk - 1, axis=1)[:, :topk] if topk < sim.shape[1] else np.argsort(-sim, axis=1)
            order = np.argsort(-np.take_along_axis(sim, top, axis=1), axis=1)
            ids[s : s + batch] = np.take_along_axis(top, order, axis=1)[:, :topk]
        scores[s : s + batch] = np.take_along_axis(sim, ids[s : s + batch], axis=1)
    return ids, scores


def analogy_accuracy(E: np.ndarray, q: np.ndarray) -> float:
    """Fraction of id questions (n, 4) answered exactly by 3CosAdd (NaN when there are none)."""
    if len(q) == 0:
        return float("nan")
    ids, _ = answer_ids(normalize_rows(E), q, topk=1)
    return float(np.mean(ids[:, 0] == q[:, 3]))


def _lookup(index: dict[str, int], word: str, field: str) -> int:
    w = word.strip().lower()
    if w not in index:
        raise ConfigError(field, "must be a word in the current vocabulary", word)
    return index[w]


def complete_analogy(E: np.ndarray, vocab, a: str, b: str, c: str, topk: int = 5) -> list[tuple[str, float]]:
    """Top-k answers to a:b::c:? as (word, cosine). ConfigError names an out-of-vocabulary word."""
    index = word_index(vocab)
    q = np.asarray([[_lookup(index, a, "word a"), _lookup(index, b, "word b"), _lookup(index, c, "word c")]])
    k = max(1, min(topk, len(vocab) - 3))
    ids, scores = answer_ids(normalize_rows(E), q, topk=k)
    return [(vocab[i], float(s)) for i, s in zip(ids[0], scores[0])]


def nearest_neighbours(E: np.ndarray, vocab, word: str, k: int = 10) -> list[tuple[str, float]]:
    """The k words with the largest cosine to ``word`` (itself excluded)."""
    index = word_index(vocab)
    i = _lookup(index, word, "word")
    En = normalize_rows(E)
    sim = En @ En[i]
    sim[i] = -np.inf
    k = max(1, min(k, len(vocab) - 1))
    top = np.argsort(-sim)[:k]
    return [(vocab[j], float(sim[j])) for j in top]


def similarity_rho(E: np.ndarray, vocab, pairs) -> tuple[float, int]:
    """Spearman ρ between human scores and cosines over the in-vocabulary pairs, and their count."""
    index = word_index(vocab)
    kept = [(index[a], index[b], s) for a, b, s in pairs if a in index and b in index]
    if len(kept) < 3:
        return float("nan"), len(kept)
    En = normalize_rows(E)
    i, j, human = (np.asarray(x) for x in zip(*kept))
    cos = np.sum(En[i] * En[j], axis=1)
    if np.ptp(cos) == 0:  # e.g. an all-zero embedding: no ranking at all
        return float("nan"), len(kept)
    return spearman_rho(human, cos), len(kept)


def spearman_rho(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman ρ: the Pearson correlation of the tie-averaged ranks (NaN if either side is constant
    or has a NaN). The same computation as scipy.stats.spearmanr, bit for bit, without importing
    scipy.stats (half a second of every CLI start)."""
    a = np.column_stack((x, y)).astype(np.float64, copy=False)
    if np.isnan(a).any() or (a == a[0]).all(axis=0).any():
        return float("nan")
    ranked = np.column_stack([_average_ranks(a[:, j]) for j in range(2)])
    return float(np.corrcoef(ranked, rowvar=False)[1, 0])  # [1, 0] as scipy reads it (not symmetric in rounding)


def _average_ranks(v: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their positions (exact in float64)."""
    order = np.argsort(v, kind="mergesort")
    sorted_v = v[order]
    first = np.r_[True, sorted_v[1:] != sorted_v[:-1]]  # the first of each run of equal values
    ends = np.r_[np.flatnonzero(first)[1:], len(v)]  # one past each run's last position
    starts = np.flatnonzero(first)
    ranks = np.empty(len(v))
    ranks[order] = (0.5 * (starts + 1 + ends))[np.cumsum(first) - 1]
    return ranks

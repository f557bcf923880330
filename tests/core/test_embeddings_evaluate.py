"""Analogy (3CosAdd) and similarity (Spearman ρ) evaluation on a hand-made embedding with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from dln_core.embeddings import evaluate as ev
from dln_core.errors import ConfigError

#            person gender royal young fruit vehicle
TABLE = {
    "man": [1, 1, 0, 0, 0, 0],
    "woman": [1, -1, 0, 0, 0, 0],
    "king": [1, 1, 1, 0, 0, 0],
    "queen": [1, -1, 1, 0, 0, 0],
    "boy": [1, 1, 0, 1, 0, 0],
    "girl": [1, -1, 0, 1, 0, 0],
    "apple": [0, 0, 0, 0, 1, 0],
    "car": [0, 0, 0, 0, 0, 1],
}
VOCAB = list(TABLE)
E = np.array([TABLE[w] for w in VOCAB], dtype=float)


def test_three_cos_add_answers_and_excludes_query_words():
    top = ev.complete_analogy(E, VOCAB, "man", "woman", "king", topk=3)
    assert top[0][0] == "queen"
    assert not {"man", "woman", "king"} & {w for w, _ in top}
    assert [s for _, s in top] == sorted((s for _, s in top), reverse=True)
    assert ev.complete_analogy(E, VOCAB, "king", "queen", "boy")[0][0] == "girl"
    # without the exclusion, b − a + c = king − man + woman would return the query word itself here
    assert ev.complete_analogy(E, VOCAB, "man", "man", "king")[0][0] != "king"


def test_accuracy_counts_only_in_vocabulary_questions():
    questions = [
        ("man", "woman", "king", "queen"),  # right
        ("man", "woman", "boy", "girl"),  # right
        ("woman", "man", "queen", "king"),  # right
        ("man", "king", "woman", "apple"),  # wrong (queen is the answer)
        ("man", "woman", "prince", "princess"),  # out of vocabulary: not counted
    ]
    q = ev.in_vocab_questions(questions, ev.word_index(VOCAB))
    assert q.shape == (4, 4)
    assert ev.analogy_accuracy(E, q) == pytest.approx(0.75)
    assert np.isnan(ev.analogy_accuracy(E, q[:0]))


def test_oov_word_raises_config_error_naming_the_word():
    with pytest.raises(ConfigError, match="word c") as info:
        ev.complete_analogy(E, VOCAB, "man", "woman", "emperor")
    assert info.value.got == "emperor"
    with pytest.raises(ConfigError, match="word"):
        ev.nearest_neighbours(E, VOCAB, "zzz")
    assert ev.complete_analogy(E, VOCAB, " MAN ", "Woman", "king")[0][0] == "queen"  # case/space tolerant


def test_nearest_neighbours_are_ranked_by_cosine():
    nn = ev.nearest_neighbours(E, VOCAB, "king", k=3)
    assert nn[0][0] in {"man", "queen", "boy"} and "king" not in [w for w, _ in nn]
    assert nn[0][1] == pytest.approx(2 / np.sqrt(6))  # cos(king, man) = 2 / (√3 √2)
    assert nn[-1][1] <= nn[0][1]


def test_spearman_over_in_vocabulary_pairs():
    pairs = [("man", "boy", 9.0), ("man", "king", 7.0), ("man", "woman", 3.0), ("man", "apple", 0.5),
             ("man", "unicorn", 5.0)]
    rho, n = ev.similarity_rho(E, VOCAB, pairs)
    assert n == 4
    # cosines: boy 2/√6 = king 2/√6 > woman 0 = apple 0, ties ranked as averages
    assert rho == pytest.approx(0.894427, abs=1e-5)
    flipped, _ = ev.similarity_rho(E, VOCAB, [(a, b, -s) for a, b, s in pairs])
    assert flipped == pytest.approx(-rho)


def test_zero_embedding_gives_no_nan_scores():
    Z = np.zeros_like(E)
    assert np.all(ev.normalize_rows(Z) == 0)
    q = ev.in_vocab_questions([("man", "woman", "king", "queen")], ev.word_index(VOCAB))
    assert ev.analogy_accuracy(Z, q) in (0.0, 1.0)
    rho, n = ev.similarity_rho(Z, VOCAB, [("man", "boy", 1.0), ("man", "king", 2.0), ("man", "car", 3.0)])
    assert np.isnan(rho) and n == 3


def test_shipped_evaluation_sets_load():
    a = ev.load_analogies()
    assert len(a.questions) == 19_544 and len(set(a.sections)) == 14
    assert a.questions[0] == ("athens", "greece", "baghdad", "iraq")
    assert len(ev.load_similarity("wordsim353")) == 353
    assert len(ev.load_similarity("simlex999")) == 999
    assert len(ev.load_similarity("men")) == 3000
    with pytest.raises(ConfigError):
        ev.load_similarity("nope")

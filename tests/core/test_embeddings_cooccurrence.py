"""Corpus → co-occurrence → M* on tiny hand-checkable inputs (THEORY.md §7), and the disk cache."""

from __future__ import annotations

import numpy as np
import pytest

from dln_core.embeddings import cooccurrence as co
from dln_core.embeddings.corpus import corpus_from_text, load_default_corpus, tokenize
from dln_core.errors import ConfigError


def test_tokenizer_lowercases_and_splits_on_non_letters():
    assert tokenize("The King's 2 crowns, QUEEN-mother!") == ["the", "king", "s", "crowns", "queen", "mother"]


def test_counts_window_weights_by_hand():
    # a b c a ; window 2: weight 2 at distance 1, weight 1 at distance 2
    ids = np.array([0, 1, 2, 0])
    C = co.count_cooccurrences(ids, vocab_size=3, window=2)
    expected = np.zeros((3, 3))
    for i, j, w in [(0, 1, 2), (1, 2, 2), (2, 0, 2), (0, 2, 1), (1, 0, 1)]:
        expected[i, j] += w
        expected[j, i] += w
    np.testing.assert_array_equal(C, expected)
    np.testing.assert_array_equal(C, C.T)
    assert C.sum() == 2 * (2 + 2 + 2 + 1 + 1)


def test_pad_breaks_windows_and_oov_keeps_distance():
    # ids: 0 OOV(=3) 1 | pad(=4) | 2 ; V = 3
    ids = np.array([0, 3, 1, 4, 2])
    C = co.count_cooccurrences(ids, vocab_size=3, window=3, pad_id=4)
    # 0 and 1 are at distance 2 (the OOV token still occupies a position): weight 3 + 1 - 2 = 2
    assert C[0, 1] == C[1, 0] == 2
    # nothing crosses the document boundary
    assert C[0, 2] == C[1, 2] == C[2, 2] == 0
    assert C.sum() == 4


def test_self_pairs_count_twice_on_the_diagonal():
    C = co.count_cooccurrences(np.array([5, 5]), vocab_size=6, window=1)
    assert C[5, 5] == 2 and C.sum() == 2


def test_chunks_and_row_blocks_do_not_change_counts():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 60, 4000)
    ids[rng.random(4000) < 0.05] = 61  # pads
    ref = co.count_cooccurrences(ids, 50, 5, pad_id=61)
    small = co.count_cooccurrences(ids, 50, 5, pad_id=61, chunk=333, max_cells=200)
    np.testing.assert_array_equal(ref, small)


def test_target_matrix_by_hand():
    C = np.array([[0.0, 2.0, 1.0], [2.0, 0.0, 2.0], [1.0, 2.0, 0.0]])
    M = co.target_matrix(C, dtype=np.float64)
    P = C / 10.0
    p = P.sum(axis=1)  # (0.3, 0.4, 0.3)
    assert M[0, 1] == pytest.approx(2 * (0.2 - 0.12) / (0.2 + 0.12), rel=1e-6)
    assert M[0, 2] == pytest.approx(2 * (0.1 - 0.09) / (0.1 + 0.09), rel=1e-6)
    assert M[0, 0] == pytest.approx(-2.0)  # never seen together
    np.testing.assert_allclose(M, M.T)
    assert p.sum() == pytest.approx(1.0)
    # ψ shifts the independence baseline
    assert co.target_matrix(C, psi=0.5, dtype=np.float64)[0, 1] > M[0, 1]


def test_target_matrix_zero_rows_are_zero_not_nan():
    C = np.zeros((3, 3))
    C[0, 1] = C[1, 0] = 1.0
    M = co.target_matrix(C, dtype=np.float64)
    assert np.all(np.isfinite(M)) and np.all(M[2] == 0)
    with pytest.raises(ConfigError, match="corpus"):
        co.target_matrix(np.zeros((2, 2)))


def test_user_text_corpus_ranks_vocabulary_and_rejects_empty():
    text = ("the cat sat on the mat " * 10) + "\n\n" + ("a dog ate the bone " * 5)
    c = corpus_from_text(text)
    assert c.vocab[0] == "the" and c.counts[0] == 25  # 2 x 10 + 5
    assert np.count_nonzero(c.ids == c.pad_id) == 2  # one pad after each document
    with pytest.raises(ConfigError, match="corpus"):
        corpus_from_text("  \n 123 !!")
    with pytest.raises(ConfigError, match="vocab"):
        c.vocabulary(len(c.vocab) + 1)


def test_statistics_cache_roundtrip_and_corrupt_file(tmp_path, monkeypatch):
    monkeypatch.setenv("DLN_LAB_HOME", str(tmp_path))
    words = ["red", "green", "blue", "cyan", "pink", "gold", "grey"]
    c = corpus_from_text(" ".join(words[i % 7] + " and" for i in range(200)))
    first = co.corpus_statistics(c, 5, window=3)
    files = list((tmp_path / "cache").glob("*.npz"))
    assert len(files) == 1
    again = co.corpus_statistics(c, 5, window=3)
    np.testing.assert_allclose(again.counts, first.counts, rtol=1e-6)
    files[0].write_bytes(b"not an npz")  # corrupt: rebuilt, not fatal
    rebuilt = co.corpus_statistics(c, 5, window=3)
    np.testing.assert_allclose(rebuilt.counts, first.counts, rtol=1e-6)
    with np.load(files[0]) as z:  # and the file was rewritten
        assert int(z["V"]) == 5


def test_default_artifact_loads():
    c = load_default_corpus()
    assert len(c.vocab) == 20_000
    assert c.n_tokens > 9_000_000
    assert {"man", "woman", "king", "queen", "paris", "france"} <= set(c.vocab[:3000])
    assert c.ids.max() == c.pad_id and c.ids.min() == 0
    assert list(c.counts[:3]) == sorted(c.counts[:3], reverse=True)
    nogpl = load_default_corpus("nogpl")
    assert nogpl.digest != c.digest and nogpl.n_tokens > 5_000_000
    with pytest.raises(ConfigError, match="corpus"):
        load_default_corpus("nope")


def test_seed_serves_smaller_vocabularies_exactly(tmp_path, monkeypatch):
    monkeypatch.setenv("DLN_LAB_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(co, "SEED_DIR", tmp_path)
    rng = np.random.default_rng(2)
    words = [f"{a}{b}" for a in "bcdfg" for b in "aeiou"]  # 25 letter-only words
    text = "\n\n".join(" ".join(rng.choice(words, 60)) for _ in range(20))
    c = corpus_from_text(text)
    full = co.count_cooccurrences(c.ids, 20, 4, pad_id=c.pad_id)
    direct = co.count_cooccurrences(c.ids, 12, 4, pad_id=c.pad_id)
    np.testing.assert_array_equal(direct, full[:12, :12])  # counts for V are a block of those for V' > V
    co.save_seed(tmp_path / "upload_cooc_V20_w4.npz", full, c, 4)
    monkeypatch.setattr(co, "count_cooccurrences", None)  # counting is now impossible: the seed must serve
    stats = co.corpus_statistics(c, 12, window=4)
    np.testing.assert_array_equal(stats.counts, full[:12, :12])


def test_shipped_seed_matches_the_shipped_corpus():
    seeds = list(co.SEED_DIR.glob("default_cooc_V*_w16.npz"))
    assert len(seeds) == 1
    with np.load(seeds[0]) as z:
        assert str(z["digest"]) == load_default_corpus().digest
        assert int(z["V"]) >= 2500


def test_upload_and_file_size_caps(tmp_path):
    from dln_core.embeddings.corpus import corpus_from_upload, read_text_corpus

    data = ("alpha beta gamma delta " * 30).encode()
    assert corpus_from_upload(data, "u.txt", max_mb=1.0).vocab[:1] == ("alpha",)
    with pytest.raises(ConfigError, match=r"at most 0\.0001 MB"):
        corpus_from_upload(data, "u.txt", max_mb=0.0001)
    with pytest.raises(ConfigError, match="corpus"):
        corpus_from_upload(b"", "empty.txt", max_mb=1.0)
    p = tmp_path / "c.txt"
    p.write_bytes(data + b"\xff\xfe broken bytes")  # undecodable bytes are replaced, not fatal
    assert "broken" in read_text_corpus(p, max_mb=1.0).vocab
    with pytest.raises(ConfigError, match="corpus"):
        read_text_corpus(p, max_mb=0.0001)


# ------------------------------------------------------------------ review fixes


def test_cache_is_used_not_recounted(tmp_path, monkeypatch):
    monkeypatch.setenv("DLN_LAB_HOME", str(tmp_path))
    c = corpus_from_text(" ".join(w + " and" for w in ["red", "green", "blue", "cyan", "pink"] * 40))
    real, calls = co.count_cooccurrences, []

    def count_once(*a, **k):
        calls.append(1)
        if len(calls) > 1:
            raise AssertionError("counted again: the cache was ignored")
        return real(*a, **k)

    monkeypatch.setattr(co, "count_cooccurrences", count_once)
    first = co.corpus_statistics(c, 5, window=3)
    again = co.corpus_statistics(c, 5, window=3)
    np.testing.assert_allclose(again.counts, first.counts, rtol=1e-6)
    assert len(calls) == 1


def test_cache_file_mode_follows_umask(tmp_path, monkeypatch):
    import os

    monkeypatch.setenv("DLN_LAB_HOME", str(tmp_path))
    old = os.umask(0o022)
    try:
        co.corpus_statistics(corpus_from_text("alpha beta gamma " * 30), 3, window=2)
    finally:
        os.umask(old)
    (f,) = (tmp_path / "cache").glob("*.npz")
    assert f.stat().st_mode & 0o777 == 0o644  # mkstemp would have made it 0600
    assert not list((tmp_path / "cache").glob(".*"))  # no temp file left behind


def test_seed_hit_writes_no_cache_file(tmp_path, monkeypatch):
    monkeypatch.setenv("DLN_LAB_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(co, "SEED_DIR", tmp_path)
    c = corpus_from_text("\n\n".join("one two three four five six " * 10 for _ in range(3)))
    co.save_seed(tmp_path / "upload_cooc_V6_w2.npz", co.count_cooccurrences(c.ids, 6, 2, pad_id=c.pad_id), c, 2)
    co.corpus_statistics(c, 4, window=2)
    assert not list((tmp_path / "home" / "cache").glob("*.npz"))


def test_cache_folder_is_bounded_least_recently_used_first(tmp_path, monkeypatch):
    import os

    monkeypatch.setenv("DLN_LAB_HOME", str(tmp_path))
    texts = [" ".join(f"w{chr(97 + i)}{chr(97 + j)}" for j in range(20)) * 5 for i in range(3)]
    corpora = [corpus_from_text(t) for t in texts]
    co.corpus_statistics(corpora[0], 20, window=2)
    (one,) = (tmp_path / "cache").glob("*.npz")
    size = one.stat().st_size
    monkeypatch.setattr(co, "CACHE_MAX_BYTES", int(2.5 * size))  # room for two files
    os.utime(one, (1, 1))  # the oldest
    co.corpus_statistics(corpora[1], 20, window=2)
    assert one.exists()  # 2 files fit
    co.corpus_statistics(corpora[2], 20, window=2)
    files = list((tmp_path / "cache").glob("*.npz"))
    assert len(files) == 2 and not one.exists()
    assert co.CACHE_MAX_BYTES >= sum(f.stat().st_size for f in files)


def test_one_word_text_is_one_clear_error():
    with pytest.raises(ConfigError, match="at least 2 distinct words"):
        corpus_from_text("hello " * 100)


def test_binary_data_is_rejected():
    from dln_core.embeddings.corpus import corpus_from_upload

    text = ("alpha beta gamma delta " * 30).encode()
    with pytest.raises(ConfigError, match="plain UTF-8 text"):
        corpus_from_upload(text + b"\x00\x01", "a.bin", max_mb=1.0)
    noise = bytes(np.random.default_rng(0).integers(128, 256, 4000, dtype=np.uint8))  # no NUL, not UTF-8
    with pytest.raises(ConfigError, match="plain UTF-8 text"):
        corpus_from_upload(text + noise, "b.bin", max_mb=1.0)
    # a handful of bad bytes in real text is tolerated (replaced)
    assert "gamma" in corpus_from_upload(text + b"\xff\xfe", "c.txt", max_mb=1.0).vocab


def test_build_script_uses_the_library_tokeniser():
    import importlib.util
    from pathlib import Path

    from dln_core.embeddings import corpus

    path = Path(__file__).resolve().parents[2] / "scripts" / "build_corpus.py"
    spec = importlib.util.spec_from_file_location("build_corpus_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.tokens is corpus.tokenize  # one tokeniser: shipped corpora and uploads split alike

"""Exact eigenbasis GD (dln_core.embeddings.eigenbasis) against the dense loop it replaces, its cache,
and the row-by-row triangle fill of the statistics cache."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pandas as pd
import pytest
import torch

from dln_core.embeddings import eigenbasis as eb
from dln_core.embeddings.cooccurrence import _upper_to_full, _upper_triangle
from dln_core.embeddings.frames import gd_theory_curve, history_frames
from dln_core.embeddings.model import EmbedConfig, frobenius2, initial_embedding, spectrum, train_gd
from dln_core.embeddings.pipeline import run_embedding
from dln_core.errors import ConfigError
from dln_core.limits import LOCAL


def embedding_like_target(V: int, seed: int = 0) -> np.ndarray:
    """A symmetric M with a few large positive eigenvalues, a bulk, and a large negative tail, as M* has."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((V, V)))
    mu = np.concatenate([[9.0, 6.5, 5.0, 3.2, 2.0, 1.1], rng.uniform(-1.0, 0.8, V - 8), [-12.0, -25.0]])
    return (Q * mu) @ Q.T


def both_routes(M, d, steps, lr, dtype, init_scale=1e-3, seed=1):
    V = M.shape[0]
    W0 = initial_embedding(V, d, init_scale, seed)
    snaps = np.array([0, steps // 3, steps])
    basis = eb.eigendecomposition(M, dtype)
    spec = basis.top(d, frobenius2(M))
    dense = train_gd(M.astype(dtype), W0, lr, steps, spec.vectors, snaps, "cpu", dtype, snapshot_dtype="float64")
    rot = eb.train_gd_eigenbasis(basis, W0, lr, steps, snaps, spec.frob2, "cpu", dtype, snapshot_dtype="float64")
    return dense, rot


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_float64_trajectory_equals_dense_gd_to_1e9():
    M = embedding_like_target(200)
    lr = 0.9 * 2 / (9.0 + 25.0)
    dense, rot = both_routes(M, 12, 600, lr, "float64", init_scale=1e-4)
    assert dense.diverged_step is None and rot.diverged_step is None
    np.testing.assert_array_equal(rot.snapshot_steps, dense.snapshot_steps)
    for Wr, Wd in zip(rot.snapshots, dense.snapshots):
        assert rel(Wr, Wd) < 1e-9
    np.testing.assert_allclose(rot.loss, dense.loss, rtol=1e-9)
    np.testing.assert_allclose(rot.modes, dense.modes, rtol=1e-8, atol=1e-12 * dense.modes.max())
    # the run learned the six positive modes: the check is not on a trajectory that stayed at init
    assert np.all(rot.modes[-1, :6] > 0.5 * np.array([9.0, 6.5, 5.0, 3.2, 2.0, 1.1]))


def test_float32_trajectory_agrees_with_dense_float32_to_rounding():
    M = embedding_like_target(300, seed=2)
    lr = 0.9 * 2 / (9.0 + 25.0)
    d, steps = 10, 300
    ref, _ = both_routes(M, d, steps, lr, "float64")
    dense32, rot32 = both_routes(M, d, steps, lr, "float32")
    for Wr, Wd, W64 in zip(rot32.snapshots, dense32.snapshots, ref.snapshots):
        # as close to float64 GD as the dense float32 loop is (both are float32 rounding), and close to it
        assert rel(Wr, W64) <= 3 * rel(Wd, W64) + 1e-5
        assert rel(Wr, Wd) < 1e-4
    np.testing.assert_allclose(rot32.loss, ref.loss, rtol=1e-5)
    np.testing.assert_allclose(dense32.loss, ref.loss, rtol=1e-5)


def test_divergence_is_reported_like_the_dense_loop():
    M = embedding_like_target(60, seed=3)
    dense, rot = both_routes(M, 4, 200, 0.5, "float64", init_scale=0.5)
    assert dense.diverged_step is not None
    assert rot.diverged_step == dense.diverged_step
    assert np.isnan(rot.loss[rot.diverged_step])


def test_top_spectrum_matches_lanczos_and_cost_model_prefers_eigenbasis_for_long_runs():
    M = embedding_like_target(500, seed=4).astype(np.float32)
    lanczos = spectrum(M, 6)
    full = eb.eigendecomposition(M, "float32").top(6, lanczos.frob2)
    np.testing.assert_allclose(full.mu, lanczos.mu, rtol=1e-5)
    assert full.mu_min == pytest.approx(lanczos.mu_min, rel=1e-5)
    assert np.all(np.abs(np.sum(full.vectors * lanczos.vectors, axis=0)) > 1 - 1e-5)
    assert eb.choose_method("auto", 5000, 100, 1500, 100, "float32", cached=False) == "eigenbasis"
    assert eb.choose_method("auto", 5000, 100, 5, 2, "float32", cached=False) == "dense"
    assert eb.choose_method("auto", 5000, 100, 5, 2, "float32", cached=True) == "eigenbasis"
    assert eb.choose_method("dense", 5000, 100, 1500, 100, "float32", cached=True) == "dense"


def test_pipeline_routes_agree_and_the_decomposition_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("DLN_LAB_HOME", str(tmp_path))
    kw = dict(vocab=300, dim=8, steps=120, init_scale=1e-6, n_snapshots=25, n_scatter_snapshots=2,
              scatter_words=20, device="cpu")
    # float64: the two routes give the same frames up to the float32 storage of the snapshots
    dense = run_embedding(EmbedConfig(method="dense", dtype="float64", **kw), limits=LOCAL)
    rot = run_embedding(EmbedConfig(method="eigenbasis", dtype="float64", **kw), limits=LOCAL)
    assert dense.summary["method"] == "dense" and rot.summary["method"] == "eigenbasis"
    sv1 = dense.history["sv_1"].to_numpy()
    for c in dense.history.columns:
        if c.startswith("sv_"):
            # the dense route's singular values come from the float32-stored W: an error of float32
            # rounding times ‖W‖ = sv_1 (the eigenbasis route forms WᵀW = ZᵀZ in float64)
            err = np.abs(rot.history[c].to_numpy() - dense.history[c].to_numpy())
            assert np.all(err <= 2e-5 * dense.history[c].to_numpy() + 1e-6 * sv1), c
        else:
            np.testing.assert_allclose(rot.history[c], dense.history[c], rtol=2e-5, atol=1e-9, err_msg=c)
    for c in ("halfway_step", "halfway_step_gd_theory", "u0", "mu"):
        np.testing.assert_allclose(rot.modes[c], dense.modes[c], rtol=1e-6, err_msg=c)
    for key in ("analogy_accuracy", "closed_form_accuracy", "king_man_woman", "wordsim_rho"):
        assert rot.summary[key] == pytest.approx(dense.summary[key], rel=1e-6)
    assert rot.summary["final_loss"] == pytest.approx(dense.summary["final_loss"], rel=1e-9)
    # float32 (the default): written to the cache once, read back on the next run, same frames
    first = run_embedding(EmbedConfig(method="eigenbasis", **kw), limits=LOCAL)
    assert len(list(tmp_path.glob("cache/eig_*float32.npz"))) == 1

    def no_solve(*a, **k):
        raise AssertionError("the cached decomposition should have been used")

    monkeypatch.setattr(eb, "eigendecomposition", no_solve)
    again = run_embedding(EmbedConfig(method="eigenbasis", **kw), limits=LOCAL)
    pd.testing.assert_frame_equal(again.history, first.history)
    with pytest.raises(ConfigError, match="method"):
        EmbedConfig(method="fast")


def test_snapshot_grams_in_the_eigenbasis_equal_the_word_basis_ones():
    # WᵀW = ZᵀZ: the history's singular values need no mapping back (float64 throughout: to 1e-10)
    M = embedding_like_target(200, seed=6)
    lr = 0.9 * 2 / (9.0 + 25.0)
    d, steps = 8, 400
    W0 = initial_embedding(200, d, 1e-4, 2)
    basis = eb.eigendecomposition(M, "float64")
    spec = basis.top(d, basis.frob2)
    snaps = np.array([0, 50, 150, 400])
    rot = eb.train_gd_eigenbasis(basis, W0, lr, steps, snaps, spec.frob2, "cpu", "float64", snapshot_dtype="float64")
    assert rot.grams is not None and len(rot.grams) == len(snaps)
    for W, G in zip(rot.snapshots, rot.grams):
        np.testing.assert_allclose(G, W.T @ W, rtol=0, atol=1e-10 * np.abs(W.T @ W).max())
    questions = np.array([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]])
    vocab = [f"w{i}" for i in range(200)]
    gd = gd_theory_curve(rot, spec, lr)
    with_g, _ = history_frames(rot, spec, lr, vocab, questions, gd)
    word_basis, _ = history_frames(dataclasses.replace(rot, grams=None), spec, lr, vocab, questions, gd)
    assert with_g["learned_rank"].iloc[-1] >= 6  # the modes were learned: not a check at init only
    sv1 = word_basis["sv_1"].to_numpy()
    for c in word_basis.columns:
        if c.startswith("sv_"):  # float64 rounding of W times ‖W‖ = sv_1, as in the routes' check above
            err = np.abs(with_g[c].to_numpy() - word_basis[c].to_numpy())
            assert np.all(err <= 1e-10 * sv1), c
        else:
            np.testing.assert_allclose(with_g[c], word_basis[c], rtol=1e-10, atol=1e-14, err_msg=c)


def test_snapshots_mapped_back_during_the_loop_equal_those_mapped_after_it(monkeypatch):
    # the worker thread (a second core maps W = Q Z while the loop runs) changes no bit
    M = embedding_like_target(400, seed=7).astype(np.float32)
    W0 = initial_embedding(400, 10, 1e-4, 3)
    basis = eb.eigendecomposition(M, "float32")
    snaps = np.arange(0, 301, 10)
    on_worker = []
    Mapper = eb._SnapshotMapper

    class Recording(Mapper):
        def _one(self, item):
            if threading.current_thread() is self.thread:
                on_worker.append(item[0])
            super()._one(item)

    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the worker runs only when the loop leaves a thread unused
    try:
        monkeypatch.setattr(eb, "_SnapshotMapper", Recording)
        during = eb.train_gd_eigenbasis(basis, W0, 0.05, 300, snaps, basis.frob2, "cpu")
        monkeypatch.setattr(eb, "_SnapshotMapper", lambda Q, sdt, background: Mapper(Q, sdt, background=False))
        after = eb.train_gd_eigenbasis(basis, W0, 0.05, 300, snaps, basis.frob2, "cpu")
    finally:
        torch.set_num_threads(threads)
    assert on_worker  # the worker did map some of them
    assert len(during.snapshots) == len(after.snapshots) == len(snaps)
    for a, b, ga, gb in zip(during.snapshots, after.snapshots, during.grams, after.grams):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ga, gb)
    np.testing.assert_array_equal(during.loss, after.loss)


def test_cached_decomposition_carries_frob2_and_old_formats_are_refused(tmp_path):
    M = embedding_like_target(50, seed=8).astype(np.float32)
    basis = eb.eigendecomposition(M, "float32")
    assert basis.frob2 == frobenius2(M)
    path = eb.cache_path(tmp_path, "abc", 50, 16, 1.0, "float32")
    assert eb.save_cached(path, basis, "abc", 10**9)
    back = eb.load_cached(path, "abc", 50, "float32")
    assert back.frob2 == basis.frob2
    np.testing.assert_array_equal(back.vectors, basis.vectors)
    with np.load(path) as z:  # a format-1 file (no frob2) is recomputed, not trusted
        old = {k: z[k] for k in z.files if k != "frob2"}
    old["format"] = 1
    np.savez(path, **old)
    assert eb.load_cached(path, "abc", 50, "float32") is None


def test_triangle_fill_row_by_row_equals_index_arrays():
    rng = np.random.default_rng(5)
    A = rng.integers(0, 9, (37, 37)).astype(np.float64)
    C = A + A.T
    upper = _upper_triangle(C)
    np.testing.assert_array_equal(upper, C[np.triu_indices(37)])
    np.testing.assert_array_equal(_upper_to_full(upper, 37), C)
    np.testing.assert_array_equal(_upper_to_full(upper, 37, 20), C[:20, :20])  # a seed's top-left block
    big = rng.standard_normal((1100, 1100))  # spans several mirror blocks
    big = big + big.T
    np.testing.assert_array_equal(_upper_to_full(_upper_triangle(big), 1100), big)

"""Thin factorisations for tall and wide layers (dln_core.diagnostics.thin_svd) give LAPACK's numbers."""

from __future__ import annotations

import numpy as np
import pytest

from dln_core import diagnostics as dg


def conditioned_stack(B, m, n, cond, seed=0):
    """B random m × n matrices with singular values log-spaced from 1 down to 1/cond."""
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((B, m, n)))[0]
    V = np.linalg.qr(rng.standard_normal((B, n, n)))[0]
    s = np.logspace(0, -np.log10(cond), n)
    return (U * s) @ np.swapaxes(V, -1, -2)


@pytest.mark.parametrize("shape", [(2000, 30), (500, 8), (30, 2000)])
@pytest.mark.parametrize("cond", [1.0 + 1e-3, 1e3, 1e6])
def test_thin_svd_matches_lapack(shape, cond):
    m, n = shape
    a = conditioned_stack(3, max(m, n), min(m, n), cond, seed=int(cond) % 7)
    if n > m:
        a = np.swapaxes(a, -1, -2).copy()
    U, s, Vt = dg.thin_svd(a)
    U0, s0, Vt0 = np.linalg.svd(a, full_matrices=False)
    np.testing.assert_allclose(s, s0, rtol=0, atol=1e-14 * s0[..., :1].max())
    np.testing.assert_allclose(dg.singular_values(a), s0, rtol=0, atol=1e-14 * s0[..., :1].max())
    # vectors agree up to a sign per column (all singular values are distinct here)
    sign = np.sign(np.sum(U * U0, axis=-2))
    assert np.all(np.abs(sign) == 1)
    np.testing.assert_allclose(U * sign[..., None, :], U0, atol=1e-10)
    np.testing.assert_allclose(Vt * sign[..., :, None], Vt0, atol=1e-10)
    np.testing.assert_allclose((U * s[..., None, :]) @ Vt, a, atol=1e-13)


def test_ill_conditioned_and_rank_deficient_members_fall_back_to_lapack():
    a = conditioned_stack(4, 400, 10, 1e3, seed=3)
    a[1] = conditioned_stack(1, 400, 10, 1e12, seed=4)[0]  # beyond CholeskyQR2's range
    a[2, :, 5:] = 0.0  # rank deficient
    U, s, Vt = dg.thin_svd(a)
    np.testing.assert_allclose(s, np.linalg.svd(a, compute_uv=False), atol=1e-14)
    # the values-only path falls back for the same members (and for a wide stack, by transposition)
    np.testing.assert_allclose(dg.singular_values(a), np.linalg.svd(a, compute_uv=False), atol=1e-14)
    np.testing.assert_allclose(dg.singular_values(np.swapaxes(a, -1, -2)), np.linalg.svd(a, compute_uv=False),
                               atol=1e-14)
    np.testing.assert_allclose((U * s[..., None, :]) @ Vt, a, atol=1e-13)
    np.testing.assert_allclose(np.swapaxes(U, -1, -2) @ U, np.broadcast_to(np.eye(10), (4, 10, 10)), atol=1e-10)


def lapack_signed_svds(weights, U_star, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(dg, "thin_svd", lambda a: np.linalg.svd(a, full_matrices=False))
        return dg.signed_svds(weights, U_star)


def test_signed_svds_and_overlaps_unchanged_for_a_tall_network(monkeypatch):
    """A hierarchy-shaped network (2000 outputs × 8 items, width 30): the same signed factors and
    overlap matrices to 1e-10 whether the layers go through the thin QR or LAPACK's SVD."""
    rng = np.random.default_rng(7)
    weights = [rng.standard_normal((4, 30, 8)) * 0.3, rng.standard_normal((4, 2000, 30)) * 0.02]
    U_star = np.linalg.qr(rng.standard_normal((2000, 8)))[0]
    V_star = np.linalg.qr(rng.standard_normal((8, 8)))[0]
    thin = dg.signed_svds(weights, U_star)
    ref = lapack_signed_svds(weights, U_star, monkeypatch)
    for (U, s, V), (U0, s0, V0) in zip(thin, ref):
        np.testing.assert_allclose(s, s0, atol=1e-12)
        np.testing.assert_allclose(U, U0, atol=1e-10)
        np.testing.assert_allclose(V, V0, atol=1e-10)
    for key, M in dg.overlaps(thin, U_star, V_star).items():
        np.testing.assert_allclose(M, dg.overlaps(ref, U_star, V_star)[key], atol=1e-10, err_msg=key)


def test_big_stacks_split_over_threads_give_the_same_bits(monkeypatch):
    """A large stack's LAPACK calls are split over a thread pool (diagnostics._stacked): each matrix
    goes through the same call, so the factors are bit for bit those of one call."""
    rng = np.random.default_rng(11)
    a = rng.standard_normal((37, 6, 6))
    whole = np.linalg.svd(a, full_matrices=False)
    whole_sv = dg.gram_singular_values(a)
    monkeypatch.setattr(dg, "SPLIT_MIN", 4)
    monkeypatch.setattr(dg, "split_workers", lambda: 3)
    monkeypatch.setattr(dg, "_pool", None)
    split = dg.thin_svd(a)
    assert dg._pool is not None  # the split path ran
    for x, y in zip(split, whole):
        assert np.array_equal(x, y)
    assert np.array_equal(dg.singular_values(a), np.linalg.svd(a, compute_uv=False))
    assert np.array_equal(dg.gram_singular_values(a), whole_sv)


def test_split_workers_honour_one_thread_requests_and_the_hosted_profile(monkeypatch):
    monkeypatch.setenv("DLN_LAB_PROFILE", "local")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert dg.split_workers() == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert 1 <= dg.split_workers() <= 4
    monkeypatch.setenv("DLN_LAB_PROFILE", "hosted")
    assert dg.split_workers() == 1


def test_a_forked_child_gets_a_fresh_pool(monkeypatch):
    """A process that split a stack, then forks (a ProcessPoolExecutor sweep): the child must not wait
    on the parent's pool threads, which it does not have."""
    import multiprocessing as mp

    monkeypatch.setattr(dg, "SPLIT_MIN", 4)
    monkeypatch.setattr(dg, "split_workers", lambda: 4)  # as many parts as the pool has threads
    monkeypatch.setattr(dg, "_pool", None)
    a = np.random.default_rng(2).standard_normal((64, 5, 5))
    for _ in range(3):
        dg.gram_singular_values(a)
    assert dg._pool is not None and len(dg._pool._threads) == 4  # every thread started: none left to spawn
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    child = ctx.Process(target=_child_split, args=(a, q))
    child.start()
    child.join(30)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive and child.exitcode == 0
    assert np.array_equal(q.get(timeout=5), dg.gram_singular_values(a))


def _child_split(a, q):
    q.put(dg.gram_singular_values(a))

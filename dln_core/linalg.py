"""Small linear-algebra helpers shared by targets, inits, the theory and the step-size report."""

from __future__ import annotations

import numpy as np


def haar_columns(n: int, k: int, rng: np.random.Generator, keep: int | None = None) -> np.ndarray:
    """Haar-random n × k with orthonormal columns, k ≤ n (k = n: an orthogonal matrix).

    QR of an n × k Gaussian (one ``rng.standard_normal((n, k))`` draw) with the sign fix that makes
    the distribution exactly Haar (a zero diagonal entry of R counts as +).

    ``keep``: return only the first ``keep`` columns. The random stream advances as for the full draw,
    and Householder QR's column j depends only on the first j columns of the Gaussian, so these are
    the full draw's first columns (to round-off) at O(n·keep²) instead of O(n·k²): a 2000-output
    target needs its 8 mode columns, not a 2000 × 2000 QR.
    """
    g = rng.standard_normal((n, k))
    if keep is not None and keep < k:
        g = g[:, :keep]
    q, r = np.linalg.qr(g)
    return q * np.sign(np.where(np.diag(r) == 0, 1.0, np.diag(r)))


def psd_sqrt(a: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix (eigen-decomposition; tiny negative eigenvalues
    from round-off are clipped to 0). The input is symmetrised first, which is exact for symmetric input."""
    w, v = np.linalg.eigh(0.5 * (a + a.T))
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def complete_basis(V: np.ndarray) -> np.ndarray:
    """Extend orthonormal columns V (n, r) to a full orthogonal (n, n) basis (deterministic)."""
    n, r = V.shape
    if r == n:
        return V
    q, _ = np.linalg.qr(np.concatenate([V, np.eye(n)], axis=1))
    q = q[:, :n]
    q[:, :r] = V  # QR may flip signs of the given columns: keep them exactly
    return q


def is_basis(M: np.ndarray) -> bool:
    """Whether M (one n × r matrix, n ≥ r) is the first r standard basis vectors (as the unrotated
    targets' U*, V* are)."""
    if M.ndim != 2 or M.shape[0] < M.shape[1]:
        return False
    # r ones on the diagonal and nothing else: np.eye's test without allocating an n × r identity
    return bool(np.all(M.diagonal() == 1) and np.count_nonzero(M) == M.shape[1])


def times(X: np.ndarray, M: np.ndarray) -> np.ndarray:
    """X @ M; for M = the first r basis vectors that is X's first r columns, taken without the product
    (the same numbers for finite X: each entry is x·1 plus exact zeros; ~1 ms per 4096 networks)."""
    if is_basis(M):  # in the dtype the product would have (float32 X, float64 M: float64)
        return X[..., : M.shape[1]].astype(np.result_type(X, M), copy=False)
    return X @ M


__all__ = ["complete_basis", "haar_columns", "is_basis", "psd_sqrt", "times"]

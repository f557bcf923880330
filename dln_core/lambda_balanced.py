"""The exact whitened L = 2 gradient flow from a λ-balanced start (THEORY.md §4), and that start."""

from __future__ import annotations

import numpy as np

from ._validate import check_array
from .errors import ConfigError
from .linalg import psd_sqrt


def lambda_balanced_init(W1, n_out, lambda_b=0.0, seed=0) -> np.ndarray:
    """W2 = O (W1W1ᵀ + λ_b I)^{1/2} with random orthonormal columns O, so W2ᵀW2 − W1W1ᵀ = λ_b I (THEORY §4)."""
    W1 = check_array("W1", W1)
    if W1.ndim != 2:
        raise ConfigError("W1", "must be a 2-D array (hidden × n_in)", W1.shape)
    n_h = W1.shape[0]
    if not isinstance(n_out, (int, np.integer)) or n_out < n_h:
        raise ConfigError("n_out", f"must be an integer >= the hidden width {n_h}", n_out)
    gram = W1 @ W1.T + lambda_b * np.eye(n_h)
    evals = np.linalg.eigvalsh(gram)
    if evals.min() < -1e-12 * max(1.0, abs(evals).max()):
        raise ConfigError("lambda_b", "must keep W1W1ᵀ + lambda_b I positive semi-definite", lambda_b)
    root = psd_sqrt(gram)
    ortho, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n_out, n_h)))
    return ortho @ root


def lambda_balanced_solution(sigma_yx, W1_0, W2_0, t, lambda_b=0.0) -> np.ndarray:
    """Exact whitened L = 2 gradient flow W2W1(t) from a λ-balanced start, shape (T, n_out, n_in) (THEORY §4).

    P = QQᵀ, Q = [W1ᵀ; W2], follows the Riccati flow P(t) = e^{Ft}Q0[I + Q0ᵀ(∫₀ᵗe^{2Fs}ds)Q0]^{-1}Q0ᵀe^{Ft}.
    The flow map is a semigroup, so it is applied in chunks Δ with |μ|Δ ≤ 2.5 (μ the eigenvalues of the
    symmetric F): no exponential overflows and every Cholesky solve is well conditioned, for any t.
    Q is kept in F's eigenbasis and updated as Q ← e^{FΔ} Q C^{-T} with CCᵀ = I + Qᵀ φ(F) Q; no inverses.
    Cost grows like max(t)·max|μ| / 2.5 small dense solves (t = 1e4, λ = 6: about a second).
    """
    S = check_array("sigma_yx", sigma_yx)
    W1 = check_array("W1_0", W1_0)
    W2 = check_array("W2_0", W2_0)
    lambda_b = float(check_array("lambda_b", lambda_b))
    if S.ndim != 2 or W1.ndim != 2 or W2.ndim != 2:
        raise ConfigError("sigma_yx, W1_0, W2_0", "must be 2-D arrays", (S.shape, W1.shape, W2.shape))
    n_out, n_in = S.shape
    n_h = W1.shape[0]
    if W1.shape != (n_h, n_in) or W2.shape != (n_out, n_h):
        raise ConfigError(
            "W1_0, W2_0", f"must have shapes (h, {n_in}) and ({n_out}, h)", (W1.shape, W2.shape)
        )
    residual = W2.T @ W2 - W1 @ W1.T - lambda_b * np.eye(n_h)
    scale = max(1.0, np.abs(W1).max() ** 2, np.abs(W2).max() ** 2)
    if np.abs(residual).max() > 1e-8 * scale:
        raise ConfigError(
            "W1_0, W2_0", "must be lambda-balanced: W2ᵀW2 − W1W1ᵀ = lambda_b I", float(np.abs(residual).max())
        )
    t = np.atleast_1d(check_array("t", t, min_value=0.0))
    if t.ndim != 1:
        raise ConfigError("t", "must be a scalar or a 1-D array of times", t.shape)

    F = np.block([[-0.5 * lambda_b * np.eye(n_in), S.T], [S, 0.5 * lambda_b * np.eye(n_out)]])
    mu, basis = np.linalg.eigh(F)
    A = basis.T @ np.vstack([W1.T, W2])  # Q in F's eigenbasis
    h_max = 2.5 / max(np.abs(mu).max(), 1e-300)

    eye = np.eye(n_h)
    out = np.empty((t.size, n_out, n_in))
    now = 0.0
    for idx in np.argsort(t, kind="stable"):
        remaining = t[idx] - now
        n_chunks = int(np.ceil(remaining / h_max)) if remaining > 0 else 0
        if n_chunks:
            dt = remaining / n_chunks
            e = np.exp(mu * dt)[:, None]
            with np.errstate(divide="ignore", invalid="ignore"):
                phi = np.where(mu != 0, np.expm1(2 * mu * dt) / (2 * mu), dt)[:, None]
        for _ in range(n_chunks):
            # One exact Riccati flow step of length dt (THEORY §4), in the eigenbasis of F.
            chol = np.linalg.cholesky(eye + A.T @ (phi * A))
            A = np.linalg.solve(chol, (e * A).T).T
        now = t[idx]
        Q = basis @ A
        out[idx] = Q[n_in:] @ Q[:n_in].T  # lower-left block of P = W2 W1
    return out


__all__ = ["lambda_balanced_init", "lambda_balanced_solution"]

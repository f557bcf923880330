"""Sharpness and step-size caps: the top Hessian eigenvalue of loss (H) at a minimum (THEORY.md §6).

Closed form at a balanced minimum with whitened inputs (L·λ_max^{2−2/L}); otherwise numerically from
exact Hessian-vector products (full Hessian up to 400 weights, else Lanczos). 2 / sharpness is the
largest step GD can settle with.
"""

from __future__ import annotations

import numpy as np

from ._validate import check_array, check_int
from .errors import ConfigError

_FULL_HESSIAN_MAX = 400  # sharpness_numeric diagonalises the full Hessian up to this many weights


def sharpness_balanced(lambda_max, depth) -> np.ndarray:
    """Top Hessian eigenvalue at a balanced global minimum, whitened: L λ_max^{2−2/L} (THEORY §6)."""
    L = check_int("depth", depth, 1)
    lam = check_array("lambda_max", lambda_max, min_value=0.0)
    out = L * lam ** (2.0 - 2.0 / L)
    return out if np.ndim(out) else float(out)


def max_stable_lr(sharpness) -> np.ndarray:
    """Largest stable GD step at a minimum with this sharpness: 2 / sharpness (THEORY §6)."""
    sh = check_array("sharpness", sharpness, min_value=0.0, strict=True)
    out = 2.0 / sh
    return out if np.ndim(out) else float(out)


def balanced_minimum(sigma_yx, depth, width=None, sigma_xx=None) -> list[np.ndarray]:
    """Weights [W_1, …, W_L] of a balanced global minimum of loss (H) (THEORY §3, §6).

    The end-to-end optimum W* = Σyx Σxx^{-1} (Σyx when whitened) is split evenly: with W* = U S Vᵀ,
    W_1 = R S^{1/L} Vᵀ, W_l = R S^{1/L} Rᵀ, W_L = U S^{1/L} Rᵀ (R = the first k unit vectors of the
    hidden space, k = min(width, rank)). Every W_{l+1}ᵀW_{l+1} = W_lW_lᵀ, i.e. balanced. If width is
    smaller than the rank, this is the balanced optimum restricted to the top-``width`` modes.
    ``sigma_yx`` may also be a :class:`~dln_core.targets.Problem` (its sigma_yx and sigma_xx are used).
    """
    L = check_int("depth", depth, 1)
    if hasattr(sigma_yx, "sigma_yx"):  # a targets.Problem
        if sigma_xx is None:
            sigma_xx = sigma_yx.sigma_xx
        sigma_yx = sigma_yx.sigma_yx
    S = check_array("sigma_yx", sigma_yx)
    if S.ndim != 2:
        raise ConfigError("sigma_yx", "must be a 2-D array", S.shape)
    n_out, n_in = S.shape
    if width is None:
        width = max(n_out, n_in)
    check_int("width", width, 1)
    target = S
    if sigma_xx is not None:
        sxx = check_array("sigma_xx", sigma_xx)
        if sxx.shape != (n_in, n_in):
            raise ConfigError("sigma_xx", f"must be a ({n_in}, {n_in}) matrix", sxx.shape)
        target = np.linalg.solve(sxx.T, S.T).T  # Σyx Σxx^{-1} without forming the inverse
    if L == 1:
        return [target.copy()]
    U, sv, Vt = np.linalg.svd(target, full_matrices=False)
    k = min(int(width), sv.size)
    root = sv[:k] ** (1.0 / L)
    R = np.eye(width)[:, :k]
    Ws = [R @ (root[:, None] * Vt[:k])]
    Ws += [R @ np.diag(root) @ R.T for _ in range(L - 2)]
    Ws.append((U[:, :k] * root) @ R.T)
    return Ws


def _hvp(sigma_xx, sigma_yx, Ws, Vs):
    """Exact directional derivative along Vs of the layer gradients of loss (H) (= H·V, THEORY §1).

    The layer gradient (steppers.backprop) is differentiated by the product rule ("dual numbers" on
    the chain products), so the Hessian-vector product has no finite-difference error.
    """
    L = len(Ws)
    n_in = Ws[0].shape[1]
    n_out = Ws[-1].shape[0]
    pre, dpre = [np.eye(n_in)], [np.zeros((n_in, n_in))]  # pre[i] = W_i…W_1 (first i layers)
    for W, V in zip(Ws, Vs):
        pre.append(W @ pre[-1])
        dpre.append(V @ pre[-2] + W @ dpre[-1])
    post, dpost = [None] * L, [None] * L  # post[i] = W_L…W_{i+2} (layers after i, 0-based)
    post[-1], dpost[-1] = np.eye(n_out), np.zeros((n_out, n_out))
    for i in range(L - 2, -1, -1):
        post[i] = post[i + 1] @ Ws[i + 1]
        dpost[i] = dpost[i + 1] @ Ws[i + 1] + post[i + 1] @ Vs[i + 1]
    R = pre[L] @ sigma_xx - sigma_yx
    dR = dpre[L] @ sigma_xx
    return [dpost[i].T @ R @ pre[i].T + post[i].T @ dR @ pre[i].T + post[i].T @ R @ dpre[i].T for i in range(L)]


def sharpness_numeric(sigma_xx, sigma_yx, weights, iters=50) -> float:
    """Top (largest algebraic) Hessian eigenvalue of loss (H) at ``weights`` (THEORY §6).

    Uses exact Hessian-vector products (:func:`_hvp`). With ≤ 400 parameters the full Hessian
    is assembled column by column from HVPs and diagonalised (exact); above that, Lanczos (scipy eigsh,
    a Krylov-accelerated power iteration) with at most ``iters``·10 HVP iterations.
    """
    Ws = [check_array("weights", W) for W in weights]
    if not Ws or any(W.ndim != 2 for W in Ws):
        raise ConfigError("weights", "must be a non-empty list of 2-D arrays", len(Ws))
    sxx = check_array("sigma_xx", sigma_xx)
    syx = check_array("sigma_yx", sigma_yx)
    check_int("iters", iters, 1)
    shapes = [W.shape for W in Ws]
    sizes = [W.size for W in Ws]
    n = sum(sizes)
    splits = np.cumsum(sizes)[:-1]

    def hvp(v):
        Vs = [p.reshape(sh) for p, sh in zip(np.split(np.asarray(v, float).ravel(), splits), shapes)]
        return np.concatenate([h.ravel() for h in _hvp(sxx, syx, Ws, Vs)])

    if n <= _FULL_HESSIAN_MAX:
        H = np.column_stack([hvp(e) for e in np.eye(n)])
        return float(np.linalg.eigvalsh(0.5 * (H + H.T))[-1])
    from scipy.sparse.linalg import LinearOperator, eigsh  # on first use: keeps scipy off the first page load

    op = LinearOperator((n, n), matvec=hvp, dtype=float)
    v0 = np.random.default_rng(0).standard_normal(n)
    val = eigsh(op, k=1, which="LA", v0=v0, maxiter=10 * int(iters), tol=1e-12, return_eigenvectors=False)
    return float(val[0])


def balanced_sharpness(problem, depth, width=None) -> tuple[float, str]:
    """(sharpness, method) at the balanced global minimum of a targets.Problem (THEORY §6).

    Whitened inputs (``problem.input_kind == "whitened"``, Σxx = I): the closed form
    :func:`sharpness_balanced` L·λ_max^{2−2/L}. Otherwise the top Hessian eigenvalue of
    :func:`sharpness_numeric` at :func:`balanced_minimum` (full Hessian up to 400 weights, else Lanczos).
    ``width`` is the hidden width (ignored at depth 1). 2/sharpness (:func:`max_stable_lr`) is the cap.
    """
    L = check_int("depth", depth, 1)
    if problem.input_kind == "whitened":
        return float(sharpness_balanced(float(problem.lambda_star.max()), L)), "closed form L·λ^(2−2/L)"
    ws = balanced_minimum(problem, L, width if L > 1 else None)
    n = sum(w.size for w in ws)
    method = "numerical (full Hessian)" if n <= _FULL_HESSIAN_MAX else "numerical (Lanczos)"
    return float(sharpness_numeric(problem.sigma_xx, problem.sigma_yx, ws)), method


__all__ = ["balanced_minimum", "balanced_sharpness", "max_stable_lr", "sharpness_balanced", "sharpness_numeric"]

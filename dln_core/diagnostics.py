"""Snapshot diagnostics of a (batch of) deep linear network(s): pure numpy, no state.

Every function takes per-layer weights ``W_1 … W_L`` as arrays of shape ``(..., n_l, n_{l-1})`` (a
leading batch axis is optional) and works on all members at once. Conventions: THEORY.md §1 (loss H,
gradients), §3 (conservation law) and §1.5 (alignment overlaps).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import numpy as np

from .linalg import is_basis as _is_basis
from .linalg import times as _times
from .steppers import backprop, forward

Weights = Sequence[np.ndarray]


def _mT(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


# numpy's stacked LAPACK calls (svd, eigvalsh) run one matrix after another on one core, with the
# GIL released: a big stack (a sweep's snapshot of thousands of networks) is split over threads.
# Each matrix still goes through the same LAPACK call, so the numbers are bit for bit the same.
SPLIT_MIN = 2048  # matrices in a stack before it is split
_pool = None
_pool_lock = threading.Lock()


def _forget_pool() -> None:
    global _pool
    _pool = None  # a forked child inherits the pool object but not its threads


os.register_at_fork(after_in_child=_forget_pool)


def split_workers() -> int:
    """Threads a big stack is split over: the CPUs this process may use, at most 4, and 1 when
    OMP_NUM_THREADS asks for one thread or on a hosted server (one core per request)."""
    from .limits import current_profile

    if current_profile() == "hosted":
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    omp = os.environ.get("OMP_NUM_THREADS", "")
    return max(1, min(4, cpus, int(omp) if omp.isdigit() and int(omp) > 0 else 4))


def _stacked(fn, a: np.ndarray, **kw):
    """``fn(a, **kw)`` for a stack of matrices, split along the first axis over the cores when large."""
    global _pool
    if a.ndim < 3 or len(a) < SPLIT_MIN:
        return fn(a, **kw)
    workers = split_workers()
    if workers < 2:
        return fn(a, **kw)
    with _pool_lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor

            _pool = ThreadPoolExecutor(4, thread_name_prefix="dln-linalg")
        pool = _pool
    parts = list(pool.map(lambda x: fn(x, **kw), np.array_split(a, workers)))
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate(xs) for xs in zip(*parts))
    return np.concatenate(parts)


def end_to_end(weights: Weights) -> np.ndarray:
    """W = W_L … W_1 (THEORY.md §1)."""
    return forward(weights)[-1]


def _projected(M: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Σ_i M_iq X_iq over the rows (the diagonal of X when M is the first r basis vectors), (..., r)."""
    if _is_basis(M):  # a copy, in the dtype the weighted sum would have
        return np.diagonal(X, axis1=-2, axis2=-1).astype(np.result_type(X, M))
    return np.sum(M * X, axis=-2)


def mode_strengths(W: np.ndarray, U_star: np.ndarray, V_star: np.ndarray) -> np.ndarray:
    """u_i = u*_iᵀ W v*_i for every mode i (THEORY.md §1: projection, not svd): shape (..., r)."""
    return _projected(U_star, _times(W, V_star))  # a matmul: the 3-operand einsum is 3x slower on tall W


def mode_alignment(W: np.ndarray, U_star: np.ndarray, V_star: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
    """Per-mode alignment of the end-to-end map, u_i² / (‖W v*_i‖ ‖Wᵀu*_i‖) in [0, 1], shape (..., r).

    1 when W maps v*_i onto u*_i only and only u*_i reads from v*_i (mode i decoupled, as the mode ODE
    of THEORY.md §2 assumes); about 1/n for a random W. 0 where W v*_i or Wᵀu*_i vanishes.
    ``u``: the :func:`mode_strengths` of W when the caller already has them (computed otherwise).
    """
    u = mode_strengths(W, U_star, V_star) if u is None else u
    col = np.sqrt(np.sum(_times(W, V_star) ** 2, axis=-2))  # ‖W v*_i‖
    row = np.sqrt(np.sum(_times(_mT(W), U_star) ** 2, axis=-2))  # ‖Wᵀ u*_i‖
    den = col * row
    return np.divide(u * u, den, out=np.zeros_like(den), where=den > 0)


def mode_rates(weights: Weights, grads: Sequence[np.ndarray], U_star: np.ndarray, V_star: np.ndarray) -> np.ndarray:
    """Gradient-flow rate du_i/dt = −Σ_l u*_iᵀ (W_L…W_{l+1}) G_l (W_{l−1}…W_1) v*_i, shape (..., r).

    The exact first-order change of u_i = u*_iᵀ W v*_i when every layer moves along −G_l (THEORY.md §1);
    compared with the mode ODE's rate to tell when a mode follows it (overlay.theory_start_indices).
    """
    L = len(weights)
    right = [V_star]  # right[l] = W_l…W_1 V*  (n_l × r)
    for Wl in weights[:-1]:
        right.append(_times(Wl, right[-1]))
    left = U_star  # (W_L…W_{l+1})ᵀ U*, built from the top down
    rate = 0.0
    for li in range(L - 1, -1, -1):
        rate = rate - _projected(left, _times(grads[li], right[li]))
        left = _times(_mT(weights[li]), left)
    return rate


def gradients(weights: Weights, sigma_xx: np.ndarray, sigma_yx: np.ndarray, prefix=None) -> list[np.ndarray]:
    """Closed-form ∇_{W_l} ℓ = (W_L…W_{l+1})ᵀ (W Σxx − Σyx) (W_{l−1}…W_1)ᵀ (THEORY.md §1; steppers.backprop).
    ``prefix``: the weights' :func:`~dln_core.steppers.forward` products when the caller has them."""
    prefix = forward(weights) if prefix is None else prefix
    return backprop(weights, prefix, _times(prefix[-1], sigma_xx) - sigma_yx)  # Σxx = I: no product


def balance_matrices(weights: Weights) -> list[np.ndarray]:
    """H_l = W_{l+1}ᵀ W_{l+1} − W_l W_lᵀ for l = 1..L−1 (THEORY.md §3; constant under gradient flow)."""
    return [_mT(weights[li + 1]) @ weights[li + 1] - weights[li] @ _mT(weights[li]) for li in range(len(weights) - 1)]


def frobenius(a: np.ndarray) -> np.ndarray:
    """‖a‖_F over the last two axes."""
    return np.sqrt(np.sum(a * a, axis=(-2, -1)))


def gram_singular_values(a: np.ndarray, floor: float = 1e-7) -> np.ndarray:
    """Singular values (descending) as sqrt(eig) of the smaller Gram matrix: ~2.5x faster than an SVD
    for stacks of small matrices. Rounding makes values below ~1e-8 of the largest meaningless, so
    values below ``floor`` × the largest are returned as exactly 0 (reproducible effective ranks).
    Used for the update spectra, where the leading values and the effective rank are what matter."""
    g = _mT(a) @ a if a.shape[-1] <= a.shape[-2] else a @ _mT(a)
    s = np.sqrt(np.clip(_stacked(np.linalg.eigvalsh, g)[..., ::-1], 0.0, None))
    return np.where(s > floor * s[..., :1], s, 0.0)


THIN_RATIO = 4  # a layer is thin (tall or wide) when one side is at least this many times the other
THIN_COND_MAX = 1e7  # CholeskyQR2 is exact to rounding while cond(a) stays well below 1/√eps ≈ 7e7


def _cholesky_qr2(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CholeskyQR2 of tall a, as (Q1, X, R): a = Q R with the orthonormal Q = Q1 X and R (..., n, n).
    Two rounds of R_k = chol(·ᵀ·)ᵀ; only n × n factorisations and GEMM-shaped products, and the second
    round restores orthogonality to rounding while cond(a) ≪ 1/√eps. Q is left as the product
    Q1 X, so a caller that needs U = Q U_R forms one tall product less, and one that needs only
    singular values two less. Raises LinAlgError when aᵀa is not numerically positive definite."""
    # a L⁻ᵀ as a GEMM with the small explicit inverse: ~3x faster than a stacked solve with m
    # right-hand sides, and the second round absorbs the inverse's extra rounding
    L1 = np.linalg.cholesky(_mT(a) @ a)
    Q1 = a @ _mT(np.linalg.inv(L1))
    L2 = np.linalg.cholesky(_mT(Q1) @ Q1)
    return Q1, _mT(np.linalg.inv(L2)), _mT(L2) @ _mT(L1)


def _is_thin(m: int, n: int) -> bool:
    return min(m, n) * THIN_RATIO <= max(m, n) and min(m, n) > 0


def thin_svd(a: np.ndarray, compute_uv: bool = True):
    """``np.linalg.svd(a, full_matrices=False)`` (U, s, Vᵀ) for a stack, with tall and wide members
    done as a thin QR (:func:`_cholesky_qr2`) then the SVD of the small n × n factor: a = Q R,
    R = U_R S Vᵀ, U = Q U_R. Same singular values to rounding (~1e-15 of the largest) and the same
    vectors up to the usual sign (and equal-value rotation) freedom, at a fraction of the cost for
    10000 × 30 layers. Members too ill-conditioned for it (s_min < s_max / THIN_COND_MAX, including
    rank-deficient ones) and matrices that are not thin use LAPACK's SVD directly.
    ``compute_uv=False``: the singular values only (U is never formed)."""
    m, n = a.shape[-2], a.shape[-1]
    if not _is_thin(m, n):
        return _stacked(np.linalg.svd, a, full_matrices=False, compute_uv=compute_uv)
    if n > m:  # wide: the SVD of the transpose, with the roles of U and V swapped
        if not compute_uv:
            return thin_svd(_mT(a), compute_uv=False)
        U, s, Vt = thin_svd(_mT(a))
        return _mT(Vt), s, _mT(U)
    try:
        Q1, X, R = _cholesky_qr2(a)
        out = list(np.linalg.svd(R)) if compute_uv else [np.linalg.svd(R, compute_uv=False)]
    except np.linalg.LinAlgError:
        return np.linalg.svd(a, full_matrices=False, compute_uv=compute_uv)
    s = out[1] if compute_uv else out[0]
    if compute_uv:
        out[0] = Q1 @ (X @ out[0])  # U = Q U_R = Q1 (X U_R)
    if np.all(np.isfinite(s)):
        bad = ~(s[..., -1] * THIN_COND_MAX > s[..., 0])  # includes NaN
    else:
        bad = np.ones(s.shape[:-1], dtype=bool)
    if np.any(bad):  # recompute those members with LAPACK's SVD
        if a.ndim == 2:
            return np.linalg.svd(a, full_matrices=False, compute_uv=compute_uv)
        lapack = np.linalg.svd(a[bad], full_matrices=False, compute_uv=compute_uv)
        for x, y in zip(out, lapack if compute_uv else [lapack]):
            x[bad] = y
    return tuple(out) if compute_uv else out[0]


def singular_values(a: np.ndarray) -> np.ndarray:
    """Singular values (descending) of a stack: :func:`thin_svd`'s for thin matrices (only the n × n
    factor's singular values; U is never formed), LAPACK's otherwise. Same numbers to rounding."""
    return thin_svd(a, compute_uv=False)


def effective_rank(s: np.ndarray) -> np.ndarray:
    """exp of the Shannon entropy of the normalised singular values p = s/Σs (Roy & Vetterli 2007).

    1 for a rank-one matrix, k for k equal singular values, 0 for the zero matrix. Shape (...,).
    """
    total = s.sum(axis=-1, keepdims=True)
    p = np.divide(s, total, out=np.zeros_like(s), where=total > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.sum(np.where(p > 0, p * np.log(p), 0.0), axis=-1)
    return np.where(total[..., 0] > 0, np.exp(ent), 0.0)


DEGENERATE_RTOL = 1e-6  # singular values this close (relative) span one subspace with no preferred basis


def _degenerate_clusters(s: np.ndarray, k: int) -> list[np.ndarray]:
    """Index groups (within the first k) of (near-)equal singular values of one matrix; s descending."""
    tie = (s[:-1] - s[1:]) <= DEGENERATE_RTOL * s[:-1] + 1e-12 * s[0]
    groups, start = [], 0
    for i in range(1, len(s) + 1):
        if i == len(s) or not tie[i - 1]:
            g = np.arange(start, min(i, k))
            if len(g) >= 2:
                groups.append(g)
            start = i
    return groups


def _rotate_clusters(U: np.ndarray, s: np.ndarray, V: np.ndarray, ref: np.ndarray, k: int) -> None:
    """In place: inside each degenerate cluster, rotate (U_c, V_c) jointly by the orthogonal Q that best
    matches ref's columns (Procrustes: Q = polar(U_cᵀ ref_c)); W = U S Vᵀ is unchanged (S_c ∝ I)."""
    for b in np.ndindex(s.shape[:-1]):
        if s[b].shape[-1] < 2 or s[b][0] == 0:
            continue
        for g in _degenerate_clusters(s[b], k):
            r = ref[b] if ref.ndim == U.ndim else ref
            a, _, bt = np.linalg.svd(U[b][:, g].T @ r[:, g])
            Q = a @ bt
            Ub, Vb = U[b], V[b]  # views (basic indexing): writing into them updates U, V
            Ub[:, g] = Ub[:, g] @ Q
            Vb[:, g] = Vb[:, g] @ Q


def signed_svds(weights: Weights, U_star: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Reduced SVD (U_l, s_l, V_l) of every layer with its free basis choices fixed along the chain.

    An SVD fixes each (u_j, v_j) pair only up to a joint sign, and a group of equal singular values
    only up to a joint rotation. Walking down from the top, we choose layer L's so that U_L matches U*
    (diag(U*ᵀU_L) ≥ 0; equal-value groups rotated to the best match), then layer l's so that U_l
    matches V_{l+1}. An exactly aligned network with positive mode strengths then shows +1 on every
    overlap diagonal, including V_1ᵀV* (its sign is not forced: the product is U* diag(u) V*ᵀ, u > 0)
    and including degenerate targets such as the hierarchy's two equal within-class modes.
    """
    out = [thin_svd(Wl) for Wl in weights]
    out = [(u, s, _mT(vt)) for u, s, vt in out]
    ref = U_star  # vectors the current layer's left singular vectors should point along
    for li in range(len(weights) - 1, -1, -1):
        U, s, V = out[li]
        k = min(U.shape[-1], ref.shape[-1])
        dots = np.sum(ref[..., :, :k] * U[..., :, :k], axis=-2)  # diag(refᵀ U)[:k]
        sign = np.where(dots < 0, -1.0, 1.0)
        # columns past the reference have no partner: their largest entry is made positive, so the
        # choice does not depend on which SVD routine produced them (thin_svd or LAPACK's)
        free = U[..., :, k:]
        peak = np.take_along_axis(free, np.argmax(np.abs(free), axis=-2)[..., None, :], axis=-2)[..., 0, :]
        sign = np.concatenate([sign, np.where(peak < 0, -1.0, 1.0)], axis=-1)
        U = U * sign[..., None, :]
        V = V * sign[..., None, :]
        if s.shape[-1] > 1:
            tie = (s[..., :-1] - s[..., 1:]) <= DEGENERATE_RTOL * s[..., :-1] + 1e-12 * s[..., :1]
            if tie[..., : max(k - 1, 0)].any():  # rare: only then loop over the members
                _rotate_clusters(U, s, V, ref, k)
        out[li] = (U, s, V)
        ref = V  # next layer down: its U_{l-1} should match V_l
    return out


def overlap_labels(depth: int) -> list[str]:
    """Names of the overlap matrices, in display order: weight–target, then weight–weight."""
    return ["U*ᵀU_L", "V_1ᵀV*"] + [f"V_{li + 1}ᵀU_{li}" for li in range(1, depth)]


def overlaps(svds, U_star: np.ndarray, V_star: np.ndarray) -> dict[str, np.ndarray]:
    """U*ᵀU_L (r × k_L), V_1ᵀV* (k_1 × r) and V_{l+1}ᵀU_l (k_{l+1} × k_l) from signed_svds output."""
    L = len(svds)
    mats = [_mT(U_star) @ svds[-1][0], _mT(svds[0][2]) @ V_star]
    mats += [_mT(svds[li][2]) @ svds[li - 1][0] for li in range(1, L)]
    return dict(zip(overlap_labels(L), mats))


def alignment_score(mats: Sequence[np.ndarray], k: int, groups: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """Mean over overlap matrices of the block-diagonal share Σ_G ‖M_GG‖² / Σ entries² on the leading
    k × k block, in [0, 1].

    ``groups``: index sets of equal target singular values (default: every index alone). Inside such
    a subspace no basis is preferred, so a rotation within it is still perfect alignment: its whole
    block counts (with singletons this is Σ diag² / Σ entries²). 1 means every overlap matrix is
    block-diagonal. Only the leading ``k`` directions (the modes with λ > 0) are scored: inside the
    null space of Σyx singular vectors are arbitrary.
    """
    scores = []
    for M in mats:
        kk = min(k, M.shape[-1], M.shape[-2])
        B = M[..., :kk, :kk]
        tot = np.sum(B * B, axis=(-2, -1))
        if groups is None or all(len(g) == 1 for g in groups):
            diag = np.sum(np.diagonal(B, axis1=-2, axis2=-1) ** 2, axis=-1)
        else:
            label = np.arange(kk)  # same label = same group; one masked sum for all blocks
            for g in groups:
                g = np.asarray(g)
                g = g[g < kk]
                label[g] = g.min() if len(g) else 0
            mask = label[:, None] == label[None, :]
            diag = np.sum(B * B * mask, axis=(-2, -1))
        scores.append(np.divide(diag, tot, out=np.zeros_like(tot), where=tot > 0))
    return np.mean(scores, axis=0)


__all__ = [
    "alignment_score",
    "balance_matrices",
    "effective_rank",
    "end_to_end",
    "frobenius",
    "gradients",
    "gram_singular_values",
    "mode_alignment",
    "mode_rates",
    "mode_strengths",
    "overlap_labels",
    "overlaps",
    "signed_svds",
    "singular_values",
    "thin_svd",
]

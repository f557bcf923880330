"""Curvature along the training path: the Hessian's top eigenvalues at every snapshot (THEORY §10.1).

Optional (``engine.run_batch(..., sharpness=True)``, ``train --sharpness``): a :class:`SharpnessTracker`
is handed to the runner as a snapshot hook and, at each recorded snapshot, measures for every member

- the top few eigenvalues of the Hessian of loss (H) in all weights, from exact Hessian-vector
  products (sharpness._hvp, differentiated by the product rule, no finite differences). Up to
  :data:`FULL_MAX` weights the whole Hessian is assembled from one batched HVP over the unit vectors
  and diagonalised (exact, top :data:`TOP_K` kept); above that, Lanczos (scipy eigsh) for the top one,
  warm-started from the previous snapshot's eigenvector;
- the top eigenvalue of the Hessian's Gauss–Newton part G = Jᵀ(Σxx ⊗ I)J (J: derivative of the
  end-to-end map in the weights). Its nonzero eigenvalues are those of the network's tangent kernel
  on the (whitened) inputs, so this is also the top NTK eigenvalue.

Runs that do not ask for it never construct a tracker: the runner's hook list stays empty.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .sharpness import _FULL_HESSIAN_MAX, _hvp

FULL_MAX = _FULL_HESSIAN_MAX  # full Hessian (exact spectrum) up to this many weights; above: Lanczos
TOP_K = 3  # Hessian eigenvalues kept per snapshot on the full path
MAX_PARAMS = 20_000  # sharpness tracking refuses networks with more weights (engine raises ConfigError)
CURVATURE_COLUMNS = ("step", "t", "sharpness", "hessian_2", "hessian_3", "gauss_newton", "two_over_lr",
                     "sharpness_min", "method")


def _T(a):
    return np.swapaxes(a, -1, -2)


def _hvp_batch(sxx, syx, Ws, Vs, gn_only: bool = False) -> list[np.ndarray]:
    """H·V (or the Gauss–Newton part G·V) for a batch of directions: Vs[l] has shape (n, *W_l.shape).

    The same product rule as sharpness._hvp with the direction batched on a leading axis:
    ∂G_l = ∂(post_l)ᵀ R pre_lᵀ + post_lᵀ ∂R pre_lᵀ + post_lᵀ R ∂(pre_l)ᵀ, ∂R = ∂W Σxx; the middle
    term alone is G·V (THEORY §10.1).
    """
    L = len(Ws)
    n_in, n_out = Ws[0].shape[1], Ws[-1].shape[0]
    nb = Vs[0].shape[0]
    pre, dpre = [np.eye(n_in)], [np.zeros((nb, n_in, n_in))]
    for W, V in zip(Ws, Vs):
        pre.append(W @ pre[-1])
        dpre.append(V @ pre[-2] + W @ dpre[-1])
    post, dpost = [None] * L, [None] * L
    post[-1], dpost[-1] = np.eye(n_out), np.zeros((nb, n_out, n_out))
    for i in range(L - 2, -1, -1):
        post[i] = post[i + 1] @ Ws[i + 1]
        dpost[i] = dpost[i + 1] @ Ws[i + 1] + post[i + 1] @ Vs[i + 1]
    dR = dpre[L] @ sxx
    gn = [post[i].T @ dR @ pre[i].T for i in range(L)]
    if gn_only:
        return gn
    R = pre[L] @ sxx - syx
    return [_T(dpost[i]) @ R @ pre[i].T + g + post[i].T @ R @ _T(dpre[i]) for i, g in enumerate(gn)]


def _unit_directions(shapes, sizes):
    """The n unit vectors of weight space, split per layer: Vs[l] of shape (n, *shape_l)."""
    eye = np.eye(sum(sizes))
    splits = np.cumsum(sizes)[:-1]
    return [blk.reshape(-1, *sh) for blk, sh in zip(np.split(eye, splits, axis=1), shapes)]


def full_hessian(sxx, syx, Ws, gn_only: bool = False) -> np.ndarray:
    """The (n, n) Hessian of loss (H) in all weights (layers flattened in order), exact (THEORY §10.1)."""
    shapes, sizes = [W.shape for W in Ws], [W.size for W in Ws]
    cols = _hvp_batch(sxx, syx, Ws, _unit_directions(shapes, sizes), gn_only)
    H = np.concatenate([c.reshape(c.shape[0], -1) for c in cols], axis=1)  # row j = H e_j
    return 0.5 * (H + H.T)


def ntk_matrix(sxx, Ws) -> np.ndarray:
    """The tangent kernel on the inputs, (n_out·n_in)²: K = J_s J_sᵀ with J_s = ∂(W Σxx^{1/2})/∂θ.

    Its nonzero eigenvalues are those of the Hessian's Gauss–Newton part G = Jᵀ(Σxx ⊗ I)J (THEORY §10.1),
    and it is much smaller than G (n_out·n_in instead of all weights).
    """
    shapes, sizes = [W.shape for W in Ws], [W.size for W in Ws]
    Vs = _unit_directions(shapes, sizes)
    n_in = Ws[0].shape[1]
    pre, dpre = [np.eye(n_in)], [np.zeros((Vs[0].shape[0], n_in, n_in))]
    for W, V in zip(Ws, Vs):
        pre.append(W @ pre[-1])
        dpre.append(V @ pre[-2] + W @ dpre[-1])
    vals, vecs = np.linalg.eigh(sxx)
    root = (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T
    J = (dpre[-1] @ root).reshape(dpre[-1].shape[0], -1)  # row j = vec(∂W/∂θ_j Σxx^{1/2})
    return J.T @ J


def top_eigen(sxx, syx, Ws, v0=None, full_max: int = FULL_MAX, k: int = TOP_K):
    """(top-k Hessian eigenvalues descending, top eigenvector, Gauss–Newton top eigenvalue, method).

    Full Hessian when the net has ≤ ``full_max`` weights (k values, exact; the eigenvector is None:
    not needed); otherwise Lanczos for the top one only, started from ``v0`` (the previous
    snapshot's eigenvector) when given, and the other k − 1 values are NaN.
    """
    from scipy.linalg import eigh  # imported here, not at the top: scipy would slow the first page load
    from scipy.sparse.linalg import LinearOperator, eigsh

    shapes, sizes = [W.shape for W in Ws], [W.size for W in Ws]
    n = sum(sizes)
    if n <= full_max:
        m = min(k, n)  # exact: no start vector needed (None)
        top = eigh(full_hessian(sxx, syx, Ws), eigvals_only=True, subset_by_index=[n - m, n - 1], driver="evr")[::-1]
        gn = np.linalg.eigvalsh(ntk_matrix(sxx, Ws))[-1]
        return np.pad(top, (0, k - top.size), constant_values=np.nan), None, float(gn), "full Hessian"
    splits = np.cumsum(sizes)[:-1]

    def matvec(v, gn_only=False):
        Vs = [p.reshape(1, *sh) for p, sh in zip(np.split(np.asarray(v, float).ravel(), splits), shapes)]
        if gn_only:
            return np.concatenate([h.ravel() for h in _hvp_batch(sxx, syx, Ws, Vs, True)])
        return np.concatenate([h.ravel() for h in _hvp(sxx, syx, Ws, [V[0] for V in Vs])])

    start = v0 if v0 is not None and np.all(np.isfinite(v0)) and np.any(v0) else \
        np.random.default_rng(0).standard_normal(n)
    val, vec = eigsh(LinearOperator((n, n), matvec=matvec, dtype=float), k=1, which="LA", v0=start,
                     tol=1e-10, maxiter=2000)
    gn_op = LinearOperator((n, n), matvec=lambda v: matvec(v, True), dtype=float)
    gn = eigsh(gn_op, k=1, which="LA", v0=vec[:, 0], tol=1e-10, maxiter=2000, return_eigenvectors=False)
    out = np.full(k, np.nan)
    out[0] = val[0]
    return out, vec[:, 0], float(gn[0]), "Lanczos (warm start)"


class SharpnessTracker:
    """Snapshot hook: per member, the Hessian's top eigenvalues at each recorded step (THEORY §10.1).

    Call it as ``tracker(step, weights)`` with the batch's stacked weights (B, ...); it keeps one
    row per (snapshot, member), each warm-started from that member's previous eigenvector, and the
    seconds spent (``seconds``).
    """

    def __init__(self, problem, n_members: int, full_max: int = FULL_MAX) -> None:
        self.sxx, self.syx = problem.sigma_xx, problem.sigma_yx
        self.full_max = full_max
        self.vecs = [None] * n_members
        self.steps: list[int] = []
        self.rows: list[list] = []  # per snapshot: [(top-k, gn, method)] per member
        self.seconds = 0.0

    def __call__(self, step: int, weights: list[np.ndarray]) -> None:
        t0 = time.perf_counter()
        row = []
        with np.errstate(all="ignore"):
            for b in range(len(self.vecs)):
                Ws = [np.asarray(w[b], dtype=float) for w in weights]
                try:
                    vals, vec, gn, method = top_eigen(self.sxx, self.syx, Ws, self.vecs[b], self.full_max)
                    self.vecs[b] = vec
                # a frozen or blown-up member (scipy's ArpackError is a RuntimeError): this member only
                except (np.linalg.LinAlgError, ArithmeticError, ValueError, RuntimeError):
                    vals, gn, method = np.full(TOP_K, np.nan), np.nan, "failed"
                row.append((vals, gn, method))
        self.steps.append(int(step))
        self.rows.append(row)
        self.seconds += time.perf_counter() - t0

    @property
    def per_snapshot_s(self) -> float:
        return self.seconds / max(1, len(self.steps) * len(self.vecs))

    def frame(self, b: int, lr: float, sharpness_min: float | None, diverged_step: int | None) -> pd.DataFrame:
        """Member b's :data:`CURVATURE_COLUMNS` frame (snapshots before its divergence step only)."""
        recs = []
        for step, row in zip(self.steps, self.rows):
            if diverged_step is not None and step >= diverged_step:
                continue
            vals, gn, method = row[b]
            recs.append((step, lr * step, vals[0], vals[1], vals[2], gn, 2.0 / lr if lr > 0 else np.nan,
                         np.nan if sharpness_min is None else sharpness_min, method))
        return pd.DataFrame.from_records(recs, columns=list(CURVATURE_COLUMNS))


class FirstLayerTrace:
    """Snapshot hook: copies of W_1 and of the end-to-end map W of every member at each recorded step
    (for the hierarchy's RSA, representation.py).

    Memory: snapshots × B × (width + n_out) × n_in floats (the hierarchy: 4 items), so the engine
    switches it on only for the hierarchy (or when asked).
    """

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.w1: list[np.ndarray] = []
        self.w: list[np.ndarray] = []

    def __call__(self, step: int, weights: list[np.ndarray]) -> None:
        self.steps.append(int(step))
        self.w1.append(np.array(weights[0], dtype=float, copy=True))
        W = np.asarray(weights[0], dtype=float)
        for Wl in weights[1:]:
            W = np.asarray(Wl, dtype=float) @ W
        self.w.append(W)

    def member(self, b: int, diverged_step: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(steps (S,), W_1 (S, width, n_in), W (S, n_out, n_in)) of member b before its divergence step."""
        steps = np.array(self.steps, dtype=np.int64)
        keep = steps < diverged_step if diverged_step is not None else np.ones(len(steps), bool)
        return steps[keep], np.stack(self.w1)[keep, b], np.stack(self.w)[keep, b]


def verdict(summary, frame: pd.DataFrame) -> str:
    """One honest sentence on what GD did relative to the step-size cap (THEORY §6, §10.1)."""
    if frame.empty:
        return "No sharpness was recorded."
    final = float(frame["sharpness"].iloc[-1])
    edge = 2.0 / summary.lr
    if summary.diverged:
        return (f"Diverged at step {summary.diverged_step:,}: the last recorded sharpness {final:.4g} "
                f"against 2/η = {edge:.4g}.")
    if summary.converged and final <= edge:
        if summary.lr_over_cap:
            return (f"η is above the balanced minimum's cap, yet GD converged: it settled on a flatter "
                    f"minimum (final sharpness {final:.6g} < 2/η = {edge:.4g}).")
        return f"Converged below the cap: final sharpness {final:.8g}, 2/η = {edge:.4g}."
    tail = frame["sharpness"].iloc[-max(3, len(frame) // 10):]
    return (f"Not converged: over the last snapshots the sharpness ranges {tail.min():.4g}–{tail.max():.4g} "
            f"around 2/η = {edge:.4g} (GD oscillates instead of settling).")


__all__ = [
    "CURVATURE_COLUMNS",
    "FULL_MAX",
    "MAX_PARAMS",
    "TOP_K",
    "FirstLayerTrace",
    "SharpnessTracker",
    "full_hessian",
    "top_eigen",
    "verdict",
]

"""The hierarchy's geometry: the target's SVD and the hidden layer's similarity matrix (THEORY §10.3).

Pure numpy/pandas. :func:`svd_frames` turns a problem's Σyx into long frames for heatmaps (items ×
modes, modes × features, singular values) with a reading of each mode from its sign pattern over the
items. :func:`rsa_measured` is the item × item similarity of the first hidden layer,
h(x) = W_1 x for the one-hot item x, i.e. W_1ᵀW_1; :func:`rsa_theory` the prediction from the mode
strengths, V diag(u^{2/L}) Vᵀ, exact for balanced weights whose end-to-end map is aligned with the
target's modes; :func:`rsa_balanced` the prediction from the measured end-to-end map, (WᵀW)^{1/L},
exact for balanced weights whatever their alignment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RSA_COLUMNS = ("step", "t", "item_a", "item_b", "similarity", "kind")  # kind: measured | theory
SVD_COLUMNS = ("row", "col", "value")


def mode_names(V: np.ndarray, items) -> list[str]:
    """A reading of each input mode from its signs over the items: "all items", "canary, salmon vs
    oak, rose", …; an item with a (numerically) zero entry is left out of that mode."""
    names = []
    for v in V.T:
        scale = np.max(np.abs(v)) or 1.0
        pos = [it for it, x in zip(items, v) if x > 1e-9 * scale]
        neg = [it for it, x in zip(items, v) if x < -1e-9 * scale]
        if not neg or not pos:
            names.append("all items" if len(pos or neg) == len(items) else ", ".join(pos or neg))
        else:
            names.append(f"{', '.join(pos)} vs {', '.join(neg)}")
    return names


def svd_frames(problem) -> dict[str, pd.DataFrame]:
    """Long frames of the target's SVD Σyx = U* diag(λ) V*ᵀ for heatmaps (THEORY §10.3).

    ``items_modes``: V*[item, mode] (row = item, col = mode label); ``modes_features``: U*[feature,
    mode] (row = mode label, col = feature); ``singular_values``: mode label, lambda. Mode labels read
    "1: canary, salmon vs oak, rose" (:func:`mode_names`).
    """
    r = problem.r
    items = problem.labels_in or tuple(f"in {j + 1}" for j in range(problem.sigma_yx.shape[1]))
    feats = problem.labels_out or tuple(f"out {j + 1}" for j in range(problem.sigma_yx.shape[0]))
    V, U = problem.V_star[:, :r], problem.U_star[:, :r]
    signs = np.sign(V.sum(axis=0) + 1e-12)  # an overall sign per mode: most items positive reads easier
    signs[signs == 0] = 1.0
    V, U = V * signs, U * signs
    labels = [f"{i + 1}: {n}" for i, n in enumerate(mode_names(V, items))]
    im = pd.DataFrame([(it, labels[m], V[j, m]) for j, it in enumerate(items) for m in range(r)],
                      columns=list(SVD_COLUMNS))
    mf = pd.DataFrame([(labels[m], f, U[j, m]) for m in range(r) for j, f in enumerate(feats)],
                      columns=list(SVD_COLUMNS))
    sv = pd.DataFrame({"mode": labels, "lambda": problem.lambda_star[:r]})
    return {"items_modes": im, "modes_features": mf, "singular_values": sv}


def rsa_measured(w1: np.ndarray) -> np.ndarray:
    """Item × item similarity of the first hidden layer for one-hot items: W_1ᵀ W_1 (..., n_in, n_in)."""
    return np.swapaxes(w1, -1, -2) @ w1


def rsa_theory(V: np.ndarray, u: np.ndarray, depth: int) -> np.ndarray:
    """V diag(|u|^{2/L}) Vᵀ per snapshot, u (S, r) mode strengths (THEORY §10.3); (S, n_in, n_in)."""
    p = np.abs(np.asarray(u, float)) ** (2.0 / depth)
    return np.einsum("im,sm,jm->sij", V, p, V)


def rsa_balanced(W: np.ndarray, depth: int) -> np.ndarray:
    """(WᵀW)^{1/L} of end-to-end maps W (S, n_out, n_in): the RSA of any balanced net (THEORY §10.3)."""
    G = np.swapaxes(W, -1, -2) @ W
    vals, vecs = np.linalg.eigh(G)
    vals = np.clip(vals, 0.0, None) ** (1.0 / depth)
    return np.einsum("sim,sm,sjm->sij", vecs, vals, vecs)


def rsa_error(measured: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Per snapshot ‖measured − predicted‖_F / max(‖measured‖_F, tiny): the stated tolerance's metric."""
    num = np.linalg.norm(measured - predicted, axis=(-2, -1))
    den = np.linalg.norm(measured, axis=(-2, -1))
    return num / np.maximum(den, 1e-300)


def rsa_frame(run, steps_wanted=None) -> pd.DataFrame:
    """Long :data:`RSA_COLUMNS` frame of a run with a recorded first layer (``run.first_layer``):
    measured W_1ᵀW_1 and the mode-strength theory V diag(u^{2/L}) Vᵀ at each snapshot (or at the
    recorded snapshots nearest to ``steps_wanted``)."""
    steps, w1, _ = run.first_layer
    s_modes, t, u = run.mode_series()
    idx = np.arange(len(steps))
    if steps_wanted is not None:
        idx = np.unique([int(np.argmin(np.abs(steps - k))) for k in steps_wanted])
    p = run.problem
    items = p.labels_in or tuple(f"in {j + 1}" for j in range(w1.shape[-1]))
    pos = {int(k): j for j, k in enumerate(s_modes)}
    meas = rsa_measured(w1[idx])
    theo = rsa_theory(p.V_star[:, : p.r], u[[pos[int(steps[i])] for i in idx]], run.summary.depth)
    recs = []
    for n, i in enumerate(idx):
        for kind, mat in (("measured", meas[n]), ("theory", theo[n])):
            for a, ia in enumerate(items):
                for b, ib in enumerate(items):
                    recs.append((int(steps[i]), float(t[pos[int(steps[i])]]), ia, ib, float(mat[a, b]), kind))
    return pd.DataFrame.from_records(recs, columns=list(RSA_COLUMNS))


def learned_steps(run, frac: float = 0.95) -> list[int]:
    """Chosen times for the RSA panel: step 0, then for each mode the first recorded snapshot where it
    has reached ``frac`` of its target strength ("after mode i is learned"), and the last snapshot."""
    steps, _, u = run.mode_series()
    target = np.asarray(run.problem.target_strength, float)
    out = {int(steps[0]), int(steps[-1])}
    for i in np.nonzero(target > 0)[0]:
        hit = np.nonzero(u[:, i] >= frac * target[i])[0]
        if hit.size:
            out.add(int(steps[hit[0]]))
    return sorted(out)


def rsa_at(run, step: int) -> tuple[int, np.ndarray, np.ndarray, float, float]:
    """At the recorded snapshot nearest ``step``: (step, measured W_1ᵀW_1, mode-strength theory, its
    relative error :func:`rsa_error`, and the error of the balanced prediction (WᵀW)^{1/L})."""
    steps, w1, W = run.first_layer
    j = int(np.argmin(np.abs(steps - step)))
    s_modes, _, u = run.mode_series()
    k = int(np.argmin(np.abs(s_modes - steps[j])))
    p, L = run.problem, run.summary.depth
    meas = rsa_measured(w1[j])
    theo = rsa_theory(p.V_star[:, : p.r], u[k][None], L)[0]
    bal = rsa_balanced(W[j][None], L)[0]
    return int(steps[j]), meas, theo, float(rsa_error(meas, theo)), float(rsa_error(meas, bal))


__all__ = ["RSA_COLUMNS", "SVD_COLUMNS", "learned_steps", "mode_names", "rsa_at", "rsa_balanced", "rsa_error",
           "rsa_frame", "rsa_measured", "rsa_theory", "svd_frames"]

"""Loss landscapes of deep linear networks and training paths on them (THEORY.md §5), pure numpy/scipy.

Convention (THEORY §1): loss ½‖·‖², gradient-flow time t = lr·k. Grids follow the plotting convention
``Z[i, j]`` = value at (x[j], y[i]) (rows are the second coordinate), which is what Plotly surfaces use.

- :func:`two_mode_surface`: the balanced two-mode slice ½[(w₁^L − λ₁)² + (w₂^L − λ₂)²] over per-layer
  strengths (w₁, w₂), the article's 3-D panel.
- :func:`training_path`: a run's top two mode strengths mapped onto that slice.
- :func:`saddle_surface`: one mode at L = 2, ½(λ − ab)², with its strict saddle, the hyperbola of
  minima and exact gradient-flow paths.
- :func:`two_mode_view`, :func:`saddle_view`: the same, built from an engine ``RunResult`` for pages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._validate import check_positive
from .errors import ConfigError

__all__ = [
    "PATH_COLUMNS",
    "SADDLE_PATH_COLUMNS",
    "SaddleSurface",
    "TwoModeView",
    "per_layer_strength",
    "saddle_hessian",
    "saddle_surface",
    "saddle_view",
    "slice_loss",
    "training_path",
    "two_mode_surface",
    "two_mode_view",
]

PATH_COLUMNS = ("step", "t", "u1", "u2", "w1", "w2", "loss")
SADDLE_PATH_COLUMNS = ("path", "t", "a", "b", "loss", "conserved")
HYPERBOLA_COLUMNS = ("branch", "a", "b", "loss")
_MAX_GRID = 401


# ----------------------------------------------------------------------------------------- helpers
def _nonnegative(name: str, value) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(name, "must be a number >= 0", value) from None
    if not np.isfinite(x) or x < 0:
        raise ConfigError(name, "must be a number >= 0", value)
    return x


def _depth(depth) -> int:
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ConfigError("depth", "must be an integer >= 1", depth)
    return int(depth)


def _grid_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 3 <= n <= _MAX_GRID:
        raise ConfigError("n", f"must be an integer in [3, {_MAX_GRID}]", n)
    return int(n)


def per_layer_strength(u, depth: int) -> np.ndarray:
    """w = sign(u)|u|^{1/L}: the per-layer strength of a balanced mode with end-to-end strength u (§2)."""
    u = np.asarray(u, dtype=float)
    return np.sign(u) * np.abs(u) ** (1.0 / depth)


# ------------------------------------------------------------------------------- two-mode slice (§5)
def two_mode_surface(lam1, lam2, depth, extent, n=61, normalise=True):
    """The balanced two-mode slice ½[(w₁^L − λ₁)² + (w₂^L − λ₂)²] on [−extent, extent]² (THEORY §5).

    Returns (w1 (n,), w2 (n,), Z (n, n)) with Z[i, j] at (w1[j], w2[i]). With ``normalise`` the loss is
    divided by its value at the origin, ½(λ₁² + λ₂²), so the saddle sits at height 1. Negative w is a
    valid configuration for every L (all layers of the mode flipped); for even L the picture is mirror
    symmetric, for odd L the negative side is a different, higher region. Unlearned modes 3..r add a
    constant and are left out.
    """
    L = _depth(depth)
    lam1, lam2 = _nonnegative("lam1", lam1), _nonnegative("lam2", lam2)
    extent = check_positive("extent", extent)
    n = _grid_n(n)
    w1 = np.linspace(-extent, extent, n)
    w2 = np.linspace(-extent, extent, n)
    Z = slice_loss(w1[None, :] ** L, w2[:, None] ** L, lam1, lam2, normalise)
    return w1, w2, Z


def slice_loss(u1, u2, lam1, lam2, normalise=True):
    """½[(u₁ − λ₁)² + (u₂ − λ₂)²] (optionally divided by its origin value ½(λ₁² + λ₂²)) (THEORY §5)."""
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged run's path: inf/nan are honest
        z = 0.5 * ((np.asarray(u1) - lam1) ** 2 + (np.asarray(u2) - lam2) ** 2)
    if normalise:
        origin = 0.5 * (lam1**2 + lam2**2)
        z = z / origin if origin > 0 else z
    return z


def _mode_arrays(source):
    """(step, t, u1, u2, lam, depth) from a RunResult, a history DataFrame, an array or a pair of arrays."""
    lam = depth = None
    if hasattr(source, "history") and hasattr(source, "summary"):  # a result.Run (live or stored)
        lam = tuple(float(x) for x in list(source.summary.get("lambda_star", []))[:2])
        depth = source.summary.get("depth")
        source = source.history
    if isinstance(source, pd.DataFrame):
        if "mode_1" not in source.columns:
            raise ConfigError("history", "must have columns mode_1 (and mode_2)", list(source.columns))
        u1 = source["mode_1"].to_numpy(float)
        u2 = source["mode_2"].to_numpy(float) if "mode_2" in source.columns else np.zeros_like(u1)
        k = len(source)
        step = source["step"].to_numpy() if "step" in source.columns else np.arange(k)
        t = source["t"].to_numpy(float) if "t" in source.columns else np.full(k, np.nan)
        return step, t, u1, u2, lam, depth
    arr = source if isinstance(source, tuple) else np.asarray(source, dtype=float)
    if isinstance(arr, tuple):
        u1 = np.asarray(arr[0], float)
        u2 = np.asarray(arr[1], float) if len(arr) > 1 else np.zeros_like(u1)
    elif arr.ndim == 2 and arr.shape[1] >= 1:
        u1 = arr[:, 0]
        u2 = arr[:, 1] if arr.shape[1] > 1 else np.zeros_like(u1)
    else:
        raise ConfigError("history_or_mode_arrays", "must be a RunResult, a history frame, a (K, r) array "
                          "or a pair of 1-D arrays", getattr(arr, "shape", type(arr)))
    k = len(u1)
    return np.arange(k), np.full(k, np.nan), u1, u2, lam, depth


def training_path(history_or_mode_arrays, depth=None, lam=None, normalise=True) -> pd.DataFrame:
    """The top two modes' per-layer strengths along a run, on the two-mode slice (THEORY §5).

    Accepts a RunResult (λ and depth are read from its summary), a history frame (``mode_1``,
    ``mode_2``; ``step`` and ``t`` when present), a (K, r) array of mode strengths or a pair (u1, u2).
    Returns a frame with :data:`PATH_COLUMNS`: w_i = sign(u_i)|u_i|^{1/L}, and ``loss`` = the two-mode
    loss ½[(u₁ − λ₁)² + (u₂ − λ₂)²] of the measured strengths (normalised like the surface), so for a
    balanced aligned run the path lies exactly on :func:`two_mode_surface`.
    """
    step, t, u1, u2, lam_found, depth_found = _mode_arrays(history_or_mode_arrays)
    depth = _depth(depth if depth is not None else depth_found)
    lam = lam if lam is not None else lam_found
    if lam is None or len(lam) < 1:
        raise ConfigError("lam", "must give (λ1, λ2) for the slice loss", lam)
    lam1 = _nonnegative("lam", lam[0])
    lam2 = _nonnegative("lam", lam[1]) if len(lam) > 1 else 0.0
    return pd.DataFrame({
        "step": step,
        "t": t,
        "u1": u1,
        "u2": u2,
        "w1": per_layer_strength(u1, depth),
        "w2": per_layer_strength(u2, depth),
        "loss": slice_loss(u1, u2, lam1, lam2, normalise),
    }, columns=list(PATH_COLUMNS))


@dataclass(frozen=True)
class TwoModeView:
    """Everything the two-mode landscape chart needs for one run (THEORY §5)."""

    w1: np.ndarray
    w2: np.ndarray
    loss: np.ndarray  # loss[i, j] at (w1[j], w2[i])
    path: pd.DataFrame  # PATH_COLUMNS, all snapshots
    lam: tuple[float, float]
    depth: int

    def at(self, step=None) -> tuple[pd.DataFrame, tuple[float, float, float]]:
        """(path up to ``step``, current point (w1, w2, loss)); ``None`` means the last snapshot."""
        path = self.path if step is None else self.path[self.path["step"] <= step]
        if path.empty:
            path = self.path.iloc[:1]
        last = path.iloc[-1]
        return path, (float(last["w1"]), float(last["w2"]), float(last["loss"]))


def two_mode_view(result, n=61, normalise=True) -> TwoModeView:
    """Two-mode slice sized to contain the run's path and both wells, plus the path (THEORY §5)."""
    path = training_path(result, normalise=normalise)
    lam = tuple(float(x) for x in [*result.summary["lambda_star"], 0.0, 0.0][:2])
    depth = int(result.summary["depth"])
    well = max(abs(x) ** (1.0 / depth) for x in lam)
    finite = path[["w1", "w2"]].to_numpy()
    finite = finite[np.isfinite(finite)]
    travelled = float(np.abs(finite).max()) if finite.size else 0.0
    # Show both wells and the path, but not a diverged run's runaway (cap at twice the wells' reach).
    reach = max(well, min(travelled, 2.0 * well)) if well > 0 else travelled
    extent = 1.25 * reach if 0 < reach < np.inf else 1.0
    w1, w2, Z = two_mode_surface(lam[0], lam[1], depth, extent, n, normalise)
    return TwoModeView(w1=w1, w2=w2, loss=Z, path=path, lam=lam, depth=depth)


# -------------------------------------------------------------------------- one-mode saddle (L = 2)
def saddle_hessian(a, b, lam) -> np.ndarray:
    """Hessian of ½(λ − ab)² in (a, b): [[b², 2ab − λ], [2ab − λ, a²]] (THEORY §5)."""
    off = 2.0 * a * b - lam
    return np.array([[b * b, off], [off, a * a]], dtype=float)


@dataclass(frozen=True)
class SaddleSurface:
    """One mode at L = 2: surface, saddle, minima and exact gradient-flow paths (THEORY §5)."""

    a: np.ndarray  # (n,) layer-1 strength grid
    b: np.ndarray  # (n,) layer-2 strength grid
    loss: np.ndarray  # (n, n), loss[i, j] at (a[j], b[i]); not normalised
    lam: float
    saddle: tuple[float, float, float]  # (0, 0, ½λ²)
    hessian_eigenvalues: np.ndarray  # at the saddle: (−λ, +λ)
    hyperbola: pd.DataFrame  # HYPERBOLA_COLUMNS: minima ab = λ inside the box, branch ±1
    paths: pd.DataFrame  # SADDLE_PATH_COLUMNS; conserved = a² − b²

    def path_list(self) -> list[pd.DataFrame]:
        """The paths as one frame each (for chart builders that draw one line per frame)."""
        return [g.reset_index(drop=True) for _, g in self.paths.groupby("path", sort=True)]


def _default_starts(extent: float) -> np.ndarray:
    # Near the saddle (slow escape, different a² − b²), on the "wrong" side ab < 0, and far above.
    return extent * np.array([[0.06, 0.01], [0.01, 0.06], [-0.06, -0.015], [0.8, -0.5], [-0.5, 0.8],
                              [0.95, 0.9]])


def _flow_path(a0, b0, lam, t_eval):
    """Exact-to-tolerance gradient flow of ½(λ − ab)²: ȧ = b(λ − ab), ḃ = a(λ − ab) (THEORY §5)."""

    from scipy.integrate import solve_ivp  # here, not at the top: scipy.integrate slows the first page load

    def rhs(_t, y):
        r = lam - y[0] * y[1]
        return [y[1] * r, y[0] * r]

    sol = solve_ivp(rhs, (0.0, float(t_eval[-1])), [a0, b0], t_eval=t_eval, method="DOP853",
                    rtol=1e-11, atol=1e-13)
    if not sol.success:  # pragma: no cover - DOP853 on this polynomial field does not fail
        raise RuntimeError(sol.message)
    return sol.y


def saddle_surface(lam, extent=None, n=61, starts=None, t_end=None, n_points=300) -> SaddleSurface:
    """½(λ − ab)² on [−extent, extent]² with the saddle, the minima ab = λ and gradient-flow paths (§5).

    ``starts`` is an (m, 2) array of (a0, b0); by default a few points near the saddle and far from it.
    Paths are integrated with an adaptive high-order solver (rtol 1e-11) up to ``t_end`` (default 12/λ),
    which keeps the conserved a² − b² to ~1e-10. The origin's Hessian eigenvalues are ±λ (strict saddle).
    """
    lam = check_positive("lam", lam)
    extent = 1.8 * np.sqrt(lam) if extent is None else check_positive("extent", extent)
    n = _grid_n(n)
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or not 2 <= n_points <= 5000:
        raise ConfigError("n_points", "must be an integer in [2, 5000]", n_points)
    t_end = 12.0 / lam if t_end is None else check_positive("t_end", t_end)
    starts = _default_starts(extent) if starts is None else np.asarray(starts, dtype=float)
    if starts.ndim != 2 or starts.shape[1] != 2 or not np.all(np.isfinite(starts)):
        raise ConfigError("starts", "must be an (m, 2) array of finite (a0, b0)", starts.shape)

    a = np.linspace(-extent, extent, n)
    b = np.linspace(-extent, extent, n)
    loss = 0.5 * (lam - a[None, :] * b[:, None]) ** 2

    # Minima ab = λ: both branches, restricted to the box (|a| ≥ λ/extent keeps |b| ≤ extent).
    hyper = []
    if lam / extent <= extent:
        ar = np.geomspace(lam / extent, extent, max(n, 50))
        for sign in (1.0, -1.0):
            hyper.append(pd.DataFrame({"branch": int(sign), "a": sign * ar, "b": sign * lam / ar, "loss": 0.0}))
    hyperbola = pd.concat(hyper, ignore_index=True) if hyper else pd.DataFrame(columns=list(HYPERBOLA_COLUMNS))

    t_eval = np.linspace(0.0, t_end, n_points)
    frames = []
    for k, (a0, b0) in enumerate(starts):
        ya, yb = _flow_path(a0, b0, lam, t_eval)
        frames.append(pd.DataFrame({"path": k, "t": t_eval, "a": ya, "b": yb,
                                    "loss": 0.5 * (lam - ya * yb) ** 2, "conserved": ya**2 - yb**2}))
    paths = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(SADDLE_PATH_COLUMNS))

    eig = np.linalg.eigvalsh(saddle_hessian(0.0, 0.0, lam))
    return SaddleSurface(a=a, b=b, loss=loss, lam=lam, saddle=(0.0, 0.0, 0.5 * lam**2),
                         hessian_eigenvalues=eig, hyperbola=hyperbola, paths=paths)


def saddle_view(result, n=61) -> SaddleSurface:
    """The one-mode L = 2 saddle for a run's top mode λ₁ (THEORY §5; illustrative for any depth)."""
    lam = float(result.summary["lambda_star"][0])
    return saddle_surface(lam if lam > 0 else 1.0, n=n)

"""Init schemes: a registry in the manner of scipy's integrate._ivp METHODS table.

Each :class:`InitScheme` says how to draw the initial W_1 … W_L of one config (``draw``), which
cross-field rules the config must obey (``check``, called by RunConfig's validation), how pages and
the CLI label it, and whether its theory overlay is the exact L = 2 solution of THEORY.md §4
(``exact_l2``). Config validation (``init_scheme`` choices), the CLI's help and the explorer's
labels all read :data:`SCHEMES`.

Adding a scheme is one :func:`register` call (plus its test): e.g.

    register(InitScheme("orthogonal", "orthogonal, scaled by c", "c times Haar-orthonormal columns",
                        draw=lambda cfg, problem, rng: [...]))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError
from .linalg import haar_columns, psd_sqrt


@dataclass(frozen=True)
class InitScheme:
    """One init scheme. ``draw(cfg, problem, rng) -> [W_1, …, W_L]`` (float64, shapes cfg.layer_dims)."""

    name: str
    label: str  # short text for pages
    help: str  # what init_scale means for this scheme (CLI help, docs)
    draw: Callable
    check: Callable | None = None  # check(cfg): ConfigError for a config this scheme cannot start
    exact_l2: bool = False  # theory overlay = the exact λ-balanced L = 2 solution (THEORY.md §4)


SCHEMES: dict[str, InitScheme] = {}


def register(scheme: InitScheme) -> InitScheme:
    """Add (or replace) a scheme in :data:`SCHEMES`; returns it."""
    SCHEMES[scheme.name] = scheme
    return scheme


def init_weights(cfg, problem) -> list[np.ndarray]:
    """Initial W_1 … W_L (float64) for one config: its scheme's draw from ``default_rng(cfg.init.seed)``."""
    return SCHEMES[cfg.init.scheme].draw(cfg, problem, np.random.default_rng(cfg.init.seed))


# ------------------------------------------------------------------------------------------ schemes
def _gaussian(cfg, problem, rng) -> list[np.ndarray]:
    """i.i.d. N(0, scale²) entries."""
    dims, c = cfg.layer_dims, cfg.init.scale
    return [c * rng.standard_normal((dims[li + 1], dims[li])) for li in range(len(dims) - 1)]


def _near_identity(cfg, problem, rng) -> list[np.ndarray]:
    """c (I + 0.1 G) with the rectangular identity (THEORY.md §1.6)."""
    dims, c = cfg.layer_dims, cfg.init.scale
    return [c * (np.eye(dims[li + 1], dims[li]) + 0.1 * rng.standard_normal((dims[li + 1], dims[li])))
            for li in range(len(dims) - 1)]


def _aligned(cfg, problem, rng) -> list[np.ndarray]:
    """Exactly aligned and balanced: W_1 = Q_1 S V*ᵀ, W_l = Q_l S Q_{l−1}ᵀ, W_L = U* S Q_{L−1}ᵀ.

    Per-layer strength S = scale·I, so every mode starts at u_i(0) = scale^L (THEORY.md §2); the hidden
    bases Q_l are Haar-random orthonormal columns (seeded). If the width is smaller than the number of
    modes, only the first ``width`` modes are seeded (the rest start at 0).
    """
    dims, c = cfg.layer_dims, cfg.init.scale
    L = len(dims) - 1
    k = min(problem.r, *dims[1:-1]) if L > 1 else problem.r
    S = c * np.eye(k)
    Q = [haar_columns(dims[li], k, rng) for li in range(1, L)]  # hidden bases
    left = [*Q, problem.U_star[:, :k]]
    right = [problem.V_star[:, :k], *Q]
    return [left[li] @ S @ right[li].T for li in range(L)]


def _lambda_balanced(cfg, problem, rng) -> list[np.ndarray]:
    """L = 2 (THEORY.md §4): W_1 Gaussian(scale), W_2 = O (W_1W_1ᵀ + λ_b I)^{1/2} with O Haar
    orthonormal columns, so W_2ᵀW_2 − W_1W_1ᵀ = λ_b I exactly (λ_b < 0: the mirror construction
    W_1 = (W_2ᵀW_2 + |λ_b| I)^{1/2} Oᵀ)."""
    n_in, h, n_out = cfg.layer_dims
    c, lb = cfg.init.scale, cfg.init.lambda_b
    if lb >= 0:
        W1 = c * rng.standard_normal((h, n_in))
        W2 = haar_columns(n_out, h, rng) @ psd_sqrt(W1 @ W1.T + lb * np.eye(h))
    else:
        W2 = c * rng.standard_normal((n_out, h))
        W1 = psd_sqrt(W2.T @ W2 - lb * np.eye(h)) @ haar_columns(n_in, h, rng).T
    return [W1, W2]


def _check_lambda_balanced(cfg) -> None:
    if cfg.network.depth != 2:
        raise ConfigError("init_scheme", "'lambda-balanced' needs depth = 2 (THEORY.md §4)",
                          f"depth={cfg.network.depth}")
    n_out, n_in = cfg.target.dims
    if cfg.init.lambda_b >= 0 and cfg.width > n_out:
        raise ConfigError("width", f"lambda-balanced with lambda_b >= 0 needs width <= n_out = {n_out}", cfg.width)
    if cfg.init.lambda_b < 0 and cfg.width > n_in:
        raise ConfigError("width", f"lambda-balanced with lambda_b < 0 needs width <= n_in = {n_in}", cfg.width)


register(InitScheme("gaussian", "Gaussian, entry std c", "entry std", _gaussian))
register(InitScheme("near-identity", "near-identity c(I + 0.1 G)", "c in c(I + 0.1 G)", _near_identity))
register(InitScheme("aligned", "aligned & balanced (per-layer strength c)", "per-layer strength s0 (u0 = s0**L)",
                    _aligned))
register(InitScheme("lambda-balanced", "λ-balanced (L = 2 only)", "std of the drawn layer", _lambda_balanced,
                    check=_check_lambda_balanced, exact_l2=True))


__all__ = ["SCHEMES", "InitScheme", "init_weights", "register"]

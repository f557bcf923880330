"""Targets: the input–output statistics Σyx, Σxx a network is trained on (THEORY.md §1, §6).

A :class:`Problem` is everything the engine and the theory need: ``sigma_yx = U* diag(λ*) V*ᵀ`` (the
modes), ``sigma_xx`` and, for commuting inputs, the input variance ``d_i`` of each mode (in the V*
basis). Even when inputs are not whitened the modes are those of Σyx's SVD (THEORY.md §6): mode i's
strength is still ``u_i = u*_iᵀ W v*_i``; its learned value is ``target_strength[i]`` (λ_i/d_i when
commuting).

The loss used everywhere is the teacher form of loss (H):
``ℓ(W) = ½ tr((W − W*) Σxx (W − W*)ᵀ)`` with ``W* = Σyx Σxx⁻¹`` — for whitened inputs exactly
``½‖Σyx − W‖²_F`` (THEORY.md §1); the additive constant is fixed so the global minimum has loss 0.

Target kinds:

- ``article``: Σyx = diag(6, 4, 3, 2, 1, 0.5), U* = V* = I (THEORY.md §1.6); with
  ``rotate_seed``, the same singular values on Haar-random U*, V* (Σyx = U* diag(λ) V*ᵀ).
- ``spectrum``: given singular values on an ``n_out × n_in`` matrix (padded with zero modes up to
  min(n_out, n_in)); singular vectors are the standard basis or, with ``rotate_seed``, Haar-random.
- ``hierarchy``, ``matrix``: fixed singular vectors (config rejects a ``rotate_seed`` for them).
- ``hierarchy``: four items (canary, salmon, oak, rose) with one-hot inputs, so Σxx = I/4 and
  Σyx = Y/4 for the 14 × 4 feature matrix Y (:data:`HIERARCHY_FEATURES`). Its modes are the tree's
  levels: "all living things" (λ = √14/4), "animal vs plant" (√6/4), then two degenerate within-class
  distinctions (√2/4 each: bird vs fish, tree vs flower).
- ``matrix``: a user matrix (rows), e.g. from :func:`load_matrix_csv`.

Input kinds: ``whitened`` (Σxx = I), ``commuting`` (Σxx = V diag(e) Vᵀ in the basis V of Σyx's right
singular vectors, completed to a full basis), ``rotated`` (Σxx = R diag(e) Rᵀ, R Haar-random from
``input_seed``: not commuting, so no closed-form theory applies).
"""

from __future__ import annotations

import csv
import io
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ._validate import check_array, check_matrix
from .errors import ConfigError
from .linalg import complete_basis, haar_columns, times

ARTICLE_LAMBDA = (6.0, 4.0, 3.0, 2.0, 1.0, 0.5)
HIERARCHY_ITEMS = ("canary", "salmon", "oak", "rose")
# feature -> which items have it (1) ; three levels of a balanced tree, two features per node
HIERARCHY_FEATURES: dict[str, tuple[int, int, int, int]] = {
    "grows": (1, 1, 1, 1),  # living thing
    "is alive": (1, 1, 1, 1),
    "moves": (1, 1, 0, 0),  # animal
    "has skin": (1, 1, 0, 0),
    "has roots": (0, 0, 1, 1),  # plant
    "has leaves": (0, 0, 1, 1),
    "flies": (1, 0, 0, 0),  # bird (canary)
    "sings": (1, 0, 0, 0),
    "swims": (0, 1, 0, 0),  # fish (salmon)
    "has gills": (0, 1, 0, 0),
    "has bark": (0, 0, 1, 0),  # tree (oak)
    "has branches": (0, 0, 1, 0),
    "has petals": (0, 0, 0, 1),  # flower (rose)
    "smells sweet": (0, 0, 0, 1),
}


def plateau_levels(lambda_star, d=1.0) -> np.ndarray:
    """Loss plateaus ½ Σ_{i>k} λ_i²/d_i for k = 0..r, shape (r+1,) (THEORY.md §5 saddle-to-saddle, §6 for d).

    Modes are taken in descending λ (ties keep their order); ``d`` (input variance per mode, 1 when
    whitened) broadcasts to λ's shape and follows the same order.
    """
    lam = np.atleast_1d(check_array("lambda_star", lambda_star, min_value=0.0)).ravel()
    d = check_array("d", d, min_value=0.0, strict=True)
    if d.size not in (1, lam.size):
        raise ConfigError("d", f"must be one number or {lam.size} (one per mode)", d.shape)
    d = np.broadcast_to(d.ravel(), lam.shape)
    order = np.argsort(-lam, kind="stable")
    sq = lam[order] ** 2 / d[order]
    tail = np.concatenate([np.cumsum(sq[::-1])[::-1], [0.0]])
    return 0.5 * tail


@dataclass(frozen=True, eq=False)
class Problem:
    """Statistics of one learning problem (arrays are float64, read-only by convention)."""

    sigma_yx: np.ndarray  # (n_out, n_in)
    sigma_xx: np.ndarray  # (n_in, n_in)
    U_star: np.ndarray  # (n_out, r) left singular vectors of sigma_yx, mode order
    lambda_star: np.ndarray  # (r,) singular values, descending, r = min(n_out, n_in)
    V_star: np.ndarray  # (n_in, r)
    input_eigenvalues: np.ndarray | None  # (r,) d_i of mode i (commuting inputs, incl. hierarchy); else None
    w_star: np.ndarray  # (n_out, n_in) the global minimiser Σyx Σxx⁻¹
    target_strength: np.ndarray  # (r,) u*_iᵀ W* v*_i: the strength mode i converges to (λ_i / d_i)
    input_kind: str = "whitened"
    labels_in: tuple[str, ...] | None = None  # item names (hierarchy)
    labels_out: tuple[str, ...] | None = None  # feature names (hierarchy)

    @property
    def r(self) -> int:
        return len(self.lambda_star)

    @property
    def has_theory(self) -> bool:
        """Closed-form mode theory applies (whitened or commuting inputs; THEORY.md §6)."""
        return self.input_kind != "rotated"

    @property
    def mode_d(self) -> np.ndarray:
        """Per-mode input variance d_i for the theory (1 when whitened)."""
        return np.ones(self.r) if self.input_eigenvalues is None else self.input_eigenvalues

    def loss(self, W: np.ndarray) -> np.ndarray:
        """Loss (H) of end-to-end map(s) W (..., n_out, n_in): ½ tr((W − W*) Σxx (W − W*)ᵀ)."""
        D = W - self.w_star
        # 3-operand einsum: ~9x slower; Σxx = I: no product (linalg.times, the same numbers)
        return 0.5 * np.einsum("...ij,...ij->...", times(D, self.sigma_xx), D)

    def plateau_levels(self) -> np.ndarray:
        """Loss when exactly the top-k modes are learned, k = 0..r: ½ Σ_{i>k} λ_i²/d_i (THEORY.md §5).

        Rotated (non-commuting) inputs have no such formula (THEORY.md §6): only the two ends are known
        exactly, the loss at W = 0 (k = 0) and 0 at the global minimum (k = r); the levels in between
        are NaN ("n/a"), not the whitened formula's numbers.
        """
        if self.input_kind == "rotated":
            levels = np.full(self.r + 1, np.nan)
            levels[0] = float(self.loss(np.zeros_like(self.w_star)))
            levels[-1] = 0.0
            return levels
        return plateau_levels(self.lambda_star, self.mode_d)


class Modes(NamedTuple):
    """What a target kind builds: Σyx and its mode basis, plus inputs the kind brings itself."""

    sigma_yx: np.ndarray  # (n_out, n_in)
    U: np.ndarray  # (n_out, ≥ r) left singular vectors, mode order first (only the first r are used)
    lam: np.ndarray  # (r,) singular values in mode order (descending)
    V: np.ndarray  # (n_in, n_in or r) right singular vectors, mode order first
    order: np.ndarray | None = None  # spectrum: mode i is the order[i]-th given singular value
    sigma_xx: np.ndarray | None = None  # the kind's own input covariance (hierarchy: one-hot items), else None
    d: np.ndarray | None = None  # per-mode input variance of those own inputs
    labels_in: tuple[str, ...] | None = None
    labels_out: tuple[str, ...] | None = None


def _article_modes(target) -> Modes:
    lam = np.array(ARTICLE_LAMBDA)
    if target.rotate_seed is None:
        return Modes(np.diag(lam), np.eye(6), lam, np.eye(6))
    # the article's singular values on Haar-random singular vectors (same draw order as "spectrum")
    rng = np.random.default_rng(target.rotate_seed)
    U, V = haar_columns(6, 6, rng), haar_columns(6, 6, rng)
    return Modes(U @ np.diag(lam) @ V.T, U, lam, V)


def _hierarchy_modes(target) -> Modes:
    Y = np.array(list(HIERARCHY_FEATURES.values()), dtype=float)  # (14, 4)
    sigma_yx = Y / len(HIERARCHY_ITEMS)  # Σyx = E[y xᵀ] with one-hot x, p = 1/4 each
    s2 = np.sqrt(2.0)
    V = np.array([[1, 1, 1, 1], [1, 1, -1, -1], [s2, -s2, 0, 0], [0, 0, s2, -s2]], dtype=float).T / 2
    lam = np.linalg.norm(sigma_yx @ V, axis=0)
    U = sigma_yx @ V / lam
    n_in = len(HIERARCHY_ITEMS)
    return Modes(sigma_yx, complete_basis(U), lam, V, sigma_xx=np.eye(n_in) / n_in, d=np.full(n_in, 1.0 / n_in),
                 labels_in=HIERARCHY_ITEMS, labels_out=tuple(HIERARCHY_FEATURES))


def _matrix_modes(target) -> Modes:
    M = np.array(target.matrix, dtype=float)
    U, lam, Vt = np.linalg.svd(M, full_matrices=True)
    return Modes(M, U, lam, Vt.T)


def _spectrum_modes(target) -> Modes:
    n_out, n_in = target.dims
    r = min(n_out, n_in)
    given = np.zeros(r)
    given[: len(target.singular_values)] = target.singular_values
    if target.rotate_seed is None:
        U, V = np.eye(n_out), np.eye(n_in)
    else:
        rng = np.random.default_rng(target.rotate_seed)
        # only U's r mode columns are used (Modes.U); V stays square for commuting inputs' basis
        U, V = haar_columns(n_out, n_out, rng, keep=r), haar_columns(n_in, n_in, rng)
    sigma_yx = U[:, :r] @ np.diag(given) @ V[:, :r].T
    order = np.argsort(-given, kind="stable")  # descending, ties keep the user's order
    U = np.concatenate([U[:, order], U[:, r:]], axis=1)
    V = np.concatenate([V[:, order], V[:, r:]], axis=1)
    return Modes(sigma_yx, U, given[order], V, order=order)


def _check_spectrum(target) -> None:
    if max(target.singular_values) == 0:
        raise ConfigError("singular_values", "must contain at least one value > 0", target.singular_values)
    if len(target.singular_values) > min(target.dims):
        raise ConfigError("singular_values", f"at most min(n_out, n_in) = {min(target.dims)} values",
                          target.singular_values)


def _spectrum_dims(target) -> tuple[int, int]:
    k = len(target.singular_values)
    return (target.n_out or k, target.n_in or k)


# ------------------------------------------------------------------------------------ the registry
@dataclass(frozen=True)
class TargetKind:
    """One target kind: its dims, its modes and the rules TargetConfig checks for it."""

    name: str
    label: str  # short text for pages and CLI help
    dims: Callable  # dims(target) -> (n_out, n_in)
    modes: Callable  # modes(target) -> Modes
    rotatable: bool = False  # rotate_seed draws Haar-random singular vectors
    own_inputs: bool = False  # the kind brings its own Σxx (input_kind must be "whitened")
    check: Callable | None = None  # check(target) -> {field: normalised value} | None; ConfigError if unusable


TARGET_KINDS: dict[str, TargetKind] = {}


def register(kind: TargetKind) -> TargetKind:
    """Add (or replace) a target kind in :data:`TARGET_KINDS`; returns it."""
    TARGET_KINDS[kind.name] = kind
    return kind


register(TargetKind("article", "Article 6×6: diag(6, 4, 3, 2, 1, 0.5)", lambda t: (6, 6), _article_modes,
                    rotatable=True))
register(TargetKind("spectrum", "Custom singular values", _spectrum_dims, _spectrum_modes, rotatable=True,
                    check=_check_spectrum))
register(TargetKind("hierarchy", "Four-item hierarchy (canary, salmon, oak, rose)",
                    lambda t: (len(HIERARCHY_FEATURES), len(HIERARCHY_ITEMS)), _hierarchy_modes, own_inputs=True))
register(TargetKind("matrix", "A user matrix (rows = outputs)", lambda t: (len(t.matrix), len(t.matrix[0])),
                    _matrix_modes, check=lambda t: {"matrix": check_matrix(t.matrix)}))


def build_problem(target) -> Problem:
    """Σyx, Σxx and the mode basis for a target config (module docstring).

    Kept for the last few target configs of this process (a rerun, a sweep's shape groups and the
    explorer's pages share one): a rotated 2000-output target costs ~40 ms of random draws alone.
    The arrays of a kept Problem are read-only, so no caller can change another's."""
    key = (target, TARGET_KINDS[target.kind])  # the kind's entry too: a re-registered kind is a new key
    with _PROBLEMS_LOCK:  # pages run in many threads
        problem = _PROBLEMS.pop(key, None)
    if problem is None:
        problem = _build_problem(target)
        for value in vars(problem).values():
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
    with _PROBLEMS_LOCK:
        _PROBLEMS[key] = problem  # most recent last
        while len(_PROBLEMS) > PROBLEM_CACHE_SIZE:
            _PROBLEMS.pop(next(iter(_PROBLEMS)))
    return problem


PROBLEM_CACHE_SIZE = 8
_PROBLEMS: dict = {}
_PROBLEMS_LOCK = threading.Lock()


def _build_problem(target) -> Problem:
    m = TARGET_KINDS[target.kind].modes(target)
    sigma_yx, U, lam, V = m.sigma_yx, m.U, m.lam, m.V
    n_in = sigma_yx.shape[1]
    r = len(lam)
    d_modes = None
    if m.sigma_xx is not None:  # the kind's own inputs (hierarchy: one-hot items)
        sigma_xx, d_modes = m.sigma_xx, m.d
    elif target.input_kind == "whitened":
        sigma_xx = np.eye(n_in)
    else:
        ev = np.array(target.input_eigenvalues, dtype=float)
        if target.input_kind == "commuting":
            Vf = complete_basis(V[:, :r]) if V.shape[1] < n_in else V
            if m.order is not None:
                # eigenvalue j belongs to the j-th given singular value: follow the sort permutation
                ev = np.concatenate([ev[:r][m.order], ev[r:]])
            sigma_xx = Vf @ np.diag(ev) @ Vf.T
            d_modes = ev[:r]
        else:
            R = haar_columns(n_in, n_in, np.random.default_rng(target.input_seed))
            sigma_xx = R @ np.diag(ev) @ R.T
    sigma_xx = 0.5 * (sigma_xx + sigma_xx.T)  # exact symmetry (round-off from the basis products)
    # copies, not views: a kept Problem must not hold an unrotated target's whole n_out × n_out identity
    U_star, V_star = np.ascontiguousarray(U[:, :r]), np.ascontiguousarray(V[:, :r])
    w_star = np.linalg.solve(sigma_xx.T, sigma_yx.T).T  # Σyx Σxx⁻¹
    target_strength = np.einsum("ir,ij,jr->r", U_star, w_star, V_star)
    target_strength[lam == 0] = 0.0  # u*_iᵀ Σyx = 0 makes it exactly 0; drop the rounding residue
    return Problem(
        sigma_yx=sigma_yx,
        sigma_xx=sigma_xx,
        U_star=U_star,
        lambda_star=lam,
        V_star=V_star,
        input_eigenvalues=d_modes,
        w_star=w_star,
        target_strength=target_strength,
        input_kind="commuting" if m.sigma_xx is not None else target.input_kind,
        labels_in=m.labels_in,
        labels_out=m.labels_out,
    )


def load_matrix_csv(path_or_text: str | os.PathLike) -> tuple[tuple[float, ...], ...]:
    """Read a target matrix from a CSV file path or CSV text (rows = outputs, columns = inputs).

    Blank lines are skipped; one optional non-numeric header row is allowed. Any other bad content
    raises ConfigError("matrix", ...) naming the row and column.
    """
    text = str(path_or_text)
    if isinstance(path_or_text, os.PathLike) or ("\n" not in text and os.path.isfile(text)):
        try:
            with open(path_or_text, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError("matrix", "must be a readable UTF-8 CSV file", str(exc)) from None
    rows = [r for r in csv.reader(io.StringIO(text.strip())) if any(c.strip() for c in r)]
    if not rows:
        raise ConfigError("matrix", "CSV must contain at least one row of numbers", "empty")

    def number(cell: str) -> float | None:
        try:
            return float(cell)
        except ValueError:
            return None

    if all(number(c) is None for c in rows[0]):
        rows = rows[1:]  # a header row
    out = []
    for i, row in enumerate(rows, start=1):
        vals = []
        for j, cell in enumerate(row, start=1):
            v = number(cell.strip())
            if v is None:
                raise ConfigError("matrix", f"row {i}, column {j} must be a number", cell)
            vals.append(v)
        out.append(tuple(vals))
    return check_matrix(out)


__all__ = ["HIERARCHY_FEATURES", "HIERARCHY_ITEMS", "TARGET_KINDS", "Modes", "Problem", "TargetKind", "build_problem",
           "load_matrix_csv", "register"]

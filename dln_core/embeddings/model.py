"""The embedding model: configuration, spectrum of M*, and full-batch GD on ¼‖M* − W Wᵀ‖²_F.

THEORY.md §7 with the loss scaling of :mod:`dln_core.embeddings.theory` (¼, so that the dynamics are
those of a two-layer linear network in loss convention (H); time t = η·k as everywhere).
Init: W₀ = init_scale · G / √V with G i.i.d. standard normal (V × d), so the singular values of W₀
are ≈ init_scale. Training runs in torch (CUDA if present and asked for, else CPU); the per-step
cost is one V × V × d product (M* W); W Wᵀ is never formed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._validate import is_int
from ..budget import EMBED_HINT, check_budget, checkpoint, embed_seconds
from ..errors import ConfigError
from ..limits import Limits, check_cap

# V·V·d·steps budget when limits.py predates ``max_embed_work`` (intended: LOCAL 2e13, HOSTED 2e11)
DEFAULT_MAX_EMBED_WORK = 2e13

DEVICES = ("auto", "cpu", "cuda")
SINGLE_THREAD_BELOW = 1e9  # V² d below which the CPU GD loop runs on one thread (see train_gd)
DTYPES = ("float32", "float64")
# GD routes (same iteration, see dln_core.embeddings.eigenbasis): "dense" steps with M* (O(V²d) a step);
# "eigenbasis" steps in M*'s eigenbasis (O(Vd²) a step after one cached eigendecomposition);
# "auto" picks the one with the smaller predicted cost
METHODS = ("auto", "dense", "eigenbasis")


UNIGRAMS = ("cooccurrence", "tokens")  # cooccurrence.unigram_probabilities


@dataclass(frozen=True)
class EmbedConfig:
    """One word-embedding experiment (frozen: it is also the page's cache key)."""

    vocab: int = 2000  # V, top-V words of the corpus
    dim: int = 50  # d, embedding dimension
    init_scale: float = 1e-6  # ≈ singular values of W₀ (W₀ = init_scale·G/√V)
    lr: float | str = "auto"  # η, or "auto" = theory.stable_lr from M*'s extreme eigenvalues
    steps: int = 300  # full-batch GD steps
    seed: int = 0
    window: int = 16  # context half-width c (weights c+1−j)
    psi: float = 1.0  # ψ in M*
    unigram: str = "cooccurrence"  # P_i in M*: "cooccurrence" (marginal Σ_j P_ij) or "tokens" (frequency)
    n_snapshots: int = 100  # history rows (evenly spaced steps, incl. 0 and the last)
    n_scatter_snapshots: int = 25  # snapshots kept for the 3-D scatter
    event_snapshots: int = 9  # extra snapshots around each predicted mode rise (embeddings/schedule.py); 0 = none
    scatter_words: int = 1000  # most frequent words kept for the scatter (+ highlighted words)
    device: str = "auto"
    dtype: str = "float32"
    method: str = "auto"  # GD route, one of METHODS (the numbers agree to the dtype's rounding)

    def __post_init__(self) -> None:
        if not is_int(self.vocab) or self.vocab < 2:
            raise ConfigError("vocab", "must be an integer >= 2", self.vocab)
        if not is_int(self.dim) or not 1 <= self.dim < self.vocab:
            raise ConfigError("dim", f"must be an integer in [1, {self.vocab - 1}] (below the vocabulary size)", self.dim)
        if not isinstance(self.init_scale, int | float) or not (0 < self.init_scale <= 10) or math.isnan(self.init_scale):
            raise ConfigError("init_scale", "must be a number in (0, 10]", self.init_scale)
        if isinstance(self.lr, str):
            if self.lr != "auto":
                raise ConfigError("lr", "must be a positive number or 'auto'", self.lr)
        elif not isinstance(self.lr, int | float) or not (0 < self.lr < 10) or math.isnan(self.lr):
            raise ConfigError("lr", "must be a number in (0, 10) or 'auto'", self.lr)
        if not is_int(self.steps) or self.steps < 1:
            raise ConfigError("steps", "must be an integer >= 1", self.steps)
        if not is_int(self.seed) or self.seed < 0:
            raise ConfigError("seed", "must be an integer >= 0", self.seed)
        if not is_int(self.window) or not 1 <= self.window <= 64:
            raise ConfigError("window", "must be an integer in [1, 64]", self.window)
        if not isinstance(self.psi, int | float) or not self.psi > 0:
            raise ConfigError("psi", "must be a positive number", self.psi)
        if self.unigram not in UNIGRAMS:
            raise ConfigError("unigram", f"must be one of {list(UNIGRAMS)}", self.unigram)
        if not is_int(self.n_snapshots) or not 2 <= self.n_snapshots <= 2000:
            raise ConfigError("n_snapshots", "must be an integer in [2, 2000]", self.n_snapshots)
        if not is_int(self.n_scatter_snapshots) or not 1 <= self.n_scatter_snapshots <= 200:
            raise ConfigError("n_scatter_snapshots", "must be an integer in [1, 200]", self.n_scatter_snapshots)
        if not is_int(self.event_snapshots) or not 0 <= self.event_snapshots <= 50:
            raise ConfigError("event_snapshots", "must be an integer in [0, 50]", self.event_snapshots)
        if not is_int(self.scatter_words) or self.scatter_words < 1:
            raise ConfigError("scatter_words", "must be an integer >= 1", self.scatter_words)
        if self.device not in DEVICES:
            raise ConfigError("device", f"must be one of {list(DEVICES)}", self.device)
        if self.dtype not in DTYPES:
            raise ConfigError("dtype", f"must be one of {list(DTYPES)}", self.dtype)
        if self.method not in METHODS:
            raise ConfigError("method", f"must be one of {list(METHODS)}", self.method)

    def check_limits(self, limits: Limits) -> None:
        check_cap("vocab", self.vocab, limits.max_vocab, "vocabulary size")
        check_cap("dim", self.dim, limits.max_dim, "embedding dimension")
        check_cap("steps", self.steps, limits.max_embed_steps, "embedding GD steps")
        check_cap("max_embed_work", self.work, getattr(limits, "max_embed_work", DEFAULT_MAX_EMBED_WORK),
                  "compute budget V·V·d·steps: lower the vocabulary, dimension or steps")
        # the CPU budget per request: spectrum, gradient descent and evaluation, priced before any work
        # (route-aware; the eigendecomposition is priced as not cached: the budget must hold either way)
        check_budget(embed_seconds(self.vocab, self.dim, self.steps, self.n_snapshots, self.method, self.dtype),
                     getattr(limits, "max_cpu_seconds", math.inf), "this embedding", EMBED_HINT)

    @property
    def work(self) -> float:
        """V·V·d·steps: one GD step costs about 2·V²·d flops (the M* W product, THEORY §7)."""
        return float(self.vocab) ** 2 * self.dim * self.steps


@dataclass(frozen=True, eq=False)
class Spectrum:
    """Top-d eigenpairs of M* (descending) and its smallest eigenvalue."""

    mu: np.ndarray  # (d,)
    vectors: np.ndarray  # (V, d) orthonormal columns
    mu_min: float
    frob2: float  # ‖M*‖²_F


def frobenius2(M: np.ndarray) -> float:
    """‖M*‖²_F accumulated in float64 without a V × V float64 temporary (einsum reads M in place)."""
    return float(np.einsum("ij,ij->", M, M, dtype=np.float64))


def spectrum(M: np.ndarray, d: int) -> Spectrum:
    """Top-d algebraic eigenpairs and the most negative eigenvalue of the symmetric M*."""
    import scipy.linalg  # here, not at import: a run with a cached eigendecomposition never needs it
    import scipy.sparse.linalg

    V = M.shape[0]
    frob2 = frobenius2(M)
    if V <= max(400, 3 * d + 20):  # small: the dense solver is exact and fast
        w, vec = scipy.linalg.eigh(np.asarray(M, dtype=np.float64))
        # .copy(), not ascontiguousarray: for d = 1 a reversed (V, 1) slice already counts as
        # contiguous, keeps its negative stride, and torch.as_tensor rejects it
        mu, vectors, mu_min = w[::-1][:d].copy(), vec[:, ::-1][:, :d].copy(), float(w[0])
    else:
        # Lanczos on the float32 matrix: ~30x faster than a dense float64 solve at V = 2k, and the
        # eigenvalues agree to ~1e-6 relative
        M32 = np.asarray(M, dtype=np.float32)
        # a fixed start vector: ARPACK's default is random, which made two runs of one config differ
        # by ~1e-4 (and a cached page could mix them); this keeps a config's results reproducible
        v0 = np.random.default_rng(0).standard_normal(M32.shape[0]).astype(np.float32)
        w, vec = scipy.sparse.linalg.eigsh(M32, k=d, which="LA", tol=1e-6, v0=v0)
        order = np.argsort(-w)
        mu, vectors = w[order].astype(np.float64), vec[:, order].astype(np.float64)
        mu_min = float(scipy.sparse.linalg.eigsh(M32, k=1, which="SA", return_eigenvectors=False, tol=1e-5,
                                                 v0=v0)[0])
    return Spectrum(mu, vectors, mu_min, frob2)


def closed_form_embedding(spec: Spectrum) -> np.ndarray:
    """W* = V_d diag(√max(μ_k, 0)): the optimum of the factorisation (THEORY §7)."""
    return spec.vectors * np.sqrt(np.maximum(spec.mu, 0.0))


def resolve_device(name: str):
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", "'cuda' requested but no CUDA device is available", name)
    use_cuda = name == "cuda" or (name == "auto" and torch.cuda.is_available())
    return torch.device("cuda" if use_cuda else "cpu")


def initial_embedding(V: int, d: int, init_scale: float, seed: int) -> np.ndarray:
    """W₀ = init_scale · G / √V, G i.i.d. N(0, 1) from ``seed`` (numpy, so any device agrees)."""
    return init_scale * np.random.default_rng(seed).standard_normal((V, d)) / math.sqrt(V)


@dataclass
class Trajectory:
    """What one GD run recorded: per step (loss, mode strengths) and W at the snapshot steps."""

    loss: np.ndarray  # (K + 1,) loss before step k (k = 0..K); NaN after divergence
    modes: np.ndarray  # (K + 1, d) u_k = ‖v_kᵀ W‖² along the top-d eigenvectors of M*
    snapshot_steps: np.ndarray  # (S,)
    snapshots: list[np.ndarray]  # W at those steps (V × d; float32 unless asked otherwise)
    steps_run: int
    diverged_step: int | None
    wall_time_s: float
    device: str
    # WᵀW (d × d, float64) at the snapshot steps when the loop has it cheaper than from the stored W
    # (the eigenbasis route: WᵀW = ZᵀZ); None = compute it from ``snapshots``
    grams: list[np.ndarray] | None = None


def snapshot_schedule(steps: int, n: int) -> np.ndarray:
    return np.unique(np.linspace(0, steps, n).round().astype(np.int64))


def train_gd(
    M: np.ndarray,
    W0: np.ndarray,
    lr: float,
    steps: int,
    eigvecs: np.ndarray,
    snapshot_steps: np.ndarray,
    device: str = "auto",
    dtype: str = "float32",
    progress: Callable[[float], None] | None = None,
    frob2: float | None = None,
    snapshot_dtype: str = "float32",
) -> Trajectory:
    """Full-batch GD W ← W + η (M* − W Wᵀ) W on ℓ = ¼‖M* − W Wᵀ‖²_F (theory module docstring).

    The loss is evaluated from quantities the step needs anyway:
    ‖M − WWᵀ‖² = ‖M‖² − 2 tr(Wᵀ M W) + ‖WᵀW‖².
    ``frob2`` = ‖M‖²_F when already known (``Spectrum.frob2``); computed here otherwise.
    Snapshots are stored as ``snapshot_dtype`` (float32 = what the frames need; float64 for parity checks).
    """
    import torch

    dev = resolve_device(device)
    tdt = torch.float32 if dtype == "float32" else torch.float64
    t0 = time.perf_counter()
    # Small problems run single-threaded on CPU: on shared cores the thread-pool hand-offs of ~10
    # ops per step cost more than they gain (V = 2500, d = 50 under load: 10 ms/step on 1 thread,
    # 7-80 ms on 2). Large ones (V² d ≥ SINGLE_THREAD_BELOW) keep torch's default.
    threads = torch.get_num_threads()
    if dev.type == "cpu" and M.shape[0] ** 2 * W0.shape[1] < SINGLE_THREAD_BELOW:
        torch.set_num_threads(1)
    try:
        frob2 = frobenius2(M) if frob2 is None else float(frob2)
        return _gd_loop(M, W0, lr, steps, eigvecs, snapshot_steps, dev, tdt, progress, t0, frob2,
                        getattr(torch, snapshot_dtype))
    finally:
        torch.set_num_threads(threads)


def _positive_strides(a: np.ndarray) -> np.ndarray:
    """``a`` as torch accepts it: C order and no negative stride (ascontiguousarray alone keeps the
    negative stride of a reversed length-1 axis). Copies only when needed: M* can be large."""
    a = np.ascontiguousarray(a)
    return a.copy() if any(s < 0 for s in a.strides) else a


def _gd_loop(M, W0, lr, steps, eigvecs, snapshot_steps, dev, tdt, progress, t0, frob2, sdt) -> Trajectory:
    """The loop of :func:`train_gd` (same arguments, already resolved; frob2 = ‖M‖²_F)."""
    import torch

    Mt = torch.as_tensor(_positive_strides(M), dtype=tdt, device=dev)
    # The loop keeps X = Wᵀ (d × V): M* is symmetric, so X M* = (M* W)ᵀ, and the wide (d × V)·(V × V)
    # product is BLAS's faster layout here (≈ 13 % per step at V = 5000, d = 100; benchmarks/).
    X = torch.as_tensor(_positive_strides(W0), dtype=tdt, device=dev).T.contiguous()
    Vt = torch.as_tensor(_positive_strides(eigvecs), dtype=tdt, device=dev)
    snap = set(int(s) for s in snapshot_steps)
    losses = np.full(steps + 1, np.nan)
    modes = np.full((steps + 1, eigvecs.shape[1]), np.nan)
    snapshots: list[np.ndarray] = []
    diverged = None
    k = 0
    with torch.no_grad():
        for k in range(steps + 1):
            XM = X @ Mt  # (M* W)ᵀ
            G = X @ X.T  # WᵀW
            # float32 reductions are ample: loss steps are ≥ μ_d²/4, far above their rounding error
            loss = 0.25 * (frob2 - 2.0 * float(torch.sum(X * XM)) + float(torch.sum(G * G)))
            losses[k] = loss
            modes[k] = torch.sum((X @ Vt) ** 2, dim=0).cpu().numpy()  # u_k = ‖v_kᵀW‖²
            if not math.isfinite(loss) or loss > 1e30:
                diverged = k
                losses[k] = np.nan
                break
            if k in snap:
                snapshots.append(X.T.detach().to("cpu", sdt).numpy().copy())
            if k == steps:
                break
            X += lr * (XM - G @ X)  # W ← W + η (M* − WWᵀ) W, transposed
            if k % 20 == 0:
                checkpoint()  # the requester left or asked for something else: stop here
                if progress is not None:
                    progress(k / steps)
    if progress is not None:
        progress(1.0)
    return Trajectory(
        loss=losses,
        modes=modes,
        snapshot_steps=np.asarray([s for s in snapshot_steps if s <= k and (diverged is None or s < diverged)]),
        snapshots=snapshots,
        steps_run=k,
        diverged_step=diverged,
        wall_time_s=time.perf_counter() - t0,
        device=dev.type,
    )

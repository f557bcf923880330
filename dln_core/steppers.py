"""The GD step program: B networks advanced together on the population loss (H), numpy or torch.

THEORY.md §1: with Σxx, Σyx the loss is ℓ = ½ tr((W − W*) Σxx (W − W*)ᵀ) and
∇_{W_l} ℓ = (W_L…W_{l+1})ᵀ (W Σxx − Σyx) (W_{l−1}…W_1)ᵀ. :func:`backprop` evaluates that closed form
(no autograd, no nn.Module); :func:`gd_steps` is the one step loop built on it, and the backends
differ only in which array functions they hand it (:class:`Ops`). Layer l is one array of shape
(B, n_l, n_{l−1}) and each member has its own step size lr_b (B, 1, 1).

Backends: on CPU the loop runs in numpy (at d ≈ 6 torch's per-op overhead costs 2–4×; measured in
benchmarks/bench_engine.py); on CUDA (or with ``backend="torch"``) the same loop runs in torch. A
batch of one runs on 2-D views with ``np.dot`` (about 2× faster than stacked matmul at d ≈ 6; the
"single" kernel row of bench_engine.py).

Steppers are a registry (:data:`STEPPERS`, name → class, like scipy's ``METHODS`` table): "numpy",
"fused" (dln_core/fused.py: one compiled numba loop over all n steps per block of members, the same
arithmetic; float64 only; a serial variant for batches under :data:`FUSED_MIN_BATCH`) and "torch".
With no explicit backend on CPU, :func:`choose` picks "fused" where benchmarks/bench_engine.py
measured it faster than numpy (:data:`FUSED_MAX_DIM`) and numba is installed, else "numpy".

Per step the loop also keeps an elementwise running max of the mode strengths u_i (``umax``): the
runner uses it to see, at a chunk end, whether a halfway crossing happened inside the chunk.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from . import fused
from .errors import ConfigError
from .limits import current_profile
from .linalg import is_basis
from .targets import Problem


class Ops(NamedTuple):
    """The array functions the step program needs (numpy batched, numpy 2-D, torch)."""

    matmul: Callable
    mT: Callable  # transpose of the last two axes
    diagonal: Callable  # diagonal of the last two axes
    maximum: Callable  # maximum(a, b, out=a)


def _np_mT(a):
    return a.swapaxes(-1, -2)


NUMPY_OPS = Ops(np.matmul, _np_mT, lambda a: np.diagonal(a, 0, -2, -1), np.maximum)
NUMPY_2D_OPS = Ops(np.dot, lambda a: a.T, lambda a: a.diagonal(), np.maximum)


def forward(weights: Sequence, matmul: Callable = np.matmul) -> list:
    """Prefix products [W_1, W_2W_1, …, W_L…W_1]; the last one is the end-to-end map W (THEORY.md §1)."""
    prefix = [weights[0]]
    for Wl in weights[1:]:
        prefix.append(matmul(Wl, prefix[-1]))
    return prefix


def backprop(weights: Sequence, prefix: Sequence, E, matmul: Callable = np.matmul, mT: Callable = _np_mT) -> list:
    """[G_1, …, G_L] with G_l = (W_L…W_{l+1})ᵀ E (W_{l−1}…W_1)ᵀ (THEORY.md §1), from the current weights.

    With E = W Σxx − Σyx, G_l is the layer gradient; the step loop passes lr·E, so G_l is the step.
    ``prefix`` is :func:`forward`'s output for the same weights.
    """
    out = [None] * len(weights)
    for li in range(len(weights) - 1, 0, -1):
        out[li] = matmul(E, mT(prefix[li - 1]))
        E = matmul(mT(weights[li]), E)  # (W_L…W_l)ᵀ E for the next layer down
    out[0] = E
    return out


def gd_steps(n: int, Ws: list, lr, umax, syx, sxx, UT, VT, diag: bool, ops: Ops, trace=None) -> None:
    """n full-batch GD steps in place on ``Ws``; ``umax`` keeps the running max of u (before each step).

    ``trace`` (optional :class:`Trace`): also hand it u and the loss of the state before each step,
    both from quantities the step computes anyway (THEORY.md §1.3, eq. 1.4a: ℓ = ½ Σ E ⊙ (W − W*)).
    """
    matmul, mT, diagonal, maximum = ops
    L = range(len(Ws))
    for _ in range(n):
        prefix = forward(Ws, matmul)
        W = prefix[-1]
        u = diagonal(W) if diag else (matmul(UT, W) * VT).sum(-1)
        maximum(umax, u, out=umax)
        E = W - syx if sxx is None else matmul(W, sxx) - syx
        if trace is not None:
            trace.take(u, E, W)
        E *= lr  # lr·(W Σxx − Σyx): each G_l is then the step of layer l
        G = backprop(Ws, prefix, E, matmul, mT)
        for li in L:
            Ws[li] -= G[li]


def structure(problem: Problem) -> tuple[int, bool, bool]:
    """(r, diag, whitened): diag when U*, V* are the leading standard basis vectors (u_i is then a
    diagonal entry of W), whitened when Σxx = I (the step skips the product with Σxx)."""
    diag = is_basis(problem.U_star) and is_basis(problem.V_star)
    return problem.r, diag, is_basis(problem.sigma_xx)


class Trace:
    """The cheap per-step record: loss (H) and mode strengths u of every member every ``every`` steps.

    Filled inside the step loop (:func:`gd_steps` calls :meth:`take` once per step with the state's u,
    its error E = W Σxx − Σyx and W); rows are the states at steps k ≡ 0 (mod ``every``), counted from
    ``step`` (the step of the next state the loop will see). ``w_star`` is None for whitened inputs,
    where E = W − W* already. ``to_np`` turns the backend's arrays into numpy (torch: ``.cpu().numpy()``).
    """

    def __init__(self, every: int, batch: int, r: int, capacity: int, w_star=None, to_np=None) -> None:
        self.every, self.w_star, self.to_np = int(every), w_star, to_np or np.asarray
        self.numpy = to_np is None
        self.step = 0
        self.n = 0
        self.steps = np.zeros(capacity, dtype=np.int64)
        self.loss = np.zeros((capacity, batch))
        self.u = np.zeros((capacity, batch, r))

    def take(self, u, E, W) -> None:
        k = self.step
        self.step = k + 1
        if k % self.every:
            return
        D = E if self.w_star is None else W - self.w_star
        # numpy: einsum sums the product without a temporary (np.vdot measured 2-10x slower: BLAS threads)
        loss = np.einsum("...ij,...ij->...", E, D) if self.numpy else (E * D).sum((-2, -1))
        self.put(k, u, 0.5 * loss)

    def put(self, k: int, u, loss) -> None:
        i = self.n
        if i == len(self.steps):  # more rows than announced: double the storage
            self.steps, self.loss, self.u = (np.concatenate([a, np.zeros_like(a)]) for a in (self.steps, self.loss, self.u))
        self.steps[i] = k
        if self.numpy:
            self.loss[i], self.u[i] = loss, u
        else:
            self.loss[i], self.u[i] = self.to_np(loss), self.to_np(u)
        self.n = i + 1


class NumpyStepper:
    """B networks as stacked numpy arrays; ``advance(n)`` does n GD steps.

    ``trace`` (None, or a :class:`Trace` set by the runner) is filled inside the step loop."""

    trace: Trace | None = None

    def __init__(self, weights: list[np.ndarray], lrs: np.ndarray, problem: Problem, dtype: str) -> None:
        self.dtype = np.dtype(dtype)
        self.W = [np.ascontiguousarray(w, dtype=self.dtype) for w in weights]
        self.lr = np.asarray(lrs, dtype=self.dtype).reshape(-1, 1, 1).copy()
        self.syx = problem.sigma_yx.astype(self.dtype)
        r, self.diag, whitened = structure(problem)
        self.sxx = None if whitened else problem.sigma_xx.astype(self.dtype)
        self.UT = problem.U_star.T.astype(self.dtype)
        self.VT = problem.V_star.T.astype(self.dtype)
        self.umax = np.full((len(self.lr), r), -np.inf, dtype=self.dtype)

    def reset_umax(self) -> None:
        self.umax.fill(-np.inf)

    def start_trace(self, every: int, capacity: int, problem: Problem) -> Trace:
        """Record loss and u every ``every`` steps from the next step on (:class:`Trace`)."""
        w_star = None if self.sxx is None else problem.w_star.astype(self.dtype)
        self.trace = Trace(every, len(self.lr), self.umax.shape[1], capacity, w_star)
        return self.trace

    def advance(self, n: int) -> None:
        with np.errstate(all="ignore"):  # a diverging member overflows; the runner handles it at the chunk end
            if len(self.lr) == 1:  # 2-D views: in-place updates land in self.W
                gd_steps(n, [w[0] for w in self.W], self.lr.item(), self.umax[0], self.syx, self.sxx, self.UT,
                         self.VT, self.diag, NUMPY_2D_OPS, self.trace)
            else:
                gd_steps(n, self.W, self.lr, self.umax, self.syx, self.sxx, self.UT, self.VT, self.diag, NUMPY_OPS,
                         self.trace)

    def weights(self) -> list[np.ndarray]:
        return [w.astype(np.float64, copy=True) for w in self.W]

    def umax_numpy(self) -> np.ndarray:
        return self.umax.astype(np.float64)

    def set_member(self, b: int, weights: list[np.ndarray], lr: float | None = None) -> None:
        for w, new in zip(self.W, weights):
            w[b] = new
        if lr is not None:
            self.lr[b] = lr


class FusedStepper(NumpyStepper):
    """The numpy stepper's program as one fused numba kernel (dln_core/fused.py), float64 only.

    Same state and interface as :class:`NumpyStepper` (the runner's replay, divergence freeze and
    snapshots read it the same way); per-member arithmetic does not depend on the batch size or the
    member's position, so a replay sub-batch retraces the main batch exactly."""

    def __init__(self, weights, lrs, problem, dtype) -> None:
        if not fused.available():
            raise ConfigError("backend", "'fused' needs numba (pip install numba); use 'numpy'", "fused")
        if np.dtype(dtype) != np.float64:
            raise ConfigError("backend", "'fused' runs float64 only; use 'numpy' for float32", dtype)
        super().__init__(weights, lrs, problem, dtype)
        self._lr_flat = self.lr.reshape(-1)  # a view: set_member's lr changes reach the kernel

    def advance(self, n: int) -> None:
        if n <= 0:
            return
        if self.trace is not None:  # the compiled loop has no per-step hook: the numpy program, same arithmetic
            super().advance(n)
            return
        with np.errstate(all="ignore"):
            fused.advance(self.W, self._lr_flat, self.syx, self.sxx, self.UT, self.VT, self.diag, self.umax,
                                n)


class TorchStepper(NumpyStepper):
    """The same program in torch (CUDA, or CPU when forced)."""

    def __init__(self, weights, lrs, problem, dtype, device) -> None:
        import torch  # lazy: importing torch costs ~2 s and the CPU default never needs it

        self.torch = torch
        super().__init__(weights, lrs, problem, dtype)
        tdt = getattr(torch, dtype)
        dev = torch.device(device)

        def put(a):
            return None if a is None else torch.as_tensor(a, device=dev).to(tdt)

        self.W = [put(w).contiguous() for w in self.W]
        self.lr, self.syx, self.sxx = put(self.lr), put(self.syx), put(self.sxx)
        self.UT, self.VT, self.umax = put(self.UT), put(self.VT), put(self.umax)
        self.ops = Ops(torch.matmul, lambda a: a.mT, lambda a: a.diagonal(dim1=-2, dim2=-1), torch.maximum)

    def reset_umax(self) -> None:
        self.umax.fill_(-math.inf)

    def start_trace(self, every: int, capacity: int, problem: Problem) -> Trace:
        # a copy: the kept Problem's arrays are read-only, which torch warns about
        w_star = None if self.sxx is None else self.torch.as_tensor(
            problem.w_star.copy(), device=self.W[0].device, dtype=self.W[0].dtype)
        self.trace = Trace(every, len(self.lr), self.umax.shape[1], capacity, w_star,
                           lambda t: t.detach().cpu().numpy())
        return self.trace

    def advance(self, n: int) -> None:
        with self.torch.no_grad():
            gd_steps(n, self.W, self.lr, self.umax, self.syx, self.sxx, self.UT, self.VT, self.diag, self.ops,
                     self.trace)

    def weights(self) -> list[np.ndarray]:
        return [w.detach().cpu().numpy().astype(np.float64) for w in self.W]

    def umax_numpy(self) -> np.ndarray:
        return self.umax.cpu().numpy().astype(np.float64)

    def set_member(self, b, weights, lr=None) -> None:
        for w, new in zip(self.W, weights):
            w[b] = self.torch.as_tensor(new, dtype=w.dtype, device=w.device)
        if lr is not None:
            self.lr[b] = lr


# name -> stepper class (the variation point; make_stepper looks names up here)
STEPPERS: dict[str, type[NumpyStepper]] = {"numpy": NumpyStepper, "fused": FusedStepper, "torch": TorchStepper}
BACKENDS = tuple(STEPPERS)

# "auto" on CPU: the fused kernel where benchmarks/bench_engine.py --rule measured it faster than numpy.
# d = 6 wins at every batch size (1.5x at B = 1, 3-5x at B >= 8); d = 10 only 1.2-1.4x from B = 8 and
# 0.5x at B = 1; larger layers lose (numpy's matmul vectorises over the matrix, the kernel over members).
FUSED_MAX_DIM = 8
# Batches of at least two SIMD blocks run the parallel kernel; smaller ones the serial variant
# (fused.serial_for): the parallel kernel's per-call thread hand-off costs milliseconds, while the
# serial loop does a d = 6, L = 3 network-step in ~0.5 us against numpy's ~11 us at B = 1.
FUSED_MIN_BATCH = 2 * fused.BLOCK
# compiling the parallel kernel costs ~20-30 s per shape (then cached on disk); without a compiled
# kernel it is used only when the run is long enough to repay that (~0.3 us saved per network-step)
FUSED_COMPILE_WORK = 1e8  # network-steps
# the serial variant compiles in ~3 s and saves ~2-10 us per network-step: compiled in the foreground
# for runs this long, and in the background (for later runs) only from runs of SERIAL_BACKGROUND_WORK,
# so that a quick interactive run never shares its CPU with a compile
SERIAL_COMPILE_WORK = 3e6  # network-steps
SERIAL_BACKGROUND_WORK = 2e5


def choose(dims: Sequence[int], problem: Problem, dtype: str, work: float, batch: int) -> str:
    """The CPU stepper "auto" runs for layer sizes ``dims`` (n_0, …, n_L) and ``work`` network-steps:
    "fused" for small float64 networks when numba is installed and the kernel variant for this batch
    size (fused.serial_for) is compiled (or the run repays compiling it), else "numpy". A shape without
    a compiled kernel starts compiling it in the background, for the runs after this one (the serial
    variant only from runs of SERIAL_BACKGROUND_WORK network-steps)."""
    if np.dtype(dtype) != np.float64 or max(dims) > FUSED_MAX_DIM or not fused.available():
        return "numpy"
    serial = fused.serial_for(batch)
    key = (tuple(int(n) for n in dims), *structure(problem)[:2], not structure(problem)[2], serial)
    if fused.compiled(*key):
        return "fused"
    if current_profile() == "hosted":  # a hosted server spends no unbudgeted CPU on a compile, in any thread
        return "numpy"
    if work >= (SERIAL_COMPILE_WORK if serial else FUSED_COMPILE_WORK):
        return "fused"  # compiled now: this run repays it
    if not serial or work >= SERIAL_BACKGROUND_WORK:
        fused.compile_async(*key)
    return "numpy"


def resolve_backend(device: str, backend: str | None) -> tuple[str, str]:
    """(backend, device): numpy on CPU (fastest at small d), torch on CUDA."""
    if device == "auto":
        # importing torch costs ~2 s: only ask it about CUDA when an NVIDIA driver is present
        device = "cpu"
        if os.path.exists("/proc/driver/nvidia/version") or os.environ.get("CUDA_VISIBLE_DEVICES"):
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("device", "'cuda' requested but no CUDA device is available; use 'cpu' or 'auto'",
                              device)
        return "torch", device
    if backend not in (None, *BACKENDS):
        raise ConfigError("backend", "must be one of " + ", ".join(BACKENDS), backend)
    return backend or "numpy", device


def make_stepper(backend: str, device: str, weights, lrs, problem: Problem, dtype: str) -> NumpyStepper:
    """A stepper for ``backend`` (a :data:`STEPPERS` name) holding stacked ``weights`` (B, ...) and ``lrs`` (B,)."""
    if backend == "torch":
        return TorchStepper(weights, lrs, problem, dtype, device)
    return STEPPERS[backend](weights, lrs, problem, dtype)


__all__ = ["BACKENDS", "FUSED_COMPILE_WORK", "FUSED_MAX_DIM", "FUSED_MIN_BATCH", "SERIAL_BACKGROUND_WORK",
           "SERIAL_COMPILE_WORK", "STEPPERS", "FusedStepper", "NumpyStepper", "Ops",
           "TorchStepper", "Trace", "backprop", "choose", "forward", "gd_steps", "make_stepper", "resolve_backend", "structure"]

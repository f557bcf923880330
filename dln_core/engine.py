"""The training engine: batched full-batch gradient descent on the population loss (H).

THEORY.md §1: with Σxx, Σyx the loss is ℓ = ½ tr((W − W*) Σxx (W − W*)ᵀ) and
∇_{W_l} ℓ = (W_L…W_{l+1})ᵀ (W Σxx − Σyx) (W_{l−1}…W_1)ᵀ. We evaluate that closed form (no autograd,
no nn.Module) for B networks at once: layer l is one array of shape (B, n_l, n_{l−1}), each step is a
handful of batched matmuls, and each member has its own step size lr_b (B, 1, 1).

Backends: on CPU the stacked-matmul loop runs in numpy (at d ≈ 6 torch's per-op overhead costs 2–4×;
measured in benchmarks/bench_engine.py); on CUDA (or with ``backend="torch"``) the same program runs in
torch. Both produce the same trajectories to rounding.

Per step we only do the update plus one elementwise max of the mode strengths (for the exact halfway
detection below). Everything else happens at chunk boundaries (every ≤ 100 steps and at every
snapshot): divergence check, snapshot diagnostics (dln_core.diagnostics), progress. Memory is
O(snapshots), never O(steps).

Exact event steps without per-step Python work:

- halfway step of mode i = the first step k whose state has u_i(k) ≥ target_i/2 (target_i = λ_i,
  or λ_i/d_i for commuting inputs). The step loop keeps a running max of u per chunk; when it shows a
  new crossing, that member's chunk is replayed from the saved chunk-start weights one step at a
  time (a B = 1 copy of the same stepper), which yields the exact first step.
- divergence: loss non-finite or > 1e6·max(ℓ(0), 1), checked at chunk ends; the chunk is replayed to
  find the exact first bad step k, the member is frozen at its state k − 1 (its lr becomes 0) and
  stops contributing snapshots; the rest of the batch continues.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from . import budget, frames
from . import diagnostics as dg
from .config import RunConfig
from .errors import ConfigError
from .limits import Limits, check_cap, current_limits
from .targets import Problem, build_problem, haar_columns, psd_sqrt

Progress = Callable[[float], None]

CHUNK = 100  # steps between divergence / halfway checks (also the "auto" check interval)
AUTO_LOSS = 0.05  # "auto" steps: loss (H) below this = the widget's loss 0.1 (THEORY.md §1.6)
AUTO_MIN_STEPS = 500
DIVERGE_FACTOR = 1e6
CONVERGED_RTOL = 1e-6  # converged: final loss <= loss_floor + this x max(initial loss, 1)
SHARPNESS_MAX_PARAMS = 20_000  # above this many weights lr_cap is not computed (None): not cheap


# ------------------------------------------------------------------------------- step-size reporting
def lr_cap(problem: Problem, depth: int, width: int) -> float | None:
    """2 / sharpness at the balanced global minimum (THEORY.md §6): the largest step GD can settle with.

    The sharpness is theory.balanced_sharpness (closed form when whitened, else numeric). None if the
    numeric path would not be cheap (more than SHARPNESS_MAX_PARAMS weights) or fails.
    """
    from . import theory

    try:
        if problem.input_kind != "whitened":  # only the numeric path costs anything
            n_out, n_in = problem.sigma_yx.shape
            dims = (n_in, *([width] * (depth - 1)), n_out)
            if sum(a * b for a, b in itertools.pairwise(dims)) > SHARPNESS_MAX_PARAMS:
                return None
        sharp, _ = theory.balanced_sharpness(problem, depth, width)
        return float(theory.max_stable_lr(sharp)) if sharp > 0 else None
    except (ValueError, ArithmeticError, np.linalg.LinAlgError):
        return None


def loss_floor(problem: Problem, depth: int, width: int) -> float:
    """Lowest loss (H) reachable by the architecture: 0 unless the hidden width k is below the rank.

    Loss (H) is ½‖(W − W*) Σxx^{1/2}‖²_F (THEORY.md §1), so by Eckart–Young the best rank-k W leaves
    ½ Σ of the squared singular values of W* Σxx^{1/2} beyond the k-th (any input kind).
    """
    if depth == 1 or width >= problem.r:
        return 0.0
    s = np.linalg.svd(problem.w_star @ psd_sqrt(problem.sigma_xx), compute_uv=False)
    return float(0.5 * np.sum(s[width:] ** 2))


# ------------------------------------------------------------------------------------- init schemes
def _rect_eye(m: int, n: int) -> np.ndarray:
    return np.eye(m, n)


def init_weights(cfg: RunConfig, problem: Problem) -> list[np.ndarray]:
    """Initial W_1 … W_L (float64) for one config; shapes from cfg.layer_dims.

    - gaussian: i.i.d. N(0, scale²) entries.
    - near-identity: c (I + 0.1 G) with the rectangular identity (THEORY.md §1.6).
    - aligned: exactly aligned and balanced: W_1 = Q_1 S V*ᵀ, W_l = Q_l S Q_{l−1}ᵀ, W_L = U* S Q_{L−1}ᵀ
      with per-layer strength S = scale·I, so every mode starts at u_i(0) = scale^L (THEORY.md §2);
      the hidden bases Q_l are Haar-random orthonormal columns (seeded). If the width is smaller than
      the number of modes, only the first ``width`` modes are seeded (the rest start at 0).
    - lambda-balanced (L = 2, THEORY.md §4): W_1 Gaussian(scale), W_2 = O (W_1W_1ᵀ + λ_b I)^{1/2}
      with O Haar orthonormal columns, so W_2ᵀW_2 − W_1W_1ᵀ = λ_b I exactly (λ_b < 0: the mirror
      construction W_1 = (W_2ᵀW_2 + |λ_b| I)^{1/2} Oᵀ).
    """
    init = cfg.init
    dims = cfg.layer_dims
    L = len(dims) - 1
    rng = np.random.default_rng(init.seed)
    c = init.scale
    if init.scheme == "gaussian":
        return [c * rng.standard_normal((dims[li + 1], dims[li])) for li in range(L)]
    if init.scheme == "near-identity":
        return [c * (_rect_eye(dims[li + 1], dims[li]) + 0.1 * rng.standard_normal((dims[li + 1], dims[li])))
                for li in range(L)]
    if init.scheme == "aligned":
        k = min(problem.r, *dims[1:-1]) if L > 1 else problem.r
        S = c * np.eye(k)
        Q = [haar_columns(dims[li], k, rng) for li in range(1, L)]  # hidden bases
        left = [*Q, problem.U_star[:, :k]]
        right = [problem.V_star[:, :k], *Q]
        return [left[li] @ S @ right[li].T for li in range(L)]
    # lambda-balanced, L = 2 (config validated the shapes)
    n_in, h, n_out = dims
    lb = init.lambda_b
    if lb >= 0:
        W1 = c * rng.standard_normal((h, n_in))
        W2 = haar_columns(n_out, h, rng) @ psd_sqrt(W1 @ W1.T + lb * np.eye(h))
    else:
        W2 = c * rng.standard_normal((n_out, h))
        W1 = psd_sqrt(W2.T @ W2 - lb * np.eye(h)) @ haar_columns(n_in, h, rng).T
    return [W1, W2]


# ------------------------------------------------------------------------------------------ steppers
class _NumpyStepper:
    """B networks as stacked numpy arrays; ``advance(n)`` does n GD steps (THEORY.md §1 gradients)."""

    def __init__(self, weights: list[np.ndarray], lrs: np.ndarray, problem: Problem, dtype: str) -> None:
        self.dtype = np.dtype(dtype)
        self.W = [np.ascontiguousarray(w, dtype=self.dtype) for w in weights]
        self.lr = np.asarray(lrs, dtype=self.dtype).reshape(-1, 1, 1).copy()
        self.syx = problem.sigma_yx.astype(self.dtype)
        self.sxx = None if np.array_equal(problem.sigma_xx, np.eye(len(problem.sigma_xx))) else \
            problem.sigma_xx.astype(self.dtype)
        r = problem.r
        n_out, n_in = problem.sigma_yx.shape
        # u_i is a diagonal entry of W when U*, V* are the leading standard basis vectors
        self.diag = np.array_equal(problem.U_star, np.eye(n_out, r)) and np.array_equal(
            problem.V_star, np.eye(n_in, r))
        self.UT = problem.U_star.T.astype(self.dtype)
        self.VT = problem.V_star.T.astype(self.dtype)
        self.umax = np.full((len(self.lr), r), -np.inf, dtype=self.dtype)

    def reset_umax(self) -> None:
        self.umax.fill(-np.inf)

    def advance(self, n: int) -> None:
        if len(self.lr) == 1:
            self._advance_single(n)
            return
        Ws, lr, umax, syx, sxx = self.W, self.lr, self.umax, self.syx, self.sxx
        L = len(Ws)
        with np.errstate(all="ignore"):  # a diverging member overflows; handled at the chunk end
            for _ in range(n):
                prefix = [Ws[0]]
                for li in range(1, L):
                    prefix.append(Ws[li] @ prefix[-1])
                W = prefix[-1]
                if self.diag:
                    np.maximum(umax, np.diagonal(W, 0, -2, -1), out=umax)
                else:
                    np.maximum(umax, ((self.UT @ W) * self.VT).sum(-1), out=umax)
                E = W - syx if sxx is None else W @ sxx - syx
                E *= lr  # lr·(W Σxx − Σyx): the update is then −back · prefixᵀ
                for li in range(L - 1, 0, -1):
                    back = Ws[li].swapaxes(-1, -2) @ E  # uses the old W_l, before its update
                    Ws[li] -= E @ prefix[li - 1].swapaxes(-1, -2)
                    E = back
                Ws[0] -= E

    def _advance_single(self, n: int) -> None:
        """B = 1: the same program on 2-D views with np.dot (about 2x faster than stacked matmul)."""
        Ws = [w[0] for w in self.W]  # views: in-place updates land in self.W
        lr = self.lr.item()
        umax = self.umax[0]
        syx, sxx, UT, VT, diag = self.syx, self.sxx, self.UT, self.VT, self.diag
        dot, maximum = np.dot, np.maximum
        L = len(Ws)
        with np.errstate(all="ignore"):
            for _ in range(n):
                prefix = [Ws[0]]
                for li in range(1, L):
                    prefix.append(dot(Ws[li], prefix[-1]))
                W = prefix[-1]
                maximum(umax, W.diagonal() if diag else (dot(UT, W) * VT).sum(-1), out=umax)
                E = W - syx if sxx is None else dot(W, sxx) - syx
                E *= lr
                for li in range(L - 1, 0, -1):
                    back = dot(Ws[li].T, E)
                    Ws[li] -= dot(E, prefix[li - 1].T)
                    E = back
                Ws[0] -= E

    def weights(self) -> list[np.ndarray]:
        return [w.astype(np.float64, copy=True) for w in self.W]

    def set_member(self, b: int, weights: list[np.ndarray], lr: float | None = None) -> None:
        for w, new in zip(self.W, weights):
            w[b] = new
        if lr is not None:
            self.lr[b] = lr


class _TorchStepper(_NumpyStepper):
    """The same program in torch (CUDA, or CPU when forced): in-place baddbmm updates."""

    def __init__(self, weights, lrs, problem, dtype, device) -> None:
        import torch

        self.torch = torch
        super().__init__(weights, lrs, problem, dtype)
        tdt = getattr(torch, dtype)
        dev = torch.device(device)
        self.W = [torch.as_tensor(w, device=dev).to(tdt).contiguous() for w in self.W]
        self.lr = torch.as_tensor(self.lr, device=dev).to(tdt)
        self.syx = torch.as_tensor(self.syx, device=dev).to(tdt)
        self.sxx = None if self.sxx is None else torch.as_tensor(self.sxx, device=dev).to(tdt)
        self.UT = torch.as_tensor(self.UT, device=dev).to(tdt)
        self.VT = torch.as_tensor(self.VT, device=dev).to(tdt)
        self.umax = torch.as_tensor(self.umax, device=dev).to(tdt)

    def reset_umax(self) -> None:
        self.umax.fill_(-math.inf)

    def advance(self, n: int) -> None:
        torch = self.torch
        Ws, lr, umax, syx, sxx = self.W, self.lr, self.umax, self.syx, self.sxx
        L = len(Ws)
        with torch.no_grad():
            for _ in range(n):
                prefix = [Ws[0]]
                for li in range(1, L):
                    prefix.append(torch.bmm(Ws[li], prefix[-1]))
                W = prefix[-1]
                u = W.diagonal(dim1=1, dim2=2) if self.diag else (torch.matmul(self.UT, W) * self.VT).sum(-1)
                torch.maximum(umax, u, out=umax)
                E = (W - syx) if sxx is None else torch.matmul(W, sxx).sub_(syx)
                E.mul_(lr)
                for li in range(L - 1, 0, -1):
                    back = torch.bmm(Ws[li].mT, E)
                    Ws[li].baddbmm_(E, prefix[li - 1].mT, alpha=-1)
                    E = back
                Ws[0].sub_(E)

    def weights(self) -> list[np.ndarray]:
        return [w.detach().cpu().numpy().astype(np.float64) for w in self.W]

    def set_member(self, b, weights, lr=None) -> None:
        for w, new in zip(self.W, weights):
            w[b] = self.torch.as_tensor(new, dtype=w.dtype, device=w.device)
        if lr is not None:
            self.lr[b] = lr

    def umax_numpy(self) -> np.ndarray:
        return self.umax.cpu().numpy().astype(np.float64)


def _umax(stepper) -> np.ndarray:
    return stepper.umax_numpy() if isinstance(stepper, _TorchStepper) else stepper.umax.astype(np.float64)


def _resolve_backend(device: str, backend: str | None) -> tuple[str, str]:
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
    if backend not in (None, "numpy", "torch"):
        raise ConfigError("backend", "must be 'numpy' or 'torch'", backend)
    return backend or "numpy", device


def _make_stepper(backend, device, weights, lrs, problem, dtype):
    if backend == "torch":
        return _TorchStepper(weights, lrs, problem, dtype, device)
    return _NumpyStepper(weights, lrs, problem, dtype)


# -------------------------------------------------------------------------------------- schedules
def snapshot_steps(total: int, record: str | int = "log", n: int = 200) -> np.ndarray:
    """Sorted unique snapshot steps in [0, total], always including 0 and ``total``.

    ``record="log"``: about ``n`` log-spaced steps (the geometric grid is refined until it has n
    distinct integers, or every step when total < n); ``record=N``: every N steps.
    """
    if record != "log":
        return np.union1d(np.arange(0, total + 1, int(record)), [total]).astype(np.int64)
    if total + 1 <= n:
        return np.arange(total + 1, dtype=np.int64)
    m = n
    while True:
        s = np.unique(np.concatenate([[0, total], np.round(np.geomspace(1, total, m))]).astype(np.int64))
        if len(s) >= n or m > 100 * n:
            return s
        m = int(m * 1.1) + 1


# --------------------------------------------------------------------------------------- results
FRAME_NAMES = ("history", "modes", "mode_summary", "alignment", "layer_sv", "updates", "balance")


class RunResult:
    """Everything one run produced: frames (columns in dln_core.frames) + summary + final weights.

    Attributes: ``config``, ``problem``, ``summary`` (dict), ``weights`` (final W_1 … W_L),
    ``initial_weights`` (W_1(0) … W_L(0); None for results loaded from an older store) and the frames
    ``history``, ``modes``, ``mode_summary``, ``alignment``, ``layer_sv``, ``updates``, ``balance``.
    The frames are built on first access (a 256-network sweep that only reads summaries never pays
    for them); the result pickles either way.
    """

    def __init__(self, config: RunConfig, problem: Problem, summary: dict, weights: list[np.ndarray],
                 frames: dict[str, pd.DataFrame] | None = None, builder: Callable[[], dict] | None = None,
                 initial_weights: list[np.ndarray] | None = None,
                 series: Callable[[], tuple] | None = None) -> None:
        self.config = config
        self.problem = problem
        self.summary = summary
        self.weights = weights
        self.initial_weights = initial_weights  # W_1(0) … W_L(0) (e.g. for the exact L = 2 theory, THEORY §4)
        self._frames: dict[str, pd.DataFrame] = dict(frames or {})
        self._builder = builder
        self._series = series

    def _frame(self, name: str) -> pd.DataFrame:
        if name not in self._frames:
            if self._builder is None:
                raise AttributeError(f"RunResult has no frame {name!r}")
            self._frames.update(self._builder())
            self._builder = self._series = None  # release the batch recorder once built
        return self._frames[name]

    def mode_series(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(steps (S,), t (S,), u (S, r)): the measured mode strengths of the ``modes`` frame.

        Cheap: read straight from the batch recorder while the frames are unbuilt (a sweep's rise
        times need only this); otherwise reshaped from the ``modes`` frame.
        """
        if self._series is not None:
            return self._series()
        modes = self.modes.sort_values(["step", "mode"], kind="stable")
        r = int(modes["mode"].max()) if len(modes) else len(self.summary.get("lambda_star", ()))
        steps = modes["step"].to_numpy(np.int64)[::r] if r else np.zeros(0, np.int64)
        t = modes["t"].to_numpy(float)[::r] if r else np.zeros(0)
        return steps, t, modes["u"].to_numpy(float).reshape(len(steps), r)

    history = property(lambda self: self._frame("history"), doc="frames.history_columns(r), one row per snapshot")
    modes = property(lambda self: self._frame("modes"), doc="frames.MODES_COLUMNS (long)")
    mode_summary = property(lambda self: self._frame("mode_summary"), doc="frames.MODE_SUMMARY_COLUMNS")
    alignment = property(lambda self: self._frame("alignment"), doc="frames.ALIGNMENT_COLUMNS (long)")
    layer_sv = property(lambda self: self._frame("layer_sv"), doc="frames.LAYER_SV_COLUMNS (long)")
    updates = property(lambda self: self._frame("updates"), doc="frames.UPDATE_COLUMNS (long)")
    balance = property(lambda self: self._frame("balance"), doc="frames.BALANCE_COLUMNS (long)")

    def frames(self) -> dict[str, pd.DataFrame]:
        """All frames by name (builds them if needed)."""
        return {name: self._frame(name) for name in FRAME_NAMES}

    def __repr__(self) -> str:
        s = self.summary
        return (f"RunResult(depth={s.get('depth')}, lr={s.get('lr')}, steps={s.get('steps')}, "
                f"final_loss={s.get('final_loss'):.4g}, diverged={s.get('diverged')})")


def _member_frames(rec: frames.Recorder, b: int, cfg: RunConfig, diverged_step: int | None, summary: dict) -> dict:
    """Build member b's frames from the batch recorder (a module function so results pickle)."""
    built = rec.build(b, cfg, diverged_step)
    built["mode_summary"] = frames.mode_summary_frame(rec.p, summary["u0"], summary["halfway_step"],
                                                      summary["halfway_step_theory"], summary["lr"],
                                                      summary["theory_start_step"])
    return built


def _member_series(rec: frames.Recorder, b: int, diverged_step: int | None) -> tuple:
    """Member b's (steps, t, u) from the batch recorder (a module function so results pickle)."""
    return rec.mode_series(b, diverged_step)


@dataclass
class _Member:
    """Per-member bookkeeping during a batch run."""

    lr: float
    loss0: float = math.nan
    threshold: float = math.inf
    diverged_step: int | None = None
    final_loss: float = math.nan
    halfway: np.ndarray = None  # type: ignore[assignment]  # (r,) int, -1 = not reached


# ------------------------------------------------------------------------------------ the batch run
def batch_key(cfg: RunConfig) -> tuple:
    """What members of one run_batch must share: target, network and optim except lr.

    Configs with equal keys may run as one batch (they differ only in init and lr); sweep groups by it.
    """
    return cfg.target, cfg.network, replace(cfg.optim, lr=1.0)  # lr is per member: neutralise it


def _check_batch(cfgs: Sequence[RunConfig]) -> None:
    if not cfgs:
        raise ConfigError("configs", "need at least one RunConfig", 0)
    for c in cfgs:
        if not isinstance(c, RunConfig):
            raise ConfigError("configs", "must be RunConfig objects", type(c).__name__)
    key = batch_key(cfgs[0])
    for c in cfgs[1:]:
        if batch_key(c) != key:
            raise ConfigError("configs", "batch members must share target, network and optim "
                              "(except lr); they may differ in init and lr", c.to_flat())


class _Runner:
    """One batch: holds the stepper, the member states and the snapshot recorder."""

    def __init__(self, cfgs, problem, backend, device, progress) -> None:
        self.cfgs = cfgs
        self.problem = problem
        self.progress = progress
        self.optim = cfgs[0].optim
        self.depth = cfgs[0].network.depth
        self.init_weights = [init_weights(c, problem) for c in cfgs]
        self.backend, self.device = backend, device
        self.lrs = np.array([c.optim.lr for c in cfgs])
        r = problem.r
        self.half = 0.5 * problem.target_strength
        self.has_target = problem.target_strength > 0  # a zero mode has no halfway point
        self.members = [_Member(lr=float(lr), halfway=np.full(r, -1, dtype=np.int64)) for lr in self.lrs]
        self._last_progress = -1.0

    # --- helpers
    def _stack(self, per_member: list[list[np.ndarray]]) -> list[np.ndarray]:
        return [np.stack([ws[li] for ws in per_member]) for li in range(self.depth)]

    def _new_stepper(self):
        return _make_stepper(self.backend, self.device, self._stack(self.init_weights), self.lrs, self.problem,
                             self.optim.dtype)

    def _losses(self, weights: list[np.ndarray]) -> np.ndarray:
        with np.errstate(all="ignore"):
            return self.problem.loss(dg.end_to_end(weights))

    def _report(self, frac: float) -> None:
        if self.progress is not None and (frac - self._last_progress >= 0.01 or frac >= 1.0):
            self._last_progress = frac
            self.progress(float(min(max(frac, 0.0), 1.0)))

    def _bad(self, loss: np.ndarray) -> np.ndarray:
        thr = np.array([m.threshold for m in self.members])
        return ~np.isfinite(loss) | (loss > thr)

    # --- exact events by replay
    def _replay(self, idx: np.ndarray, start: list[np.ndarray], k0: int, n: int, pending: np.ndarray,
                check_loss: np.ndarray):
        """Re-run members ``idx`` from their chunk-start weights one step at a time, as one sub-batch.

        ``pending`` (B', r): modes whose first crossing is wanted; ``check_loss`` (B',): members to
        watch for divergence. Returns (first crossing step (B', r), -1 = none; divergence step (B',),
        -1 = none; per-layer weights (B', ...) of the last good state; loss at the divergence step).
        """
        st = _make_stepper(self.backend, self.device, [w[idx] for w in start], self.lrs[idx], self.problem,
                           self.optim.dtype)
        thr = np.array([self.members[b].threshold for b in idx])
        found = np.full(pending.shape, -1, dtype=np.int64)
        div = np.full(len(idx), -1, dtype=np.int64)
        bad_loss = np.full(len(idx), np.nan)
        live = np.ones(len(idx), dtype=bool)  # not (yet) diverged in the replay
        prev = [w[idx] for w in start]
        for j in range(n):
            st.reset_umax()
            st.advance(1)  # umax now holds u of state k0 + j (taken before the update)
            newly = pending & (found < 0) & (_umax(st) >= self.half) & live[:, None]
            found[newly] = k0 + j
            if check_loss.any():
                ws = st.weights()
                loss = self._losses(ws)
                now_bad = check_loss & live & (~np.isfinite(loss) | (loss > thr))
                div[now_bad], bad_loss[now_bad] = k0 + j + 1, loss[now_bad]
                live &= ~now_bad
                for p_l, w_l in zip(prev, ws):
                    p_l[live] = w_l[live]
                check_loss = check_loss & live
            if not check_loss.any() and not (pending & (found < 0) & live[:, None]).any():
                break
        return found, div, prev, bad_loss

    def _chunk_events(self, stepper, start, k0, k1, weights) -> None:
        """Divergence and halfway crossings that happened in steps [k0, k1)."""
        loss = self._losses(weights)
        active = np.array([m.diverged_step is None for m in self.members])
        bad = active & self._bad(loss)
        halfway = np.stack([m.halfway for m in self.members])
        crossed = active[:, None] & self.has_target[None, :] & (halfway < 0) & (_umax(stepper) >= self.half[None, :])
        idx = np.nonzero(bad | crossed.any(axis=1))[0]
        if not len(idx):
            return
        pending = (crossed[idx] | bad[idx, None]) & self.has_target[None, :] & (halfway[idx] < 0)
        found, div, before, bad_loss = self._replay(idx, start, k0, k1 - k0, pending, bad[idx].copy())
        for j, b in enumerate(idx):
            m = self.members[b]
            d = int(div[j]) if div[j] >= 0 else None
            hit = (found[j] >= 0) & (m.halfway < 0)
            if d is not None:
                hit &= found[j] < d
            m.halfway[hit] = found[j][hit]
            if bad[b]:
                good = [w[j] for w in before]
                if d is None:  # replay disagreed by rounding: take the chunk end as the step
                    d, good, bad_loss[j] = k1, [w[b] for w in start], loss[b]
                m.diverged_step = d
                m.final_loss = float(bad_loss[j]) if np.isfinite(bad_loss[j]) else math.inf
                stepper.set_member(b, good, lr=0.0)  # freeze at the last good state

    # --- phases
    def find_auto_steps(self, cap: int, total_cap: int | None = None) -> tuple[int, bool]:
        """'auto': T = first multiple of CHUNK with loss < AUTO_LOSS for every live member, then ×4
        (at most ``total_cap``); the search gives up after ``cap`` steps (the step cap, or what the
        CPU budget affords)."""
        total_cap = cap if total_cap is None else total_cap
        st = self._new_stepper()
        loss0 = self._losses(self._stack(self.init_weights))
        thr = DIVERGE_FACTOR * np.maximum(loss0, 1.0)
        alive = np.ones(len(self.cfgs), dtype=bool)
        k = 0
        while k < cap:
            budget.checkpoint()  # the requester left: stop between chunks
            n = min(CHUNK, cap - k)
            st.advance(n)
            k += n
            ws = st.weights()
            loss = self._losses(ws)
            bad = alive & (~np.isfinite(loss) | (loss > thr))
            for b in np.nonzero(bad)[0]:
                st.set_member(b, [w[b] for w in ws], lr=0.0)
                alive[b] = False
            if not alive.any():
                return min(total_cap, max(AUTO_MIN_STEPS, 2 * k)), False
            if np.all(loss[alive] < AUTO_LOSS):
                return min(total_cap, max(4 * k, AUTO_MIN_STEPS)), True
            self._report(0.2 * (1 - math.exp(-k / 20_000)))
        return cap, False

    def simulate(self, total: int, frac0: float = 0.0) -> tuple[frames.Recorder, list[np.ndarray]]:
        p = self.problem
        stepper = self._new_stepper()
        w0 = self._stack(self.init_weights)
        loss0 = self._losses(w0)
        for m, l0 in zip(self.members, loss0):
            m.loss0 = float(l0)
            m.threshold = DIVERGE_FACTOR * max(float(l0), 1.0)
        u0 = dg.mode_strengths(dg.end_to_end(w0), p.U_star, p.V_star)
        for b, m in enumerate(self.members):
            m.halfway[(u0[b] >= self.half) & self.has_target] = 0
        snaps = snapshot_steps(total, self.optim.record, self.optim.n_snapshots)
        rec = frames.Recorder(p, self.lrs, w0)
        rec.record(0, w0)
        bounds = np.union1d(snaps, np.arange(0, total, CHUNK))
        snapset = set(snaps.tolist())
        k = 0
        for kb in bounds[1:].tolist():
            budget.checkpoint()  # the requester left: stop between chunks
            start = stepper.weights()
            stepper.reset_umax()
            stepper.advance(kb - k)
            weights = stepper.weights()
            self._chunk_events(stepper, start, k, kb, weights)
            k = kb
            if all(m.diverged_step is not None for m in self.members):
                break  # everyone is frozen: later snapshots would be dropped anyway
            if kb in snapset:
                rec.record(kb, stepper.weights())
            self._report(frac0 + (1 - frac0) * kb / total)
        final = stepper.weights()
        uf = dg.mode_strengths(dg.end_to_end(final), p.U_star, p.V_star)
        lossf = self._losses(final)
        for b, m in enumerate(self.members):
            if m.diverged_step is None:
                m.halfway[(m.halfway < 0) & (uf[b] >= self.half) & self.has_target] = total
                m.final_loss = float(lossf[b])
        return rec, final

    def results(self, rec, final, total, auto_info, wall) -> list[RunResult]:
        out = []
        u0_all = rec.u0()
        hs_theory, starts = rec.halfway_theory(self.cfgs, [m.diverged_step for m in self.members])
        cap = lr_cap(self.problem, self.depth, self.cfgs[0].width)
        floor = loss_floor(self.problem, self.depth, self.cfgs[0].width)
        for b, (cfg, m) in enumerate(zip(self.cfgs, self.members)):
            summary = {
                "final_loss": m.final_loss,
                "diverged": m.diverged_step is not None,
                "diverged_step": m.diverged_step,
                "steps": int(m.diverged_step if m.diverged_step is not None else total),
                "halfway_step": [int(k) if k >= 0 else None for k in m.halfway],
                "halfway_step_theory": hs_theory[b],
                "theory_start_step": starts[b],
                "plateau_levels": self.problem.plateau_levels().tolist(),
                "lambda_star": self.problem.lambda_star.tolist(),
                "target_strength": self.problem.target_strength.tolist(),
                "u0": u0_all[b].tolist(),
                "initial_loss": m.loss0,
                "wall_time_s": wall,
                "lr": m.lr,
                "depth": self.depth,
                "total_steps": int(total),
                "lr_cap": cap,
                "lr_over_cap": None if cap is None else bool(m.lr > cap),
                "loss_floor": floor,
                "converged": bool(m.diverged_step is None and np.isfinite(m.final_loss)
                                  and m.final_loss <= floor + CONVERGED_RTOL * max(m.loss0, 1.0)),
                **auto_info,
            }
            builder = functools.partial(_member_frames, rec, b, cfg, m.diverged_step, summary)
            series = functools.partial(_member_series, rec, b, m.diverged_step)
            out.append(RunResult(cfg, self.problem, summary, [w[b].copy() for w in final], builder=builder,
                                 initial_weights=[w.copy() for w in self.init_weights[b]], series=series))
        return out


def run_batch(
    cfgs: Sequence[RunConfig],
    progress: Progress | None = None,
    *,
    limits: Limits | None = None,
    backend: str | None = None,
) -> list[RunResult]:
    """Run B configs as one batched program; equals running each alone (to rounding, ~1e-12 in float64).

    Members must share target, network and optim (steps, record, n_snapshots, device, dtype) and may
    differ in init (scheme, scale, seed, lambda_b) and lr. ``progress(fraction)`` is called as the
    run advances. ``backend`` ("numpy" | "torch") overrides the CPU default (numpy).
    """
    cfgs = list(cfgs)
    _check_batch(cfgs)
    limits = limits or current_limits()
    check_cap("batch", len(cfgs), limits.max_batch, "networks in one batch")
    for c in cfgs:
        c.check_limits(limits)
    steps = cfgs[0].optim.steps
    what = "this run" if len(cfgs) == 1 else f"this batch of {len(cfgs)} networks"
    cpu = limits.max_cpu_seconds
    if steps == "auto":  # the search stops where the budget would run out (reported: auto_reached False)
        search_cap = budget.auto_search_cap(cfgs, cpu, limits.max_steps, AUTO_MIN_STEPS)
        if search_cap < CHUNK:  # not even one chunk of search fits: refuse with the smallest run's cost
            smallest = budget.auto_seconds(cfgs, CHUNK, limits.max_steps, AUTO_MIN_STEPS)
            budget.check_budget(max(smallest, math.nextafter(cpu, math.inf)), cpu, what, budget.TRAIN_HINT)
    else:
        budget.check_budget(budget.batch_seconds(cfgs, int(steps)), cpu, what, budget.TRAIN_HINT)
    t0 = time.perf_counter()
    problem = build_problem(cfgs[0].target)
    backend, device = _resolve_backend(cfgs[0].optim.device, backend)
    runner = _Runner(cfgs, problem, backend, device, progress)
    auto_info: dict = {"auto": steps == "auto"}
    frac0 = 0.0
    if steps == "auto":
        total, reached = runner.find_auto_steps(max(search_cap, CHUNK), limits.max_steps)
        auto_info["auto_reached"] = reached  # False: loss never fell below AUTO_LOSS within the cap
        cfgs[0].check_snapshots(total, limits)  # 'every N' recording: the count is known only now
        frac0 = 0.2
    else:
        total = int(steps)
    rec, final = runner.simulate(total, frac0)
    out = runner.results(rec, final, total, auto_info, time.perf_counter() - t0)
    runner._report(1.0)
    return out


def run(
    cfg: RunConfig,
    progress: Progress | None = None,
    *,
    limits: Limits | None = None,
    backend: str | None = None,
) -> RunResult:
    """Train one network (see run_batch)."""
    return run_batch([cfg], progress, limits=limits, backend=backend)[0]


__all__ = ["FRAME_NAMES", "RunResult", "batch_key", "init_weights", "loss_floor", "lr_cap", "run", "run_batch", "snapshot_steps"]

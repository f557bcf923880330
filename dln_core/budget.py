"""What a request will cost before it runs, the CPU budget per request, and cancelling between chunks.

A hosted demo must not let one visitor's request hold a core for minutes. Every computation a page
or the CLI starts is therefore priced first, from the cheap parts of its config alone (sizes, step
and snapshot counts), and refused with the estimate in the message when it exceeds the profile's
budget ``Limits.max_cpu_seconds`` (hosted about 15 s, local an hour; ``DLN_LAB_MAX_CPU_SECONDS``).

The cost model is linear in a few work counts per phase, with coefficients in seconds of one CPU
core fitted by ``benchmarks/calibrate_budget.py`` on the reference machine (2-core x86 VM, numpy with
one BLAS thread, as in the Dockerfile) and a safety margin on top:

- train (engine.run_batch): numpy calls per step, matmul flops of the closed-form gradient (THEORY §1:
  about 6·n_in·Σ n_l·n_{l−1} per network and step), per-member overhead of the stacked matmuls,
  per-snapshot diagnostics (an SVD per layer, gradients, overlaps) and, for a single run whose frames
  a page builds, the long alignment / update frames (snapshots × layers × r² rows);
- embed (embeddings.run_embedding): per-stage work counts on the run's GD route (:func:`embed_counts`:
  the eigendecomposition and O(V·d²) steps on the eigenbasis route, the Lanczos spectrum and O(V²·d)
  steps on the dense one, the analogies over the vocabulary at every history row), the same counts
  the page's estimate (embeddings/cost.py) and the route choice use.

Cancellation is cooperative: the runner calls :func:`checkpoint` between chunks; it raises
:class:`Cancelled` once the current :class:`CancelToken` (set with :func:`cancel_scope`) says so. The
token's ``poll`` hook is how a caller outside the library (a Streamlit session ending or rerunning)
stops the work; this module knows nothing about Streamlit.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import math
import time
from collections.abc import Callable, Iterator, Sequence

from .errors import ConfigError

# seconds of one core per unit of each work count (benchmarks/calibrate_budget.py, reference machine)
TRAIN_COEF = {
    "run": 0.00423,  # fixed cost of one run_batch call (problem, results, caps)
    "calls": 3.071e-06,  # numpy calls in the step loop
    "flops": 2.94e-11,  # matmul flops in the step loop
    "member_calls": 5.442e-08,  # stacked-matmul calls × members (per-member overhead of batched matmul)
    "snap_calls": 0.0006041,  # snapshots × layers (numpy calls of the diagnostics, batched over members)
    "snap_layers": 2.901e-05,  # snapshots × members × layers (per-member part of the diagnostics)
    "snap_flops": 1.189e-08,  # snapshots × members × SVD flops of the layers
    # rows of the long per-snapshot frames of a single run, built and drawn by the explorer: 3.95e-8 for
    # the frames alone (calibrate_budget.py), 2.5e-6 measured for the whole explorer page (AppTest, depth
    # 8, width 64, 64 modes: 16.5 s of charts over 6.7 M rows), which is what a hosted request costs
    "frame_rows": 2.5e-06,
    # the cheap per-step trace (engine.run_batch ``trace``, steppers.Trace): a Python call and a few
    # numpy calls per traced step, and the loss's elementwise product over W per member. Measured by
    # timing Trace.take alone on the shared 2-core machine (not calibrate_budget.py): 17-24 us per row
    # at d = 6, B = 1; 1.5-4e-9 s per cell at 2000 × 8 and at B = 256, d = 6
    "trace_rows": 1e-05,
    "trace_cells": 3e-09,
}
# the embedding run is priced from one set of per-stage work counts (embed_counts, flop-equivalents of
# this machine's float32 GEMM) shared with the page's estimate (embeddings/cost.py) and the GD route
# choice (embeddings/eigenbasis.choose_method); here they are priced at one core of the reference machine
EMBED_RATE = 5.4e10  # flop/s: one core, float32 GEMM on the reference machine (= the former fit's 3.68e-11 s per V²d)
EMBED_FIXED_S = {"statistics": 0.2, "evaluate": 0.6}  # cached statistics; similarity sets, frames (V = 800: 0.1-0.2 s, 0.2-1.3 s)
EIGH_COST = {"float32": 8.0, "float64": 17.0}  # full eigh with vectors (syevd), per V³ (measured vs GEMM)
ROTATED_STEP_COST = 12.0  # per V·d²: the eigenbasis step's two thin GEMMs (4Vd²) at thin-shape efficiency
LANCZOS_PASSES = 60  # matrix products of the dense route's Lanczos spectrum with a 2d + 20 block (V = 2000: ≈ 4 s)
ANALOGY_FRACTION = 0.4  # in-vocabulary Google questions ≈ 0.4·V (measured: 1840 at V = 5000, 4109 at 10⁴)
MARGIN = 2.0  # above the fitted mean: measured requests ran at 0.5-1.4 of the fit under load (benchmarks)


# ------------------------------------------------------------------------------------ work counts
def train_counts(dims: Sequence[int], members: int, steps: int, snapshots: int, modes: int,
                 frames: bool, trace_rows: int = 0) -> dict[str, float]:
    """Work counts of one engine batch: ``members`` networks with layer sizes ``dims`` (n_in, …,
    n_out), ``steps`` GD steps and ``snapshots`` recorded states each; ``frames``: the page builds
    the long snapshot frames of this (single) run; ``trace_rows``: states the cheap trace records
    (engine.run_batch ``trace``; 0 when off)."""
    L = len(dims) - 1
    pairs = sum(a * b for a, b in itertools.pairwise(dims))
    calls = 3 * L + 4  # prefix products, error, back-propagated products and updates, max of u
    svd = sum(a * b * min(a, b) for a, b in itertools.pairwise(dims))
    return {
        "run": 1.0,
        "calls": float(steps) * calls,
        "flops": 6.0 * dims[0] * pairs * steps * members,
        "member_calls": float(steps) * calls * members if members > 1 else 0.0,
        "snap_calls": float(snapshots) * L,
        "snap_layers": float(snapshots) * members * L,
        "snap_flops": float(snapshots) * members * svd,
        "frame_rows": float(snapshots) * L * (modes * modes + max(dims)) if frames else 0.0,
        "trace_rows": float(trace_rows),
        "trace_cells": float(trace_rows) * members * (dims[0] * dims[-1] + modes),
    }


def embed_route(method: str, vocab: int, dim: int, steps: int, snapshots: int, dtype: str = "float32",
                cached: bool = False) -> str:
    """The GD route of an embedding run: ``method`` unless "auto"; then the one whose spectrum and
    training work (:func:`embed_counts`) is smaller. ``cached``: M*'s eigendecomposition is on disk."""
    if method != "auto":
        return method
    dense = embed_counts(vocab, dim, steps, snapshots, "dense", dtype, cached)
    eig = embed_counts(vocab, dim, steps, snapshots, "eigenbasis", dtype, cached)
    return "eigenbasis" if eig["eigh"] + eig["train"] < dense["train"] else "dense"


def embed_counts(vocab: int, dim: int, steps: int, snapshots: int, method: str = "auto", dtype: str = "float32",
                 cached: bool = False) -> dict[str, float]:
    """Work counts (flop-equivalents) per stage of one word-embedding run, on its GD route (THEORY §7):

    - ``eigh``: the eigenbasis route's full eigendecomposition of M*, EIGH_COST·V³ (0 when cached);
    - ``spectrum``: the dense route's top-d eigenpairs (dense solver below max(400, 3d + 20) words,
      10V³; Lanczos above, LANCZOS_PASSES products with a 2d + 20 block);
    - ``train``: dense route (2V²d + 6Vd²) per step (M*W, WᵀW, the modes and W(WᵀW)); eigenbasis
      route ROTATED_STEP_COST·Vd² per step plus one V × V × d product per snapshot and for Z₀;
    - ``evaluate``: per history row, the analogy questions over the vocabulary (2·Q·V·d, Q ≈
      ANALOGY_FRACTION·V) and the d × d Gram matrix (2Vd²).
    """
    V, d = float(vocab), float(dim)
    route = embed_route(method, vocab, dim, steps, snapshots, dtype, cached) if method == "auto" else method
    n = float(steps) + 1.0
    if route == "eigenbasis":
        eigh = 0.0 if cached else EIGH_COST[dtype] * V**3
        spectrum = 0.0
        train = ROTATED_STEP_COST * V * d * d * n + 2.0 * V * V * d * (snapshots + 1)
    else:
        eigh = 0.0
        small = vocab <= max(400, 3 * dim + 20)  # the rule of embeddings.model.spectrum
        spectrum = 10.0 * V**3 if small else LANCZOS_PASSES * 2.0 * V * V * (2 * d + 20)
        train = (2.0 * V * V * d + 6.0 * V * d * d) * n
    evaluate = float(snapshots) * (2.0 * ANALOGY_FRACTION * V * V * d + 2.0 * V * d * d)
    return {"eigh": eigh, "spectrum": spectrum, "train": train, "evaluate": evaluate}


def embed_stage_seconds(counts: dict[str, float], rate: float) -> dict[str, float]:
    """Seconds per stage of :func:`embed_counts` at ``rate`` flop/s (plus the fixed stage costs)."""
    if not rate > 0:
        raise ValueError(f"rate must be > 0, got {rate!r}")
    return {"statistics": EMBED_FIXED_S["statistics"], "spectrum": (counts["eigh"] + counts["spectrum"]) / rate,
            "train": counts["train"] / rate, "evaluate": EMBED_FIXED_S["evaluate"] + counts["evaluate"] / rate}


def _seconds(counts: dict[str, float], coef: dict[str, float]) -> float:
    return MARGIN * sum(coef[k] * v for k, v in counts.items())


def train_seconds(dims: Sequence[int], members: int, steps: int, snapshots: int, modes: int,
                  frames: bool = True, trace_rows: int = 0) -> float:
    """Estimated CPU seconds of one engine batch (:func:`train_counts` priced by TRAIN_COEF)."""
    return _seconds(train_counts(dims, members, steps, snapshots, modes, frames, trace_rows), TRAIN_COEF)


def trace_seconds(dims: Sequence[int], members: int, rows: int) -> float:
    """Estimated CPU seconds of the cheap trace alone (``rows`` traced steps of ``members`` networks)."""
    c = train_counts(dims, members, 0, 0, min(dims[0], dims[-1]), False, rows)
    return MARGIN * (TRAIN_COEF["trace_rows"] * c["trace_rows"] + TRAIN_COEF["trace_cells"] * c["trace_cells"])


def trace_rows(total_steps: int, every: int | None) -> int:
    """States the cheap trace records over ``total_steps`` (every N steps, plus the last; 0 when off)."""
    return 0 if every is None else total_steps // int(every) + 2


def embed_seconds(vocab: int, dim: int, steps: int, snapshots: int, method: str = "auto",
                  dtype: str = "float32", cached: bool = False) -> float:
    """Estimated CPU seconds of one word-embedding run: :func:`embed_counts` priced at EMBED_RATE (the
    page's estimate prices the same counts at this machine's measured rate), times MARGIN."""
    stages = embed_stage_seconds(embed_counts(vocab, dim, steps, snapshots, method, dtype, cached), EMBED_RATE)
    return MARGIN * sum(stages.values())


def step_seconds(dims: Sequence[int], members: int) -> float:
    """Estimated CPU seconds of one GD step of a batch, without snapshots (the 'auto' search)."""
    c = train_counts(dims, members, 1, 0, 0, False)
    return MARGIN * sum(TRAIN_COEF[k] * c[k] for k in ("calls", "flops", "member_calls"))


def snapshot_count(total_steps: int, record: str | int, n_snapshots: int) -> int:
    """Snapshots a run of ``total_steps`` records (engine.snapshot_steps: log-spaced about n, a few %
    more where the grid is refined, or every N steps plus step 0 and the last)."""
    if record == "log":
        return min(math.ceil(1.05 * n_snapshots) + 2, total_steps + 1)
    return total_steps // int(record) + 2


# seconds per member and snapshot of sharpness tracking (curvature.SharpnessTracker, one BLAS thread,
# measured at 72-1800 weights: 2-5 ms): the full Hessian grows with n² up to FULL_MAX weights, Lanczos
# above it with about n
SHARP_COEF = {"full_base": 2e-3, "full_n2": 5e-8, "lanczos_base": 3e-3, "lanczos_n": 1e-6,
              "lanczos_cold": 2e-4}  # × n, once per member: the first Lanczos solve has no warm start (0.38 s at 2,700)
SHARP_FULL_MAX = 400  # = curvature.FULL_MAX (not imported: this module stays free of the numerics)


def sharpness_seconds(n_weights: int, members: int, snapshots: int) -> float:
    """Estimated CPU seconds of tracking the Hessian's top eigenvalues at every snapshot."""
    c = SHARP_COEF
    if n_weights <= SHARP_FULL_MAX:
        per = c["full_base"] + c["full_n2"] * n_weights**2
        cold = 0.0
    else:
        per = c["lanczos_base"] + c["lanczos_n"] * n_weights
        cold = c["lanczos_cold"] * n_weights
    return MARGIN * (per * snapshots + cold) * members


def batch_seconds(cfgs: Sequence, total_steps: int, trace: int | None = None) -> float:
    """Estimated CPU seconds of engine.run_batch on ``cfgs`` (RunConfigs sharing a shape) for
    ``total_steps`` steps. A single run is priced with its snapshot frames (the explorer and the CLI
    build them); batch members are not (sweeps read only their mode series). ``trace``: the cheap
    trace's every-N (None: off)."""
    cfg = cfgs[0]
    dims = cfg.layer_dims
    snaps = snapshot_count(total_steps, cfg.optim.record, cfg.optim.n_snapshots)
    return train_seconds(dims, len(cfgs), total_steps, snaps, min(dims[0], dims[-1]), frames=len(cfgs) == 1,
                         trace_rows=trace_rows(total_steps, trace))


def auto_seconds(cfgs: Sequence, k: int, step_cap: int, min_steps: int = 500) -> float:
    """Estimated CPU seconds of an 'auto' run whose search stops after ``k`` steps (then it trains
    max(4k, min_steps) steps, at most ``step_cap``, with snapshots)."""
    per_step = step_seconds(cfgs[0].layer_dims, len(cfgs))
    return per_step * k + batch_seconds(cfgs, min(step_cap, max(4 * k, min_steps)))


def auto_search_cap(cfgs: Sequence, budget: float, step_cap: int, min_steps: int = 500) -> int:
    """Longest 'auto' search the budget affords: searching k steps (no snapshots), then training
    max(4k, min_steps) steps with snapshots (engine's 'auto' rule), must fit in ``budget``; so the
    search gives up early rather than overrun it. At most ``step_cap``; 0 if not even that fits."""
    def cost(k: int) -> float:
        return auto_seconds(cfgs, k, step_cap, min_steps)

    if cost(step_cap) <= budget:
        return step_cap
    lo, hi = 0, step_cap  # cost(lo) may exceed the budget too: then 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if cost(mid) <= budget else (lo, mid)
    return lo


# ------------------------------------------------------------------------------------- the budget
class BudgetError(ConfigError):
    """A request whose estimated cost exceeds the server's CPU budget per request."""

    def __init__(self, what: str, seconds: float, budget: float, hint: str = "") -> None:
        self.seconds = seconds
        self.budget = budget
        advice = f": {hint}" if hint else ""
        super().__init__("cpu budget", f"{what} is estimated at {seconds:.1f} s of CPU; this server allows "
                         f"{budget:g} s per request{advice}")

    def __str__(self) -> str:  # no "got …": the estimate is in the sentence
        return f"{self.field}: {self.allowed}"


def check_budget(seconds: float, budget: float, what: str, hint: str = "") -> None:
    """Raise :class:`BudgetError` if ``seconds`` (an estimate) exceeds ``budget``."""
    if not math.isfinite(seconds) or seconds > budget:
        raise BudgetError(what, seconds, budget, hint)


TRAIN_HINT = "fewer steps or snapshots, a smaller width or depth, or fewer networks"
EMBED_HINT = "a smaller vocabulary, dimension or number of steps"


# ------------------------------------------------------------------------------------ cancellation
class Cancelled(Exception):
    """The computation was cancelled (its requester left or asked for something else)."""


class CancelToken:
    """Says whether a computation should stop. ``cancel()`` sets it; ``poll`` (optional) is asked at
    most every ``every_s`` seconds and may return True or raise its own exception to stop the work."""

    def __init__(self, poll: Callable[[], bool | None] | None = None, every_s: float = 0.2,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.poll = poll
        self.every_s = every_s
        self.clock = clock
        self._cancelled = False
        self._last = -math.inf

    def cancel(self) -> None:
        self._cancelled = True

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def check(self) -> None:
        """Raise :class:`Cancelled` if cancelled (asking ``poll`` when it is due)."""
        if not self._cancelled and self.poll is not None:
            now = self.clock()
            if now - self._last >= self.every_s:
                self._last = now
                if self.poll():
                    self._cancelled = True
        if self._cancelled:
            raise Cancelled("the computation was cancelled")


_TOKEN: contextvars.ContextVar[CancelToken | None] = contextvars.ContextVar("dln_cancel_token", default=None)


@contextlib.contextmanager
def cancel_scope(token: CancelToken | None) -> Iterator[CancelToken | None]:
    """Make ``token`` the one :func:`checkpoint` consults inside the ``with`` block (this thread)."""
    reset = _TOKEN.set(token)
    try:
        yield token
    finally:
        _TOKEN.reset(reset)


def checkpoint() -> None:
    """Called by long loops between chunks: raises if the current request was cancelled. Cheap."""
    token = _TOKEN.get()
    if token is not None:
        token.check()

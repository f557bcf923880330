"""Run results: the typed summary, the ``Run`` protocol, and the live :class:`RunResult`.

:class:`RunSummary` is the contract between the engine and everything that reports a run (pages,
CLI, store, sweeps): frozen, typed, ``to_dict`` / ``from_dict`` for JSON (the store's meta.json).
It also reads like a mapping (``summary["final_loss"]``), so a stored run's plain dict and a live
summary serve the same readers.

:class:`Run` is what every reader of a finished run needs — ``config_flat``, ``summary`` and
``frame(name)`` / ``frames`` — satisfied by a live :class:`RunResult` and by a
:class:`dln_core.store.StoredRun` alike (the CSV export takes either). :class:`FrameViews` declares
the named frame properties (``history``, ``modes``, …) once for both.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from .config import RunConfig
from .targets import Problem

FRAME_NAMES = ("history", "modes", "mode_summary", "alignment", "layer_sv", "updates", "balance")


@functools.cache
def _field_names(cls) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


@dataclass(frozen=True, eq=False)
class RunSummary(Mapping):
    """What one run measured (docs/API.md "RunSummary"); per-mode fields are lists of length r."""

    final_loss: float  # at the divergence step for a diverged run (inf if non-finite)
    diverged: bool
    diverged_step: int | None
    steps: int  # steps actually run (the divergence step for a diverged member)
    halfway_step: list  # per mode: exact first step with u_i ≥ target_i / 2 (None: not reached / λ_i = 0)
    halfway_step_theory: list  # per mode: the finite-η prediction, overlay.batch_overlays (None: no theory)
    theory_start_step: list  # per mode: where the theory curve starts (None: no theory)
    plateau_levels: list  # ½ Σ_{i>k} λ_i²/d_i, k = 0..r
    lambda_star: list
    target_strength: list
    u0: list  # measured u_i(0)
    initial_loss: float
    wall_time_s: float
    lr: float
    depth: int
    total_steps: int  # the batch's run length
    lr_cap: float | None  # 2 / sharpness at the balanced global minimum (None: not computed)
    lr_over_cap: bool | None
    loss_floor: float  # lowest loss the architecture can reach
    converged: bool
    auto: bool  # steps="auto"
    # per mode (launch.py / laws.py); defaults so stored summaries from before these fields still load
    halfway_step_theory_gf: list | None = None  # gradient-flow value of the prediction (halfway_step_theory: finite η)
    theory_applies: list | None = None  # bool per mode: a prediction exists
    theory_reason: list | None = None  # None, or why the mode has no theory
    theory_alignment: list | None = None  # alignment at the launch step
    ode_exponent: list | None = None  # fitted slope of log(u̇/(L(λ − d u))) vs log u over the rise
    ode_exponent_theory: float | None = None  # 2 − 2/L
    auto_reached: bool | None = None  # only when auto: False if the loss never fell below 0.05 within the cap

    # ---------------------------------------------------------------- dict view (JSON, mapping reads)
    def _keys(self) -> list[str]:
        names = _field_names(type(self))  # cached: a sweep's summary reads ~18 keys of 2048 summaries
        return list(names if self.auto else names[:-1])  # auto_reached exists only for "auto" runs

    def to_dict(self) -> dict:
        """Plain dict (lists copied); ``auto_reached`` only when ``auto``."""
        return {k: (list(v) if isinstance(v, list) else v) for k in self._keys() for v in [getattr(self, k)]}

    @classmethod
    def from_dict(cls, d: Mapping) -> RunSummary:
        """Inverse of :meth:`to_dict` (e.g. a stored run's meta summary; JSON null stays None)."""
        names = [f.name for f in dataclasses.fields(cls)]
        required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
        missing = [n for n in required if n not in d]
        if missing:
            raise KeyError(f"run summary lacks {', '.join(missing)}")
        return cls(**{n: d.get(n) for n in names})

    def replace(self, **changes: Any) -> RunSummary:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())


@runtime_checkable
class Run(Protocol):
    """A finished run as its readers see it (live RunResult or stored StoredRun)."""

    @property
    def config_flat(self) -> dict: ...  # RunConfig.to_flat()

    @property
    def summary(self) -> Mapping[str, Any]: ...

    @property
    def frames(self) -> Mapping[str, pd.DataFrame]: ...

    def frame(self, name: str) -> pd.DataFrame: ...


class FrameViews:
    """The named frames as properties, declared once; the class provides ``frame(name)``."""

    history = property(lambda self: self.frame("history"), doc="frames.history_columns(r), one row per snapshot")
    modes = property(lambda self: self.frame("modes"), doc="frames.MODES_COLUMNS (long)")
    mode_summary = property(lambda self: self.frame("mode_summary"), doc="frames.MODE_SUMMARY_COLUMNS")
    alignment = property(lambda self: self.frame("alignment"), doc="frames.ALIGNMENT_COLUMNS (long)")
    layer_sv = property(lambda self: self.frame("layer_sv"), doc="frames.LAYER_SV_COLUMNS (long)")
    updates = property(lambda self: self.frame("updates"), doc="frames.UPDATE_COLUMNS (long)")
    balance = property(lambda self: self.frame("balance"), doc="frames.BALANCE_COLUMNS (long)")


class RunResult(FrameViews):
    """Everything one run produced: frames (columns in dln_core.frames) + summary + final weights.

    Attributes: ``config``, ``problem``, ``summary`` (:class:`RunSummary`), ``weights`` (final
    W_1 … W_L), ``initial_weights`` (W_1(0) … W_L(0)) and the frames of :data:`FRAME_NAMES`. The
    frames are built on first access (a 256-network sweep that only reads summaries never pays for
    them) by ``builder``; ``build_frames()`` builds them now. The result pickles either way.
    Optional (engine.run_batch ``sharpness`` / ``first_layer``): ``curvature`` (a DataFrame of
    curvature.CURVATURE_COLUMNS), ``sharpness_seconds`` and ``first_layer`` ((steps, W_1 stack)); None
    when not recorded. Optional (engine.run_batch ``trace``): ``trace``, the cheap every-N-steps loss and
    mode strengths (frames.trace_columns); None when not recorded.
    """

    trace: pd.DataFrame | None = None
    curvature: pd.DataFrame | None = None
    sharpness_seconds: float | None = None
    first_layer: tuple | None = None

    def __init__(self, config: RunConfig, problem: Problem, summary: RunSummary, weights: list[np.ndarray],
                 frames: dict[str, pd.DataFrame] | None = None, builder: Callable[[], dict] | None = None,
                 initial_weights: list[np.ndarray] | None = None,
                 series: Callable[[], tuple] | None = None) -> None:
        self.config = config
        self.problem = problem
        self.summary = summary
        self.weights = weights
        self.initial_weights = initial_weights
        self._frames: dict[str, pd.DataFrame] = dict(frames or {})
        self._builder = builder
        self._series = series

    @property
    def config_flat(self) -> dict:
        return self.config.to_flat()

    def build_frames(self) -> RunResult:
        """Build every frame now (once) and release the batch recorder; returns self."""
        if self._builder is not None:
            self._frames.update(self._builder())
            self._builder = self._series = None
        return self

    def frame(self, name: str) -> pd.DataFrame:
        if name not in self._frames:
            if self._builder is None:
                raise KeyError(f"RunResult has no frame {name!r}")
            self.build_frames()
        return self._frames[name]

    @property
    def frames(self) -> dict[str, pd.DataFrame]:
        """All frames by name (builds them if needed)."""
        return {name: self.frame(name) for name in FRAME_NAMES}

    @property
    def frames_built(self) -> bool:
        return self._builder is None

    def mode_series(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(steps (S,), t (S,), u (S, r)): the measured mode strengths of the ``modes`` frame.

        Cheap: read straight from the batch recorder while the frames are unbuilt (a sweep's rise
        times need only this); otherwise reshaped from the ``modes`` frame.
        """
        if self._series is not None:
            return self._series()
        modes = self.modes.sort_values(["step", "mode"], kind="stable")
        r = len(self.summary.lambda_star)
        steps = modes["step"].to_numpy(np.int64)[::r] if r else np.zeros(0, np.int64)
        t = modes["t"].to_numpy(float)[::r] if r else np.zeros(0)
        return steps, t, modes["u"].to_numpy(float).reshape(len(steps), r)

    def __repr__(self) -> str:
        s = self.summary
        return (f"RunResult(depth={s.depth}, lr={s.lr}, steps={s.steps}, final_loss={s.final_loss:.4g}, "
                f"diverged={s.diverged})")


__all__ = ["FRAME_NAMES", "FrameViews", "Run", "RunResult", "RunSummary"]

"""DLN Lab core library: deep linear network dynamics, theory vs experiment (no streamlit here).

Public API (docs/API.md): configs (``RunConfig`` …, ``preset``), targets (``build_problem``), the engine
(``run``, ``run_batch``, ``RunResult``) and the error type ``ConfigError``. Conventions: THEORY.md §1
(loss ½‖·‖², time t = lr·step).
"""

from __future__ import annotations

from .config import (
    PRESETS,
    InitConfig,
    NetworkConfig,
    OptimConfig,
    RunConfig,
    TargetConfig,
    preset,
)
from .engine import RunResult, run, run_batch
from .errors import ConfigError
from .limits import Limits, current_limits
from .targets import Problem, build_problem, load_matrix_csv

__all__ = [
    "PRESETS",
    "ConfigError",
    "InitConfig",
    "Limits",
    "NetworkConfig",
    "OptimConfig",
    "Problem",
    "RunConfig",
    "RunResult",
    "TargetConfig",
    "build_problem",
    "current_limits",
    "load_matrix_csv",
    "preset",
    "run",
    "run_batch",
]

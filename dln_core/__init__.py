"""DLN Lab core library: deep linear network dynamics, theory vs experiment (no streamlit here).

Public API (docs/API.md): configs (``RunConfig`` …, ``preset``), targets (``build_problem``), the engine
(``run``, ``run_batch``, ``RunResult``) and the error type ``ConfigError``. Conventions: THEORY.md §1
(loss ½‖·‖², time t = lr·step).
"""

from __future__ import annotations

import importlib

# Lazy public names (PEP 562): ``import dln_core.errors`` from a page must not pull in the engine and
# scipy; each name below is imported from its module on first use.
_WHERE = {
    "PRESETS": "config", "InitConfig": "config", "NetworkConfig": "config", "OptimConfig": "config",
    "RunConfig": "config", "TargetConfig": "config", "preset": "config",
    "RunResult": "engine", "run": "engine", "run_batch": "engine",
    "ConfigError": "errors", "Limits": "limits", "current_limits": "limits",
    "Problem": "targets", "build_problem": "targets", "load_matrix_csv": "targets",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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

"""DLN Lab core library: deep linear network dynamics, theory vs experiment (no streamlit here).

Public API (docs/API.md): configs (``RunConfig`` …, ``preset``), targets (``build_problem``), the engine
(``run``, ``run_batch``, ``RunResult``), the run store (``RunStore``), sweeps (``SweepSpec``,
``run_sweep``) and the error type ``ConfigError``. Conventions: THEORY.md §1 (loss ½‖·‖², time
t = lr·step).

The names load lazily (PEP 562): ``import dln_core`` costs almost nothing, and ``dln_core.run`` imports
the engine (numpy, pandas) on first use. That keeps ``python -m dln_core`` quick to reject a bad flag.
Submodules resolve the same way (``dln_core.store`` works without ``import dln_core.store``). Each
access asks the defining module, so the module stays the one owner of the name.
"""

from __future__ import annotations

import importlib

# public name -> the module that defines it
_EXPORTS = {
    "PRESETS": "config",
    "InitConfig": "config",
    "NetworkConfig": "config",
    "OptimConfig": "config",
    "RunConfig": "config",
    "TargetConfig": "config",
    "preset": "config",
    "ConfigError": "errors",
    "Limits": "limits",
    "current_limits": "limits",
    "Problem": "targets",
    "build_problem": "targets",
    "load_matrix_csv": "targets",
    "RunResult": "result",
    "RunSummary": "result",
    "run": "engine",
    "run_batch": "engine",
    "RunStore": "store",
    "StoredRun": "stored",
    "SweepSpec": "sweep",
    "SweepResult": "sweep",
    "run_sweep": "sweep",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    if not name.startswith("_"):  # a submodule not imported yet (dln_core.store, dln_core.embeddings …)
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise  # the submodule exists but one of its own imports is missing
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

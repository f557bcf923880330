"""A run read back from the store (:class:`StoredRun`, a result.Run), the store's errors, and the
tables and exports built from stored runs (RunStore in store.py writes and reads them)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .config import RunConfig
from .frames import export_frame
from .result import FrameViews


class StoreError(Exception):
    """Base class for run-store errors."""


class RunNotFoundError(StoreError, KeyError):
    """No run with that id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "run not found"


class CorruptRunError(StoreError):
    """A run entry exists but cannot be read (bad JSON, missing or garbled file)."""


@dataclass
class StoredRun(FrameViews):
    """One run read back from the store: its meta dict and its named DataFrames (a result.Run)."""

    run_id: str
    meta: dict
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def name(self) -> str | None:
        return self.meta.get("name")

    @property
    def created(self) -> str:
        return self.meta["created"]

    @property
    def config_flat(self) -> dict:
        """The flat config (``RunConfig.to_flat()``) the run was saved with ({} if none)."""
        return dict(self.meta.get("config") or {})

    @property
    def summary(self) -> dict:
        """The saved summary as a dict (a train run's is RunSummary.to_dict(); JSON null for inf/NaN)."""
        return dict(self.meta.get("summary") or {})

    def frame(self, name: str) -> pd.DataFrame:
        """A stored frame by name; KeyError naming the available frames if absent."""
        try:
            return self.frames[name]
        except KeyError:
            raise KeyError(f"run {self.run_id} has no frame {name!r}; it has {sorted(self.frames)}") from None

    @property
    def weights(self) -> list[np.ndarray]:
        """Final per-layer weights W_1 … W_L if they were saved (train runs), else []."""
        keys = sorted((k for k in self.arrays if re.fullmatch(r"W\d+", k)), key=lambda k: int(k[1:]))
        return [self.arrays[k] for k in keys]

    def config(self) -> RunConfig:
        """The saved configuration as a ``RunConfig``."""
        return RunConfig.from_flat(self.config_flat)


def compact_halfway(values: Any) -> str:
    """Per-mode halfway steps as one short string, e.g. ``"120, 340, –"`` (– = not reached)."""
    if not isinstance(values, (list, tuple)):
        return ""
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            out.append("–")
        else:
            out.append(f"{v:g}" if isinstance(v, float) else str(v))
    return ", ".join(out)


def summary_cells(summary: Mapping) -> dict:
    """The run tables' summary columns (final_loss, diverged, steps_run, halfway_steps) of a summary."""
    return {"final_loss": summary.get("final_loss"), "diverged": summary.get("diverged"),
            "steps_run": summary.get("steps"), "halfway_steps": compact_halfway(summary.get("halfway_step"))}


def runs_table(entries: Iterable[Mapping]) -> pd.DataFrame:
    """The RunStore.list frame of meta dicts already read with RunStore.entries (a caller that
    needs both reads the store once): run_id, kind, name, created, the flat config columns,
    final_loss, diverged, steps_run, halfway_steps (compact per-mode string)."""
    rows = []
    for m in entries:
        summary = m.get("summary") or {}
        row = {"run_id": m["run_id"], "kind": m["kind"], "name": m.get("name"), "created": m["created"]}
        for k, v in (m.get("config") or {}).items():
            # nested values (e.g. a matrix) as JSON text, so every cell is a scalar
            row.setdefault(k, json.dumps(v) if isinstance(v, (list, dict)) else v)
        row.update(summary_cells(summary))
        rows.append(row)
    fixed = ["run_id", "kind", "name", "created", "final_loss", "diverged", "steps_run", "halfway_steps"]
    df = pd.DataFrame(rows, columns=None if rows else fixed)
    if rows:
        df["created"] = pd.to_datetime(df["created"], utc=True, format="ISO8601")
        df["final_loss"] = pd.to_numeric(df["final_loss"], errors="coerce")
    return df


def export_stored(runs: Iterable[StoredRun], frame: str = "history") -> pd.DataFrame:
    """:meth:`RunStore.export_frame` of runs already loaded (each with ``frame``): a page that has
    loaded the runs to draw them exports them without reading and checksumming them again."""
    runs = list(runs)
    df = export_frame([(run.run_id, run) for run in runs], frame)
    if runs:
        info = {run.run_id: (run.kind, run.name) for run in runs}
        df.insert(1, "kind", df["run_id"].map(lambda r: info[r][0]))
        df.insert(2, "name", df["run_id"].map(lambda r: info[r][1]))
    return df


__all__ = ["CorruptRunError", "RunNotFoundError", "StoreError", "StoredRun", "compact_halfway", "export_stored",
           "runs_table",
           "summary_cells"]

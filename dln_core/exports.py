"""Exports of stored runs as tables for other tools: wide or long (tidy), CSV or Parquet (no streamlit).

Two tables per export (docs/API.md, "exports"):

- the **history** table, one of two layouts:
  - ``wide``: one row per run × snapshot, the history frame's columns followed by the flat config
    columns (:func:`dln_core.store.export_stored`, the layout of the CSV export);
  - ``long``: one row per run × snapshot × measured value, columns :data:`LONG_COLUMNS`
    ``run_id, step, t, metric, index, value``. A history column ``mode_3`` becomes metric ``mode``,
    index 3; a column without a trailing number (``loss``) has an empty index. This is the layout
    pandas ``groupby``/``pivot``, DuckDB, ggplot and seaborn expect.
- the **runs** table, one row per run: ``run_id, kind, name, created`` and the run's meta flattened
  with dotted names (``config.depth``, ``summary.final_loss``, ``provenance.packages.torch`` …; the
  ``pandas.json_normalize`` convention). Lists are JSON text, so every cell is a scalar.

Runs without a history frame (sweeps) appear in the runs table only. :func:`write_export` renders
both tables in memory and then writes each file atomically: a failed export leaves no file that looks
complete.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ConfigError
from .store import atomic_write_bytes, export_stored

LONG_COLUMNS = ("run_id", "step", "t", "metric", "index", "value")
FORMATS = ("csv", "parquet")
LAYOUTS = ("wide", "long")
RUN_COLUMNS = ("run_id", "kind", "name", "created")
GROUP_ORDER = {"config": 0, "spec": 1, "summary": 2, "provenance": 3}  # runs-table column groups, in order
_SKIP_META = ("frames", "arrays", "format_version")  # file bookkeeping, not a property of the run
_INDEXED = re.compile(r"^(.*\D)_(\d+)$")


def split_metric(column: str) -> tuple[str, int | None]:
    """``"theory_gd_2"`` -> ("theory_gd", 2); ``"loss"`` -> ("loss", None)."""
    match = _INDEXED.match(column)
    return (match.group(1), int(match.group(2))) if match else (column, None)


def long_frame(history: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """One run's history frame in the long layout (:data:`LONG_COLUMNS`); numeric columns only."""
    value_cols = [c for c in history.columns if c not in ("step", "t") and
                  (pd.api.types.is_numeric_dtype(history[c]) or pd.api.types.is_bool_dtype(history[c]))]
    n, m = len(history), len(value_cols)
    names = [split_metric(c) for c in value_cols]
    values = history[value_cols].to_numpy(dtype=np.float64, na_value=np.nan) if m else np.empty((n, 0))
    return pd.DataFrame({
        "run_id": pd.Series([run_id] * (n * m), dtype="string"),
        "step": np.repeat(history["step"].to_numpy(dtype=np.int64), m),
        "t": np.repeat(history["t"].to_numpy(dtype=np.float64), m),
        "metric": pd.Series([name for name, _ in names] * n, dtype="string"),
        "index": pd.array([idx for _, idx in names] * n, dtype="Int64"),
        "value": values.reshape(-1),
    })


def _flatten(value, prefix: str, out: dict) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, (list, tuple)):
        out[prefix] = json.dumps(value)
    else:
        out[prefix] = value


def runs_table(metas: Iterable[Mapping]) -> pd.DataFrame:
    """One row per run: :data:`RUN_COLUMNS`, then the meta flattened with dotted names."""
    rows = []
    for meta in metas:
        row = {key: meta.get(key) for key in RUN_COLUMNS}
        rest = {k: v for k, v in meta.items() if k not in (*RUN_COLUMNS, *_SKIP_META)}
        _flatten(rest, "", row)
        rows.append(row)
    table = pd.DataFrame(rows, columns=None if rows else list(RUN_COLUMNS))
    rest = sorted(table.columns[len(RUN_COLUMNS):], key=lambda c: GROUP_ORDER.get(c.split(".")[0], len(GROUP_ORDER)))
    table = table[[*RUN_COLUMNS, *rest]]  # stable sort: each group keeps the meta's key order
    for col in table.columns:  # a column of only None would have no type in Parquet
        if table[col].isna().all():
            table[col] = table[col].astype("string")
    return table


def history_table(runs: Sequence, layout: str) -> pd.DataFrame:
    """The history table (module docstring) of loaded runs (``store.StoredRun`` with their frames)."""
    check_choice("layout", layout, LAYOUTS)
    with_history = [run for run in runs if "history" in run.frames]
    if layout == "wide":
        return export_stored(with_history, "history")
    parts = [long_frame(run.frames["history"], run.run_id) for run in with_history]
    return pd.concat(parts, ignore_index=True) if parts else long_frame(pd.DataFrame({"step": [], "t": []}), "")


def check_choice(field: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ConfigError(field, f"must be one of {', '.join(allowed)}", value)


def table_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    """A table as CSV (full float precision) or Parquet (pyarrow) bytes."""
    check_choice("format", fmt, FORMATS)
    if fmt == "csv":
        return frame.to_csv(index=False).encode()
    buf = io.BytesIO()
    _typed_columns(frame).to_parquet(buf, engine="pyarrow", index=False)
    return buf.getvalue()


def _typed_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Parquet needs one type per column: an object column mixing types (a config ``lr`` that is a
    number for train runs and "auto" for embedding runs) is stored as text, missing values kept."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object:
            kinds = {type(v) for v in out[col] if v is not None and not (isinstance(v, float) and np.isnan(v))}
            if len(kinds) > 1:
                out[col] = out[col].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v))
                                        else str(v)).astype("string")
    return out


def export_paths(out: str | os.PathLike, fmt: str) -> tuple[Path, Path]:
    """(history table path, runs table path): ``runs.csv`` -> ``runs.csv`` and ``runs.runs.csv``; a
    missing or different suffix gets ``.<fmt>``."""
    path = Path(out)
    if path.suffix.lower() != f".{fmt}":
        path = path.with_name(path.name + f".{fmt}")
    return path, path.with_name(f"{path.name[: -len(fmt) - 1]}.runs.{fmt}")


def export_tables(runs: Sequence, fmt: str = "csv", layout: str = "wide") -> tuple[bytes, bytes, int]:
    """(history table bytes, runs table bytes, history rows) of loaded runs: what the Runs page offers
    as downloads and :func:`write_export` writes."""
    check_choice("format", fmt, FORMATS)
    history = history_table(runs, layout)
    return table_bytes(history, fmt), table_bytes(runs_table(run.meta for run in runs), fmt), len(history)


def write_export(runs: Sequence, out: str | os.PathLike, fmt: str = "csv", layout: str = "wide") -> dict:
    """Write the history and runs tables of loaded runs next to each other; returns what it wrote."""
    history, table, rows = export_tables(runs, fmt, layout)
    history_path, runs_path = export_paths(out, fmt)
    for path, data in ((history_path, history), (runs_path, table)):
        atomic_write_bytes(path, data)
    return {"history": str(history_path), "runs": str(runs_path), "rows": rows, "run_count": len(runs),
            "format": fmt, "layout": layout}

"""Reproducing a saved run: retrain from its stored config and compare with its stored history.

Train runs rebuild their ``RunConfig`` from the flat config (``RunConfig.from_flat``) and run the
engine again; embedding runs rebuild their ``EmbedConfig`` and retrain on the same shipped corpus.
Both are deterministic given their seeds, so on the same software and device the new history should
equal the stored one: :data:`TOLERANCE` is the largest acceptable absolute difference per dtype
(float64 on CPU: 1e-12; float32 rounding is about 1e-7 relative). The report also lists provenance
entries (dln_core.provenance) that differ between the stored run and now, the usual reason when a
run does not reproduce.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from . import provenance
from .embeddings.corpus import SHIPPED_CORPORA, load_default_corpus
from .embeddings.model import EmbedConfig
from .embeddings.pipeline import run_embedding
from .engine import run as run_engine
from .errors import ConfigError

TOLERANCE = {"float64": 1e-12, "float32": 1e-4}
REPRODUCIBLE_KINDS = ("train", "embed")


def max_abs_diff(stored: pd.DataFrame, fresh: pd.DataFrame) -> tuple[float, int]:
    """(largest |stored − fresh| over every numeric cell, number of cells compared).

    Rows are matched by ``step``. A cell that is NaN on one side only, a missing column or a missing
    row counts as an infinite difference; NaN on both sides (a diverged tail) agrees.
    """
    if list(stored["step"]) != list(fresh["step"]):
        return math.inf, 0
    cols = [c for c in stored.columns if pd.api.types.is_numeric_dtype(stored[c])]
    if any(c not in fresh.columns for c in cols):
        return math.inf, 0
    a = stored[cols].to_numpy(dtype=np.float64, na_value=np.nan)
    b = fresh[cols].to_numpy(dtype=np.float64, na_value=np.nan)
    both_nan = np.isnan(a) & np.isnan(b)
    if np.any(np.isnan(a) ^ np.isnan(b)):
        return math.inf, int(a.size)
    diff = np.where(both_nan, 0.0, np.abs(a - b))
    return (float(diff.max()) if diff.size else 0.0), int(a.size)


def _changed(old: Mapping, new: Mapping, prefix: str = "") -> dict[str, list]:
    """Provenance keys whose values differ (nested keys dotted), as ``{key: [stored, now]}``."""
    out: dict[str, list] = {}
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        name = f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out.update(_changed(a, b, name + "."))
        elif a != b:
            out[name] = [a, b]
    return out


def _retrain(run) -> tuple[pd.DataFrame, list[np.ndarray], str, dict]:
    """(fresh history, fresh final weights, dtype, fresh provenance) for a stored run."""
    if run.kind == "train":
        cfg = run.config()
        result = run_engine(cfg)
        return result.history, list(result.weights), cfg.optim.dtype, provenance.collect(
            cfg.optim.device, cfg.optim.dtype)
    corpus = run.summary.get("corpus")
    if corpus not in SHIPPED_CORPORA:
        raise ConfigError("run", "reproduce needs an embedding run trained on a shipped corpus "
                          f"({', '.join(SHIPPED_CORPORA)})", corpus)
    cfg = EmbedConfig(**run.config_flat)
    result = run_embedding(cfg, load_default_corpus(corpus))
    return result.history, [result.W], cfg.dtype, provenance.collect(cfg.device, cfg.dtype, backend="torch")


def reproduce(store: Any, run_id: str) -> dict:
    """Retrain stored run ``run_id`` and compare (module docstring); a JSON-ready report.

    RunNotFoundError for an unknown id; ConfigError for a kind that cannot be retrained (sweeps)."""
    run = store.load(run_id)
    if run.kind not in REPRODUCIBLE_KINDS:
        raise ConfigError("run", f"reproduce retrains {' and '.join(REPRODUCIBLE_KINDS)} runs", run.kind)
    if "history" not in run.frames:
        raise ConfigError("run", "must have a stored history frame", run_id)
    history, weights, dtype, now = _retrain(run)
    diff, compared = max_abs_diff(run.frames["history"], history)
    stored_w = run.weights if run.kind == "train" else []
    w_diff = max((float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
                  for a, b in zip(stored_w, weights) if np.shape(a) == np.shape(b)), default=None)
    tolerance = TOLERANCE.get(dtype, TOLERANCE["float32"])
    return {
        "run_id": run_id,
        "kind": run.kind,
        "max_abs_diff": diff if math.isfinite(diff) else None,
        "compared_values": compared,
        "history_rows": len(history),
        "weights_max_abs_diff": w_diff,
        "dtype": dtype,
        "tolerance": tolerance,
        "reproduced": math.isfinite(diff) and diff <= tolerance and (w_diff is None or w_diff <= tolerance),
        # None for runs saved before provenance was recorded
        "provenance_changes": _changed(stored, now) if (stored := run.meta.get("provenance")) else None,
    }

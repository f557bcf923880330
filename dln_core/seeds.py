"""Seeds as an axis: runs that differ only in their seed, summarised as mean ± 95 % t-intervals.

Pure numpy/pandas (scipy for the t quantile). :func:`t_interval` is the one interval rule: for n
values, mean ± t_{n−1, 0.975} · s / √n (s the sample standard deviation); one value has no interval
(NaN half-width). :func:`seed_groups` finds the runs whose flat configs (config.FLAT_KEYS) agree on
everything but ``seed``; :func:`band_frame` turns their histories into mean ± interval curves on the
snapshot steps they share; :func:`aggregate_seeds` does the same for a sweep summary's per-mode times.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

LEVEL = 0.95
BAND_COLUMNS = ("step", "t", "series", "mean", "lo", "hi", "n")
AGG_VALUES = ("halfway_step", "halfway_time", "rise_time", "final_loss")
# a sweep summary's columns that define a group (sweep.CONFIG_COLUMNS minus member and seed, plus the mode)
AGG_KEYS = ("depth", "width", "init_scheme", "init_scale", "lr", "singular_values", "input_kind", "steps", "mode",
            "lambda")


def t_quantile(n: int, level: float = LEVEL) -> float:
    """The two-sided t quantile for n values (n − 1 degrees of freedom); NaN for n < 2."""
    if n < 2:
        return math.nan
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2, n - 1))


def t_interval(values, level: float = LEVEL) -> tuple[float, float, int]:
    """(mean, half-width, n) of the finite values: half-width = t_{n−1} · s / √n (NaN when n < 2)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    n = int(v.size)
    if n == 0:
        return math.nan, math.nan, 0
    if n == 1:
        return float(v[0]), math.nan, 1
    return float(v.mean()), t_quantile(n, level) * float(v.std(ddof=1)) / math.sqrt(n), n


def seed_groups(flats: Mapping[str, Mapping]) -> list[list[str]]:
    """Labels grouped by flat config without ``seed``: only groups of ≥ 2 runs with distinct seeds."""
    groups: dict[tuple, list[str]] = {}
    for label, flat in flats.items():
        key = tuple(sorted((k, str(v)) for k, v in flat.items() if k != "seed"))
        groups.setdefault(key, []).append(label)
    out = []
    for labels in groups.values():
        seeds = {str(flats[lbl].get("seed")) for lbl in labels}
        if len(labels) >= 2 and len(seeds) == len(labels):
            out.append(labels)
    return out


def band_frame(histories: Sequence[pd.DataFrame], columns: Sequence[str], level: float = LEVEL) -> pd.DataFrame:
    """Long :data:`BAND_COLUMNS` frame: per shared snapshot step and history column, the mean over the
    runs with its t-interval (lo, hi; NaN with one run). Steps missing from any run are dropped."""
    if not histories:
        return pd.DataFrame(columns=list(BAND_COLUMNS))
    steps = set(histories[0]["step"])
    for h in histories[1:]:
        steps &= set(h["step"])
    steps = sorted(steps)
    first = histories[0].set_index("step")
    parts = []
    n = len(histories)
    q = t_quantile(n, level)
    for col in columns:
        stack = np.stack([h.set_index("step").loc[steps, col].to_numpy(float) for h in histories])
        mean = stack.mean(axis=0)
        half = q * stack.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.full(len(steps), np.nan)
        parts.append(pd.DataFrame({"step": steps, "t": first.loc[steps, "t"].to_numpy(float), "series": col,
                                   "mean": mean, "lo": mean - half, "hi": mean + half, "n": n}))
    return pd.concat(parts, ignore_index=True)[list(BAND_COLUMNS)]


def aggregate_seeds(summary: pd.DataFrame, values: Sequence[str] = AGG_VALUES, level: float = LEVEL) -> pd.DataFrame:
    """A sweep summary (sweep.SUMMARY_COLUMNS) collapsed over seeds: one row per (config without seed,
    mode) with ``n_seeds`` and, for each value column, ``<col>_mean``, ``<col>_lo``, ``<col>_hi`` (the
    t-interval) and ``<col>_se`` (s/√n). Diverged members are left out of the times (kept in n_seeds)."""
    keys = [k for k in AGG_KEYS if k in summary.columns]
    rows = []
    for key, g in summary.groupby(keys, dropna=False, sort=True):
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        row["n_seeds"] = int(g["seed"].nunique()) if "seed" in g else len(g)
        ok = g[~g["diverged"].astype(bool)] if "diverged" in g else g
        for col in values:
            mean, half, n = t_interval(ok[col].to_numpy(float), level)
            sd = float(np.nanstd(ok[col].to_numpy(float), ddof=1)) if n > 1 else math.nan
            row.update({f"{col}_mean": mean, f"{col}_lo": mean - half, f"{col}_hi": mean + half,
                        f"{col}_se": sd / math.sqrt(n) if n > 1 else math.nan})
        rows.append(row)
    return pd.DataFrame(rows)


__all__ = ["AGG_KEYS", "AGG_VALUES", "BAND_COLUMNS", "LEVEL", "aggregate_seeds", "band_frame", "seed_groups",
           "t_interval", "t_quantile"]

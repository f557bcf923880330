"""Argument validators: one field each, one :class:`~dln_core.errors.ConfigError` naming the field.

The configs (config.py), the theory functions (theory.py, sharpness.py), the landscape and the
embedding config all check their arguments with these, so a bad value reads the same everywhere:
``"<field>: must be ..., got <value>"``.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np

from .errors import ConfigError

# Largest |value| accepted for singular values, matrix entries and input variances: beyond it the
# plateau levels (½λ²) and the loss overflow float64 arithmetic and a run looks like lr divergence.
MAX_MAGNITUDE = 1e6


def is_int(value: Any) -> bool:
    """An integer (Python or numpy), not a bool."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_int(name: str, value: Any, lo: int, hi: int | None = None) -> int:
    """An integer in [lo, hi]; bools and floats are rejected (a float depth is a bug upstream)."""
    rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
    if not is_int(value):
        raise ConfigError(name, f"must be an integer {rng}", value)
    value = int(value)
    if value < lo or (hi is not None and value > hi):
        raise ConfigError(name, f"must be an integer {rng}", value)
    return value


def check_float(name: str, value: Any, *, positive: bool = False, nonneg: bool = False) -> float:
    """A finite real number, optionally > 0 or >= 0."""
    what = "a finite number > 0" if positive else "a finite number >= 0" if nonneg else "a finite number"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ConfigError(name, f"must be {what}", value)
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0) or (nonneg and value < 0):
        raise ConfigError(name, f"must be {what}", value)
    return value


def check_positive(name: str, value: Any) -> float:
    """Anything float() accepts that is finite and > 0 (numpy scalars, numeric strings)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(name, "must be a positive number", value) from None
    if not np.isfinite(x) or x <= 0:
        raise ConfigError(name, "must be a positive number", value)
    return x


def check_choice(name: str, value: Any, allowed) -> str:
    """One of ``allowed`` (any iterable of names, e.g. a registry's keys)."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ConfigError(name, "must be one of " + ", ".join(repr(a) for a in allowed), value)
    return value


def check_floats(name: str, value: Any, *, positive: bool) -> tuple[float, ...]:
    """A non-empty sequence of finite numbers (> 0 if ``positive`` else >= 0), each <= MAX_MAGNITUDE."""
    what = "> 0" if positive else ">= 0"
    msg = f"must be a non-empty list of finite numbers {what} and <= {MAX_MAGNITUDE:g}"
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        raise ConfigError(name, msg, value)
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, Real):
            raise ConfigError(name, msg, value)
        v = float(v)
        if not math.isfinite(v) or v < 0 or (positive and v == 0) or v > MAX_MAGNITUDE:
            raise ConfigError(name, msg, tuple(value))
        out.append(v)
    if not out:
        raise ConfigError(name, msg, tuple(value))
    return tuple(out)


def check_matrix(m: Any) -> tuple[tuple[float, ...], ...]:
    """A non-empty rectangular matrix of finite numbers in [-MAX_MAGNITUDE, MAX_MAGNITUDE], not all 0."""
    msg = "must be a non-empty rectangular matrix of finite numbers (rows of equal length)"
    if m is None or isinstance(m, str) or not hasattr(m, "__iter__"):
        raise ConfigError("matrix", msg, m)
    try:
        rows = [tuple(float(v) for v in row) for row in m]
    except (TypeError, ValueError):
        raise ConfigError("matrix", msg, "non-numeric entries") from None
    if not rows or not rows[0] or any(len(r) != len(rows[0]) for r in rows):
        raise ConfigError("matrix", msg, f"row lengths {[len(r) for r in rows]}")
    if not all(math.isfinite(v) for r in rows for v in r):
        raise ConfigError("matrix", msg, "non-finite entries")
    big = max(abs(v) for r in rows for v in r)
    if big > MAX_MAGNITUDE:
        raise ConfigError("matrix", f"entries must lie in [-{MAX_MAGNITUDE:g}, {MAX_MAGNITUDE:g}]", big)
    if all(v == 0 for r in rows for v in r):
        raise ConfigError("matrix", "must not be all zeros", "all zeros")
    return tuple(rows)


def check_array(name: str, value, *, min_value: float | None = None, strict: bool = False) -> np.ndarray:
    """A finite float array (any shape), optionally every entry >= min_value (> with ``strict``)."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(name, "must be a number or an array of numbers", value) from None
    if not np.all(np.isfinite(arr)):
        raise ConfigError(name, "must be finite", value)
    if min_value is not None:
        bad = arr <= min_value if strict else arr < min_value
        if np.any(bad):
            op = ">" if strict else ">="
            raise ConfigError(name, f"must be {op} {min_value:g}", value)
    return arr


def check_mode_params(lam, u0, d):
    """Validate and broadcast λ ≥ 0, u0, d > 0 to common 1-D arrays of length r."""
    lam = check_array("lam", lam, min_value=0.0)
    u0 = check_array("u0", u0)
    d = check_array("d", d, min_value=0.0, strict=True)
    lam, u0, d = np.broadcast_arrays(np.atleast_1d(lam), np.atleast_1d(u0), np.atleast_1d(d))
    if lam.ndim != 1:
        raise ConfigError("lam", "must be a scalar or a 1-D array over modes", lam.shape)
    return lam.astype(float), u0.astype(float), d.astype(float)


__all__ = ["MAX_MAGNITUDE", "check_array", "check_choice", "check_float", "check_floats", "check_int",
           "check_matrix", "check_mode_params", "check_positive", "is_int"]

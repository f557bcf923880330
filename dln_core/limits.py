"""Compute caps per request, so a hosted demo stays responsive.

The profile comes from the environment variable ``DLN_LAB_PROFILE`` (``local``, the default, or
``hosted``); any single cap can be overridden with ``DLN_LAB_MAX_<NAME>`` (e.g.
``DLN_LAB_MAX_STEPS=50000``). Library calls take a ``Limits`` explicitly; the pages and the CLI use
:func:`current_limits`. An over-cap request raises :class:`~dln_core.errors.ConfigError` naming the cap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace

from .errors import ConfigError


@dataclass(frozen=True)
class Limits:
    max_steps: int  # GD steps of one run
    max_depth: int  # layers L
    max_width: int  # hidden width and target dimensions
    max_batch: int  # networks in one sweep
    max_network_steps: int  # sweep budget: networks x steps
    max_snapshots: int  # recorded snapshots of one run (memory grows with these, not with steps)
    max_sweep_snapshots: int  # sweep budget: networks x snapshots
    max_vocab: int  # word-embedding vocabulary V
    max_dim: int  # embedding dimension d
    max_embed_steps: int  # word-embedding GD steps
    max_embed_work: float  # word-embedding budget: V·V·d·steps (one step costs about 2·V²·d flops)
    max_upload_mb: float  # uploaded corpus size
    max_cpu_seconds: float  # budget per request: estimated CPU seconds of one computation (budget.py)
    max_session_runs: int  # hosted: saved runs one visitor session may keep (session_store.py)
    max_session_mb: float  # hosted: megabytes of saved runs one visitor session may keep


LOCAL = Limits(
    max_steps=2_000_000,
    max_depth=12,
    max_width=512,
    max_batch=4096,
    max_network_steps=200_000_000,
    max_snapshots=20_000,
    max_sweep_snapshots=500_000,
    max_vocab=20_000,
    max_dim=400,
    max_embed_steps=20_000,
    max_embed_work=2e13,
    max_upload_mb=200.0,
    max_cpu_seconds=3600.0,
    max_session_runs=100_000,  # locally the store is shared and has no quota: unused
    max_session_mb=1e9,
)

HOSTED = Limits(
    max_steps=50_000,
    max_depth=8,
    max_width=64,
    max_batch=256,
    max_network_steps=10_000_000,
    max_snapshots=2_000,
    max_sweep_snapshots=50_000,
    max_vocab=5_000,
    max_dim=100,
    max_embed_steps=2_000,
    max_embed_work=2e11,
    max_upload_mb=5.0,
    max_cpu_seconds=15.0,
    max_session_runs=20,
    max_session_mb=50.0,
)


def current_profile() -> str:
    """``local`` or ``hosted``, from ``DLN_LAB_PROFILE`` (hosted also makes saved runs private)."""
    profile = os.environ.get("DLN_LAB_PROFILE", "local").strip().lower()
    if profile not in ("local", "hosted"):
        raise ConfigError("DLN_LAB_PROFILE", "must be 'local' or 'hosted'", profile)
    return profile


def current_limits() -> Limits:
    """The caps in force for this process (profile + per-cap environment overrides)."""
    base = HOSTED if current_profile() == "hosted" else LOCAL
    overrides = {}
    for f in fields(Limits):
        raw = os.environ.get("DLN_LAB_" + f.name.upper())
        if raw is None:
            continue
        try:
            value = float(raw) if f.type in ("float", float) else int(raw)
        except ValueError:
            raise ConfigError("DLN_LAB_" + f.name.upper(), "must be a positive number", raw) from None
        if value <= 0:
            raise ConfigError("DLN_LAB_" + f.name.upper(), "must be a positive number", raw)
        overrides[f.name] = value
    return replace(base, **overrides)


def check_cap(field: str, value: float, cap: float, what: str = "") -> None:
    """Raise ConfigError if ``value`` exceeds ``cap`` (the message says the limit)."""
    if value > cap:
        label = f" ({what})" if what else ""
        raise ConfigError(field, f"at most {cap:g} on this server{label}", value)

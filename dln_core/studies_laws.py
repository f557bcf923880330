"""The two exponent studies of the Theory & scaling page: the λ law (the depth exponent 2 − 2/L at
fixed u₀/λ) and the u₀ law (the plateau exponent 1 − 2/L), each with fitted exponents and standard
errors from dln_core.laws (THEORY.md §2). Kept apart from laws.py, which the engine imports, so the
import graph stays one-way (engine → laws; studies_laws → studies → sweep → engine).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import theory
from .config import RunConfig
from .errors import ConfigError
from .laws import depth_exponent, fit_lambda_law, fit_u0_law
from .studies import steps_to_reach, study_scaling
from .sweep import parse_floats, run_members

# ----------------------------------------------------------------------------------- the studies
LAMBDA_LAW_STEP = 0.05  # η λ_max^{2−2/L}: the step in the rescaled time of the fastest run


def study_lambda_law(
    depths=(2, 3, 4, 6),
    lambdas: str = "0.5,1,2,4",
    ratios: str = "0.01,0.03",
    step_factor: float = LAMBDA_LAW_STEP,
    snapshots: int = 40,
    progress=None,
    limits=None,
) -> dict[str, pd.DataFrame]:
    """The depth exponent from a sweep over λ at fixed u₀/λ (THEORY.md §2, τ½ = λ^{−(2−2/L)} g_L(u₀/λ)).

    For each depth L and target λ (a one-mode network) and each ratio u₀/λ, an aligned balanced init with
    u₀ = ratio·λ trains at one step size per depth, η = step_factor / λ_max^{2−2/L} (so the fastest run
    takes ≥ 1/step_factor steps per unit of rescaled time; at the default the fitted exponents are
    within 0.012 of 2 − 2/L at L = 2, 3, 4, 6 and finite η moves the fastest τ½ by ≤ 4 %). The
    measured τ½ = η × (exact first halfway step). Returns frames ``summary`` (depth, lambda, ratio, u0,
    tau_half, collapse = τ½ λ^{2−2/L}), ``theory`` (the exact collapse curve g_L per depth) and
    ``fits`` (:func:`fit_lambda_law`).
    """

    lams = sorted(parse_floats("lambdas", lambdas, positive=True)) if isinstance(lambdas, str) else sorted(lambdas)
    rats = sorted(parse_floats("ratios", ratios, positive=True)) if isinstance(ratios, str) else sorted(ratios)
    if len(lams) < 2:
        raise ConfigError("lambdas", "need at least two values of λ to fit an exponent", lambdas)
    if any(r >= 0.5 for r in rats):
        raise ConfigError("ratios", "must lie in (0, 0.5): u₀ below half the target", ratios)
    if not 0 < step_factor <= 0.5:
        raise ConfigError("step_factor", "must lie in (0, 0.5]", step_factor)
    members, keys = [], []
    for depth in depths:
        depth = int(depth)
        if depth < 2:
            raise ConfigError("depths", "the depth exponent needs depth >= 2", depth)
        lr = step_factor / max(lams) ** depth_exponent(depth)
        for lam in lams:
            steps = steps_to_reach(lam, min(rats) * lam, depth, lr)  # the slowest ratio of this λ
            for ratio in rats:
                members.append(RunConfig.make(
                    target_kind="spectrum", singular_values=(lam,), depth=depth, init_scheme="aligned",
                    init_scale=(ratio * lam) ** (1.0 / depth), lr=lr, steps=steps,
                    record=max(1, steps // snapshots)))
                keys.append((depth, lam, ratio))
    results, _ = run_members(members, progress=progress, limits=limits)
    rows = []
    for (depth, lam, ratio), res in zip(keys, results):
        k = res.summary["halfway_step"][0]
        tau = float("nan") if k is None else res.config.optim.lr * k
        rows.append({"depth": depth, "lambda": lam, "ratio": ratio, "u0": float(res.summary["u0"][0]),
                     "tau_half": tau, "collapse": tau * lam ** depth_exponent(depth)})
    summary = pd.DataFrame(rows, columns=["depth", "lambda", "ratio", "u0", "tau_half", "collapse"])
    grid = np.geomspace(min(rats) / 3, max(0.3, max(rats) * 3) if max(rats) * 3 < 0.5 else 0.45, 50)
    theory_rows = [pd.DataFrame({"depth": int(L), "ratio": grid,
                                 "collapse_theory": np.asarray(theory.tau_half(1.0, grid, int(L)), float)})
                   for L in depths]
    return {"summary": summary, "theory": pd.concat(theory_rows, ignore_index=True), "fits": fit_lambda_law(summary)}


def study_u0_law(progress=None, limits=None, **params) -> dict[str, pd.DataFrame]:
    """The u₀ law (studies.study_scaling: plateau length against u₀ per depth) with the exponent 1 − 2/L
    fitted with its standard error (:func:`fit_u0_law`) as ``exponent_fits``."""

    out = study_scaling(progress=progress, limits=limits, **params)
    s = out["summary"]
    s = s[(s["mode"] == 1) & ~s["diverged"].astype(bool)]
    frame = pd.DataFrame({"depth": s["depth"], "u0": s["u0"], "tau_half": s["halfway_time"],
                          "tau_half_theory": s["tau_half_theory"]})
    out["exponent_fits"] = fit_u0_law(frame)
    return out

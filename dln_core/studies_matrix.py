"""Studies past the scalar mode law (Theory & scaling page, figures 5 and 6; see studies.py).

- :func:`study_commuting` — non-whitened inputs: commuting Σxx against the mode law with d_i
  (THEORY.md §6), and a rotated Σxx simulated alongside with no theory.
- :func:`study_exact_l2` — GD from an unaligned λ-balanced start against the exact depth-2 matrix
  solution (THEORY.md §4).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import theory
from .config import RunConfig
from .engine import run_batch
from .errors import ConfigError
from .inits import init_weights
from .limits import Limits, current_limits
from .studies import _check_sizes, _record_every, steps_to_reach
from .sweep import Progress, check_sweep_limits, input_variances, parse_floats, run_members, summarize
from .targets import build_problem


def _mode_fraction_frame(result, with_theory: bool) -> pd.DataFrame:
    """Long frame of u_i(t)/target_i (measured, and gradient-flow theory with d_i when it exists)."""
    problem = result.problem
    depth = result.config.network.depth
    modes = result.modes
    lam = np.asarray(problem.lambda_star, float)
    d = input_variances(problem)
    target = np.asarray(problem.target_strength, float)
    labels = {
        i + 1: f"mode {i + 1}: λ={lam[i]:g}" + (f", d={d[i]:g}, λ/d={target[i]:.3g}" if np.isfinite(d[i]) else "")
        for i in range(len(lam))
    }
    keep = target > 0
    frames = []
    meas = modes[modes["mode"].isin(np.nonzero(keep)[0] + 1)]
    frames.append(pd.DataFrame({
        "t": meas["t"].to_numpy(float), "mode": meas["mode"].to_numpy(int),
        "label": meas["mode"].map(labels).to_numpy(),
        "fraction": meas["u"].to_numpy(float) / target[meas["mode"].to_numpy(int) - 1],
        "source": "measured",
    }))
    if with_theory:
        t = np.unique(meas["t"].to_numpy(float))
        u0 = np.asarray(result.summary.u0, float)
        idx = np.nonzero(keep)[0]
        curves = theory.mode_curve_gf(t, lam[idx], u0[idx], depth, d[idx])
        for j, i in enumerate(idx):
            frames.append(pd.DataFrame({
                "t": t, "mode": i + 1, "label": labels[i + 1], "fraction": curves[:, j] / target[i],
                "source": "theory (gradient flow)",
            }))
    return pd.concat(frames, ignore_index=True)


def _sv_fraction_frame(result) -> pd.DataFrame:
    """Long frame of the sorted singular values of W(t) over those of W* (for non-commuting inputs,
    where per-mode projections have no theory to compare with)."""
    hist = result.history
    w_sv = np.linalg.svd(result.problem.w_star, compute_uv=False)
    frames = []
    for i, sv in enumerate(w_sv):
        col = f"sv_{i + 1}"
        if col not in hist or sv <= 1e-12:
            continue
        frames.append(pd.DataFrame({
            "t": hist["t"].to_numpy(float), "mode": i + 1, "label": f"σ{i + 1}(W) / σ{i + 1}(W*) = {sv:.3g}",
            "fraction": hist[col].to_numpy(float) / sv, "source": "measured",
        }))
    return pd.concat(frames, ignore_index=True)


def study_commuting(
    depth: int = 2,
    singular_values: str = "3,1",
    input_eigenvalues: str = "6,1",
    init_scale: float = 1e-2,
    lr: float = 0.02,
    input_seed: int = 0,
    snapshots: int = 300,
    progress: Progress | None = None,
    limits: Limits | None = None,
) -> dict[str, pd.DataFrame]:
    """Figure 5: non-whitened inputs. Commuting Σxx (shares V* with Σyx): mode i obeys
    du/dt = L u^{2−2/L}(λ_i − d_i u) (THEORY.md §6), so its speed follows the cross-covariance λ_i
    while it converges to λ_i/d_i; a high-variance direction with a small λ_i/d_i can therefore be
    learned before one with a larger λ_i/d_i. Compared with theory. A rotated (non-commuting) Σxx with
    the same variances is simulated as well, with no theory (none is known)."""
    _check_sizes(limits, {"singular values": singular_values, "input variances": input_eigenvalues})
    lam = parse_floats("singular values", singular_values, positive=True)
    ev = parse_floats("input variances", input_eigenvalues, positive=True)
    if len(ev) != len(lam):
        raise ConfigError("input variances", f"need one per singular value ({len(lam)})", input_eigenvalues)
    if depth < 2:
        raise ConfigError("depth", "must be an integer >= 2 (L = 1 learns every mode at once)", depth)
    u0 = init_scale**depth
    steps = max(steps_to_reach(s, u0, depth, lr, fraction=0.95, margin=1.3, d=d) for s, d in zip(lam, ev))
    common = {
        "target_kind": "spectrum", "singular_values": singular_values, "input_eigenvalues": input_eigenvalues,
        "depth": int(depth), "init_scheme": "aligned", "init_scale": init_scale, "lr": lr, "steps": steps,
        "record": _record_every(steps, snapshots),
    }
    members = [
        RunConfig.make(**common, input_kind="commuting"),
        RunConfig.make(**common, input_kind="rotated", input_seed=input_seed),
    ]
    (commuting, rotated), _ = run_members(members, progress=progress, limits=limits)
    summary = summarize([commuting])
    order = summary[["mode", "lambda", "input_variance", "u0", "halfway_time", "tau_half_theory"]].copy()
    order["target_strength"] = order["lambda"] / order["input_variance"]
    order["order_measured"] = order["halfway_time"].rank(method="first").astype("Int64")
    order["order_theory"] = order["tau_half_theory"].rank(method="first").astype("Int64")
    order["order_by_target_strength"] = (-order["target_strength"]).rank(method="first").astype("Int64")
    return {
        "order": order,
        "commuting_curves": _mode_fraction_frame(commuting, with_theory=True),
        "noncommuting_curves": _sv_fraction_frame(rotated),
        "summary": summary,
    }


def study_exact_l2(
    singular_values: str = "3,2,1",
    rotate_seed: int = 1,
    init_scale: float = 0.1,
    lambda_b: float = 0.0,
    lr: float = 0.01,
    t_max: float = 6.0,
    n_times: int = 14,
    seed: int = 0,
    progress: Progress | None = None,
    limits: Limits | None = None,
) -> dict[str, pd.DataFrame]:
    """Figure 6: GD from a random, unaligned λ-balanced start vs the exact L = 2 matrix solution of
    THEORY.md §4. For step sizes η and η/4, ‖W_GD(t) − W_exact(t)‖_F at log-spaced times t = η·k; the
    gap is the discretisation error of GD (shrinking about in proportion to η), not a modelling error.

    The engine returns final weights only, so each time point is its own (deterministic) run from the
    same seeded start; the cost is a few times the longest run."""
    _check_sizes(limits, {"singular values": singular_values})
    if not 2 <= n_times <= 40:
        raise ConfigError("time points", "must be an integer in [2, 40]", n_times)
    if not t_max > 0:
        raise ConfigError("t_max", "must be > 0", t_max)
    base = RunConfig.make(
        target_kind="spectrum", singular_values=singular_values, rotate_seed=rotate_seed, depth=2,
        init_scheme="lambda-balanced", init_scale=init_scale, lambda_b=lambda_b, seed=seed, lr=lr, steps=1,
        n_snapshots=2,
    )
    problem = build_problem(base.target)
    W1_0, W2_0 = init_weights(base, problem)
    lrs = (lr, lr / 4)
    plans = []
    for eta in lrs:
        total = max(2, math.ceil(t_max / eta))
        ks = np.unique(np.round(np.geomspace(1, total, n_times)).astype(int))
        plans.extend((eta, int(k)) for k in ks)
    limits = limits or current_limits()
    check_sweep_limits([base.replace(steps=k, lr=eta) for eta, k in plans], limits)
    rows = []
    work = float(sum(k for _, k in plans))
    done = 0.0
    for eta, k in plans:
        if progress is not None:
            progress(done / work, f"GD with η={eta:g} to step {k}")
        res = run_batch([base.replace(steps=k, lr=eta)], limits=limits)[0]
        done += k
        W_gd = res.weights[1] @ res.weights[0]
        W_ex = theory.lambda_balanced_solution(problem.sigma_yx, W1_0, W2_0, eta * k, lambda_b)[0]
        rows.append({
            "lr": eta, "step": k, "t": eta * k, "error": float(np.linalg.norm(W_gd - W_ex)),
            "norm_exact": float(np.linalg.norm(W_ex)), "diverged": bool(res.summary.diverged),
        })
    if progress is not None:
        progress(1.0, "done")
    frame = pd.DataFrame(rows)
    frame["rel_error"] = frame["error"] / frame["norm_exact"]
    return {"errors": frame}


__all__ = ["study_commuting", "study_exact_l2"]

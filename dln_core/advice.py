"""What to tell the user about a finished run, and which one-click fix to offer (pure; no streamlit).

The pages show these messages as they are; the decisions live here so they are tested once:

- :func:`scaled_init` — "scale init for this depth": the init scale c whose slowest mode reaches
  halfway within a step budget (THEORY §2, τ½), which generalises the article's presets to any
  depth, target and η.
- :func:`run_messages` — the verdict on one run: converged (to the exact target, or to the best
  rank-limited solution of a narrow network), stuck on a plateau (with the fix), diverged (naming
  the likely cause: the init scale or η against the stable cap 2/sharpness, THEORY §7), and what
  "auto" did.
- :func:`sweep_cap_warning` — sweep depths at which η is above the stable cap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from . import theory
from .config import parse_floats
from .errors import ConfigError
from .targets import build_problem

BUDGET_STEPS = 2_500  # the article's L = 2 "Small" preset (c = 1e-5, η = 0.01) learns its slowest mode in ≈ 2,200 steps
AUTO_LOSS = 0.05  # engine "auto": loss above the floor at which the target counts as learned


@dataclass(frozen=True)
class Message:
    """One message for the page: ``level`` is "success", "info", "warning" or "error"; ``fix`` is
    a dict of control values (the page's widget keys) that a button may apply, with its label."""

    level: str
    text: str
    fix: dict = field(default_factory=dict)
    fix_label: str = ""


def _end_to_end(c: float, depth: int, scheme: str, width: int) -> float:
    """Initial end-to-end mode strength u0 of a per-layer init scale c (THEORY §2: u0 ≈ s^L for
    per-layer strength s). Gaussian entries of std c give layer singular values ≈ c√width."""
    s = c * math.sqrt(width) if scheme == "gaussian" else c
    return s**depth


def _per_layer(u0: float, depth: int, scheme: str, width: int) -> float:
    s = u0 ** (1.0 / depth)
    return s / math.sqrt(width) if scheme == "gaussian" else s


def scaled_init(depth: int, lambda_star: Sequence[float], lr: float, scheme: str = "near-identity",
                width: int | None = None, budget_steps: int = BUDGET_STEPS) -> float:
    """The smallest init scale c whose slowest mode (smallest λ > 0) reaches halfway within
    ``budget_steps`` steps of size ``lr`` under gradient flow (THEORY §2, τ½).

    The smallest such c keeps the plateaus as long (the staircase as sharp) as the budget allows.
    Depth 1 has no plateaus: any small c works, so 1e-4 (the article's preset) is returned.
    """
    lam = np.asarray([x for x in lambda_star if x > 0], dtype=float)
    if depth <= 1 or lam.size == 0:
        return 1e-4
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    width = int(width or lam.size)
    lam_min = float(lam.min())
    t_budget = lr * budget_steps

    def fast_enough(log_u0: float) -> bool:
        return float(np.ravel(theory.tau_half(lam_min, 10.0**log_u0, depth))[0]) <= t_budget

    hi = math.log10(lam_min / 4.0)  # above this the mode starts past a quarter of its target
    if not fast_enough(hi):
        return _per_layer(10.0**hi, depth, scheme, width)
    lo = -300.0 / depth
    if fast_enough(lo):
        return _per_layer(10.0**lo, depth, scheme, width)
    for _ in range(60):  # bisection on log10 u0; τ½ falls as u0 grows
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if fast_enough(mid) else (mid, hi)
    return _per_layer(10.0**hi, depth, scheme, width)


def scaled_init_for(cfg) -> float:
    """:func:`scaled_init` for a RunConfig: its target's λ*, depth, η, scheme and width."""
    lam = build_problem(cfg.target).lambda_star
    return scaled_init(cfg.network.depth, lam, cfg.optim.lr, cfg.init.scheme, cfg.network.width or len(lam))


def init_sharpness(c: float, depth: int, scheme: str, width: int) -> float:
    """Rough top curvature of the loss at the init: each of the L layers sees the product of the
    other L − 1 layers' strengths squared, ≈ L s^{2(L−1)} (whitened inputs; THEORY §7)."""
    s = c * math.sqrt(width) if scheme == "gaussian" else c
    return depth * s ** (2 * (depth - 1))


def _width(cfg, summary: dict) -> int:
    return int(cfg.network.width or len(summary.get("lambda_star") or ()) or 1)


def divergence_cause(summary: dict, cfg) -> Message:
    """Why a run diverged: η above the cap 2/sharpness at the minimum, or an init so large that
    the start is sharper than the minimum (then lowering η alone is the wrong fix)."""
    lr, cap, depth = summary["lr"], summary.get("lr_cap"), int(summary["depth"])
    c, scheme, width = cfg.init.scale, cfg.init.scheme, _width(cfg, summary)
    step = summary.get("diverged_step")
    s0 = init_sharpness(c, depth, scheme, width)
    init_cap = 2.0 / s0 if s0 > 0 else math.inf
    if depth > 1 and lr > init_cap and (cap is None or lr <= cap or init_cap < cap):
        c_fix = scaled_init(depth, summary.get("lambda_star", ()), min(lr, cap or lr), scheme, width)
        return Message("warning",
                       f"Training diverged at step {step}. Likely cause: the init scale c = {c:.3g}. The "
                       f"layers start so large that the loss is far sharper there than at the solution "
                       f"(stable only for η below ≈ {init_cap:.2g} at the start, against the cap "
                       f"{cap or math.nan:.3g} at the minimum), so the first steps overshoot. Lower c.",
                       {"log_scale": round(math.log10(c_fix), 2)}, f"Use c = {c_fix:.2g} (scaled for L = {depth})")
    fix_lr = 0.5 * cap if cap else lr / 10
    cap_text = f"above the stable cap 2/sharpness = {cap:.3g}" if cap and lr > cap else \
        f"too large for this start (cap at the minimum {cap or math.nan:.3g})"
    return Message("warning", f"Training diverged at step {step}. Likely cause: the step size η = {lr:g} is "
                   f"{cap_text}. Lower η.", {"lr": float(f"{fix_lr:.3g}")}, f"Use η = {fix_lr:.3g}")


def _rank_limited(summary: dict) -> bool:
    return (summary.get("loss_floor") or 0.0) > 0


def run_messages(summary: dict, cfg) -> list[Message]:
    """The messages for one finished run, most important first (see the module docstring)."""
    if summary.get("diverged"):
        return [divergence_cause(summary, cfg)]
    out: list[Message] = []
    lr, cap, depth = summary["lr"], summary.get("lr_cap"), int(summary["depth"])
    floor = summary.get("loss_floor") or 0.0
    if summary.get("lr_over_cap") is True:
        out.append(Message("warning", f"η = {lr:g} is above the stable cap 2/sharpness = {cap:.4g} at the "
                           "balanced minimum: the run oscillates or diverges.",
                           {"lr": float(f"{0.5 * cap:.3g}")}, f"Use η = {0.5 * cap:.3g}"))
    if summary.get("converged"):
        if _rank_limited(summary):
            out.append(Message("success", f"Converged to the best rank-limited solution: the hidden width "
                               f"{_width(cfg, summary)} is smaller than the target's rank, so the loss cannot "
                               f"go below {floor:.4g} (the modes it cannot represent); it reached "
                               f"{summary['final_loss']:.4g}."))
    else:
        stuck = summary.get("auto") and not summary.get("auto_reached", True)
        lam = summary.get("lambda_star", ())
        fix: dict = {}
        label = ""
        if depth > 1 and not summary.get("lr_over_cap"):
            c_fix = scaled_init(depth, lam, lr, cfg.init.scheme, _width(cfg, summary))
            if c_fix > cfg.init.scale * 1.01:
                fix, label = {"log_scale": round(math.log10(c_fix), 2)}, f"Use c = {c_fix:.2g} (scaled for L = {depth})"
        raise_init = bool(fix)
        if stuck:
            text = (f"'auto' stopped after {summary['steps']:,} steps and the loss is still more than "
                    f"{AUTO_LOSS} above its floor: the network is stuck on a plateau. At depth {depth} the "
                    f"init c = {cfg.init.scale:.3g} starts the modes at ≈ c^{depth}, so the plateau lasts "
                    "very long. Raise the init scale (one click below) or η.")
        else:
            text = (f"Not converged after {summary['steps']:,} steps: the loss ({summary['final_loss']:.3g}) "
                    "has not reached its minimum. "
                    + ("Lower η below the cap." if summary.get("lr_over_cap")
                       else "Run more steps, or raise the init scale." if raise_init else "Run more steps."))
        out.append(Message("warning", text, fix, label))
    if summary.get("auto") and summary.get("auto_reached"):
        steps = int(summary["steps"])
        target = f"{floor + AUTO_LOSS:.3g}" if floor > 0 else f"{AUTO_LOSS}"
        how = ("the minimum of 500 steps" if steps <= 500 else
               f"4 × the ≈ {steps // 4:,} steps it took to get within {AUTO_LOSS} of the floor, so the tail shows")
        out.append(Message("info", f"'auto' chose {steps:,} steps: it trained until the loss fell below "
                           f"{target}, then ran {how}."))
    return out


def sweep_cap_warning(lr: float, singular_values: str | Sequence[float], depths: Sequence[int]) -> str | None:
    """A warning naming the sweep depths at which ``lr`` is above the stable cap 2/sharpness of the
    balanced minimum, L λ_max^{2−2/L} for whitened inputs (THEORY §6); None if it is below at all
    (or the singular values, a comma list or numbers, do not parse: the study reports that)."""
    if isinstance(singular_values, str):
        try:
            singular_values = parse_floats("singular_values", singular_values)
        except ConfigError:
            return None
    lam_max = max((float(x) for x in singular_values), default=0.0)
    if lam_max <= 0:
        return None
    over = []
    for L in sorted({int(d) for d in depths}):
        cap = float(theory.max_stable_lr(theory.sharpness_balanced(lam_max, L)))
        if lr > cap:
            over.append(f"L = {L} (cap {cap:.3g})")
    if not over:
        return None
    return (f"η = {lr:g} is above the stable step-size cap 2/sharpness at " + ", ".join(over) + ": those "
            "points oscillate or diverge, so their times say nothing about the theory. Lower η.")


def sweep_cap_warning_for(params: dict) -> str | None:
    """:func:`sweep_cap_warning` for a study's parameters (``lr``, ``singular_values`` and
    ``depths`` or ``depth``; whitened inputs)."""
    depths = params.get("depths") or (params.get("depth"),)
    if "lr" not in params or None in depths:
        return None
    return sweep_cap_warning(float(params["lr"]), params.get("singular_values", ()), depths)


def embedding_modes_message(summary: dict, modes) -> str | None:
    """For a finished embedding run: how many of its d modes reached halfway, and, if some did not,
    how many steps the slowest would need at this η (the gradient-flow halfway step of the
    ``modes`` frame, THEORY §7). None when every mode was learned or the run diverged."""
    if summary.get("diverged") or modes is None or not len(modes):
        return None
    learned = int(modes["halfway_step"].notna().sum())
    d = len(modes)
    if learned == d:
        return None
    need = modes["halfway_step_theory"].replace([np.inf, -np.inf], np.nan).max()
    need_text = f"the slowest would need ≈ {need:,.0f} steps" if np.isfinite(need) else "the rest never rise"
    auto = (f"the automatic η = {summary['lr']:.2e} is capped by the largest eigenvalue μ_max = "
            f"{summary['mu_max']:.0f} (2/μ_max with a margin), so the small modes are slow"
            if summary.get("lr_auto") else f"at η = {summary['lr']:.2e}")
    return (f"Only {learned} of d = {d} modes reached halfway in {summary['steps']:,} steps: {auto}; "
            f"{need_text}. Raise the steps, lower d, or raise the initial scale.")

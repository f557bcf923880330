"""``python -m dln_core generalize``: teacher, noisy sample, a DLN trained on it, test loss vs theory.

stdout gets one JSON object: ``best_step`` (the early-stopping step: minimum test loss, to the single
step), ``best_step_theory`` (the exact level, THEORY §9.1), ``test_loss_min``, ``test_loss_min_theory``,
``final_test_loss``, ``final_test_loss_theory`` (null where the theory does not apply, with
``theory_reason``), the asymptotic level's ``best_step_rmt`` / ``test_loss_min_rmt`` (THEORY §9.3),
``noise_floor`` (½ n_out σ²), ``ridge_test_loss_min``, ``test_loss_at_best_step_theory``, ``steps``,
``diverged``, ``wall_time_s`` and the ``config`` echo. Test loss = ½‖W − W̄‖² + ½ n_out σ² (population,
fresh standard Gaussian inputs); train loss = ½·mean over the sample of ‖y − Wx‖².

``--csv PATH`` writes the history (step, t, train_loss, test_loss, test_loss_theory, test_loss_rmt,
signal_error, noise_learned, their _theory columns, mode_i / mode_theory_i per empirical mode,
teacher_j / teacher_theory_j per teacher mode; docs/API.md) atomically; its folder is checked first.
"""

from __future__ import annotations

import argparse
import sys

import dln_core

from ..errors import ConfigError
from ..generalize_config import INIT_SCHEMES, INPUTS, GeneralizeConfig
from ..limits import current_limits
from .common import StderrProgress, check_outputs, finite_float, given, parse_steps, print_json

HELP = "generalisation: train on a noisy teacher sample; best step and test loss vs theory (one JSON line)"
DESCRIPTION = __doc__.split("\n\n")[0]
SUMMARY_KEYS = ("best_step", "best_step_theory", "test_loss_min", "test_loss_min_theory", "final_test_loss",
                "final_test_loss_theory", "best_step_rmt", "test_loss_min_rmt", "test_loss_at_best_step_theory",
                "noise_floor", "ridge_test_loss_min", "final_train_loss", "theory_applies", "theory_level",
                "theory_reason", "rmt_applies", "bbp_threshold", "bulk_edge", "n_outliers", "n_outliers_rmt",
                "steps", "auto", "auto_reached", "diverged", "diverged_step", "wall_time_s")


def add_arguments(p: argparse.ArgumentParser) -> None:
    t = p.add_argument_group("teacher and sample")
    t.add_argument("--n-in", type=int, help="input dimension (default 20)")
    t.add_argument("--n-out", type=int, help="output dimension (default 20)")
    t.add_argument("--rank", type=int, help="teacher rank (default 3)")
    t.add_argument("--singular-values", help="comma list of the teacher's rank singular values (default 4,2,1)")
    t.add_argument("--samples", type=int, help="training samples P >= n_in (default 40)")
    t.add_argument("--noise", type=finite_float, help="label noise σ (default 1)")
    t.add_argument("--inputs", help=" | ".join(INPUTS) + " (default whitened; gaussian = raw inputs, simulation only)")
    n = p.add_argument_group("student")
    n.add_argument("--depth", type=int, help="number of layers L (default 2)")
    n.add_argument("--width", type=int, help="hidden width >= min(n_in, n_out) (default max(n_in, n_out))")
    n.add_argument("--init", help=" | ".join(INIT_SCHEMES) + " (default aligned: on the sample's modes, exact theory)")
    n.add_argument("--init-scale", type=finite_float, help="per-layer strength (aligned) or entry std (default 1e-3)")
    n.add_argument("--lr", type=finite_float, help="GD step η (loss ½‖·‖², t = η·step; default 0.05)")
    n.add_argument("--steps", help="GD steps, or 'auto' (default: past the minimum until the test loss has risen)")
    n.add_argument("--seed", type=int, help="seed of the teacher, the sample and the init (default 0)")
    n.add_argument("--snapshots", type=int, help="log-spaced snapshots (default 300)")
    o = p.add_argument_group("output")
    o.add_argument("--csv", metavar="PATH", help="write the history frame to this CSV file")
    o.add_argument("--progress", action="store_true", help="progress lines on stderr")


def _flag(exc: ConfigError) -> ConfigError:
    names = {"init_scheme": "init", "n_snapshots": "snapshots"}
    field = names.get(exc.field, exc.field)
    if field in ("cpu budget",):
        return exc
    return ConfigError("--" + field.replace("_", "-"), exc.allowed, exc.got)


def build_config(args: argparse.Namespace) -> GeneralizeConfig:
    """The GeneralizeConfig of the parsed flags (unset flags keep the dataclass defaults)."""
    kw = given(n_in=args.n_in, n_out=args.n_out, rank=args.rank, samples=args.samples, noise=args.noise,
               inputs=args.inputs, depth=args.depth, width=args.width, init_scheme=args.init,
               init_scale=args.init_scale, lr=args.lr, seed=args.seed, n_snapshots=args.snapshots)
    if args.singular_values is not None:
        from ..config import parse_floats

        kw["singular_values"] = parse_floats("singular_values", args.singular_values, positive=True)
    if args.steps is not None:
        kw["steps"] = parse_steps(args.steps)
    if "singular_values" not in kw and "rank" in kw:  # a rank alone: the default values, cut or padded
        base = GeneralizeConfig.__dataclass_fields__["singular_values"].default
        kw["singular_values"] = tuple(base[i] if i < len(base) else base[-1] / 2 ** (i - len(base) + 1)
                                      for i in range(max(1, kw["rank"])))
    return GeneralizeConfig(**kw)


def run(args: argparse.Namespace) -> int:
    try:
        cfg = build_config(args)
        cfg.check_limits(current_limits())
    except ConfigError as exc:
        raise _flag(exc) from None
    csv_path, _ = check_outputs(args.csv, False)
    from ..generalize import run_generalize

    result = run_generalize(cfg, StderrProgress("generalize:") if args.progress else None)
    s = result.summary
    if s["auto"] and not s["auto_reached"]:
        print(f"generalize: --steps auto stopped at {s['steps']:,} steps (the cap or the budget) before the test "
              "loss had risen; set --steps or raise --init-scale", file=sys.stderr)
    out = {k: s.get(k) for k in SUMMARY_KEYS} | {"config": cfg.to_dict()}
    if csv_path is not None:
        dln_core.store.atomic_write_csv(csv_path, result.history)
        out["csv"] = str(csv_path)
    print_json(out)
    return 0

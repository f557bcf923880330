"""``python -m dln_core train``: train one deep linear network headless.

stdout gets exactly one JSON object: ``halfway_step`` and ``halfway_step_theory`` (per mode, in mode
order, null where the mode never reached λ_i/2), ``final_loss`` (loss ½‖·‖², THEORY §1; null if it is
not finite), ``diverged``, ``diverged_step``, ``steps``, ``wall_time_s``, ``lambda_star``, ``u0``,
``lr_cap`` (2/sharpness at the balanced minimum, THEORY §6), ``lr_over_cap``,
``converged`` and, per mode (dln_core.launch): ``theory_start_step`` (the step its prediction is
launched from), ``theory_applies`` and ``theory_reason`` (why not), ``theory_alignment`` (alignment at
the launch), ``halfway_step_theory_gf`` (gradient-flow value; ``halfway_step_theory`` is the finite-η
prediction), ``ode_exponent`` (fitted Eq. 11 prefactor exponent, dln_core.laws) with
``ode_exponent_theory`` = 2 − 2/L; with ``--sharpness`` (dln_core.curvature, THEORY §10.1):
``sharpness_start``, ``sharpness_final``, ``gauss_newton_final``, ``sharpness_balanced``, ``two_over_lr``,
``sharpness_method``, ``sharpness_seconds`` (also on stderr) and ``sharpness_verdict``, and the CSV
gains ``sharpness`` and ``gauss_newton`` columns; and ``run_id``
with ``--save`` / ``csv`` with ``--csv`` / ``trace_csv`` with ``--trace every|N --trace-csv PATH`` (the cheap
per-step trace: step, t, loss, mode_i, engine.run ``trace``) / ``figures`` (the files written) with ``--figures DIR``. ``--csv`` writes the engine's history frame (step, t = lr·step,
loss, mode_i, theory_i, ..., alignment, balance_drift, update_eff_rank) atomically. ``--save`` stores
the run (dln_core.store) and prints its id on stderr. Both outputs are checked (a temp file is created
and removed) before training, so a bad path fails in a second.

The target, init and schedule option groups and the error-to-flag mapping are shared with ``sweep``
(cli/common.py). Bad arguments raise ConfigError (or an argparse error); the dispatcher in
cli/__init__.py turns either into one stderr line and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

import dln_core

from ..config import (
    DEVICES,
    DTYPES,
    InitConfig,
    NetworkConfig,
    OptimConfig,
    RunConfig,
    TargetConfig,
    check_trace,
    parse_floats,
)
from ..errors import ConfigError
from ..limits import current_limits
from .common import (
    TARGET_HELP,
    Outputs,
    StderrProgress,
    add_init_options,
    add_schedule_options,
    add_target_options,
    as_flag_error,
    check_outputs,
    finite_float,
    given,
    parse_steps,
    target_options,
)

HELP = "train one deep linear network; one JSON summary on stdout"
DESCRIPTION = __doc__.split("\n\n")[0]

SUMMARY_KEYS = (
    "halfway_step",
    "halfway_step_theory",
    "final_loss",
    "diverged",
    "diverged_step",
    "steps",
    "wall_time_s",
    "lambda_star",
    "u0",
)
# a RunSummary always has these; printed only when present, so a partial summary mapping (a test fake)
# gives no nulls for them
OPTIONAL_SUMMARY_KEYS = ("lr_cap", "lr_over_cap", "converged", "theory_start_step", "halfway_step_theory_gf",
                         "theory_applies", "theory_reason", "theory_alignment", "ode_exponent",
                         "ode_exponent_theory", "auto_reached")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_target_options(p)
    n = p.add_argument_group("network and init")
    n.add_argument("--depth", type=int, help="number of layers L (default 2)")
    add_init_options(n)
    n.add_argument("--init-scale", type=finite_float, help="init scale (meaning depends on --init)")
    n.add_argument("--seed", type=int, help="init seed")
    o = p.add_argument_group("optimisation")
    o.add_argument("--lr", type=finite_float, help="GD step η (loss ½‖·‖², time t = η·step)")
    add_schedule_options(o)
    o.add_argument("--dtype", help=" | ".join(DTYPES) + f" (default {DTYPES[0]})")
    o.add_argument("--device", help=" | ".join(DEVICES) + f" (default {DEVICES[0]})")
    o.add_argument("--sharpness", action="store_true",
                   help="also measure the Hessian's top eigenvalues at every snapshot (costs time; printed)")
    out = p.add_argument_group("output")
    o.add_argument("--trace", metavar="every|N",
                   help="also record loss and mode strengths every step (every) or every N steps, cheaply "
                        "inside the step loop, into --trace-csv (the full diagnostics stay at the snapshots)")
    out.add_argument("--csv", metavar="PATH", help="write the history frame to this CSV file")
    out.add_argument("--trace-csv", metavar="PATH", help="write the --trace frame (step, t, loss, mode_i) here")
    out.add_argument("--save", action="store_true", help="save the run in the run store; id on stderr")
    out.add_argument("--name", help="a name for the saved run")
    out.add_argument("--progress", action="store_true", help="progress lines on stderr")
    out.add_argument("--figures", metavar="DIR", help="write the explorer's 2-D charts into DIR (vl-convert, offline)")
    out.add_argument("--figure-format", default="svg,pdf", help="comma list of svg, pdf, png (default svg,pdf)")


def parse_target(text: str) -> dict:
    """--target → TargetConfig keyword arguments (kind, and singular_values or matrix)."""
    text = text.strip()
    if text in ("article", "hierarchy"):
        return {"kind": text}
    try:
        return {"kind": "spectrum", "singular_values": parse_floats("target", text)}
    except ConfigError:
        pass  # not a number list: it must be a CSV path
    path = Path(text)
    if not path.is_file():
        raise ConfigError("target", f"{TARGET_HELP} (no such file)", text)
    return {"kind": "matrix", "matrix": dln_core.load_matrix_csv(path)}


def build_config(args: argparse.Namespace) -> RunConfig:
    """The RunConfig of the parsed arguments. Options left unset keep the config's defaults."""
    target = {**parse_target(args.target), **target_options(args)}
    optim = given(
        lr=args.lr, record=args.every, n_snapshots=args.snapshots, device=args.device, dtype=args.dtype
    )
    if args.steps is not None:
        optim["steps"] = parse_steps(args.steps)
    return RunConfig(
        target=TargetConfig(**target),
        network=NetworkConfig(**given(depth=args.depth, width=args.width)),
        init=InitConfig(
            **given(scheme=args.init, scale=args.init_scale, lambda_b=args.lambda_b, seed=args.seed)
        ),
        optim=OptimConfig(**optim),
    )


def summary_line(summary: Mapping, extra: dict | None = None) -> dict:
    """The stdout object: the summary keys of a result.RunSummary (any mapping; the optional ones when
    present), then ``extra``."""
    out = {k: summary.get(k) for k in SUMMARY_KEYS}
    out.update({k: summary[k] for k in OPTIONAL_SUMMARY_KEYS if k in summary})
    return {**out, **(extra or {})}


def sharpness_keys(result) -> dict:
    """With --sharpness: the curvature keys of the stdout object (THEORY §10.1); else none."""
    c = getattr(result, "curvature", None)
    if c is None:
        return {}
    from ..curvature import verdict

    def num(v):
        return float(v) if v == v else None  # NaN -> null

    return {"sharpness_start": num(c["sharpness"].iloc[0]) if len(c) else None,
            "sharpness_final": num(c["sharpness"].iloc[-1]) if len(c) else None,
            "gauss_newton_final": num(c["gauss_newton"].iloc[-1]) if len(c) else None,
            "sharpness_balanced": None if result.summary.lr_cap is None else 2.0 / result.summary.lr_cap,
            "two_over_lr": 2.0 / result.summary.lr, "sharpness_method": c["method"].iloc[-1] if len(c) else None,
            "sharpness_seconds": result.sharpness_seconds, "sharpness_verdict": verdict(result.summary, c)}


def history_table(result):
    """The history frame, plus the sharpness and gauss_newton columns when they were measured."""
    if getattr(result, "curvature", None) is None:
        return result.history
    return result.history.merge(result.curvature[["step", "sharpness", "gauss_newton"]], on="step", how="left")


def check_figures(folder: str | None, formats: str) -> tuple[str, ...] | None:
    """--figures DIR and --figure-format, checked before training (the folder is created and probed)."""
    if folder is None:
        return None
    from ..charts import export

    try:
        parsed = export.parse_formats(formats)
    except ConfigError as exc:
        raise ConfigError("--figure-format", exc.allowed, exc.got) from None
    try:
        export.check_figure_dir(folder)
    except OSError as exc:
        raise ConfigError("--figures", f"must be a writable folder ({exc.strerror or exc})", folder) from None
    return parsed


def run(args: argparse.Namespace) -> int:
    try:
        cfg = build_config(args)
        cfg.check_limits(current_limits())
        trace = check_trace(args.trace)
    except ConfigError as exc:
        raise as_flag_error(exc) from None
    if (trace is None) != (args.trace_csv is None):
        raise ConfigError("--trace-csv", "--trace and --trace-csv go together (the trace is written there)",
                          args.trace_csv or args.trace)
    csv_path, store = check_outputs(args.csv, args.save)
    try:
        trace_path = check_outputs(args.trace_csv, False)[0] if trace is not None else None
    except ConfigError as exc:
        raise ConfigError("--trace-csv", exc.allowed, exc.got) from None
    figures = check_figures(args.figures, args.figure_format)

    extra = {"sharpness": True} if args.sharpness else {}  # the off path calls run exactly as before
    if trace is not None:
        extra["trace"] = trace
    result = dln_core.run(cfg, StderrProgress("train:") if args.progress else None, **extra)
    s = result.summary
    if s.get("auto") and not s.get("auto_reached", True):
        print(f"train: --steps auto gave up after {s['steps']:,} steps: the loss is still above 0.05 (stuck on "
              "a plateau, or the budget ran out); raise --init-scale or --lr, or set --steps", file=sys.stderr)
    outputs = Outputs(summary_line(s, sharpness_keys(result)))
    if getattr(result, "curvature", None) is not None:
        print(f"train: sharpness took {result.sharpness_seconds:.3f} s "
              f"({1e3 * result.sharpness_seconds / max(1, len(result.curvature)):.2f} ms per snapshot)",
              file=sys.stderr)
    if store is not None:
        outputs.write("--save", "run_id", lambda: store.save(result, kind="train", name=args.name))
        if "run_id" in outputs.out:
            print(f"saved run {outputs.out['run_id']}", file=sys.stderr)
    if csv_path is not None:
        outputs.write("--csv", "csv", lambda: dln_core.store.atomic_write_csv(csv_path, history_table(result))
                      or str(csv_path))
    if trace_path is not None:
        outputs.write("--trace-csv", "trace_csv",
                      lambda: dln_core.store.atomic_write_csv(trace_path, result.trace) or str(trace_path))
    if figures is not None:
        from ..charts import export

        outputs.write("--figures", "figures",
                      lambda: export.write_figures(export.explorer_figures(result), args.figures, figures))
    return outputs.finish()

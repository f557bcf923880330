"""``python -m dln_core sweep``: run a grid of networks batched and write the summary CSV.

Comma lists give the grid axes (``--depth 2,3,4 --init-scale 1e-3,1e-2 --lr 0.01``), ``--seeds N``
adds seeds 0..N−1; a value listed twice runs once (with a note on stderr). The target, input and
init options are ``train``'s (cli/common.py), as are the error messages naming the flag.
``--steps auto`` gives every network its own length, as ``train`` does (auto networks run one by
one, not batched). Progress goes to stderr; stdout gets one JSON line with ``wall_time_s`` and
``network_steps``. The caps (networks, networks × steps, networks × snapshots) and the outputs
(``--csv`` folder writable, run store for ``--save``) are checked before any training. ``--csv`` is
written atomically (dln_core.store.atomic_write_csv), so an interrupted sweep never leaves a
complete-looking partial file. With ``--seeds N`` (N ≥ 2) and ``--csv PATH``, the summary collapsed
over seeds (dln_core.seeds.aggregate_seeds: per config and mode, n_seeds and mean, 95 % t-interval and
standard error of halfway_step, halfway_time, rise_time, final_loss) is written next to it as
``<stem>.seeds.csv`` (JSON key ``seeds_csv``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import dln_core

from ..config import parse_floats
from ..errors import ConfigError
from ..limits import check_cap, current_limits
from .common import (
    Outputs,
    StderrProgress,
    add_init_options,
    add_schedule_options,
    add_target_options,
    as_flag_error,
    check_outputs,
    parse_steps,
    target_options,
)

HELP = "run a grid of networks (batched) and summarise halfway times vs theory"
DESCRIPTION = (
    "Grid over depth, init scale, learning rate and seeds; one summary row per (network, mode). "
    "Networks of one shape run as one batch; with --steps auto each runs alone, to its own length."
)

# the CSV must carry at least these columns (the rest of sweep.SUMMARY_COLUMNS follow)
REQUIRED_CSV_COLUMNS = [
    "depth",
    "init_scale",
    "lr",
    "seed",
    "mode",
    "lambda",
    "u0",
    "halfway_step",
    "halfway_step_theory",
    "diverged",
]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--depth", default="2,3", help="comma list of depths L (default 2,3)")
    p.add_argument("--init-scale", default="1e-3,1e-2", help="comma list of init scales (default 1e-3,1e-2)")
    p.add_argument("--lr", default="0.01", help="comma list of learning rates η (loss ½‖·‖²; default 0.01)")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds 0..N-1 per grid point (default 1)")
    add_target_options(p, "article | hierarchy | comma singular values (';' separates several: a grid axis) | CSV matrix path")
    n = p.add_argument_group("network, init and schedule (one value for the whole sweep)")
    add_init_options(n, init_default="aligned")  # aligned: u0 = scale**L exactly
    add_schedule_options(n, steps_default="2000", snapshots_default=50)
    p.add_argument("--no-rise-times", action="store_true",
                   help="skip the measured 10→90%% rise times (faster for large sweeps: no per-network frames)")
    p.add_argument("--csv", default=None, help="write the summary CSV here (atomic)")
    p.add_argument("--save", action="store_true", help="also save the sweep to the run store")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    x = p.add_argument_group("where the batches run (README: sweeps on a cluster)")
    x.add_argument("--executor", choices=["serial", "dask"], default="serial",
                   help="serial (this process) or dask (shape-group batches as dask.distributed tasks)")
    x.add_argument("--workers", type=int, default=None,
                   help="with --executor dask: start a local cluster of N worker processes")
    x.add_argument("--scheduler", default=None,
                   help="with --executor dask: join the running cluster at this address (tcp://host:8786)")


def target_axis(text: str) -> tuple[dict, tuple[str, ...]]:
    """--target → (flat target keys, singular-value grid axis).

    ``article`` | ``hierarchy`` | comma singular values (``6,4,3``; several spectra separated by
    ``;`` form a grid axis) | path to a CSV matrix.
    """
    text = text.strip()
    if text in ("article", "hierarchy"):
        return {"target_kind": text}, ()
    path = Path(text)
    if path.suffix.lower() == ".csv" or path.exists():
        if not path.is_file():
            raise ConfigError("target", "CSV file not found", text)
        return {"target_kind": "matrix", "matrix": dln_core.load_matrix_csv(path)}, ()
    spectra = [s.strip() for s in text.split(";") if s.strip()]
    if not spectra:
        raise ConfigError("target", "article | hierarchy | comma singular values | CSV path", text)
    parsed = unique_values("target", [parse_floats("target", s, positive=True) for s in spectra])
    spectra = [",".join(f"{v!r}" for v in values) for values in parsed]
    if len(spectra) == 1:
        return {"target_kind": "spectrum", "singular_values": spectra[0]}, ()
    return {"target_kind": "spectrum"}, tuple(spectra)


def unique_values(flag: str, values) -> tuple:
    """Grid values in first-seen order, each once; a repeat is dropped with a note on stderr (running
    the same network twice would only duplicate summary rows)."""
    out = tuple(dict.fromkeys(values))
    if len(out) < len(values):
        repeated = sorted({str(v) for v in values if list(values).count(v) > 1})
        print(f"sweep: note: --{flag} lists {', '.join(repeated)} more than once; each value runs once",
              file=sys.stderr)
    return out


def build_spec(args: argparse.Namespace):
    """The SweepSpec of the parsed arguments (ConfigError on bad values, named by flag)."""
    if args.seeds < 1:
        raise ConfigError("seeds", "must be an integer >= 1", args.seeds)
    target, sv_axis = target_axis(args.target)
    base: dict = {"init_scheme": args.init, "steps": parse_steps(args.steps), **target, **target_options(args)}
    for key, value in (("width", args.width), ("lambda_b", args.lambda_b)):
        if value is not None:
            base[key] = value
    if args.every is not None:
        base["record"] = args.every
    else:
        base["n_snapshots"] = args.snapshots  # a fixed count: memory stays flat in --steps
    return dln_core.SweepSpec(
        depths=unique_values("depth", dln_core.sweep.parse_ints("depth", args.depth)),
        init_scales=unique_values("init-scale", parse_floats("init-scale", args.init_scale, positive=True)),
        lrs=unique_values("lr", parse_floats("lr", args.lr, positive=True)),
        seeds=tuple(range(args.seeds)),
        singular_values=sv_axis,
        base=base,
    )


def checked_spec(args: argparse.Namespace):
    """build_spec, then every member's config and the sweep caps, before any work; errors name flags."""
    try:
        spec = build_spec(args)
        limits = current_limits()
        # the grid's size from the list lengths first: 100 000 seeds are refused before 100 000 configs exist
        check_cap("sweep size", spec.size, limits.max_batch, "networks per sweep")
        dln_core.sweep.check_sweep_limits(dln_core.sweep.build_members(spec), limits)
    except ConfigError as exc:
        raise as_flag_error(exc) from None
    return spec


def spec_meta(spec) -> dict:
    return {
        "depths": list(spec.depths),
        "init_scales": list(spec.init_scales),
        "lrs": list(spec.lrs),
        "seeds": list(spec.seeds),
        "singular_values": list(spec.singular_values),
        "base": {k: (list(v) if isinstance(v, tuple) else v) for k, v in spec.base.items()},
    }


def _executor(args):
    """A context giving the executor of --executor/--workers/--scheduler (None = serial)."""
    import contextlib

    if args.executor == "serial":
        if args.workers is not None or args.scheduler is not None:
            raise ConfigError("executor", "--workers and --scheduler need --executor dask", "serial")
        return contextlib.nullcontext(None)
    from ..distributed import dask_executor

    return dask_executor(workers=args.workers, scheduler=args.scheduler)


def run(args: argparse.Namespace) -> int:
    spec = checked_spec(args)
    csv_path, store = check_outputs(args.csv, args.save, make_dir=True)
    progress = None if args.quiet else StderrProgress("sweep", every_s=0.5)
    with _executor(args) as executor:
        result = dln_core.run_sweep(spec, progress=progress, rise_times=not args.no_rise_times, executor=executor)
        from ..distributed import executor_info

        info = executor_info(executor)
    per_member = result.summary.drop_duplicates("member")
    line = {
        "members": result.n_members,
        "batches": result.n_batches,
        "network_steps": result.network_steps,
        "wall_time_s": round(result.wall_time_s, 4),
        "network_steps_per_s": round(result.network_steps / max(result.wall_time_s, 1e-9), 1),
        "diverged": int(per_member["diverged"].sum()),
        "executor": info.executor,
        "workers": info.workers,
        "csv": None,
    }
    outputs = Outputs(line)
    if csv_path is not None:
        outputs.write("--csv", "csv", lambda: dln_core.store.atomic_write_csv(csv_path, result.summary)
                      or str(args.csv))
        if len(spec.seeds) > 1:
            from ..seeds import aggregate_seeds

            seeds_path = Path(csv_path).with_suffix(".seeds.csv")
            outputs.write("--csv", "seeds_csv", lambda: dln_core.store.atomic_write_csv(
                seeds_path, aggregate_seeds(result.summary)) or str(seeds_path))
    if store is not None:
        meta = {"kind": "sweep", "spec": spec_meta(spec), "wall_time_s": result.wall_time_s}
        outputs.write("--save", "run_id",
                      lambda: str(store.save_frames({"summary": result.summary}, meta, kind="sweep")))
    return outputs.finish()

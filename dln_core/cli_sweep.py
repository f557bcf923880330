"""``python -m dln_core sweep``: run a grid of networks batched and write the summary CSV.

Comma lists give the grid axes (``--depth 2,3,4 --init-scale 1e-3,1e-2 --lr 0.01``), ``--seeds N``
adds seeds 0..N−1. The target and init options match ``train``. Progress goes to stderr; stdout gets
one JSON line with ``wall_time_s`` and ``network_steps``. ``--csv`` is written atomically (temp file +
rename), so an interrupted sweep never leaves a complete-looking partial file.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from .errors import ConfigError
from .sweep import parse_floats, parse_ints

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


def target_options(text: str) -> tuple[dict, tuple[str, ...]]:
    """--target → (flat target keys, singular-value grid axis).

    ``article`` | ``hierarchy`` | comma singular values (``6,4,3``; several spectra separated by
    ``;`` form a grid axis) | path to a CSV matrix.
    """
    text = text.strip()
    if text in ("article", "hierarchy"):
        return {"target_kind": text}, ()
    path = Path(text)
    if path.suffix.lower() == ".csv" or path.exists():
        from .targets import load_matrix_csv

        if not path.is_file():
            raise ConfigError("target", "CSV file not found", text)
        return {"target_kind": "matrix", "matrix": load_matrix_csv(path)}, ()
    spectra = [s.strip() for s in text.split(";") if s.strip()]
    if not spectra:
        raise ConfigError("target", "article | hierarchy | comma singular values | CSV path", text)
    for s in spectra:
        parse_floats("target", s, positive=True)
    if len(spectra) == 1:
        return {"target_kind": "spectrum", "singular_values": spectra[0]}, ()
    return {"target_kind": "spectrum"}, tuple(spectra)


def build_spec(args):
    """The SweepSpec of the parsed arguments (ConfigError on bad values)."""
    from .sweep import SweepSpec

    if args.seeds < 1:
        raise ConfigError("seeds", "must be an integer >= 1", args.seeds)
    target, sv_axis = target_options(args.target)
    base: dict = {"init_scheme": args.init, "steps": args.steps, **target}
    if args.rotate_seed is not None:
        base["rotate_seed"] = args.rotate_seed
    if args.width is not None:
        base["width"] = args.width
    if args.every is not None:
        base["record"] = args.every
    else:
        base["n_snapshots"] = args.snapshots  # a fixed count: memory stays flat in --steps
    return SweepSpec(
        depths=parse_ints("depth", args.depth),
        init_scales=parse_floats("init-scale", args.init_scale, positive=True),
        lrs=parse_floats("lr", args.lr, positive=True),
        seeds=tuple(range(args.seeds)),
        singular_values=sv_axis,
        base=base,
    )


def write_csv_atomic(frame, path: str | os.PathLike) -> None:
    """Write ``frame`` to ``path`` via a temp file in the same directory and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            frame.to_csv(fh, index=False)
        os.replace(tmp, path)
    except BaseException:  # includes KeyboardInterrupt: never leave the temp file behind
        Path(tmp).unlink(missing_ok=True)
        raise


class StderrProgress:
    """Progress lines on stderr, at most every ``every_s`` seconds (and always the last)."""

    def __init__(self, every_s: float = 0.5) -> None:
        self.every_s = every_s
        self.last = 0.0
        self.previous: tuple | None = None

    def __call__(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        line = (round(fraction, 3), message)
        if line != self.previous and (fraction >= 1.0 or now - self.last >= self.every_s):
            self.last, self.previous = now, line
            print(f"sweep {100 * fraction:5.1f}%  {message}", file=sys.stderr, flush=True)


def run(args) -> int:
    from .sweep import run_sweep

    spec = build_spec(args)
    result = run_sweep(spec, progress=None if args.quiet else StderrProgress(), rise_times=not args.no_rise_times)
    if args.csv:
        write_csv_atomic(result.summary, args.csv)
    saved = None
    if args.save:
        from .store import RunStore

        meta = {"kind": "sweep", "spec": spec_meta(spec), "wall_time_s": result.wall_time_s}
        saved = RunStore().save_frames({"summary": result.summary}, meta, kind="sweep")
    per_member = result.summary.drop_duplicates("member")
    line = {
        "members": result.n_members,
        "batches": result.n_batches,
        "network_steps": result.network_steps,
        "wall_time_s": round(result.wall_time_s, 4),
        "network_steps_per_s": round(result.network_steps / max(result.wall_time_s, 1e-9), 1),
        "diverged": int(per_member["diverged"].sum()),
        "csv": str(args.csv) if args.csv else None,
    }
    if saved is not None:
        line["run_id"] = str(saved)
    print(json.dumps(line))
    return 0


def spec_meta(spec) -> dict:
    return {
        "depths": list(spec.depths),
        "init_scales": list(spec.init_scales),
        "lrs": list(spec.lrs),
        "seeds": list(spec.seeds),
        "singular_values": list(spec.singular_values),
        "base": {k: (list(v) if isinstance(v, tuple) else v) for k, v in spec.base.items()},
    }


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="run a grid of networks (batched) and summarise halfway times vs theory",
        description="Grid over depth, init scale, learning rate and seeds; one summary row per (network, mode).",
    )
    p.add_argument("--depth", default="2,3", help="comma list of depths L (default 2,3)")
    p.add_argument("--init-scale", default="1e-3,1e-2", help="comma list of init scales (default 1e-3,1e-2)")
    p.add_argument("--lr", default="0.01", help="comma list of learning rates η (loss ½‖·‖²; default 0.01)")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds 0..N-1 per grid point (default 1)")
    p.add_argument(
        "--target",
        default="article",
        help="article | hierarchy | comma singular values (';' separates several) | CSV matrix path",
    )
    p.add_argument("--rotate-seed", type=int, default=None, help="random singular vectors from this seed")
    p.add_argument(
        "--init",
        default="aligned",
        help="gaussian | near-identity | aligned | lambda-balanced (default aligned: u0 = scale**L exactly)",
    )
    p.add_argument("--width", type=int, default=None, help="hidden width (default max(n_in, n_out))")
    p.add_argument("--steps", type=int, default=2000, help="GD steps per network (default 2000)")
    p.add_argument("--every", type=int, default=None, help="snapshot every N steps (default: log-spaced)")
    p.add_argument("--snapshots", type=int, default=50,
                   help="number of log-spaced snapshots per network when --every is not given (default 50)")
    p.add_argument("--no-rise-times", action="store_true",
                   help="skip the measured 10→90%% rise times (faster for large sweeps: no per-network frames)")
    p.add_argument("--csv", default=None, help="write the summary CSV here (atomic)")
    p.add_argument("--save", action="store_true", help="also save the sweep to the run store")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)

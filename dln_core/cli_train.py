"""``python -m dln_core train``: train one deep linear network headless.

stdout gets exactly one JSON object: ``halfway_step`` and ``halfway_step_theory`` (per mode, in mode
order, null where the mode never reached λ_i/2), ``final_loss`` (loss ½‖·‖², THEORY §1; null if it is
not finite), ``diverged``, ``diverged_step``, ``steps``, ``wall_time_s``, ``lambda_star``, ``u0``; when
the engine reports them, ``lr_cap`` (2/sharpness at the balanced minimum, THEORY §6), ``lr_over_cap``,
``converged`` and, per mode (dln_core.launch): ``theory_start_step`` (the step its prediction is
launched from), ``theory_applies`` and ``theory_reason`` (why not), ``theory_alignment`` (alignment at
the launch), ``halfway_step_theory_gf`` (gradient-flow value; ``halfway_step_theory`` is the finite-η
prediction), ``ode_exponent`` (fitted Eq. 11 prefactor exponent, dln_core.laws) with
``ode_exponent_theory`` = 2 − 2/L; and ``run_id`` with ``--save`` / ``csv`` with ``--csv``. ``--csv`` writes the engine's history frame
(step, t = lr·step, loss, mode_i, theory_i, ..., alignment, balance_drift, update_eff_rank)
atomically. ``--save`` stores the run (dln_core.store) and prints its id on stderr. Both outputs are
checked (a temp file is created and removed) before training, so a bad path fails in a second.

The option groups and the error-to-flag mapping are shared with ``sweep`` (cli_sweep.py):
:func:`add_target_options`, :func:`add_init_options`, :func:`add_schedule_options`,
:func:`target_options`, :func:`as_flag_error`, :func:`check_outputs`.

Bad arguments raise ConfigError (or an argparse error); the dispatcher in cli.py turns either into one
stderr line and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from .config import parse_floats
from .errors import ConfigError

TARGET_HELP = "article | hierarchy | comma list of singular values (e.g. 6,4,3) | path to a CSV matrix"
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
# printed only when the summary has them (engine versions that measure the step-size cap and start
# each mode's theory after its alignment phase; halfway_step_theory counts from that start)
OPTIONAL_SUMMARY_KEYS = ("lr_cap", "lr_over_cap", "converged", "theory_start_step", "halfway_step_theory_gf",
                         "theory_applies", "theory_reason", "theory_alignment", "ode_exponent",
                         "ode_exponent_theory")


def _finite_float(text: str) -> float:
    # argparse's float accepts "nan"/"inf"; no option here has a meaning for them
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
    return value


def parse_steps(text: str) -> int | str:
    """``auto`` or a positive integer (``20000`` or ``2e4``)."""
    text = text.strip().lower()
    if text == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value == int(value) and value >= 1):
        raise ConfigError("steps", "must be a positive integer or 'auto'", text)
    return int(value)


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
    from .targets import load_matrix_csv

    return {"kind": "matrix", "matrix": load_matrix_csv(path)}


def _given(**kw) -> dict:
    """Only the options the user set: the rest keep the config dataclasses' defaults."""
    return {k: v for k, v in kw.items() if v is not None}


def target_options(args: argparse.Namespace) -> dict:
    """The target options besides --target that the user set (Σxx and shape), as keyword arguments
    that are both TargetConfig fields and RunConfig flat keys."""
    extra = _given(
        rotate_seed=args.rotate_seed,
        n_out=args.n_out,
        n_in=args.n_in,
        input_kind=args.input_kind,
        input_seed=args.input_seed,
    )
    if args.input_eigenvalues is not None:
        extra["input_eigenvalues"] = parse_floats("input-eigenvalues", args.input_eigenvalues)
    return extra


def build_config(args: argparse.Namespace):
    """The RunConfig of the parsed arguments. Options left unset keep the config's defaults."""
    target = {**parse_target(args.target), **target_options(args)}
    optim = _given(
        lr=args.lr, record=args.every, n_snapshots=args.snapshots, device=args.device, dtype=args.dtype
    )
    if args.steps is not None:
        optim["steps"] = parse_steps(args.steps)
    # imported after the cheap parsing above, so a typo is reported without loading the engine
    from .config import InitConfig, NetworkConfig, OptimConfig, RunConfig, TargetConfig

    return RunConfig(
        target=TargetConfig(**target),
        network=NetworkConfig(**_given(depth=args.depth, width=args.width)),
        init=InitConfig(
            **_given(scheme=args.init, scale=args.init_scale, lambda_b=args.lambda_b, seed=args.seed)
        ),
        optim=OptimConfig(**optim),
    )


# config field -> the flag that sets it (train and sweep), so an error names what the user typed
FLAG_FOR_FIELD = {
    "target_kind": "target",
    "singular_values": "target",
    "matrix": "target",
    "init_scheme": "init",
    "record": "every",
    "n_snapshots": "snapshots",
}
# fields named by the CLIs' own parsing that are flags already (besides the config's flat keys)
_CLI_FIELDS = {"target", "input-eigenvalues", "init-scale", "seeds", "steps"}


def as_flag_error(exc: ConfigError) -> ConfigError:
    """``init_scheme: ...`` → ``--init: ...``. Fields that are no flag (e.g. ``sweep size``, a server
    cap) keep their name."""
    from .config import FLAT_KEYS

    field = FLAG_FOR_FIELD.get(exc.field, exc.field)
    if field not in FLAT_KEYS and field not in _CLI_FIELDS and exc.field not in FLAG_FOR_FIELD:
        return exc
    return ConfigError("--" + field.replace("_", "-"), exc.allowed, exc.got)


class StderrProgress:
    """Progress lines ``<prefix> 42.0% (3.1 s)  <message>`` on stderr (``train --progress`` and
    ``sweep``): at most every ``every_s`` seconds, never the same line twice, and always a line at
    100 %; once at 100 % only a new final message (e.g. the sweep's "done: …") is printed."""

    def __init__(self, prefix: str, every_s: float = 1.0, clock=time.monotonic) -> None:
        self.prefix = prefix
        self.every_s = every_s
        self.clock = clock  # injectable, so a test need not patch the process-wide time.monotonic
        self.start = clock()
        self.last = -math.inf
        self.previous: tuple | None = None

    def __call__(self, fraction: float, message: str = "") -> None:
        now = self.clock()
        line = (round(fraction, 3), message)
        finished = self.previous is not None and self.previous[0] >= 1.0
        due = fraction >= 1.0 or (not finished and now - self.last >= self.every_s)
        if line == self.previous or not due:
            return
        self.last, self.previous = now, line
        text = f"{self.prefix} {100 * fraction:5.1f}% ({now - self.start:.1f} s)"
        print(f"{text}  {message}" if message else text, file=sys.stderr, flush=True)


def check_outputs(csv: str | None, save: bool, *, make_dir: bool = False):
    """Fail before training, not after a long run: ``--csv``'s folder takes a new file and the run
    store opens for ``--save`` (each probed by creating and removing a temp file).

    Returns (csv Path or None, RunStore or None). ``make_dir`` creates a missing CSV folder first."""
    from .store import RunStore, probe_writable

    csv_path = store = None
    if csv:
        csv_path = Path(csv)
        if csv_path.is_dir():
            raise ConfigError("--csv", "must be a file path, not a directory", csv)
        try:
            if make_dir:
                csv_path.parent.mkdir(parents=True, exist_ok=True)
            if not csv_path.parent.is_dir():
                raise ConfigError("--csv", "its directory must exist", csv)
            probe_writable(csv_path.parent)
        except OSError as exc:
            raise ConfigError("--csv", f"its directory must be writable ({exc.strerror or exc})", csv) from None
    if save:
        store = RunStore()
        try:
            store.check_writable()
        except OSError as exc:
            raise ConfigError(
                "--save", f"the run store must be writable; set DLN_LAB_HOME ({exc.strerror or exc})", str(store.root)
            ) from None
    return csv_path, store


def summary_json(summary: dict, extra: dict | None = None) -> str:
    """The one stdout line: the summary keys, strict JSON (non-finite numbers become null)."""
    from .store import to_jsonable

    out = {k: summary.get(k) for k in SUMMARY_KEYS}
    out.update({k: summary[k] for k in OPTIONAL_SUMMARY_KEYS if k in summary})
    out.update(extra or {})
    return json.dumps(to_jsonable(out), allow_nan=False)


def run_train(args: argparse.Namespace) -> int:
    from .limits import current_limits

    try:
        cfg = build_config(args)
        cfg.check_limits(current_limits())
    except ConfigError as exc:
        raise as_flag_error(exc) from None
    csv_path, store = check_outputs(args.csv, args.save)

    from .engine import run

    result = run(cfg, StderrProgress("train:") if args.progress else None)
    extra: dict = {}
    if store is not None:
        extra["run_id"] = store.save(result, kind="train", name=args.name)
        print(f"saved run {extra['run_id']}", file=sys.stderr)
    if csv_path is not None:
        from .store import atomic_write_csv

        atomic_write_csv(csv_path, result.history)
        extra["csv"] = str(csv_path)
    print(summary_json(result.summary, extra))
    return 0


def add_target_options(parser: argparse.ArgumentParser, target_help: str = TARGET_HELP) -> None:
    """The target (Σyx, Σxx) option group, shared by train and sweep."""
    t = parser.add_argument_group("target (Σyx, Σxx)")
    t.add_argument("--target", default="article", help=target_help + " (default: article)")
    t.add_argument("--rotate-seed", type=int, help="random orthogonal U*, V* from this seed")
    t.add_argument("--n-out", type=int, help="output dimension for a spectrum target")
    t.add_argument("--n-in", type=int, help="input dimension for a spectrum target")
    t.add_argument("--input-kind", help="whitened | commuting | rotated (default whitened)")
    t.add_argument("--input-eigenvalues", help="comma list: eigenvalues of Σxx")
    t.add_argument("--input-seed", type=int, help="rotation seed for --input-kind rotated")


def add_init_options(group, init_default: str | None = None) -> None:
    """--width, --init and --lambda-b (shared; depth, scale and seed differ: one value vs a grid)."""
    default = f" (default {init_default})" if init_default else ""
    group.add_argument("--width", type=int, help="hidden width (default max(n_in, n_out))")
    group.add_argument(
        "--init", default=init_default, help="gaussian | near-identity | aligned | lambda-balanced" + default
    )
    group.add_argument("--lambda-b", type=_finite_float, help="λ_b for --init lambda-balanced (L = 2)")


def add_schedule_options(group, steps_default: str | None = None, snapshots_default: int | None = None) -> None:
    """--steps (a count or 'auto'), --every and --snapshots (shared)."""
    steps = f"default {steps_default}" if steps_default else "default auto"
    snaps = f"default {snapshots_default}" if snapshots_default else "default 200"
    group.add_argument("--steps", default=steps_default, help=f"number of GD steps, or 'auto' ({steps})")
    group.add_argument("--every", type=int, help="record every N steps (default: log-spaced snapshots)")
    group.add_argument(
        "--snapshots", type=int, default=snapshots_default, help=f"number of log-spaced snapshots ({snaps})"
    )


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``train`` on the dispatcher's subparsers (dln_core/cli.py)."""
    p = subparsers.add_parser(
        "train",
        help="train one deep linear network; one JSON summary on stdout",
        description=__doc__.split("\n\n")[0],
    )
    add_target_options(p)
    n = p.add_argument_group("network and init")
    n.add_argument("--depth", type=int, help="number of layers L (default 2)")
    add_init_options(n)
    n.add_argument("--init-scale", type=_finite_float, help="init scale (meaning depends on --init)")
    n.add_argument("--seed", type=int, help="init seed")
    o = p.add_argument_group("optimisation")
    o.add_argument("--lr", type=_finite_float, help="GD step η (loss ½‖·‖², time t = η·step)")
    add_schedule_options(o)
    o.add_argument("--dtype", help="float64 (default) | float32")
    o.add_argument("--device", help="auto (default) | cpu | cuda")
    out = p.add_argument_group("output")
    out.add_argument("--csv", metavar="PATH", help="write the history frame to this CSV file")
    out.add_argument("--save", action="store_true", help="save the run in the run store; id on stderr")
    out.add_argument("--name", help="a name for the saved run")
    out.add_argument("--progress", action="store_true", help="progress lines on stderr")
    p.set_defaults(func=run_train)
    return p

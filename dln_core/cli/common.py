"""What the subcommands share: the command protocol, the one-line parser, option groups, the
error-to-flag mapping, output checks, progress lines and the JSON line on stdout.

Imports stay light (stdlib, errors, limits, config): parsing a command line never loads numpy, pandas,
scipy or torch. Heavy parts are reached as attributes of the lazy package (``dln_core.store`` …,
PEP 562, dln_core/__init__.py) and so load only once a command runs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Protocol

import dln_core

from ..config import FLAT_KEYS, INPUT_KINDS, parse_floats
from ..errors import ConfigError
from ..inits import SCHEMES


class Command(Protocol):
    """One subcommand: a module of this package with these four names (registered in cli/__init__.py)."""

    HELP: str  # one line in ``python -m dln_core --help``
    DESCRIPTION: str | None  # the top of ``python -m dln_core <command> --help``

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...  # the exit code


class OneLineError(Exception):
    """Raised by the parser instead of printing usage and exiting."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise OneLineError(f"{self.prog}: {message}")


# ---------------------------------------------------------------- values
def finite_float(text: str) -> float:
    """argparse type: a float, but not "nan"/"inf" (argparse's float takes them; no option means them)."""
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


def given(**kw) -> dict:
    """Only the options the user set: the rest keep the config dataclasses' defaults."""
    return {k: v for k, v in kw.items() if v is not None}


# ---------------------------------------------------------------- option groups (train and sweep)
TARGET_HELP = "article | hierarchy | comma list of singular values (e.g. 6,4,3) | path to a CSV matrix"


def add_target_options(parser: argparse.ArgumentParser, target_help: str = TARGET_HELP) -> None:
    """The target (Σyx, Σxx) option group, shared by train and sweep."""
    t = parser.add_argument_group("target (Σyx, Σxx)")
    t.add_argument("--target", default="article", help=target_help + " (default: article)")
    t.add_argument("--rotate-seed", type=int, help="random orthogonal U*, V* from this seed")
    t.add_argument("--n-out", type=int, help="output dimension for a spectrum target")
    t.add_argument("--n-in", type=int, help="input dimension for a spectrum target")
    t.add_argument("--input-kind", help=" | ".join(INPUT_KINDS) + f" (default {INPUT_KINDS[0]})")
    t.add_argument("--input-eigenvalues", help="comma list: eigenvalues of Σxx")
    t.add_argument("--input-seed", type=int, help="rotation seed for --input-kind rotated")


def add_init_options(group, init_default: str | None = None) -> None:
    """--width, --init and --lambda-b (shared; depth, scale and seed differ: one value vs a grid)."""
    default = f" (default {init_default})" if init_default else ""
    group.add_argument("--width", type=int, help="hidden width (default max(n_in, n_out))")
    group.add_argument(
        "--init", default=init_default, help=" | ".join(SCHEMES) + default  # the inits registry
    )
    group.add_argument("--lambda-b", type=finite_float, help="λ_b for --init lambda-balanced (L = 2)")


def add_schedule_options(group, steps_default: str | None = None, snapshots_default: int | None = None) -> None:
    """--steps (a count or 'auto'), --every and --snapshots (shared)."""
    steps = f"default {steps_default}" if steps_default else "default auto"
    snaps = f"default {snapshots_default}" if snapshots_default else "default 200"
    group.add_argument("--steps", default=steps_default, help=f"number of GD steps, or 'auto' ({steps})")
    group.add_argument("--every", type=int, help="record every N steps (default: log-spaced snapshots)")
    group.add_argument(
        "--snapshots", type=int, default=snapshots_default, help=f"number of log-spaced snapshots ({snaps})"
    )


def target_options(args: argparse.Namespace) -> dict:
    """The target options besides --target that the user set (Σxx and shape), as keyword arguments
    that are both TargetConfig fields and RunConfig flat keys."""
    extra = given(
        rotate_seed=args.rotate_seed,
        n_out=args.n_out,
        n_in=args.n_in,
        input_kind=args.input_kind,
        input_seed=args.input_seed,
    )
    if args.input_eigenvalues is not None:
        extra["input_eigenvalues"] = parse_floats("input-eigenvalues", args.input_eigenvalues)
    return extra


# ---------------------------------------------------------------- errors name the flag
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
_CLI_FIELDS = {"target", "input-eigenvalues", "init-scale", "seeds", "steps", "trace"}


def as_flag_error(exc: ConfigError) -> ConfigError:
    """``init_scheme: ...`` → ``--init: ...``. Fields that are no flag (e.g. ``sweep size``, a server
    cap) keep their name."""
    field = FLAG_FOR_FIELD.get(exc.field, exc.field)
    if field not in FLAT_KEYS and field not in _CLI_FIELDS and exc.field not in FLAG_FOR_FIELD:
        return exc
    return ConfigError("--" + field.replace("_", "-"), exc.allowed, exc.got)


# ---------------------------------------------------------------- outputs
def check_outputs(csv: str | None, save: bool, *, make_dir: bool = False):
    """Fail before training, not after a long run: ``--csv``'s folder takes a new file and the run
    store opens for ``--save`` (each probed by creating and removing a temp file).

    Returns (csv Path or None, RunStore or None). ``make_dir`` creates a missing CSV folder first."""
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
            dln_core.store.probe_writable(csv_path.parent)
        except OSError as exc:
            raise ConfigError("--csv", f"its directory must be writable ({exc.strerror or exc})", csv) from None
    if save:
        store = dln_core.RunStore()
        try:
            store.check_writable()
        except OSError as exc:
            raise ConfigError(
                "--save", f"the run store must be writable; set DLN_LAB_HOME ({exc.strerror or exc})", str(store.root)
            ) from None
    return csv_path, store


class Outputs:
    """Writes a finished computation's outputs (``--save``, ``--csv``) and reports them honestly.

    Each write runs even if an earlier one failed; an OSError (a full disk, a quota, a vanished
    folder) or a store refusal is kept as one message instead of a traceback. :meth:`finish` prints
    the JSON line whatever happened (a run that was saved keeps its summary and id), then the
    failures as one stderr line, and returns exit code 2 if anything failed. The store and the CSV
    writer are atomic, so a failed write leaves nothing half-written and earlier runs untouched."""

    def __init__(self, out: dict) -> None:
        self.out = out
        self.failures: list[str] = []

    def write(self, flag: str, key: str, writer) -> None:
        """``out[key] = writer()``, or a failure message naming ``flag``."""
        try:
            self.out[key] = writer()
        except (OSError, dln_core.store.StoreError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.failures.append(f"{flag}: could not write ({reason}); nothing half-written was kept")

    def finish(self) -> int:
        print_json(self.out)
        if self.failures:
            print("dln_core: error: " + "; ".join(self.failures), file=sys.stderr, flush=True)
            return 2
        return 0


def print_json(obj: dict) -> None:
    """The one stdout line of every command: strict JSON (numpy values become plain numbers,
    non-finite numbers null, via store.to_jsonable)."""
    print(json.dumps(dln_core.store.to_jsonable(obj), allow_nan=False), flush=True)


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

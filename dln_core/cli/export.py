"""``python -m dln_core export [RUN_ID …] --format csv|parquet --layout wide|long --out PATH``.

Writes two tables of saved runs (all runs when no id is given; dln_core/exports.py): the history
table at PATH (``wide``: one row per run × snapshot with the config columns; ``long``: columns
``run_id, step, t, metric, index, value``) and the runs table (config, summary and provenance, one row
per run) next to it as ``<stem>.runs.<format>``. Every id is checked and the folder probed before
anything is written; both files are written atomically. Prints one JSON line with the paths.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import dln_core

from ..errors import ConfigError
from .common import print_json
from .reproduce import load_runs

HELP = "export saved runs as CSV or Parquet tables (wide or long/tidy) plus a runs table"
DESCRIPTION = __doc__.split("\n\n")[0]
FORMATS = ("csv", "parquet")  # = dln_core.exports.FORMATS / LAYOUTS (kept here: parsing loads no pandas)
LAYOUTS = ("wide", "long")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="saved runs to export (default: all)")
    p.add_argument("--format", choices=FORMATS, default="csv", help="csv (default) | parquet")
    p.add_argument("--layout", choices=LAYOUTS, default="wide", help="wide (default) | long (tidy)")
    p.add_argument("--out", required=True, metavar="PATH", help="the history table's file; the runs table goes next to it")


def check_out(out: str) -> None:
    """--out must name a file in an existing, writable folder (checked before loading any run)."""
    path = Path(out)
    if path.is_dir():
        raise ConfigError("--out", "must be a file path, not a directory", out)
    if not path.parent.is_dir():
        raise ConfigError("--out", "its folder must exist", out)
    try:
        dln_core.store.probe_writable(path.parent)
    except OSError as exc:
        raise ConfigError("--out", f"its folder must be writable ({exc.strerror or exc})", out) from None


def run(args: argparse.Namespace) -> int:
    from ..exports import write_export

    check_out(args.out)
    store = dln_core.RunStore()
    ids = args.run_ids or list(store.list()["run_id"])
    if not ids:
        raise ConfigError("RUN_ID", f"there must be saved runs to export; the store {store.root} has none", "")
    print_json(write_export(load_runs(store, ids), args.out, args.format, args.layout))
    return 0

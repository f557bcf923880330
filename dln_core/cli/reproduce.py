"""``python -m dln_core reproduce RUN_ID``: retrain a saved run from its stored config and compare.

Prints one JSON object (dln_core/reproduce.py): ``max_abs_diff`` between the stored and the new
history (≤ 1e-12 for CPU float64 runs), ``weights_max_abs_diff`` (train runs), ``tolerance``,
``reproduced`` and ``provenance_changes`` (versions, device, threads … that differ from the stored
run). Exit code 0 when the run reproduces within the tolerance, 1 when it does not, 2 for an unknown
run id or a run kind that cannot be retrained (one line on stderr).
"""

from __future__ import annotations

import argparse

import dln_core

from ..errors import ConfigError
from .common import print_json

HELP = "retrain a saved run from its stored config; JSON with max_abs_diff vs the stored history"
DESCRIPTION = __doc__.split("\n\n")[0]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_id", metavar="RUN_ID", help="the id of a saved run (printed by train --save; listed on the Runs page)")


def load_runs(store, run_ids):
    """Stored runs by id; ConfigError naming the first unknown or unreadable id (nothing is written)."""
    from ..store import StoreError

    runs = []
    for rid in run_ids:
        try:
            runs.append(store.load(rid))
        except StoreError as exc:
            raise ConfigError("RUN_ID", f"must be a readable saved run in {store.root} ({exc})", rid) from None
    return runs


def run(args: argparse.Namespace) -> int:
    from ..reproduce import reproduce

    store = dln_core.RunStore()
    (stored,) = load_runs(store, [args.run_id])
    report = reproduce(store, stored.run_id)
    print_json(report)
    return 0 if report["reproduced"] else 1

"""A sweep's shape-group batches as tasks on any ``concurrent.futures.Executor`` (dask included).

Each task is one whole batch (the members :func:`dln_core.sweep.group_by_shape` puts together), so
the stepper stays vectorised on the worker; a worker returns its members' summary rows, never the
runs themselves (a run holds every snapshot; the rows are a few hundred bytes). Rows come back in
batch order and are assembled exactly as the serial path assembles them, so the summary frame is
identical. Lost workers: :func:`dln_core.distributed.run_tasks` (resubmitted, else TaskLost).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor

from .distributed import run_tasks
from .limits import Limits


def run_members_on(
    executor: Executor,
    run_batch_rows: Callable[[tuple], list[dict]],
    members: Sequence,
    groups: list[list[int]],
    weights: Sequence[float],
    limits: Limits,
    rise_times: bool = True,
    progress=None,
    retries: int = 1,
) -> list[dict]:
    """Summary rows of all members (in member order), the batches run as tasks on ``executor``.

    ``run_batch_rows(task)`` is the worker side (:func:`dln_core.sweep.run_batch_rows`, a module-level
    function so it pickles); it is passed in so that this module never imports the sweep."""
    tasks = [(tuple(g), tuple(members[i] for i in g), limits, rise_times) for g in groups]

    def label(gi: int) -> str:
        g = groups[gi]
        return f"batch {gi + 1}/{len(groups)}: {len(g)} networks, depth {members[g[0]].network.depth}"

    per_batch = run_tasks(run_batch_rows, tasks, executor, weights=weights, progress=progress, retries=retries,
                          label=label)
    rows = [row for batch in per_batch for row in batch]
    rows.sort(key=lambda row: (row["member"], row["mode"]))  # the serial order
    return rows

"""Run independent tasks on any ``concurrent.futures.Executor``, or on a dask.distributed cluster.

The sweep hands this module its shape-group batches (never single networks: a batch is the unit that
keeps the stepper vectorised). :func:`run_tasks` submits every task, reports progress as tasks
finish, resubmits a task whose worker died, and raises :class:`TaskLost` naming the task when it
still cannot finish: results are never silently dropped, and they come back in submission order, so
whatever is assembled from them is identical to a serial run.

:func:`dask_executor` gives such an executor on a dask.distributed cluster: ``workers=N`` starts a
``LocalCluster`` of N single-threaded worker processes (stopped again on exit); ``scheduler=ADDRESS``
joins a running cluster (for example one started by dask-jobqueue on SLURM; README "Sweeps on a
cluster"). dask is imported only here and only when asked for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, as_completed
from dataclasses import dataclass

from .errors import ConfigError

# exception class names meaning "the process running the task went away", not "the task failed"
LOST_WORKER_ERRORS = ("KilledWorker", "BrokenProcessPool", "CommClosedError", "StreamClosedError",
                      "FutureCancelledError", "CancelledError")


class TaskLost(RuntimeError):
    """A task could not be completed because its workers kept dying (after the allowed retries)."""


@dataclass(frozen=True)
class ExecutorInfo:
    """What the sweep JSON reports: ``executor`` ("serial", "dask" or a class name) and ``workers``."""

    executor: str
    workers: int


def _lost_worker(exc: BaseException) -> bool:
    return type(exc).__name__ in LOST_WORKER_ERRORS


def run_tasks(
    fn: Callable,
    payloads: Sequence,
    executor: Executor | None = None,
    weights: Sequence[float] | None = None,
    progress: Callable[[float, str], None] | None = None,
    retries: int = 1,
    label: Callable[[int], str] | None = None,
) -> list:
    """``[fn(p) for p in payloads]``, in order; with ``executor``, as parallel tasks.

    ``progress(fraction, text)`` is called as tasks finish (``weights``: each task's share of the work).
    A task whose worker died is resubmitted up to ``retries`` times; then :class:`TaskLost` is raised
    with the task's label. An exception raised by ``fn`` itself propagates unchanged.
    """
    n = len(payloads)
    weights = list(weights) if weights is not None else [1.0] * n
    total = float(sum(weights)) or 1.0
    name = label or (lambda i: f"task {i + 1}/{n}")
    results: list = [None] * n
    if executor is None:
        done = 0.0
        for i, p in enumerate(payloads):
            results[i] = fn(p)
            done += weights[i]
            if progress is not None:
                progress(done / total, f"{name(i)} done")
        return results
    pending: dict[Future, int] = {executor.submit(fn, p): i for i, p in enumerate(payloads)}
    tries = [0] * n
    done = 0.0
    finished = 0
    try:
        while pending:
            for fut in as_completed(list(pending)):
                i = pending.pop(fut)
                try:
                    results[i] = fut.result()
                except BaseException as exc:
                    if not _lost_worker(exc):
                        raise
                    tries[i] += 1
                    if tries[i] > retries:
                        raise TaskLost(f"{name(i)} was lost {tries[i]} times (its worker died): {exc!r}") from exc
                    if progress is not None:
                        progress(done / total, f"{name(i)}: worker lost, resubmitted")
                    try:
                        pending[executor.submit(fn, payloads[i])] = i
                    except Exception as sub_exc:  # e.g. a broken process pool accepts no more work
                        raise TaskLost(f"{name(i)} was lost (its worker died) and could not be resubmitted: "
                                       f"{sub_exc!r}") from exc
                    break  # restart as_completed with the new future included
                finished += 1
                done += weights[i]
                if progress is not None:
                    progress(done / total, f"{name(i)} done ({finished}/{n})")
    finally:
        for fut in pending:
            fut.cancel()
    return results


def executor_info(executor: Executor | None) -> ExecutorInfo:
    """Name and worker count of an executor (dask's client executor, process/thread pools, or None)."""
    if executor is None:
        return ExecutorInfo("serial", 1)
    client = getattr(executor, "_client", None)
    if client is not None:  # distributed.client.ClientExecutor
        return ExecutorInfo("dask", len(client.scheduler_info().get("workers", {})))
    workers = getattr(executor, "_max_workers", None)
    return ExecutorInfo(type(executor).__name__, int(workers) if workers else 0)


@contextlib.contextmanager
def dask_executor(workers: int | None = None, scheduler: str | None = None,
                  timeout_s: float = 120.0) -> Iterator[Executor]:
    """A ``concurrent.futures.Executor`` on dask.distributed: a new LocalCluster of ``workers``
    single-threaded processes (closed on exit), or the running cluster at ``scheduler``.

    ConfigError when dask is missing, when both or neither are given, or when the scheduler cannot
    be reached within ``timeout_s``."""
    if (workers is None) == (scheduler is None):
        raise ConfigError("executor", "dask needs exactly one of --workers N or --scheduler ADDRESS", None)
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ConfigError("workers", "must be an integer >= 1", workers)
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - dask is in requirements.txt
        raise ConfigError("executor", "dask needs the dask[distributed] package (pip install 'dask[distributed]')",
                          "dask") from None
    cluster = None
    try:
        if workers is not None:
            # one thread per worker process, and one for numba's parallel kernel: dask sets
            # OMP_NUM_THREADS=1 in its workers, which numba does not read, so N workers would each
            # start one kernel thread per core (measured: NUMBA_NUM_THREADS 2 per worker on 2 cores)
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=40, env={"NUMBA_NUM_THREADS": "1"})
            client = Client(cluster, timeout=timeout_s)
            client.wait_for_workers(workers, timeout=timeout_s)
        else:
            try:
                client = Client(scheduler, timeout=timeout_s)
            except OSError as exc:
                raise ConfigError("scheduler", f"cannot reach a dask scheduler there ({exc})", scheduler) from None
        try:
            # pure=False: every submission is a new task (a resubmitted batch must run again)
            yield client.get_executor(pure=False)
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()

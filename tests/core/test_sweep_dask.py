"""Sweeps on executors (dln_core.sweep_executor, dln_core.distributed): a real dask LocalCluster with
2 worker processes gives the serial summary, also when a worker is killed mid-sweep; any
concurrent.futures executor works; a lost task is resubmitted or reported, never dropped."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pandas as pd
import pytest

from dln_core.cli import main
from dln_core.distributed import TaskLost, dask_executor, executor_info, run_tasks
from dln_core.sweep import SweepSpec, run_sweep

SPEC = SweepSpec(depths=(2, 3), init_scales=(1e-2, 1e-1), lrs=(0.05, 0.03), seeds=(0,),
                 base={"init_scheme": "aligned", "steps": 400, "target_kind": "spectrum", "singular_values": "1,0.5"})


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 worker processes for this module, closed (by its handle) at the end."""
    with dask_executor(workers=2) as executor:
        yield executor


@pytest.fixture(scope="module")
def serial():
    return run_sweep(SPEC)


def test_dask_summary_is_identical_to_serial(cluster, serial):
    seen = []
    result = run_sweep(SPEC, executor=cluster, progress=lambda f, text: seen.append((f, text)))
    pd.testing.assert_frame_equal(result.summary, serial.summary)
    assert (result.n_batches, result.network_steps) == (serial.n_batches, serial.network_steps) == (2, 8 * 400)
    assert executor_info(cluster).executor == "dask" and executor_info(cluster).workers == 2
    assert seen[-1][0] == 1.0 and any("batch" in text for _, text in seen)  # progress reached the caller


def numba_threads(_):
    import numba

    return numba.config.NUMBA_NUM_THREADS


def test_local_cluster_workers_run_numbas_kernel_on_one_thread_each(cluster):
    """N worker processes on N cores: each runs the parallel fused kernel on one thread, not one per core."""
    assert [f.result() for f in [cluster.submit(numba_threads, i) for i in range(4)]] == [1, 1, 1, 1]


def test_any_concurrent_futures_executor(serial):
    with ThreadPoolExecutor(2) as pool:
        pd.testing.assert_frame_equal(run_sweep(SPEC, executor=pool).summary, serial.summary)
    assert executor_info(None).executor == "serial"


def die(x):
    os._exit(3)  # the worker process vanishes, as an OOM kill would make it


def test_a_task_whose_workers_keep_dying_is_reported_not_dropped():
    with ProcessPoolExecutor(1) as pool, pytest.raises(TaskLost, match="task 1/2"):
        run_tasks(die, [1, 2], pool, retries=1)
    assert run_tasks(abs, [-1, -2]) == [1, 2]  # serial path, in order


def test_cli_joins_a_scheduler_and_reports_executor_and_workers(cluster, capsys):
    address = cluster._client.scheduler.address
    argv = ["sweep", "--depth", "2", "--init-scale", "1e-2", "--lr", "0.05", "--target", "1,0.5", "--steps", "200",
            "--quiet", "--executor", "dask", "--scheduler", address]
    assert main(argv) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["executor"] == "dask" and info["workers"] == 2 and info["members"] == 1
    assert main([*argv[:-4]]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["executor"] == "serial"


def test_cli_bad_executor_flags_exit_2(capsys):
    base = ["sweep", "--depth", "2", "--init-scale", "1e-2", "--steps", "50", "--quiet"]
    assert main([*base, "--workers", "2"]) == 2
    assert main([*base, "--executor", "dask"]) == 2
    assert main([*base, "--executor", "dask", "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "--workers" in err


def slow_batch_spec():
    # four batches (depths 2..5) long enough that one is running when a worker is killed
    return SweepSpec(depths=(2, 3, 4, 5), init_scales=(1e-2,), lrs=(0.02,), seeds=(0, 1),
                     base={"init_scheme": "aligned", "steps": 6000, "target_kind": "spectrum",
                           "singular_values": "1,0.5"})


def test_a_worker_killed_mid_sweep_loses_nothing(cluster):  # last: the module's cluster loses a worker
    spec = slow_batch_spec()
    client = cluster._client
    pids = client.run(os.getpid)  # {worker address: pid}
    killed = []

    def kill_a_busy_worker():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            busy = [addr for addr, tasks in client.processing().items() if tasks]
            if busy:
                os.kill(pids[busy[0]], signal.SIGKILL)  # by PID, one worker process
                killed.append(pids[busy[0]])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    result = run_sweep(spec, executor=cluster)
    killer.join()
    assert killed, "no worker was busy: the test did not kill anything"
    pd.testing.assert_frame_equal(result.summary, run_sweep(spec).summary)

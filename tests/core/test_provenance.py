"""Provenance of saved runs (dln_core/provenance.py, written by the run store into meta.json)."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from dln_core import engine, provenance
from dln_core.config import RunConfig
from dln_core.store import RunStore

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"python", "packages", "platform", "backend", "device", "dtype", "threads", "threads_source", "thread_env",
        "code"}


def test_every_saved_run_records_its_provenance(tmp_path):
    store = RunStore(tmp_path)
    res = engine.run(RunConfig.make(depth=2, init_scale=1e-3, lr=0.04, steps=50, dtype="float32"))
    rid = store.save(res, kind="train")
    prov = store.load(rid).meta["provenance"]
    assert KEYS <= set(prov)
    assert prov["packages"]["numpy"] == metadata.version("numpy") == np.__version__
    assert prov["packages"]["pandas"] == pd.__version__
    assert prov["packages"]["torch"] == metadata.version("torch")
    assert prov["packages"]["scipy"] == metadata.version("scipy")
    # "auto" resolved to what the engine ran on (CPU here: numpy backend), the config's dtype
    assert (prov["backend"], prov["device"], prov["dtype"]) == ("numpy", "cpu", "float32")
    assert isinstance(prov["threads"], int) and prov["threads"] >= 1
    # frames saved without a config (a sweep's summary) get provenance too
    other = store.save_frames({"summary": pd.DataFrame({"a": [1]})}, {"spec": {"base": {}}}, kind="sweep")
    assert store.load(other).meta["provenance"]["device"] == "cpu"


def test_code_revision_is_the_checkouts_commit():
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    code = provenance.code_revision(ROOT)
    assert code["git_commit"] == head and isinstance(code["dirty"], bool)


def test_no_checkout_means_no_revision(tmp_path):
    assert provenance.code_revision(tmp_path) is None


def test_thread_count_is_the_backends(monkeypatch):
    import torch

    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    info = provenance.thread_info("numpy")  # BLAS threads, whether or not torch is loaded
    assert (info["threads"], info["threads_source"]) == (3, "OMP_NUM_THREADS")
    assert info["thread_env"]["OMP_NUM_THREADS"] == "3"
    info = provenance.thread_info("torch")
    assert (info["threads"], info["threads_source"]) == (torch.get_num_threads(), "torch.get_num_threads")


def test_embedding_runs_record_the_torch_backend():
    prov = provenance.from_meta({"config": {"device": "cpu", "dtype": "float32"}, "summary": {"device": "cpu"}},
                                kind="embed")
    assert (prov["backend"], prov["device"], prov["dtype"]) == ("torch", "cpu", "float32")

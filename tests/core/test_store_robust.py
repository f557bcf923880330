"""Store edge cases from issue 11, through the public RunStore API: an ill-typed meta is reported and
skipped like a corrupt one (the healthy runs stay listed), a folder with an odd name can be loaded or
deleted, a ``runs`` file is a clear error, and a planted pickled array is a corrupt entry."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pandas as pd
import pytest

from dln_core.store import CorruptRunError, RunNotFoundError, RunStore, StoreError


def _frames() -> dict:
    return {"history": pd.DataFrame({"step": [0, 1, 2], "loss": [1.0, 0.5, 0.25]})}


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path)


def _meta(store: RunStore, rid: str) -> dict:
    return json.loads((store.root / rid / "meta.json").read_text())


def _write_meta(store: RunStore, rid: str, meta: dict) -> None:
    (store.root / rid / "meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(("key", "bad"), [("created", "yesterday"), ("created", 12), ("name", {"x": 1}),
                                          ("config", [1, 2]), ("summary", "fine"), ("frames", {"history": 3})])
def test_an_ill_typed_meta_is_reported_and_skipped(store, key, bad):
    healthy = store.save_frames(_frames(), {"name": "healthy"})
    broken = store.save_frames(_frames(), {"name": "broken"})
    meta = _meta(store, broken)
    meta[key] = bad
    _write_meta(store, broken, meta)
    listing = store.list()  # must not raise
    assert list(listing["run_id"]) == [healthy]
    assert len(store.problems) == 1 and broken in store.problems[0]
    with pytest.raises(CorruptRunError):
        store.load(broken)


def test_a_folder_with_an_odd_name_can_be_loaded_and_deleted(store):
    rid = store.save_frames(_frames())
    odd = "my run (copy)"
    (store.root / rid).rename(store.root / odd)
    listing = store.list()
    assert list(listing["run_id"]) == [odd]
    assert store.load(odd).history["loss"].tolist() == [1.0, 0.5, 0.25]
    store.delete(odd)
    assert store.list().empty and not (store.root / odd).exists()


@pytest.mark.parametrize("name", ["..", ".", "../runs", "a/b", "", ".hidden", "x\0y"])
def test_names_that_leave_the_runs_folder_are_still_refused(store, name):
    store.save_frames(_frames())
    with pytest.raises(RunNotFoundError):
        store.delete(name)
    with pytest.raises(RunNotFoundError):
        store.load(name)
    assert store.root.is_dir() and len(store.list()) == 1


def test_a_runs_file_instead_of_a_folder_is_a_clear_error(store):
    store.home.mkdir(exist_ok=True)
    store.root.write_text("not a folder")
    with pytest.raises(StoreError, match="not a folder"):
        store.entries()
    with pytest.raises(StoreError, match="not a folder"):
        store.list()
    with pytest.raises(StoreError, match="not a folder"):
        store.save_frames(_frames())
    assert store.root.read_text() == "not a folder"  # left alone


def test_a_planted_pickled_array_is_a_corrupt_entry(store):
    rid = store.save_frames(_frames(), arrays={"W1": np.eye(2)})
    buf = io.BytesIO()
    np.save(buf, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    data = buf.getvalue()
    (store.root / rid / "W1.npy").write_bytes(data)
    meta = _meta(store, rid)
    meta["arrays"]["W1"].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())  # checksums match
    _write_meta(store, rid, meta)
    with pytest.raises(CorruptRunError, match="W1"):
        store.load(rid)

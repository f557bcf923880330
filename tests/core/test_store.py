"""Run store: round trip, atomic writes, corrupt entries, delete, CSV export (dln_core/store.py)."""

from __future__ import annotations

import io
import json
import os
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from dln_core import store as store_mod
from dln_core.result import FrameViews
from dln_core.store import CorruptRunError, RunNotFoundError, RunStore


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DLN_LAB_HOME", str(tmp_path / "lab"))
    return tmp_path / "lab"


def _history(n: int = 5, r: int = 2, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    step = np.arange(n) * 10
    df = pd.DataFrame({"step": step, "t": 0.01 * step, "loss": rng.random(n)})
    for i in range(1, r + 1):
        df[f"mode_{i}"] = rng.random(n)
        df[f"theory_{i}"] = rng.random(n)
    df["alignment"] = rng.random(n)
    return df


def _meta(depth=2, lr=0.01, final_loss=0.5, halfway=(12, None)):
    return {
        "config": {
            "target_kind": "article",
            "singular_values": "6,4",
            "depth": depth,
            "lr": lr,
            "steps": "auto",
        },
        "summary": {"final_loss": final_loss, "diverged": False, "halfway_step": list(halfway), "steps": 40},
    }


def test_home_from_env_and_explicit(home, tmp_path):
    assert RunStore().root == home / "runs"
    assert RunStore(tmp_path / "other").root == tmp_path / "other" / "runs"


def test_round_trip_frames_equal(home):
    s = RunStore()
    hist = _history()
    pairs = pd.DataFrame(
        {"step": [0, 0], "pair": ["U*ᵀU_L", "V_1ᵀV*"], "row": [1, 2], "value": [np.nan, -1.5]}
    )
    rid = s.save({"history": hist, "alignment": pairs}, kind="train", name="first", meta=_meta())
    run = s.load(rid)
    pd.testing.assert_frame_equal(run.history, hist)
    pd.testing.assert_frame_equal(run.alignment, pairs)
    assert run.kind == "train" and run.name == "first" and run.run_id == rid
    assert run.config_flat["depth"] == 2 and run.summary["halfway_step"] == [12, None]
    assert run.meta["format_version"] == store_mod.FORMAT_VERSION
    # only the requested frames are read
    assert set(s.load(rid, frames=["history"]).frames) == {"history"}
    with pytest.raises(KeyError):
        run.frame("modes")


@dataclass
class _FakeRun(FrameViews):
    """A result.Run (config_flat, summary, frames) with weights, like a RunResult."""

    config_flat: dict
    frames: dict
    summary: dict
    weights: list

    def frame(self, name):
        return self.frames[name]


def test_save_run_result_like_object(home):
    """A RunResult (any result.Run) saves its frames, flat config, JSON-safe summary and weights."""
    w = [np.arange(6.0).reshape(2, 3), np.eye(2)]
    result = _FakeRun(
        config_flat={"depth": 2, "lr": 0.04, "singular_values": "6,4"},
        frames={"history": _history(), "modes": pd.DataFrame({"step": [0], "mode": [1], "u": [1e-5]})},
        summary={
            "final_loss": np.float64(np.inf),
            "diverged": np.bool_(True),
            "diverged_step": np.int64(7),
            "halfway_step": [np.int64(3), None],
            "lambda_star": np.array([6.0, 4.0]),
        },
        weights=w,
    )
    s = RunStore()
    rid = s.save(result, name="r")
    run = s.load(rid)
    assert set(run.frames) == {"history", "modes"}
    pd.testing.assert_frame_equal(run.history, result.history)
    assert run.summary == {
        "final_loss": None,
        "diverged": True,
        "diverged_step": 7,
        "halfway_step": [3, None],
        "lambda_star": [6.0, 4.0],
    }
    assert len(run.weights) == 2
    np.testing.assert_array_equal(run.weights[0], w[0])
    np.testing.assert_array_equal(run.weights[1], w[1])
    # strict JSON on disk (no NaN/Infinity tokens)
    json.loads((home / "runs" / rid / "meta.json").read_text(), parse_constant=pytest.fail)


def test_ids_short_sortable_unique(home):
    s = RunStore()
    ids = [s.save({"history": _history(2)}, meta=_meta()) for _ in range(5)]
    assert len(set(ids)) == 5
    assert ids == sorted(ids)
    assert all(len(i) <= 24 for i in ids)
    listed = s.list()
    assert list(listed["run_id"]) == ids[::-1]  # newest first


def test_list_columns(home):
    s = RunStore()
    rid = s.save({"history": _history()}, name="a", meta=_meta(depth=3, lr=0.02, final_loss=0.25))
    df = s.list()
    assert len(df) == 1
    row = df.iloc[0]
    for col in (
        "run_id",
        "kind",
        "name",
        "created",
        "target_kind",
        "depth",
        "lr",
        "final_loss",
        "diverged",
        "halfway_steps",
    ):
        assert col in df.columns, col
    assert row["run_id"] == rid and row["name"] == "a" and row["kind"] == "train"
    assert row["depth"] == 3 and row["lr"] == pytest.approx(0.02)
    assert row["final_loss"] == pytest.approx(0.25)
    assert row["halfway_steps"] == "12, –"
    assert isinstance(row["created"], pd.Timestamp)


def test_empty_store_lists_nothing(home):
    df = RunStore().list()
    assert len(df) == 0 and "run_id" in df.columns and df.attrs["problems"] == []


def test_sweep_and_embed_kinds(home):
    s = RunStore()
    summary = pd.DataFrame({"depth": [2, 3], "init_scale": [1e-3, 1e-3], "tau_half": [3.1, 9.4]})
    rid = s.save_frames({"summary": summary}, {"name": "sweep1"}, kind="sweep")
    eid = s.save_frames({"history": _history()}, {"name": "emb"}, kind="embed")
    df = s.list().set_index("run_id")
    assert df.loc[rid, "kind"] == "sweep" and df.loc[eid, "kind"] == "embed"
    pd.testing.assert_frame_equal(s.load(rid).frames["summary"], summary)
    with pytest.raises(ValueError, match="kind"):
        s.save_frames({"history": _history()}, {}, kind="bogus")


def test_crash_at_final_rename_leaves_only_complete_runs(home, monkeypatch):
    s = RunStore()
    before = _history(seed=1)
    good = s.save({"history": before}, name="good", meta=_meta())
    real_rename = os.rename

    def crash(src, dst):
        raise OSError("simulated crash during commit")

    monkeypatch.setattr(store_mod.os, "rename", crash)
    with pytest.raises(OSError, match="simulated crash"):
        s.save({"history": _history(seed=2)}, name="bad", meta=_meta())
    monkeypatch.setattr(store_mod.os, "rename", real_rename)

    df = s.list()
    assert list(df["run_id"]) == [good] and s.problems == []
    pd.testing.assert_frame_equal(s.load(good).history, before)
    # nothing left behind that looks like a run
    assert [p.name for p in (home / "runs").iterdir()] == [good]


def test_interrupted_temp_dir_ignored_then_cleaned(home):
    """A writer killed before its rename leaves a hidden temp dir: never listed, removed once stale."""
    s = RunStore()
    good = s.save({"history": _history()}, meta=_meta())
    tmp = home / "runs" / ".tmp-20990101-000000000-dead-0000"
    tmp.mkdir()
    (tmp / "history.parquet").write_bytes(b"PAR1 half written")
    assert list(s.list()["run_id"]) == [good] and s.problems == []
    assert tmp.exists()  # fresh: may belong to a live writer, keep it
    old = time.time() - store_mod.STALE_SECONDS - 60
    os.utime(tmp, (old, old))
    s.list()
    assert not tmp.exists()


@pytest.mark.parametrize(
    "damage, expect",
    [
        (lambda d: (d / "meta.json").write_text("{not json"), "unreadable meta.json"),
        (lambda d: (d / "meta.json").unlink(), "missing meta.json"),
        (lambda d: (d / "history.parquet").unlink(), "file missing"),
        (
            lambda d: (d / "history.parquet").write_bytes((d / "history.parquet").read_bytes()[:-20]),
            "truncated",
        ),
        (
            lambda d: (d / "history.parquet").write_bytes(b"X" * (d / "history.parquet").stat().st_size),
            "garbled",
        ),
    ],
    ids=["bad-json", "no-meta", "missing-parquet", "truncated-parquet", "garbled-parquet"],
)
def test_corrupt_entry_skipped_and_reported(home, caplog, damage, expect):
    s = RunStore()
    ok = s.save({"history": _history()}, name="ok", meta=_meta())
    bad = s.save({"history": _history()}, name="bad", meta=_meta())
    damage(home / "runs" / bad)
    with caplog.at_level("WARNING", logger="dln_core.store"):
        df = s.list()
    assert list(df["run_id"]) == [ok]
    assert len(s.problems) == 1 and bad in s.problems[0] and expect in s.problems[0]
    assert df.attrs["problems"] == s.problems
    assert any(bad in rec.getMessage() for rec in caplog.records)
    with pytest.raises(CorruptRunError):
        s.load(bad)
    pd.testing.assert_frame_equal(s.load(ok).history, _history())


def test_garbled_middle_caught_by_checksum(home):
    """Damage that keeps size and magic bytes passes the cheap check but not load() or verify=True."""
    s = RunStore()
    rid = s.save({"history": _history()}, meta=_meta())
    path = home / "runs" / rid / "history.parquet"
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid] ^= 0xFF
    path.write_bytes(bytes(data))
    assert list(s.list()["run_id"]) == [rid]
    assert list(s.list(verify=True)["run_id"]) == [] and "checksum" in s.problems[0]
    with pytest.raises(CorruptRunError, match="checksum"):
        s.load(rid)


def test_delete(home):
    s = RunStore()
    a = s.save({"history": _history()}, name="a", meta=_meta())
    b = s.save({"history": _history()}, name="b", meta=_meta())
    s.delete(a)
    assert list(s.list()["run_id"]) == [b]
    assert not (home / "runs" / a).exists()
    with pytest.raises(RunNotFoundError):
        s.load(a)
    with pytest.raises(RunNotFoundError):
        s.delete(a)
    with pytest.raises(RunNotFoundError):  # ids never escape the runs directory
        s.delete("../lab")
    assert (home / "runs" / b).is_dir()


def test_export_csv_one_row_per_run_and_snapshot(home):
    s = RunStore()
    h1, h2 = _history(n=4, seed=1), _history(n=6, seed=2)
    a = s.save({"history": h1}, name="a", meta=_meta(depth=2, lr=0.01))
    b = s.save({"history": h2}, name="b", meta=_meta(depth=3, lr=0.02))
    text = s.export_csv([a, b])
    df = pd.read_csv(io.StringIO(text))
    assert len(df) == len(h1) + len(h2)
    assert list(df.columns[:3]) == ["run_id", "kind", "name"]
    for col in ("depth", "lr", "singular_values", "target_kind", *h1.columns):
        assert col in df.columns, col
    assert (df.groupby("run_id").size().to_dict()) == {a: 4, b: 6}
    assert set(df.loc[df.run_id == b, "depth"]) == {3}
    assert df.loc[df.run_id == a, "lr"].tolist() == [0.01] * 4
    np.testing.assert_allclose(df.loc[df.run_id == b, "loss"].to_numpy(), h2["loss"].to_numpy(), rtol=1e-15)
    assert np.array_equal(df.loc[df.run_id == a, "step"].to_numpy(), h1["step"].to_numpy())


def test_table_of_given_entries_is_the_list_frame_and_export_stored_is_export_frame(home):
    s = RunStore()
    a = s.save_frames({"history": _history(3)}, {**_meta(depth=2), "name": "a"})
    b = s.save_frames({"history": _history(5, seed=1)}, {**_meta(depth=3, lr=0.02), "name": "b"})
    entries = s.entries()
    listed = s.list()
    pd.testing.assert_frame_equal(RunStore.table(entries), listed)
    assert list(listed["run_id"]) == [b, a] and listed.attrs["problems"] == []
    assert RunStore.table([]).empty
    runs = [s.load(rid, frames=["history"]) for rid in (a, b)]
    pd.testing.assert_frame_equal(store_mod.export_stored(runs), s.export_frame([a, b]))


def test_atomic_write_bytes_crash_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "history.csv"
    store_mod.atomic_write_bytes(target, b"step,loss\n0,1.0\n")
    assert target.read_bytes() == b"step,loss\n0,1.0\n"

    def crash(src, dst):
        raise KeyboardInterrupt  # interrupted between writing the temp file and the rename

    monkeypatch.setattr(store_mod.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        store_mod.atomic_write_bytes(target, b"step,loss\n0,2.0\n1,")
    assert target.read_bytes() == b"step,loss\n0,1.0\n"  # old complete file untouched
    assert [p.name for p in tmp_path.iterdir()] == ["history.csv"]  # no temp file left behind


def test_atomic_write_csv_round_trips_floats_without_an_index(tmp_path):
    frame = pd.DataFrame({"step": [0, 10], "loss": [1 / 3, 2.0e-17]})
    target = tmp_path / "out.csv"
    store_mod.atomic_write_csv(target, frame)
    back = pd.read_csv(target)
    assert list(back.columns) == ["step", "loss"]  # no index column
    assert back["loss"].tolist() == frame["loss"].tolist()  # exact: full float precision
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_real_run_result_round_trip(home):
    """A real engine run: every frame, the config and the final weights come back identical."""
    from dln_core.config import RunConfig
    from dln_core.engine import run
    from dln_core.frames import export_frame
    from dln_core.result import FRAME_NAMES

    cfg = RunConfig.make(
        depth=3,
        singular_values="3,1",
        target_kind="spectrum",
        init_scale=0.1,
        lr=0.05,
        steps=200,
        record=50,
        device="cpu",
    )
    result = run(cfg)
    s = RunStore()
    rid = s.save(result, name="real")
    back = s.load(rid)
    for name in FRAME_NAMES:
        pd.testing.assert_frame_equal(back.frame(name), getattr(result, name), obj=name)
    assert back.config() == cfg
    assert len(back.weights) == 3
    for w_back, w in zip(back.weights, result.weights):
        np.testing.assert_array_equal(w_back, w)
    assert back.summary["halfway_step"] == list(result.summary["halfway_step"])
    # the store's export has the library export's columns and values (plus kind, name)
    ours = s.export_frame([rid])
    lib = export_frame([(rid, result)])
    assert list(ours.drop(columns=["kind", "name"]).columns) == list(lib.columns)
    assert len(ours) == len(result.history) == 5
    np.testing.assert_allclose(ours["loss"], lib["loss"], rtol=0, atol=0)


def test_run_deleted_by_another_process_during_list_or_load(home, monkeypatch):
    """A concurrent delete is not corruption: the run just disappears, with no problem reported."""
    s = RunStore()
    keep = s.save({"history": _history()}, meta=_meta())
    gone = s.save({"history": _history()}, meta=_meta())
    real = RunStore._read_meta

    def read_after_concurrent_delete(self, path, verify=False):
        if path.name == gone and path.exists():
            RunStore(home).delete(gone)
        return real(self, path, verify)

    monkeypatch.setattr(RunStore, "_read_meta", read_after_concurrent_delete)
    assert list(s.list()["run_id"]) == [keep] and s.problems == []
    other = s.save({"history": _history()}, meta=_meta())
    gone = other
    with pytest.raises(RunNotFoundError):
        s.load(other)


def test_atomic_write_bytes_gives_the_umask_mode_and_keeps_an_existing_files_mode(tmp_path):
    """mkstemp creates 0600 files; a CSV written by the CLI must get the ordinary 0666 & ~umask mode."""
    old = os.umask(0o022)
    try:
        new = tmp_path / "new.csv"
        store_mod.atomic_write_bytes(new, b"a\n1\n")
        assert new.stat().st_mode & 0o777 == 0o644
        os.umask(0o027)
        store_mod.atomic_write_bytes(tmp_path / "grp.csv", b"a\n")
        assert (tmp_path / "grp.csv").stat().st_mode & 0o777 == 0o640
        existing = tmp_path / "shared.csv"
        existing.write_bytes(b"old\n")
        existing.chmod(0o664)  # a group-writable file stays group-writable when replaced
        store_mod.atomic_write_bytes(existing, b"new\n")
        assert existing.stat().st_mode & 0o777 == 0o664 and existing.read_bytes() == b"new\n"
    finally:
        os.umask(old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grp.csv", "new.csv", "shared.csv"]


def test_probe_and_check_writable_fail_before_any_work(tmp_path):
    store_mod.probe_writable(tmp_path)
    assert list(tmp_path.iterdir()) == []  # the probe file is removed again
    with pytest.raises(FileNotFoundError):
        store_mod.probe_writable(tmp_path / "missing")
    RunStore(tmp_path / "lab").check_writable()
    assert (tmp_path / "lab" / "runs").is_dir() and list((tmp_path / "lab" / "runs").iterdir()) == []
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OSError):
        RunStore(tmp_path / "file").check_writable()

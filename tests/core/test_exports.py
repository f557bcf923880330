"""Tidy and wide exports of stored runs (dln_core/exports.py), read back by pandas and DuckDB."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest

from dln_core import engine, exports
from dln_core.config import RunConfig
from dln_core.errors import ConfigError
from dln_core.store import RunStore


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """Two small train runs of different depth (different mode counts would also share the table)."""
    store = RunStore(tmp_path_factory.mktemp("home"))
    results = [engine.run(RunConfig.make(depth=d, init_scale=1e-3, lr=0.04, steps=300, target_kind="spectrum",
                                         singular_values=sv)) for d, sv in ((2, "3, 1"), (3, "4, 2, 1"))]
    ids = [store.save(r, kind="train", name=f"run{k}") for k, r in enumerate(results)]
    return store, ids, results


def test_split_metric_names():
    assert exports.split_metric("mode_3") == ("mode", 3)
    assert exports.split_metric("theory_gd_12") == ("theory_gd", 12)
    assert exports.split_metric("theory_gd_sv_2") == ("theory_gd_sv", 2)
    assert exports.split_metric("loss") == ("loss", None)
    assert exports.split_metric("update_eff_rank") == ("update_eff_rank", None)


def test_long_layout_holds_every_history_value(stored):
    store, ids, results = stored
    runs = [store.load(i) for i in ids]
    long = exports.history_table(runs, "long")
    assert tuple(long.columns) == exports.LONG_COLUMNS
    for rid, res in zip(ids, results):
        h = res.history
        part = long[long["run_id"] == rid]
        assert len(part) == len(h) * (len(h.columns) - 2)  # every cell but step and t
        # pivoting back gives the stored history exactly (bit for bit: no rounding on the way)
        r = len([c for c in h.columns if c.startswith("mode_")])
        for i in (1, r):
            got = part[(part["metric"] == "mode") & (part["index"] == i)].sort_values("step")
            np.testing.assert_array_equal(got["value"].to_numpy(), h[f"mode_{i}"].to_numpy())
            np.testing.assert_array_equal(got["t"].to_numpy(), h["t"].to_numpy())
        loss = part[part["metric"] == "loss"]
        assert loss["index"].isna().all()
        np.testing.assert_array_equal(loss["value"].to_numpy(), h["loss"].to_numpy())


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_written_tables_load_in_pandas_and_duckdb(stored, tmp_path, fmt):
    store, ids, results = stored
    runs = [store.load(i) for i in ids]
    info = exports.write_export(runs, tmp_path / "out", fmt, "long")
    assert info["history"].endswith(f"out.{fmt}") and info["runs"].endswith(f"out.runs.{fmt}")
    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    long = read(info["history"])
    assert list(long.columns) == list(exports.LONG_COLUMNS)
    source = f"read_csv_auto('{info['history']}')" if fmt == "csv" else f"'{info['history']}'"
    con = duckdb.connect()  # in-memory database reading the exported file
    rows = con.execute(f"SELECT run_id, max(value) AS u FROM {source} WHERE metric = 'mode' AND \"index\" = 1 "
                      "GROUP BY run_id ORDER BY run_id").fetchall()
    expect = sorted((rid, float(res.history["mode_1"].max())) for rid, res in zip(ids, results))
    assert [r[0] for r in rows] == [e[0] for e in expect]
    np.testing.assert_allclose([r[1] for r in rows], [e[1] for e in expect], rtol=1e-15)
    # the runs table: one row per run with config, summary and provenance
    table = read(info["runs"])
    assert list(table["run_id"]) == ids
    assert list(table["config.depth"]) == [2, 3]
    np.testing.assert_allclose(table["summary.final_loss"], [r.summary["final_loss"] for r in results], rtol=1e-15)
    assert set(table["provenance.backend"]) == {"numpy"} and set(table["provenance.dtype"]) == {"float64"}
    db = con.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0]
    assert db == len(long)


def test_wide_layout_is_the_csv_export_with_mixed_kinds_in_parquet(stored, tmp_path):
    store, ids, _ = stored
    # an embedding-like entry whose config lr is text ("auto") next to numeric train lrs
    frames = {"history": pd.DataFrame({"step": [0, 1], "t": [0.0, 0.1], "loss": [2.0, 1.0], "sv_1": [0.0, 0.5]})}
    other = store.save_frames(frames, {"config": {"lr": "auto", "vocab": 100}, "summary": {"final_loss": 1.0}},
                              kind="embed")
    runs = [store.load(i) for i in [*ids, other]]
    info = exports.write_export(runs, tmp_path / "wide.parquet", "parquet", "wide")
    wide = pd.read_parquet(info["history"])
    assert wide["run_id"].nunique() == 3 and {"step", "t", "loss", "mode_1", "depth"} <= set(wide.columns)
    assert sorted(set(wide["lr"].astype(str))) == ["0.04", "auto"]
    table = pd.read_parquet(info["runs"])
    assert table.loc[table["run_id"] == other, "config.lr"].item() == "auto"
    store.delete(other)


def test_lists_in_meta_become_json_text():
    table = exports.runs_table([{"run_id": "a", "kind": "sweep", "name": None, "created": "2026-01-01",
                                 "spec": {"depths": [2, 3]}, "frames": {"summary": {}}}])
    assert json.loads(table["spec.depths"].item()) == [2, 3]
    assert "frames.summary" not in table.columns  # file bookkeeping is not exported


def test_bad_format_and_layout_name_the_allowed_values(stored, tmp_path):
    store, ids, _ = stored
    runs = [store.load(ids[0])]
    with pytest.raises(ConfigError, match="format: must be one of csv, parquet"):
        exports.write_export(runs, tmp_path / "x", "xlsx", "long")
    with pytest.raises(ConfigError, match="layout: must be one of wide, long"):
        exports.write_export(runs, tmp_path / "x", "csv", "tall")
    assert list(tmp_path.iterdir()) == []

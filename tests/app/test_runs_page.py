"""Runs page: AppTest (empty store, saved runs listed, overlay of two, delete, CSV) and unit tests of
the runs chart builders (dln_core.charts.runs) on synthetic frames."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from dln_core.charts import runs as charts
from tests.app.markdown_text import shown

APP = Path(__file__).resolve().parents[2] / "app.py"


# ------------------------------------------------------------------ chart builders (pure)
def _history(scale: float) -> pd.DataFrame:
    k = np.array([0, 1, 10, 100])
    return pd.DataFrame({"step": k, "t": 0.01 * k, "loss": scale * np.exp(-k / 50),
                         "mode_1": 6 * (1 - np.exp(-k / 20)), "mode_2": 4 * (1 - np.exp(-k / 60))})


def test_runs_table_merges_saved_and_session_rows():
    saved = pd.DataFrame({"run_id": ["r1", "s1"], "kind": ["train", "sweep"], "name": ["a", "b"],
                          "depth": [2, 3], "lr": [0.01, 0.02], "final_loss": [0.5, 0.1],
                          "diverged": [False, False], "steps_run": [100, 200], "halfway_steps": ["1, 2", ""]})
    row = charts.session_row("mine", {"depth": 4, "lr": 0.03, "target_kind": "article"},
                             {"final_loss": 0.25, "diverged": False, "steps": 50, "halfway_step": [10, None]})
    table = charts.runs_table(saved, [row])
    assert list(table["source"]) == ["saved", "session"]  # the sweep entry is not a train run
    assert list(table["depth"]) == [2, 4]
    assert table.loc[1, "halfway_steps"] == "10, –"
    assert table["final_loss"].tolist() == pytest.approx([0.5, 0.25])
    assert charts.runs_table(None, []).empty


def test_overlay_charts_carry_every_selected_run():
    hist = {"run A": _history(10.0), "run B": _history(20.0)}
    loss = charts.overlay_loss_chart(hist).to_dict()
    rows = next(iter(loss["datasets"].values()))
    assert {r["run"] for r in rows} == {"run A", "run B"}
    assert all(r["step"] > 0 for r in rows)  # step 0 dropped on the log axis
    assert loss["encoding"]["x"]["scale"]["type"] == "log"
    modes = charts.overlay_modes_frame(hist)
    assert len(modes) == 2 * 2 * 4  # runs x modes x snapshots
    b2 = modes[(modes["run"] == "run B") & (modes["mode"] == 2) & (modes["step"] == 100)]["u"].iloc[0]
    assert b2 == pytest.approx(4 * (1 - np.exp(-100 / 60)), rel=1e-12)
    assert charts.mode_columns(pd.DataFrame(columns=["mode_10", "mode_2", "model", "mode_x"])) == [
        "mode_2", "mode_10"]


# ------------------------------------------------------------------ the page (AppTest)
def _open_runs(timeout: float = 60) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    at.switch_page("pages/runs.py").run()
    return at


def _save_two_runs() -> list[str]:
    from dln_core.config import RunConfig
    from dln_core.engine import run
    from dln_core.store import RunStore

    store = RunStore()
    ids = []
    for depth in (1, 2):
        cfg = RunConfig.make(depth=depth, init_scale=0.1, lr=0.02, steps=300)
        ids.append(store.save(run(cfg), name=f"depth {depth}"))
    return ids


def test_empty_store_shows_friendly_info(home):
    at = _open_runs()
    assert not at.exception
    assert not at.error
    assert any("No runs yet" in i.value for i in at.info)


def test_saved_runs_listed_overlaid_exported_and_deleted(home, downloads):
    ids = _save_two_runs()
    at = _open_runs()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert set(table["run_id"].dropna()) == set(ids)
    assert set(table["name"]) == {"depth 1", "depth 2"}

    captured = downloads
    at.session_state["runs_table_0"] = {"selection": {"rows": [0, 1], "columns": [], "cells": []}}
    at.run()
    assert not at.exception and not at.error
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    assert len(specs) == 2
    # both runs are overlaid: each chart's data names both runs
    for chart in at.get("vega_lite_chart"):
        runs = set()
        for ds in chart.proto.datasets:
            runs |= set(pa.ipc.open_stream(ds.data.data).read_pandas()["run"])
        assert len(runs) == 2

    data = captured["dln_runs.csv"]
    csv = pd.read_csv(io.BytesIO(data if isinstance(data, bytes) else data.encode()))
    assert set(csv["run_id"]) == set(ids)
    from dln_core.store import RunStore

    n_rows = sum(len(RunStore().load(i, frames=["history"]).history) for i in ids)
    assert len(csv) == n_rows

    at.button(key="delete_runs").click().run()
    assert not at.exception
    assert RunStore().list().empty
    assert any("No runs yet" in i.value for i in at.info)


def test_each_rerun_reads_the_store_once_and_each_selected_run_once(home, downloads, monkeypatch):
    """One entries() scan per rerun (the table and the other-entries list share it), one load (and
    checksum) per selected saved run, and the export built from those loads equals export_frame."""
    from dln_core.store import RunStore

    ids = _save_two_runs()
    expected = RunStore().export_frame(ids).assign(source="saved")
    calls = {"entries": 0, "load": []}
    real_entries, real_load = RunStore.entries, RunStore.load

    def entries(self, *args, **kwargs):
        calls["entries"] += 1
        return real_entries(self, *args, **kwargs)

    def load(self, run_id, *args, **kwargs):
        calls["load"].append(run_id)
        return real_load(self, run_id, *args, **kwargs)

    monkeypatch.setattr(RunStore, "entries", entries)
    monkeypatch.setattr(RunStore, "load", load)
    at = _open_runs()
    assert not at.exception and not at.error
    assert calls == {"entries": 1, "load": []}
    calls["entries"] = 0
    at.session_state["runs_table_0"] = {"selection": {"rows": [0, 1], "columns": [], "cells": []}}
    at.run()
    assert not at.exception and not at.error
    assert calls["entries"] == 1 and sorted(calls["load"]) == sorted(ids)
    data = downloads["dln_runs.csv"]
    csv = pd.read_csv(io.BytesIO(data if isinstance(data, bytes) else data.encode()))
    want = pd.read_csv(io.StringIO(expected.to_csv(index=False)))  # the same CSV round trip
    pd.testing.assert_frame_equal(csv.sort_values(["run_id", "step"], ignore_index=True),
                                  want.sort_values(["run_id", "step"], ignore_index=True))


def test_session_run_from_the_explorer_is_listed_and_exported(home, downloads):
    captured = downloads
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.query_params["steps"] = "400"
    at.switch_page("pages/explorer.py").run()
    assert not at.exception and not at.error
    at.switch_page("pages/runs.py").run()
    table = at.dataframe[0].value
    assert list(table["source"]) == ["session"]
    assert "steps=400" in table["name"].iloc[0] and table["steps_run"].iloc[0] == 400

    at.session_state["runs_table_0"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception and not at.error
    data = captured["dln_runs.csv"]
    csv = pd.read_csv(io.BytesIO(data if isinstance(data, bytes) else data.encode()))
    assert csv["step"].max() == 400 and set(csv["source"]) == {"session"}
    assert not at.get("button") or all(b.key != "delete_runs" for b in at.button)  # nothing saved to delete


def test_a_saved_session_run_is_listed_once(home):
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.query_params["steps"] = "300"
    at.switch_page("pages/explorer.py").run()
    at.button(key="save_run").click().run()
    assert not at.exception and not at.error
    at.switch_page("pages/runs.py").run()
    table = at.dataframe[0].value
    assert list(table["source"]) == ["saved"] and table["steps_run"].iloc[0] == 300


# ------------------------------------------------------------------ other saved entries (embed, sweep)
def _embed_frames() -> dict:
    k = np.array([0, 10, 20])
    return {"history": pd.DataFrame({"step": k, "t": 0.5 * k, "loss": [9.0, 4.0, 2.5],
                                     "analogy_accuracy": [0.0, 0.1, 0.25]}),
            "trace": pd.DataFrame({"step": np.arange(21), "loss": np.linspace(9, 2.5, 21)}),
            "modes": pd.DataFrame({"mode": [1, 2], "mu": [5.0, 3.0]})}


def _sweep_summary() -> pd.DataFrame:
    return pd.DataFrame({"member": [0, 0, 1, 1, 2, 2], "depth": [2, 2, 3, 3, 2, 2], "mode": [1, 2] * 3,
                         "halfway_step": [10, 30, 12, 35, 11, 31]})


def _save_others() -> tuple[str, str]:
    """An embed entry and a sweep entry, saved the way the embeddings page and the sweep CLI save them."""
    from dln_core.store import RunStore

    store = RunStore()
    embed = store.save_frames(_embed_frames(), {"config": {"vocab": 700, "dim": 20, "lr": "auto"}, "name": "emb A",
                                                "summary": {"analogy_accuracy": 0.25, "final_loss": 2.5}},
                              kind="embed")
    sweep = store.save_frames({"summary": _sweep_summary()},
                              {"spec": {"depths": [2, 3]}, "wall_time_s": 0.5}, kind="sweep")
    return embed, sweep




def _read_csv(data) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data if isinstance(data, bytes) else data.encode()))


def _select(at: AppTest, key: str, rows: list[int]) -> None:
    at.session_state[key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    at.run()


def test_other_runs_table_and_export_builders():
    entries = [
        {"run_id": "t1", "kind": "train", "created": "2026-01-01T00:00:00+00:00", "frames": {"history": {}}},
        {"run_id": "e1", "kind": "embed", "name": "emb", "created": "2026-01-02T00:00:00+00:00",
         "config": {"vocab": 700, "dim": 20}, "summary": {"analogy_accuracy": 0.25, "final_loss": 2.5},
         "frames": {"history": {}, "trace": {}, "modes": {}}},
        {"run_id": "s1", "kind": "sweep", "created": "2026-01-03T00:00:00+00:00",
         "frames": {"theory": {}, "summary": {}}},
        {"run_id": "s2", "kind": "sweep", "name": "sweep: stability", "created": "2026-01-03T00:00:00+00:00",
         "frames": {"errors": {}}},
    ]
    stats = {"s1": charts.frame_stats(_sweep_summary())}
    table = charts.other_runs_table(entries, stats)
    assert list(table.columns) == list(charts.OTHER_COLUMNS)
    assert list(table["run_id"]) == ["e1", "s1", "s2"]  # the train run belongs to the first table
    e = table.iloc[0]
    assert (e["kind"], e["vocab"], e["dim"]) == ("embed", 700, 20)
    assert e["analogy_accuracy"] == pytest.approx(0.25) and e["final_loss"] == pytest.approx(2.5)
    s = table.iloc[1]
    assert (s["rows"], s["members"]) == (6, 3) and pd.isna(s["vocab"])
    assert pd.isna(table.iloc[2]["rows"])  # not read: left empty
    assert str(table["created"].dtype).startswith("datetime64")
    assert charts.other_runs_table([]).empty
    assert [charts.main_frame_name(m) for m in entries[1:]] == ["history", "summary", "errors"]
    assert charts.main_frame_name({"kind": "sweep", "frames": {}}) is None

    tagged = charts.tag_frame(pd.DataFrame({"name": ["x"], "v": [1]}), "s1", "sweep", None)
    assert list(tagged.columns) == ["run_id", "kind", "name", "frame_name", "v"]
    both = charts.other_export([tagged, charts.tag_frame(_sweep_summary(), "s2", "sweep", "b")])
    assert len(both) == 7 and list(both["run_id"]) == ["s1"] + ["s2"] * 6
    assert list(charts.other_export([]).columns) == ["run_id", "kind", "name"]


def test_embed_and_sweep_entries_listed_exported_and_deleted(home, downloads):
    ids = _save_two_runs()
    embed, sweep = _save_others()
    captured = downloads
    at = _open_runs()
    assert not at.exception and not at.error
    assert any(s.value == "Other saved runs" for s in at.subheader)
    assert set(at.dataframe[0].value["run_id"]) == set(ids)  # train runs listed as before, nothing else
    other = at.dataframe[1].value
    assert set(other["run_id"]) == {embed, sweep}
    e = other.set_index("run_id").loc[embed]
    assert (e["kind"], e["name"], e["vocab"], e["dim"]) == ("embed", "emb A", 700, 20)
    assert e["analogy_accuracy"] == pytest.approx(0.25) and e["final_loss"] == pytest.approx(2.5)
    s = other.set_index("run_id").loc[sweep]
    assert (s["kind"], s["rows"], s["members"]) == ("sweep", 6, 3)
    assert "dln_other_runs.csv" not in captured  # nothing selected, nothing to download

    pos = {rid: i for i, rid in enumerate(other["run_id"])}
    _select(at, "other_runs_table_0", [pos[sweep]])
    assert not at.exception and not at.error
    csv = _read_csv(captured.pop("dln_other_runs.csv"))
    assert len(csv) == 6 and set(csv["run_id"]) == {sweep} and set(csv["kind"]) == {"sweep"}
    assert list(csv["halfway_step"]) == list(_sweep_summary()["halfway_step"])

    _select(at, "other_runs_table_0", [pos[embed], pos[sweep]])
    csv = _read_csv(captured.pop("dln_other_runs.csv"))
    assert len(csv) == 3 + 6 and list(csv.columns[:3]) == ["run_id", "kind", "name"]
    emb_rows = csv[csv["run_id"] == embed]
    assert set(emb_rows["name"]) == {"emb A"} and list(emb_rows["loss"]) == [9.0, 4.0, 2.5]

    _select(at, "other_runs_table_0", [pos[embed]])
    at.button(key="delete_other_runs").click().run()
    assert not at.exception and not at.error
    from dln_core.store import RunStore

    left = RunStore().list()
    assert set(left["run_id"]) == {*ids, sweep}
    assert list(at.dataframe[1].value["run_id"]) == [sweep]  # fresh table, the embed row is gone
    assert set(at.dataframe[0].value["run_id"]) == set(ids)

    _select(at, "other_runs_table_1", [0])
    at.button(key="delete_other_runs").click().run()
    assert not at.exception
    assert set(RunStore().list()["run_id"]) == set(ids)
    assert len(at.dataframe) == 1 and not any(s.value == "Other saved runs" for s in at.subheader)


def test_only_other_entries_and_a_damaged_sweep_keep_the_page_usable(home, downloads):
    embed, sweep = _save_others()
    from dln_core.store import RunStore

    path = RunStore().root / sweep / "summary.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, parquet magic intact: listed, but fails its checksum
    path.write_bytes(bytes(data))
    captured = downloads
    at = _open_runs()
    assert not at.exception and not at.error
    assert not any("No runs yet" in i.value for i in at.info)
    assert any("No DLN training runs yet" in i.value for i in at.info)
    assert any(sweep in shown(w.value) for w in at.warning)
    other = at.dataframe[0].value
    assert set(other["run_id"]) == {embed, sweep}
    assert pd.isna(other.set_index("run_id").loc[sweep, "rows"])

    pos = {rid: i for i, rid in enumerate(other["run_id"])}
    _select(at, "other_runs_table_0", [pos[embed], pos[sweep]])
    assert not at.exception and not at.error
    csv = _read_csv(captured["dln_other_runs.csv"])
    assert set(csv["run_id"]) == {embed} and len(csv) == 3  # the damaged one is skipped, with a warning
    assert any(sweep in shown(w.value) for w in at.warning)


def test_an_ill_typed_meta_does_not_hide_the_healthy_runs(home):
    """A valid-JSON meta with a wrong type ("created": "yesterday") is reported; the others stay listed."""
    ids = _save_two_runs()
    from dln_core.store import RunStore

    meta_path = RunStore().root / ids[0] / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["created"] = "yesterday"
    meta_path.write_text(json.dumps(meta))
    at = _open_runs()
    assert not at.exception and not at.error
    assert not any("No runs yet" in i.value for i in at.info)
    assert list(at.dataframe[0].value["run_id"].dropna()) == [ids[1]]
    assert any(ids[0] in shown(w.value) for w in at.warning)


def test_a_runs_file_is_an_error_box_not_an_empty_list(home):
    (home / "runs").write_text("oops")
    at = _open_runs()
    assert not at.exception
    assert any("not a folder" in shown(e.value) for e in at.error), [e.value for e in at.error]

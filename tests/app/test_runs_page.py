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
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from dln_core.charts import runs as charts

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
@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DLN_LAB_HOME", str(tmp_path))
    return tmp_path


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


def test_saved_runs_listed_overlaid_exported_and_deleted(home, monkeypatch):
    ids = _save_two_runs()
    at = _open_runs()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert set(table["run_id"].dropna()) == set(ids)
    assert set(table["name"]) == {"depth 1", "depth 2"}

    captured = {}
    original = MediaFileManager.add

    def add(self, data, mimetype, coordinates, file_name=None, is_for_static_download=False):
        captured[file_name] = data
        return original(self, data, mimetype, coordinates, file_name, is_for_static_download)

    monkeypatch.setattr(MediaFileManager, "add", add)
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


def test_session_run_from_the_explorer_is_listed_and_exported(home, monkeypatch):
    captured = {}
    original = MediaFileManager.add

    def add(self, data, mimetype, coordinates, file_name=None, is_for_static_download=False):
        captured[file_name] = data
        return original(self, data, mimetype, coordinates, file_name, is_for_static_download)

    monkeypatch.setattr(MediaFileManager, "add", add)
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

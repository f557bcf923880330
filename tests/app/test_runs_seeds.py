"""Runs page (AppTest): selected saved runs that differ only in seed are shown as mean ± 95 % bands
with a per-mode halfway table; runs that differ in anything else are not grouped."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
from streamlit.testing.v1 import AppTest

from dln_core import seeds

APP = Path(__file__).resolve().parents[2] / "app.py"


def test_seed_group_bands_and_halfway_table(home):
    from dln_core.config import RunConfig
    from dln_core.engine import run
    from dln_core.store import RunStore

    store = RunStore()
    results = []
    for seed in (0, 1, 2):
        cfg = RunConfig.make(depth=2, init_scheme="gaussian", init_scale=1e-3, lr=0.05, steps=600, seed=seed)
        results.append(run(cfg))
        store.save(results[-1], name=f"seed {seed}")
    store.save(run(RunConfig.make(depth=2, init_scale=1e-3, lr=0.02, steps=600)), name="other lr")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/runs.py").run()
    at.session_state["runs_table_0"] = {"selection": {"rows": [0, 1, 2, 3], "columns": [], "cells": []}}
    at.run()
    assert not at.exception and not at.error
    assert any("Same configuration, different seeds" in m.value for m in at.markdown)
    bands = []
    for c in at.get("vega_lite_chart"):
        for d in c.proto.datasets:
            df = pa.ipc.open_stream(d.data.data).read_pandas()
            if "hi" in df.columns:
                bands.append(df)
    assert len(bands) == 1 and (bands[0]["n"] == 3).all()  # one group: the three seeds, not "other lr"
    table = next(d.value for d in at.dataframe if "± 95 % interval" in d.value.columns)
    h1 = [r.summary.halfway_step[0] for r in results]
    assert table.loc[0, "halfway step (mean)"] == np.mean(h1)
    assert math.isclose(table.loc[0, "± 95 % interval"], seeds.t_interval(h1)[1], rel_tol=1e-12)

"""RunSummary (typed, to_dict/from_dict, reads like a mapping) and the Run protocol of live and stored runs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dln_core.config import RunConfig
from dln_core.engine import run
from dln_core.frames import export_frame
from dln_core.result import FRAME_NAMES, Run, RunSummary
from dln_core.store import RunStore


@pytest.fixture(scope="module")
def result():
    return run(RunConfig.make(depth=2, init_scale=0.01, lr=0.05, steps=300, device="cpu"))


def test_summary_round_trips_and_reads_like_the_old_dict(result):
    s = result.summary
    assert isinstance(s, RunSummary)
    d = s.to_dict()
    assert RunSummary.from_dict(d) == s == d  # mapping equality with its own dict
    assert s["final_loss"] == s.final_loss and s.get("nope") is None
    assert "auto_reached" not in d  # only for steps="auto"
    auto = run(RunConfig.make(depth=2, init_scale=0.1, lr=0.05, device="cpu")).summary
    assert auto.auto and "auto_reached" in auto.to_dict()
    json.dumps(d)  # plain JSON types
    with pytest.raises(KeyError):
        RunSummary.from_dict({"final_loss": 1.0})
    assert s.replace(converged=False).converged is False and s.converged is True


def test_live_and_stored_runs_are_both_runs_and_export_alike(result, tmp_path, monkeypatch):
    monkeypatch.setenv("DLN_LAB_HOME", str(tmp_path))
    store = RunStore()
    back = store.load(store.save(result))
    for r in (result, back):
        assert isinstance(r, Run)
        assert set(FRAME_NAMES) <= set(r.frames)
    assert back.summary == result.summary.to_dict()
    pd.testing.assert_frame_equal(export_frame([("x", back)]), export_frame([("x", result)]))

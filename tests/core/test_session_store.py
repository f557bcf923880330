"""Private run stores for the hosted profile (dln_core/session_store.py): one store per session token,
isolated from the others, with a count and byte quota that never leaves a half entry behind."""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest

from dln_core.session_store import Quota, QuotaExceededError, prune_sessions, session_folder, session_store
from dln_core.store import RunNotFoundError, RunStore

BIG = Quota(max_runs=100, max_bytes=1e9)


def frames(rows: int = 10) -> dict:
    return {"history": pd.DataFrame({"step": np.arange(rows), "loss": np.linspace(1, 0, rows)})}


def test_two_sessions_cannot_see_or_delete_each_others_runs(tmp_path):
    a = session_store(tmp_path, "token-of-visitor-a-0123456789", BIG)
    b = session_store(tmp_path, "token-of-visitor-b-0123456789", BIG)
    rid = a.save_frames(frames(), {"name": "a's run"})
    assert list(a.list()["run_id"]) == [rid]
    assert b.list().empty  # B lists nothing
    with pytest.raises(RunNotFoundError):
        b.load(rid)
    with pytest.raises(RunNotFoundError):
        b.delete(rid)
    assert list(a.list()["run_id"]) == [rid]  # still there for A
    assert RunStore(tmp_path).list().empty  # and not in the shared (local) store either
    assert "token-of-visitor-a" not in str(session_folder(tmp_path, "token-of-visitor-a-0123456789"))


def test_the_run_count_quota(tmp_path):
    s = session_store(tmp_path, "x" * 24, Quota(max_runs=2, max_bytes=1e9))
    s.save_frames(frames())
    s.save_frames(frames())
    with pytest.raises(QuotaExceededError, match="at most 2 saved runs"):
        s.save_frames(frames())
    assert len(s.list()) == 2


def test_the_byte_quota_refuses_before_writing_and_leaves_nothing_behind(tmp_path):
    s = session_store(tmp_path, "y" * 24, Quota(max_runs=100, max_bytes=200_000))
    s.save_frames(frames(100))
    with pytest.raises(QuotaExceededError, match=r"at most 0\.2 MB"):
        s.save_frames(frames(100_000))  # 1.6 MB in memory
    assert len(s.list()) == 1 and not s.problems
    assert [p.name for p in s.root.iterdir() if p.name.startswith(".")] == []


def test_an_entry_that_breaks_the_quota_once_written_is_taken_back(tmp_path, monkeypatch):
    s = session_store(tmp_path, "z" * 24, Quota(max_runs=100, max_bytes=5_000))
    monkeypatch.setattr(pd.DataFrame, "memory_usage", lambda self, index=True: pd.Series([1]))  # fool the pre-check
    with pytest.raises(QuotaExceededError):
        s.save_frames(frames(2_000))
    assert s.list().empty


def test_stale_session_stores_are_pruned(tmp_path):
    old = session_store(tmp_path, "o" * 24, BIG)
    old.save_frames(frames())
    new = session_store(tmp_path, "n" * 24, BIG)
    new.save_frames(frames())
    past = time.time() - 3 * 24 * 3600
    for p in [old.home, old.root, *old.root.iterdir()]:
        os.utime(p, (past, past))
    assert prune_sessions(tmp_path) == 1
    assert not old.home.exists() and len(new.list()) == 1


def test_a_short_token_is_refused(tmp_path):
    with pytest.raises(ValueError):
        session_store(tmp_path, "short", BIG)

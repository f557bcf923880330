"""`python -m dln_core sweep`: JSON line, CSV columns, atomic CSV writes, one-line bad-input errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dln_core import cli_sweep
from dln_core.cli import main

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["sweep", "--depth", "2,3", "--init-scale", "1e-2,1e-1", "--lr", "0.05", "--target", "1,0.5",
         "--steps", "300", "--quiet"]


def test_sweep_prints_one_json_line_and_writes_the_csv(tmp_path, capsys):
    out = tmp_path / "sub" / "sweep.csv"
    assert main([*SMALL, "--csv", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    info = json.loads(lines[0])
    assert info["network_steps"] == 4 * 300  # 2 depths × 2 scales, nothing diverged
    assert info["wall_time_s"] > 0 and info["members"] == 4 and info["batches"] == 2
    frame = pd.read_csv(out)
    assert set(cli_sweep.REQUIRED_CSV_COLUMNS) <= set(frame.columns)
    assert len(frame) == 4 * 2  # one row per (member, mode)
    assert sorted(frame["depth"].unique()) == [2, 3] and sorted(frame["mode"].unique()) == [1, 2]
    assert not frame["diverged"].any()
    assert [p.name for p in out.parent.iterdir()] == ["sweep.csv"]  # no temp file left behind


def test_progress_goes_to_stderr(capsys):
    assert main([a for a in SMALL if a != "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "sweep 100.0%" in captured.err
    assert len(captured.out.strip().splitlines()) == 1


def test_interrupted_csv_write_leaves_no_file(tmp_path, monkeypatch):
    target = tmp_path / "s.csv"

    class Boom(pd.DataFrame):
        def to_csv(self, *a, **k):
            a[0].write("depth,init_scale\n2,")  # half a file, then Ctrl-C
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cli_sweep.write_csv_atomic(Boom({"depth": [2]}), target)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--depth", "0"], "depth"),
        (["--depth", "2,a"], "depth"),
        (["--lr", "-0.1"], "lr"),
        (["--init-scale", ""], "init-scale"),
        (["--target", "nonsense"], "target"),
        (["--target", "missing.csv"], "target"),
        (["--seeds", "0"], "seeds"),
        (["--init", "zeros"], "init_scheme"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, field, capsys):
    assert main(["sweep", *args, "--steps", "10", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and field in err[0]


def test_over_cap_sweep_is_refused_by_the_real_command(tmp_path):
    env = {"DLN_LAB_MAX_BATCH": "3", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "dln_core", "sweep", "--depth", "2,3", "--init-scale", "1e-2,1e-1",
         "--steps", "10", "--csv", str(tmp_path / "x.csv")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "dln_core: error: sweep size: at most 3 on this server (networks per sweep), got 4"
    ]
    assert not (tmp_path / "x.csv").exists()


def test_save_puts_the_sweep_in_the_run_store(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DLN_LAB_HOME", str(tmp_path))
    assert main([*SMALL, "--save"]) == 0
    info = json.loads(capsys.readouterr().out)
    from dln_core.store import RunStore

    stored = RunStore(tmp_path).load(info["run_id"])
    assert stored.kind == "sweep"
    assert len(stored.frame("summary")) == 8

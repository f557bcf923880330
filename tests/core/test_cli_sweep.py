"""`python -m dln_core sweep` (dln_core/cli/sweep.py), in process through ``cli.main(argv)``: JSON
line, CSV columns, atomic CSV writes with the usual file mode, train's target/init options, one-line
bad-input errors naming the flag, checks before training."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from dln_core.cli import main
from dln_core.cli import sweep as cli_sweep

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
    from dln_core import store

    target = tmp_path / "s.csv"

    def interrupted(fd):
        raise KeyboardInterrupt  # Ctrl-C after the bytes went to the temp file, before the rename

    monkeypatch.setattr(store.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.atomic_write_csv(target, pd.DataFrame({"depth": [2]}))  # what --csv writes with
    assert list(tmp_path.iterdir()) == []


def test_csv_gets_the_usual_file_mode_not_0600(tmp_path, capsys):
    old = os.umask(0o022)
    try:
        assert main([*SMALL, "--depth", "2", "--init-scale", "0.1", "--csv", str(tmp_path / "s.csv")]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "s.csv").stat().st_mode & 0o777 == 0o644  # 0666 & ~umask, as any new file


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
        (["--init", "zeros"], "--init: must be one of"),
        (["--every", "0"], "--every: must be"),
        (["--snapshots", "1"], "--snapshots: must be"),
        (["--lr", "0.1,x"], "--lr: must be"),
        (["--steps", "lots"], "--steps: must be a positive integer or 'auto'"),
        (["--input-kind", "odd"], "--input-kind: must be one of"),
        (["--target", "1,0.5", "--input-kind", "commuting"], "--input-eigenvalues: required"),
        (["--target", "1,0.5", "--n-out", "1"], "--target: at most"),
        (["--depth", "3", "--init", "lambda-balanced"], "--init: "),
    ],
)
def test_bad_input_exits_2_with_one_line(args, field, capsys):
    assert main(["sweep", "--depth", "2", "--steps", "10", *args, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and field in err[0], err
    assert "init_scheme" not in err[0] and "n_snapshots" not in err[0]  # internal names never shown


def test_repeated_grid_values_run_once_with_a_note(capsys):
    assert main(["sweep", "--depth", "2,2", "--init-scale", "0.1,1e-1,0.2", "--lr", "0.05",
                 "--target", "1;1.0;2", "--steps", "50", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["members"] == 4  # depth 2 × scales {0.1, 0.2} × spectra {1, 2}
    notes = captured.err.strip().splitlines()
    assert len(notes) == 3 and all("more than once; each value runs once" in n for n in notes)
    assert [n.split()[2] for n in notes] == ["--target", "--depth", "--init-scale"]


def test_train_target_and_init_options_reach_every_member(tmp_path, capsys):
    """Commuting inputs (Σxx eigenvalues), a rectangular spectrum and λ-balanced init, as in train."""
    csv = tmp_path / "s.csv"
    assert main(["sweep", "--depth", "2", "--init-scale", "0.1", "--lr", "0.02", "--target", "2,1",
                 "--n-out", "3", "--n-in", "2", "--input-kind", "commuting", "--input-eigenvalues", "2,0.5",
                 "--init", "lambda-balanced", "--lambda-b", "0.5", "--width", "2", "--steps", "400",
                 "--quiet", "--csv", str(csv)]) == 0
    frame = pd.read_csv(csv)
    assert frame["input_kind"].unique().tolist() == ["commuting"]
    assert frame["input_variance"].tolist() == [2.0, 0.5]
    assert frame["init_scheme"].unique().tolist() == ["lambda-balanced"] and frame["width"].tolist() == [2, 2]


def test_steps_auto_gives_each_network_its_own_length(capsys):
    assert main(["sweep", "--depth", "2", "--init-scale", "0.3,1e-4", "--lr", "0.01", "--target", "1",
                 "--steps", "auto", "--quiet"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["members"] == 2 and info["batches"] == 2  # auto networks run one by one
    # train's auto length of each network: max(4T, 500), T = first multiple of 100 with loss < 0.05.
    # L = 2 logistic (THEORY §2): u > 0.684 at t = ln((1/u0 − 1)/0.462)/2: u0 = 0.09 → t = 1.54, 154
    # steps, T = 200 → 800; u0 = 1e-8 → t = 9.6, 960 steps, T = 1000 → 4000. One shared batch would
    # give both networks 4000.
    assert info["network_steps"] == 800 + 4000


def test_snapshot_budget_is_refused_before_training(monkeypatch, capsys):
    monkeypatch.setenv("DLN_LAB_MAX_SWEEP_SNAPSHOTS", "100")
    monkeypatch.setattr("dln_core.engine.run_batch", _no_training)
    assert main([*SMALL, "--snapshots", "30"]) == 2  # 4 networks × 30 log-spaced snapshots
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["dln_core: error: sweep snapshots: at most 100 on this server (networks × snapshots), got 120"]


def _no_training(*args, **kwargs):
    raise AssertionError("trained before checking the outputs")


def test_unwritable_outputs_fail_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("dln_core.engine.run_batch", _no_training)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert main([*SMALL, "--csv", str(blocker / "s.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dln_core: error: --csv: its directory must")

    from dln_core import store

    def read_only(directory):
        raise PermissionError(13, "Permission denied")  # root ignores chmod, so simulate the disk

    monkeypatch.setattr(store, "probe_writable", read_only)
    assert main([*SMALL, "--csv", str(tmp_path / "s.csv")]) == 2
    assert "--csv: its directory must be writable (Permission denied)" in capsys.readouterr().err
    monkeypatch.undo()
    monkeypatch.setattr("dln_core.engine.run_batch", _no_training)
    monkeypatch.setenv("DLN_LAB_HOME", str(blocker))  # the store's home is a file: it cannot open
    assert main([*SMALL, "--save"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dln_core: error: --save: the run store must be writable")
    assert list(tmp_path.iterdir()) == [blocker]


def test_over_cap_sweep_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DLN_LAB_MAX_BATCH", "3")
    monkeypatch.delenv("DLN_LAB_PROFILE", raising=False)
    assert main(["sweep", "--depth", "2,3", "--init-scale", "1e-2,1e-1", "--steps", "10",
                 "--csv", str(tmp_path / "x.csv")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
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

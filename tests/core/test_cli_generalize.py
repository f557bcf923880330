"""``python -m dln_core generalize``: the JSON keys, the history CSV columns, and bad flags (exit 2, one line,
before pandas, torch or the engine load)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dln_core import cli

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("dln_core.engine", "dln_core.generalize", "pandas", "torch", "scipy")
KEYS = ("best_step", "best_step_theory", "test_loss_min", "test_loss_min_theory", "final_test_loss",
        "final_test_loss_theory")


def test_json_keys_and_csv_columns(tmp_path, capsys):
    csv = tmp_path / "gen.csv"
    code = cli.main(["generalize", "--n-in", "12", "--n-out", "8", "--rank", "2", "--singular-values", "3,1.5",
                     "--samples", "30", "--noise", "0.8", "--depth", "2", "--width", "12", "--init-scale", "1e-3",
                     "--lr", "0.05", "--steps", "auto", "--seed", "5", "--csv", str(csv)])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert set(KEYS) <= set(out)
    assert all(isinstance(out[k], (int, float)) for k in KEYS)
    assert out["best_step"] == out["best_step_theory"]  # aligned start: the exact level is GD
    assert abs(out["test_loss_min"] / out["test_loss_min_theory"] - 1) < 1e-9
    assert out["config"]["n_in"] == 12 and out["config"]["singular_values"] == [3.0, 1.5]
    frame = pd.read_csv(csv)
    assert list(frame.columns[:5]) == ["step", "t", "train_loss", "test_loss", "test_loss_theory"]
    assert {"mode_1", "mode_theory_8", "teacher_2", "teacher_theory_2", "noise_learned"} <= set(frame.columns)
    assert frame["step"].iloc[-1] == out["steps"]
    assert abs(frame["test_loss"].min() - out["test_loss_min"]) <= 1e-9 * out["test_loss_min"] or \
        frame["test_loss"].min() >= out["test_loss_min"]  # the best step is refined between snapshots


def test_raw_inputs_print_null_theory(capsys):
    assert cli.main(["generalize", "--inputs", "gaussian", "--samples", "60", "--steps", "200"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["best_step_theory"] is None and out["final_test_loss_theory"] is None
    assert "raw Gaussian" in out["theory_reason"] and out["best_step"] is not None


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--noise", "-1"], "--noise"),
        (["--samples", "5"], "--samples"),
        (["--rank", "2"], None),  # a rank alone is fine (default values cut to it): checked separately
        (["--singular-values", "3,x"], "--singular-values"),
        (["--steps", "soon"], "--steps"),
        (["--init", "orthogonal"], "--init"),
        (["--bogus"], "--bogus"),
        (["--depth", "x"], "--depth"),
    ],
)
def test_bad_flags_exit_2_with_one_line_before_anything_heavy_loads(tmp_path, argv, named):
    if named is None:
        assert cli.main(["generalize", *argv, "--steps", "50"]) == 0
        return
    env = dict(os.environ, DLN_LAB_HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "dln_core", "generalize", *argv], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    imported = {m.group(1) for m in re.finditer(r"^import time:.*\| +(\S+)$", proc.stderr, re.M)}
    assert "dln_core.cli.generalize" in imported  # it did measure
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]
    assert proc.returncode == 2 and len(lines) == 1 and named in lines[0], lines
    assert proc.stdout == ""

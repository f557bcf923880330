"""``train --sharpness`` (dln_core/cli/train.py, THEORY §10.1): JSON keys, cost on stderr, CSV columns, off path."""

from __future__ import annotations

import json

import pandas as pd
import pytest

ARGS = ["--target", "article", "--depth", "2", "--init-scale", "1e-3", "--lr", "0.04", "--steps", "1500"]


def test_sharpness_flag_reports_curvature_and_cost(tmp_path, cli_train):
    code, out, err = cli_train([*ARGS, "--sharpness", "--csv", str(tmp_path / "h.csv")], tmp_path)
    assert code == 0
    j = json.loads(out)
    assert abs(j["sharpness_final"] - 12.0) < 1e-6 * 12 and j["sharpness_balanced"] == pytest.approx(12.0)
    assert abs(j["sharpness_start"] - 6.0) < 1e-2  # L = 2: the origin's saddle curvature λ_1
    assert j["converged"] is True and j["lr_over_cap"] is False and j["two_over_lr"] == pytest.approx(50.0)
    assert j["sharpness_seconds"] > 0 and "Converged below the cap" in j["sharpness_verdict"]
    assert "sharpness took" in err and "ms per snapshot" in err
    csv = pd.read_csv(tmp_path / "h.csv")
    assert {"sharpness", "gauss_newton"} <= set(csv.columns) and csv["sharpness"].notna().all()


def test_without_flag_no_curvature_keys_and_same_csv(tmp_path, cli_train):
    code, out, err = cli_train([*ARGS, "--csv", str(tmp_path / "a.csv")], tmp_path)
    assert code == 0 and "sharpness" not in out and "sharpness" not in err
    _, _, _ = cli_train([*ARGS, "--sharpness", "--csv", str(tmp_path / "b.csv")], tmp_path)
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    pd.testing.assert_frame_equal(a, b[a.columns])  # the flag adds columns, changes none

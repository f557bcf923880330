"""``python -m dln_core train``: JSON summary, history CSV, --save, bad input (dln_core/cli/train.py).

The runs go in process through ``cli.main(argv)`` (stdout/stderr captured, environment patched for
the call); one smoke test runs the real ``python -m dln_core`` entry point in a subprocess. Each run
is small (2000 steps at lr 0.04, t = 80 in gradient-flow time, THEORY §1) so the file stays fast on a
shared machine.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from dln_core import cli
from dln_core.cli import common
from dln_core.cli import train as cli_train
from dln_core.store import RunStore

ROOT = Path(__file__).resolve().parents[2]
ARTICLE = [6.0, 4.0, 3.0, 2.0, 1.0, 0.5]
BASE = [
    "--target",
    "article",
    "--depth",
    "2",
    "--init",
    "near-identity",
    "--init-scale",
    "1e-3",
    "--seed",
    "0",
]
FAST = [*BASE, "--lr", "0.04", "--steps", "2000"]


def train(args: list[str], home: Path, **env) -> SimpleNamespace:
    """``train`` in process: the exit code and what it printed, with DLN_LAB_HOME = ``home`` and
    ``env`` set (and the profile unset) for the call only."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        mp.setenv("DLN_LAB_HOME", str(home))
        mp.delenv("DLN_LAB_PROFILE", raising=False)
        for key, value in env.items():
            mp.setenv(key, value)
        code = cli.main(["train", *args])
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def train_subprocess(args: list[str], home: Path) -> subprocess.CompletedProcess:
    """``train`` through the real entry point, ``python -m dln_core``."""
    env = dict(os.environ, DLN_LAB_HOME=str(home), OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    env.pop("DLN_LAB_PROFILE", None)
    return subprocess.run(
        [sys.executable, "-m", "dln_core", "train", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def article_run(tmp_path_factory):
    """One fast article run with --csv and --save, shared by the tests that read its outputs."""
    tmp = tmp_path_factory.mktemp("cli")
    csv = tmp / "hist.csv"
    proc = train([*FAST, "--every", "100", "--csv", str(csv), "--save", "--name", "art"], tmp / "home")
    assert proc.returncode == 0, proc.stderr
    return {"proc": proc, "out": json.loads(proc.stdout), "csv": csv, "home": tmp / "home", "tmp": tmp}


def test_stdout_is_one_json_object_with_the_summary_keys(article_run):
    proc, out = article_run["proc"], article_run["out"]
    assert len(proc.stdout.strip().splitlines()) == 1
    for key in (
        "halfway_step",
        "halfway_step_theory",
        "final_loss",
        "diverged",
        "steps",
        "diverged_step",
        "wall_time_s",
        "run_id",
        "lr_cap",
        "lr_over_cap",
        "converged",
        "theory_start_step",
    ):
        assert key in out, key
    assert out["steps"] == 2000
    assert out["diverged"] is False and out["diverged_step"] is None
    assert out["wall_time_s"] > 0
    # L = 2, whitened: sharpness at the balanced minimum 2·λ_max = 12 (THEORY §6), cap 2/12 > η = 0.04
    assert out["lr_cap"] == pytest.approx(1 / 6, rel=1e-9) and out["lr_over_cap"] is False
    assert out["converged"] is True


def test_article_depth2_small_init_learns_every_mode_in_order(article_run):
    out = article_run["out"]
    # t = 80 is many time constants past the slowest mode (λ = 0.5, τ½ ≈ ln(0.5/1e-6)/1 ≈ 13)
    assert out["final_loss"] < 1e-6
    half, theory = out["halfway_step"], out["halfway_step_theory"]
    assert len(half) == len(theory) == len(ARTICLE)
    assert None not in half and None not in theory
    # stronger modes first (saddle to saddle, THEORY §5): strictly increasing in mode order
    assert all(a < b for a, b in itertools.pairwise(half)), half
    # Each mode's theory starts after its alignment phase (theory_start_step). With --every 100 the
    # first snapshot after step 0 is past mode 1's halfway step (~36), so mode 1 falls back to the
    # measured u_1(0) (THEORY §2's default) instead of a start after its own crossing.
    assert out["theory_start_step"] == [0] * 6
    # GD halfway step vs gradient-flow theory from the measured u_i(0); finite η (ηλ ≤ 0.24)
    # makes GD slightly slower, hence the loose-but-failing-on-real-bugs 20 % tolerance
    np.testing.assert_allclose(np.asarray(half, float), np.asarray(theory, float), rtol=0.2)
    # the L = 2 closed form, τ½ = ln(λ/u0 − 1)/(2λ), with u0 ≈ init_scale² = 1e-6 (near-identity)
    tau = np.log(np.array(ARTICLE) / 1e-6 - 1) / (2 * np.array(ARTICLE))
    np.testing.assert_allclose(np.asarray(theory, float) * 0.04, tau, rtol=0.15)


def test_csv_has_the_history_columns(article_run):
    df = pd.read_csv(article_run["csv"])
    r = len(ARTICLE)
    needed = [
        "step",
        "t",
        "loss",
        *(f"mode_{i}" for i in range(1, r + 1)),
        *(f"theory_{i}" for i in range(1, r + 1)),
        "alignment",
        "balance_drift",
        "update_eff_rank",
    ]
    missing = [c for c in needed if c not in df.columns]
    assert not missing, missing
    # --every 100 over 2000 steps: 0, 100, ..., 2000
    assert df["step"].tolist() == list(range(0, 2001, 100))
    np.testing.assert_allclose(df["t"], 0.04 * df["step"], rtol=1e-12, atol=1e-12)
    assert df["loss"].iloc[0] == pytest.approx(0.5 * sum(v * v for v in ARTICLE), rel=1e-3)
    assert df["loss"].iloc[-1] == pytest.approx(article_run["out"]["final_loss"], rel=1e-6, abs=1e-12)
    np.testing.assert_allclose(df[[f"mode_{i}" for i in range(1, r + 1)]].iloc[-1], ARTICLE, rtol=1e-3)
    assert not list(article_run["tmp"].glob(".*.part"))  # the atomic write left no temp file


def test_save_prints_id_on_stderr_and_lists_the_run(article_run):
    out, proc = article_run["out"], article_run["proc"]
    assert out["run_id"] in proc.stderr
    store = RunStore(article_run["home"])
    listed = store.list()
    assert listed["run_id"].tolist() == [out["run_id"]]
    row = listed.iloc[0]
    assert row["kind"] == "train" and row["name"] == "art"
    assert row["depth"] == 2 and row["lr"] == pytest.approx(0.04)
    assert row["final_loss"] == pytest.approx(out["final_loss"], rel=1e-9, abs=1e-15)
    run = store.load(out["run_id"])
    csv = pd.read_csv(article_run["csv"])
    np.testing.assert_allclose(run.history["loss"], csv["loss"], rtol=1e-12)
    for name in ("history", "modes", "mode_summary", "alignment"):
        assert len(run.frame(name)) > 0, name
    assert run.summary["halfway_step"] == out["halfway_step"]


def test_spectrum_target_depth3_with_progress_through_the_real_entry_point(tmp_path):
    proc = train_subprocess(
        [
            "--target",
            "3,1",
            "--depth",
            "3",
            "--init-scale",
            "0.1",
            "--lr",
            "0.05",
            "--steps",
            "600",
            "--progress",
        ],
        tmp_path / "home",
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert len(out["halfway_step"]) == 2 and out["steps"] == 600
    assert "run_id" not in out and not (tmp_path / "home").exists()  # no --save: nothing stored
    progress = proc.stderr.strip().splitlines()
    assert progress[-1].startswith("train: 100.0%") and sum("100.0%" in line for line in progress) == 1


def test_divergence_is_reported(tmp_path):
    # η = 0.5 > 1/λ_max = 1/6: unstable at the global minimum (THEORY §6), so GD blows up
    proc = train([*BASE, "--lr", "0.5", "--steps", "2000"], tmp_path / "home")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["diverged"] is True
    assert isinstance(out["diverged_step"], int) and 0 < out["diverged_step"] <= out["steps"] < 2000
    assert None in out["halfway_step"]  # weak modes never got halfway


def test_steps_auto(tmp_path):
    proc = train([*BASE, "--lr", "0.04", "--steps", "auto"], tmp_path / "home")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # auto: run to loss < 0.05 (T, a multiple of 100), then max(4T, 500) steps in all
    assert out["steps"] == 500 or (out["steps"] > 500 and out["steps"] % 400 == 0)
    assert out["final_loss"] < 1e-6 and None not in out["halfway_step"]


@pytest.mark.parametrize(
    "args, field",
    [
        (["--depth", "0"], "depth"),
        (["--depth", "two"], "--depth"),
        (["--lr", "-0.1"], "lr"),
        (["--lr", "nan"], "--lr"),
        (["--target", "6,4,x"], "target"),
        (["--target", "no/such/matrix.csv"], "target"),
        (["--steps", "lots"], "steps"),
        (["--steps", "0"], "steps"),
        (["--csv", "no/such/dir/h.csv"], "csv"),
        (["--bogus-flag"], "bogus"),
    ],
    ids=[
        "depth0",
        "depth-text",
        "lr-neg",
        "lr-nan",
        "target-garbled",
        "target-missing-csv",
        "steps-garbage",
        "steps-zero",
        "csv-missing-dir",
        "unknown-flag",
    ],
)
def test_bad_input_exit_2_one_stderr_line(tmp_path, args, field):
    proc = train(["--steps", "10", *args], tmp_path / "home")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and field in lines[0]
    assert proc.stdout == ""


def test_over_cap_is_refused(tmp_path):
    proc = train(["--steps", "2000"], tmp_path / "home", DLN_LAB_MAX_STEPS="1000")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "steps" in proc.stderr and "1000" in proc.stderr


def test_matrix_csv_target(tmp_path):
    m = tmp_path / "m.csv"
    m.write_text("2,0\n0,1\n")
    proc = train(
        ["--target", str(m), "--depth", "2", "--init-scale", "1e-2", "--lr", "0.1", "--steps", "500"],
        tmp_path / "home",
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["final_loss"] < 1e-6 and len(out["halfway_step"]) == 2


def test_interrupted_run_writes_no_csv(tmp_path, monkeypatch):
    """Ctrl-C during training: exit 130, and neither the CSV, a temp file nor a run appears."""
    import dln_core.engine as engine

    def interrupted(cfg, progress=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "run", interrupted)
    monkeypatch.setenv("DLN_LAB_HOME", str(tmp_path / "home"))
    csv = tmp_path / "h.csv"
    assert cli.main(["train", *FAST, "--csv", str(csv), "--save"]) == 130
    assert list(tmp_path.iterdir()) == [tmp_path / "home"]  # --save opened the store before training
    assert len(RunStore(tmp_path / "home").list()) == 0 and not list((tmp_path / "home").rglob("*.*"))


def test_garbled_matrix_csv_is_one_line_error(tmp_path):
    m = tmp_path / "m.csv"
    m.write_text("2,0\n0,oops\n")
    proc = train(["--target", str(m), "--steps", "10"], tmp_path / "home")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "--target" in lines[0] and "Traceback" not in proc.stderr


def _no_training(*args, **kwargs):
    raise AssertionError("trained before checking the outputs")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--init", "zeros"], "--init: must be one of"),
        (["--every", "0"], "--every: must be"),
        (["--snapshots", "1"], "--snapshots: must be"),
        (["--input-kind", "commuting"], "--input-eigenvalues: required"),
        (["--depth", "3", "--init", "lambda-balanced"], "--init: "),
    ],
)
def test_errors_name_the_flag_not_the_config_field(args, message, monkeypatch, capsys):
    monkeypatch.setattr("dln_core.engine.run", _no_training)
    assert cli.main(["train", "--steps", "10", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert "init_scheme" not in err[0] and "n_snapshots" not in err[0]


def test_unwritable_outputs_fail_before_training(tmp_path, monkeypatch, capsys):
    from dln_core import store

    monkeypatch.setattr("dln_core.engine.run", _no_training)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("DLN_LAB_HOME", str(blocker))  # the store's home is a file: it cannot open
    assert cli.main(["train", *FAST, "--save"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dln_core: error: --save: the run store must be writable")

    def read_only(directory):
        raise PermissionError(13, "Permission denied")  # root ignores chmod, so simulate the disk

    monkeypatch.setattr(store, "probe_writable", read_only)
    assert cli.main(["train", *FAST, "--csv", str(tmp_path / "h.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"dln_core: error: --csv: its directory must be writable (Permission denied), got "
                   f"'{tmp_path / 'h.csv'}'"]
    assert list(tmp_path.iterdir()) == [blocker]


def test_json_has_the_step_size_cap_keys_when_the_engine_reports_them(tmp_path, monkeypatch, capsys):
    """lr_cap / lr_over_cap / converged are printed when present, absent (not null) otherwise."""
    summary = {"final_loss": 0.1, "diverged": False, "steps": 10, "halfway_step": [None], "lr_cap": 0.25,
               "lr_over_cap": True, "converged": False}
    fake = SimpleNamespace(summary=summary, history=pd.DataFrame({"step": [0, 10], "loss": [1.0, 0.1]}))
    monkeypatch.setattr("dln_core.engine.run", lambda cfg, progress=None: fake)
    old = os.umask(0o022)
    try:
        assert cli.main(["train", "--steps", "10", "--csv", str(tmp_path / "h.csv")]) == 0
    finally:
        os.umask(old)
    out = json.loads(capsys.readouterr().out)
    assert (out["lr_cap"], out["lr_over_cap"], out["converged"]) == (0.25, True, False)
    assert (tmp_path / "h.csv").stat().st_mode & 0o777 == 0o644  # 0666 & ~umask, not mkstemp's 0600
    for key in ("lr_cap", "lr_over_cap", "converged"):
        del summary[key]
    assert cli.main(["train", "--steps", "10"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert not {"lr_cap", "lr_over_cap", "converged"} & set(out) and out["final_loss"] == 0.1


def test_comma_lists_follow_the_config_rule_empty_items_skipped(monkeypatch):
    """--target and --input-eigenvalues parse with config.parse_floats (the sweep's rule): "6,,4" is
    (6, 4); a blank list names the flag."""
    assert cli_train.parse_target("6,,4,") == {"kind": "spectrum", "singular_values": (6.0, 4.0)}
    args = cli.build_parser().parse_args(["train", "--input-kind", "commuting", "--input-eigenvalues", "1,,2,3,4,5,6"])
    assert common.target_options(args)["input_eigenvalues"] == (1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
    monkeypatch.setattr("dln_core.engine.run", _no_training)
    assert cli.main(["train", "--steps", "10", "--input-kind", "commuting", "--input-eigenvalues", " , "]) == 2


def test_stderr_progress_is_throttled_deduplicated_and_always_ends(capsys):
    """One class for train and sweep: a line per every_s seconds, the 100 % line exactly once, and
    after it only a new final message (the sweep's "done: ...")."""
    ticks = iter([0.0, 0.1, 0.2, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 10.0, 10.0])

    def clock():
        return next(ticks)

    progress = common.StderrProgress("sweep", every_s=1.0, clock=clock)  # created at t = 0
    progress(0.1, "a")  # t = 0.1: the first line is always due
    progress(0.2, "a")  # t = 0.2: throttled
    progress(0.5, "b")  # t = 5
    progress(1.0, "b")  # t = 6: 100 %
    progress(1.0, "b")  # t = 7: the same line again: dropped
    progress(0.9, "c")  # t = 8: finished, nothing goes back below 100 %
    progress(1.0, "done: 2 networks")  # t = 9: a new final message
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["sweep  10.0% (0.1 s)  a", "sweep  50.0% (5.0 s)  b", "sweep 100.0% (6.0 s)  b",
                     "sweep 100.0% (9.0 s)  done: 2 networks"]
    train = common.StderrProgress("train:", every_s=1.0, clock=clock)  # t = 10
    train(1.0)
    train(1.0)
    assert capsys.readouterr().err.splitlines() == ["train: 100.0% (0.0 s)"]

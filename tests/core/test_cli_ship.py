"""Reproduce, export, --config, --figures and app (dln_core/cli/{reproduce,export,config_file,app}.py).

Runs go in process through ``cli.main(argv)`` with DLN_LAB_HOME patched for the call; bad input must
give exit code 2, one line on stderr, nothing on stdout and no file that looks complete.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import duckdb
import numpy as np
import pandas as pd
import pytest

from dln_core import cli
from dln_core.store import RunStore

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--depth", "2", "--init-scale", "1e-3", "--lr", "0.04", "--steps", "1500"]


def dln(argv: list[str], home: Path) -> SimpleNamespace:
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        mp.setenv("DLN_LAB_HOME", str(home))
        mp.delenv("DLN_LAB_PROFILE", raising=False)
        code = cli.main(argv)
    return SimpleNamespace(code=code, out=out.getvalue(), err=err.getvalue())


def one_line_error(res: SimpleNamespace, *words: str) -> None:
    assert res.code == 2, res
    assert res.out == "" and len(res.err.strip().splitlines()) == 1, res.err
    assert "Traceback" not in res.err
    for word in words:
        assert word in res.err, res.err


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(home, run id) of one saved train run; its JSON line carries the run id."""
    home = tmp_path_factory.mktemp("home")
    res = dln(["train", *FAST, "--save"], home)
    assert res.code == 0, res.err
    run_id = json.loads(res.out)["run_id"]
    assert run_id in RunStore(home).list()["run_id"].tolist()
    return home, run_id


# ---------------------------------------------------------------- reproduce
def test_a_saved_train_run_reproduces_to_1e_12(saved):
    home, run_id = saved
    res = dln(["reproduce", run_id], home)
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert report["run_id"] == run_id and report["kind"] == "train"
    assert report["max_abs_diff"] is not None and report["max_abs_diff"] <= 1e-12
    assert report["weights_max_abs_diff"] <= 1e-12
    assert report["compared_values"] > 1000 and report["reproduced"] is True
    assert report["tolerance"] == 1e-12 and report["dtype"] == "float64"


def test_a_tampered_history_does_not_reproduce(tmp_path, saved):
    """The comparison can fail: change one stored value by 1e-9 and reproduce reports it (exit 1)."""
    home, run_id = saved
    store = RunStore(home)
    run = store.load(run_id)
    history = run.frames["history"].copy()
    history.loc[history.index[-1], "mode_1"] += 1e-9
    other = RunStore(tmp_path)
    copy_id = other.save_frames({"history": history}, {k: run.meta[k] for k in ("config", "summary")}, kind="train")
    res = dln(["reproduce", copy_id], tmp_path)
    report = json.loads(res.out)
    assert res.code == 1 and report["reproduced"] is False
    assert report["max_abs_diff"] == pytest.approx(1e-9, rel=1e-3)


def test_an_embedding_run_reproduces(tmp_path):
    res = dln(["embed", "--vocab", "300", "--dim", "6", "--steps", "20", "--save"], tmp_path)
    assert res.code == 0, res.err
    rep = dln(["reproduce", json.loads(res.out)["run_id"]], tmp_path)
    report = json.loads(rep.out)
    assert rep.code == 0 and report["kind"] == "embed" and report["max_abs_diff"] <= report["tolerance"]


def test_reproduce_an_unknown_run_id_or_a_sweep(tmp_path):
    one_line_error(dln(["reproduce", "20990101-000000000-beef"], tmp_path), "RUN_ID", "20990101-000000000-beef")
    one_line_error(dln(["reproduce", "../etc"], tmp_path), "RUN_ID")
    sweep = dln(["sweep", "--depth", "2", "--init-scale", "1e-2", "--steps", "100", "--save", "--quiet"], tmp_path)
    one_line_error(dln(["reproduce", json.loads(sweep.out)["run_id"]], tmp_path), "sweep")


# ---------------------------------------------------------------- export
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_long_layout_loads_in_pandas_and_duckdb(saved, tmp_path, fmt):
    home, run_id = saved
    out = tmp_path / f"runs.{fmt}"
    res = dln(["export", run_id, "--format", fmt, "--layout", "long", "--out", str(out)], home)
    assert res.code == 0, res.err
    info = json.loads(res.out)
    assert info["history"] == str(out) and info["runs"] == str(tmp_path / f"runs.runs.{fmt}")
    frame = pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)
    assert list(frame.columns) == ["run_id", "step", "t", "metric", "index", "value"]
    history = RunStore(home).load(run_id).frames["history"]
    source = f"read_csv_auto('{out}')" if fmt == "csv" else f"'{out}'"
    con = duckdb.connect()
    final = con.execute(f"SELECT value FROM {source} WHERE metric = 'loss' ORDER BY step DESC LIMIT 1").fetchall()
    assert final[0][0] == pytest.approx(history["loss"].iloc[-1], rel=1e-15, abs=1e-300)
    runs = con.execute(f"SELECT run_id, \"config.depth\" FROM {source.replace(f'runs.{fmt}', f'runs.runs.{fmt}')}"
                       ).fetchall()
    assert runs == [(run_id, 2)]


def test_export_all_runs_wide(saved, tmp_path):
    home, _ = saved
    res = dln(["export", "--out", str(tmp_path / "all.csv")], home)
    assert res.code == 0, res.err
    wide = pd.read_csv(tmp_path / "all.csv")
    assert set(wide["run_id"]) == set(RunStore(home).list()["run_id"]) and "mode_1" in wide.columns


def test_export_bad_input_writes_nothing(saved, tmp_path):
    home, run_id = saved
    out = tmp_path / "x.csv"
    one_line_error(dln(["export", run_id, "no-such-run", "--out", str(out)], home), "no-such-run")
    one_line_error(dln(["export", "--out", str(tmp_path / "missing" / "x.csv")], home), "--out")
    one_line_error(dln(["export", "--out", str(tmp_path)], home), "--out")
    one_line_error(dln(["export", "--format", "xlsx", "--out", str(out)], home), "--format")
    one_line_error(dln(["export", "--out", str(out)], tmp_path / "empty_home"), "RUN_ID")
    assert list(tmp_path.iterdir()) == []
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):  # root ignores permissions: use a path under /proc instead
            res = dln(["export", "--out", "/proc/self/x.csv"], home)
        else:
            res = dln(["export", "--out", str(ro / "x.csv")], home)
        one_line_error(res, "--out")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o700)


# ---------------------------------------------------------------- --config
def test_config_file_sets_options_and_flags_win(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('depth = 3\ninit-scale = 1e-2\nlr = 0.02\nsteps = 400\ntarget = [3, 1]\n')
    from_file = json.loads(dln(["train", "--config", str(cfg)], tmp_path).out)
    flags = json.loads(dln(["train", "--depth", "3", "--init-scale", "1e-2", "--lr", "0.02", "--steps", "400",
                            "--target", "3,1"], tmp_path).out)
    assert from_file["u0"] == flags["u0"] and from_file["final_loss"] == flags["final_loss"]
    assert from_file["lambda_star"] == [3.0, 1.0]
    # a flag on the command line wins over the file
    override = json.loads(dln(["train", "--config", str(cfg), "--steps", "100"], tmp_path).out)
    assert override["steps"] == 100
    # underscores work like dashes; sweeps take lists for their comma-list options
    sweep_cfg = tmp_path / "sweep.toml"
    sweep_cfg.write_text('depth = [2, 3]\ninit_scale = [1e-2]\nsteps = 100\nquiet = true\n')
    assert json.loads(dln(["sweep", "--config", str(sweep_cfg)], tmp_path).out)["members"] == 2
    embed_cfg = tmp_path / "embed.toml"
    embed_cfg.write_text('vocab = 200\ndim = 6\nsteps = 5\n')
    res = dln(["embed", "--config", str(embed_cfg), "--dim", "4"], tmp_path)
    assert res.code == 0, res.err


@pytest.mark.parametrize(("text", "words"), [
    ('detph = 3\n', ["unknown key 'detph'", "allowed keys", "depth"]),
    ('depth = \n', ["not valid TOML"]),
    ('save = 1\n', ["'save'", "true or false"]),
    ('depth = "x"\n', ["--depth"]),
    ('config = "other.toml"\n', ["unknown key 'config'"]),
])
def test_a_bad_config_file_is_one_clear_error(tmp_path, text, words):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    one_line_error(dln(["train", "--config", str(cfg)], tmp_path), *words)
    assert not (tmp_path / "runs").exists()  # nothing ran, nothing saved


def test_a_missing_config_file(tmp_path):
    one_line_error(dln(["sweep", "--config", str(tmp_path / "nope.toml")], tmp_path), "--config", "nope.toml")


# ---------------------------------------------------------------- --figures
def test_train_writes_the_explorers_figures(tmp_path):
    folder = tmp_path / "figs"
    res = dln(["train", *FAST, "--figures", str(folder), "--figure-format", "svg,pdf"], tmp_path)
    assert res.code == 0, res.err
    written = json.loads(res.out)["figures"]
    assert sorted(Path(p).name for p in written) == sorted(
        f"{n}.{f}" for n in ("loss", "modes", "balance", "update_rank", "alignment", "update_spectrum")
        for f in ("svg", "pdf"))
    assert (folder / "modes.svg").read_bytes().startswith(b"<svg")
    assert (folder / "loss.pdf").read_bytes().startswith(b"%PDF-")


def test_bad_figure_options_fail_before_training(tmp_path):
    one_line_error(dln(["train", *FAST, "--figures", "/proc/no/figs"], tmp_path), "--figures")
    one_line_error(dln(["train", *FAST, "--figures", str(tmp_path / "f"), "--figure-format", "svg,eps"], tmp_path),
                   "--figure-format", "svg,eps")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    one_line_error(dln(["train", *FAST, "--figures", str(a_file)], tmp_path), "--figures")
    assert not any(p.suffix in (".svg", ".pdf") for p in tmp_path.rglob("*"))


# ---------------------------------------------------------------- app
def test_app_outside_a_checkout_says_where_the_dashboard_runs(tmp_path, monkeypatch):
    from dln_core.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(app, "__file__", str(tmp_path / "site-packages" / "dln_core" / "cli" / "app.py"))
    one_line_error(dln(["app"], tmp_path), "checkout of the repository", "dln-lab app")
    one_line_error(dln(["app", "--checkout", str(tmp_path)], tmp_path), "--checkout")


def test_app_in_a_checkout_starts_the_dashboard(tmp_path):
    """``python -m dln_core app`` from the checkout serves the dashboard (health check), stopped by pid."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, DLN_LAB_HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "dln_core", "app", "--headless", "--port", str(port),
                             "--address", "127.0.0.1", "--", "--browser.gatherUsageStats=false"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline, ok = time.time() + 90, False
        while time.time() < deadline and proc.poll() is None and not ok:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:
                    ok = r.status == 200
            except OSError:
                time.sleep(0.5)
        assert ok, "the dashboard did not come up"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)  # the CLI and the streamlit child it started (its own session)
        proc.wait(timeout=30)


def test_readme_says_the_dashboard_runs_from_a_checkout():
    readme = (ROOT / "README.md").read_text()
    assert "runs from a checkout" in readme and "dln-lab app" in readme


def test_numbers_in_json_are_plain(saved):
    home, run_id = saved
    report = json.loads(dln(["reproduce", run_id], home).out)
    assert isinstance(report["max_abs_diff"], float) and np.isfinite(report["max_abs_diff"])

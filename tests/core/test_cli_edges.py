"""CLI edge cases from issue 11: a huge init scale is refused by the config or reported diverged, never
a traceback; caps are checked from the cheap parts of the command line before any work (the snapshot
count of '--steps auto --every 1', a sweep of 100 000 seeds), naming the flag."""

from __future__ import annotations

import contextlib
import io
import json
from types import SimpleNamespace

import pytest

import dln_core
from dln_core import cli


def run_cli(argv: list[str], monkeypatch, home) -> SimpleNamespace:
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setenv("DLN_LAB_HOME", str(home))
    monkeypatch.delenv("DLN_LAB_PROFILE", raising=False)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def no_training(monkeypatch):
    """Fail the test if any network is trained (the refusal must come first)."""
    def refuse(*args, **kwargs):
        raise AssertionError("trained before refusing")

    import dln_core.engine as engine

    for name in ("run", "run_batch"):
        if hasattr(engine, name):
            monkeypatch.setattr(engine, name, refuse)
    monkeypatch.setattr(dln_core.sweep, "build_members", refuse)


def one_line(res, *needles) -> str:
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("argv", [
    ["train", "--init-scale", "1e300", "--steps", "200"],
    ["train", "--init-scale", "1e300", "--init", "aligned", "--steps", "200"],
    ["train", "--init-scale", "1e300", "--init", "gaussian", "--depth", "3", "--steps", "200"],
    ["sweep", "--depth", "2,3", "--init", "aligned", "--init-scale", "1e-2,1e100", "--lr", "0.02", "--steps", "200",
     "--quiet"],
])
def test_a_huge_init_scale_is_refused_or_diverges_without_a_traceback(argv, monkeypatch, tmp_path):
    res = run_cli(argv, monkeypatch, tmp_path)
    assert "Traceback" not in res.stderr and "LinAlgError" not in res.stderr
    if res.returncode == 2:
        one_line(res, "--init-scale")
    else:
        assert res.returncode == 0, res.stderr
        line = json.loads(res.stdout)
        assert line["diverged"] not in (False, 0), line


def test_auto_steps_with_every_step_recorded_is_refused_before_training(monkeypatch, tmp_path):
    no_training(monkeypatch)
    res = run_cli(["train", "--steps", "auto", "--every", "1"], monkeypatch, tmp_path)
    one_line(res, "--every")


def test_a_sweep_of_100000_seeds_is_refused_before_its_grid_is_built(monkeypatch, tmp_path):
    no_training(monkeypatch)
    res = run_cli(["sweep", "--depth", "2", "--init-scale", "0.1", "--seeds", "100000", "--quiet"], monkeypatch,
                  tmp_path)
    one_line(res, "sweep size", "100000")


def test_the_cli_says_when_auto_gave_up(monkeypatch, tmp_path):
    monkeypatch.setenv("DLN_LAB_MAX_STEPS", "300")  # the plateau of c = 1e-6 lasts far longer
    res = run_cli(["train", "--steps", "auto", "--init-scale", "1e-6", "--init", "aligned"], monkeypatch, tmp_path)
    assert res.returncode == 0, res.stderr
    assert "--steps auto gave up after 300 steps" in res.stderr
    assert json.loads(res.stdout)["auto_reached"] is False

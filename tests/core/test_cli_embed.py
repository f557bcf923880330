"""``python -m dln_core embed`` (dln_core/cli/embed.py), in process through ``cli.main(argv)``: the JSON
line and the history CSV, a user corpus, one-line bad-input errors, outputs checked before training,
diverged runs, --save."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dln_core.cli import main


def test_cli_prints_json_and_writes_csv(tmp_path, capsys):
    csv = tmp_path / "h.csv"
    rc = main(["embed", "--vocab", "300", "--dim", "6", "--steps", "60", "--snapshots", "10", "--csv", str(csv),
               "--device", "cpu"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for k in ("analogy_accuracy", "analogy_questions", "closed_form_accuracy", "king_man_woman", "wordsim_rho"):
        assert k in out
    h = pd.read_csv(csv)
    assert {"step", "t", "loss", "analogy_accuracy", "eff_rank", "sv_6", "theory_sv_6"} <= set(h.columns)
    assert len(h) == 10


def test_cli_user_corpus_and_bad_input(tmp_path, capsys, monkeypatch):
    text = tmp_path / "corpus.txt"
    text.write_text(" ".join(["the cat sat on the mat and the dog ate the bone"] * 40))
    assert main(["embed", "--corpus", str(text), "--vocab", "8", "--dim", "2", "--steps", "20"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["corpus"] == "corpus.txt"
    for argv in (["embed", "--dim", "0"], ["embed", "--lr", "fast"], ["embed", "--corpus", str(tmp_path / "no.txt")],
                 ["embed", "--corpus", str(text), "--vocab", "50"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith("dln_core")
    monkeypatch.setenv("DLN_LAB_MAX_VOCAB", "100")
    assert main(["embed", "--vocab", "300"]) == 2
    assert "vocab" in capsys.readouterr().err


def test_cli_checks_csv_folder_before_training(tmp_path, capsys, monkeypatch):
    from dln_core.embeddings import pipeline

    def no_training(*a, **k):
        raise AssertionError("trained before checking the output")

    monkeypatch.setattr(pipeline, "run_embedding", no_training)
    rc = main(["embed", "--vocab", "300", "--dim", "2", "--steps", "5", "--csv", str(tmp_path / "nope" / "x.csv")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "--csv" in err


def test_cli_diverged_run_notes_step_and_nulls_scores(capsys):
    rc = main(["embed", "--vocab", "300", "--dim", "4", "--steps", "30", "--snapshots", "5", "--lr", "5",
               "--device", "cpu"])
    cap = capsys.readouterr()
    out = json.loads(cap.out.strip().splitlines()[-1])
    assert rc == 0 and out["diverged"] is True
    assert "diverged at step" in cap.err
    for k in ("analogy_accuracy", "wordsim_rho", "men_rho", "king_man_woman", "final_loss"):
        assert out[k] is None, k
    assert out["closed_form_accuracy"] is not None  # does not depend on training


def test_cli_save_stores_an_embed_run(tmp_path, capsys, monkeypatch):
    from dln_core.store import RunStore

    monkeypatch.setenv("DLN_LAB_HOME", str(tmp_path))
    rc = main(["embed", "--vocab", "300", "--dim", "3", "--steps", "20", "--snapshots", "5", "--save",
               "--name", "tiny", "--device", "cpu"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0
    run = RunStore(tmp_path).load(out["run_id"])
    assert run.kind == "embed" and run.name == "tiny"
    assert run.config_flat["vocab"] == 300 and run.config_flat["dim"] == 3
    assert run.summary["analogy_questions"] == out["analogy_questions"]
    assert len(run.frame("history")) == 5 and len(run.frame("modes")) == 3


def test_cli_diverged_run_prints_strict_json_with_nulls(capsys):
    """The JSON goes through store.to_jsonable: NaN scores of a diverged run are null, not NaN."""
    assert main(["embed", "--vocab", "300", "--dim", "6", "--steps", "60", "--lr", "5", "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    line = captured.out.strip().splitlines()[-1]
    out = json.loads(line, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert out["diverged"] is True and "diverged at step" in captured.err
    assert out["analogy_accuracy"] is None and out["final_loss"] is None and out["wordsim_rho"] is None
    assert isinstance(out["steps"], int) and isinstance(out["closed_form_accuracy"], float)

"""A full disk (issue 11): ``train --save``, ``train --csv``, ``sweep --csv`` and ``embed --csv`` end
with one line on stderr and exit code 2, never a traceback; the JSON summary is still printed (a run
that was saved keeps its id); the store stays consistent: runs saved before are intact, nothing
half-written is listed. ENOSPC is simulated (every write past a byte budget fails) and, where this
process may mount one, a real 1 MiB tmpfs is filled up."""

from __future__ import annotations

import builtins
import contextlib
import errno
import io
import json
import os
import subprocess
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from dln_core import cli
from dln_core.store import RunStore

TRAIN = ["train", "--depth", "2", "--init-scale", "0.1", "--lr", "0.04", "--steps", "300"]
EMBED = ["embed", "--vocab", "300", "--dim", "6", "--steps", "30", "--snapshots", "5"]
SWEEP = ["sweep", "--depth", "2", "--init", "aligned", "--init-scale", "0.1", "--lr", "0.04", "--steps", "200",
         "--quiet"]


def run_cli(argv: list[str], home: Path) -> SimpleNamespace:
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        mp.setenv("DLN_LAB_HOME", str(home))
        mp.delenv("DLN_LAB_PROFILE", raising=False)
        code = cli.main(argv)
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


class FullDisk:
    """Every file opened for writing under ``root`` takes at most ``room`` more bytes in total; past
    that, write() raises ENOSPC (as a full disk does: partial data may already be on disk)."""

    def __init__(self, monkeypatch, root: Path, room: int) -> None:
        self.root, self.room = str(root), room
        real_open, real_fdopen = builtins.open, os.fdopen
        disk = self

        class File:
            def __init__(self, fh):
                self._fh = fh

            def write(self, data):
                if len(data) > disk.room:
                    self._fh.write(data[: disk.room])
                    disk.room = 0
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                disk.room -= len(data)
                return self._fh.write(data)

            def __getattr__(self, name):
                return getattr(self._fh, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self._fh.close()

        def guarded_open(file, mode="r", *args, **kw):
            fh = real_open(file, mode, *args, **kw)
            return File(fh) if any(c in mode for c in "wax") and str(file).startswith(disk.root) else fh

        def guarded_fdopen(fd, mode="r", *args, **kw):
            fh = real_fdopen(fd, mode, *args, **kw)
            return File(fh) if any(c in mode for c in "wax") else fh

        monkeypatch.setattr(builtins, "open", guarded_open)
        monkeypatch.setattr(os, "fdopen", guarded_fdopen)


def one_error_line(res) -> str:
    lines = res.stderr.strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("dln_core: error:")]
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert len(errors) == 1, res.stderr
    assert "No space left on device" in errors[0]
    return errors[0]


def assert_store_consistent(home: Path, before: list[str]) -> None:
    store = RunStore(home)
    listing = store.list()
    assert list(listing["run_id"]) == before and not store.problems
    for rid in before:
        store.load(rid)  # checksums verified
    runs = home / "runs"
    assert not [p for p in runs.iterdir() if p.name.startswith(".tmp-")] if runs.exists() else True


@pytest.fixture
def saved_before(tmp_path) -> list[str]:
    res = run_cli([*TRAIN, "--save"], tmp_path)
    assert res.returncode == 0, res.stderr
    return [json.loads(res.stdout)["run_id"]]


def test_train_save_on_a_full_disk(tmp_path, monkeypatch, saved_before):
    FullDisk(monkeypatch, tmp_path, room=2_000)
    res = run_cli([*TRAIN, "--save"], tmp_path)
    assert "--save" in one_error_line(res)
    summary = json.loads(res.stdout)  # the training result is not lost with the write
    assert summary["steps"] == 300 and "run_id" not in summary
    monkeypatch.undo()
    assert_store_consistent(tmp_path, saved_before)


def test_train_saved_then_csv_fails_keeps_the_summary_and_run_id(tmp_path, monkeypatch, saved_before):
    csv = tmp_path / "out" / "history.csv"
    csv.parent.mkdir()
    FullDisk(monkeypatch, csv.parent, room=100)  # the store has room, the CSV folder does not
    res = run_cli([*TRAIN, "--save", "--csv", str(csv)], tmp_path)
    assert "--csv" in one_error_line(res)
    summary = json.loads(res.stdout)
    assert summary["run_id"] and summary["csv"] is None if "csv" in summary else summary["run_id"]
    monkeypatch.undo()
    assert_store_consistent(tmp_path, [summary["run_id"], *saved_before])
    assert not csv.exists() and not [p for p in csv.parent.iterdir() if p.name.endswith(".part")]


def test_embed_and_sweep_csv_on_a_full_disk(tmp_path, monkeypatch):
    FullDisk(monkeypatch, tmp_path / "out", room=50)
    (tmp_path / "out").mkdir()
    for argv in ([*EMBED, "--csv", str(tmp_path / "out" / "e.csv")], [*SWEEP, "--csv", str(tmp_path / "out" / "s.csv")]):
        res = run_cli(argv, tmp_path)
        assert "--csv" in one_error_line(res)
        json.loads(res.stdout)
    assert list((tmp_path / "out").iterdir()) == []


def _can_mount() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.mark.skipif(not _can_mount(), reason="mounting a tmpfs needs root (CI runs as root)")
def test_a_real_full_tmpfs(tmp_path):
    """The same on a real 1 MiB tmpfs filled to the brim."""
    mnt = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=True)
    try:
        first = run_cli([*TRAIN, "--save"], mnt)
        assert first.returncode == 0, first.stderr
        before = [json.loads(first.stdout)["run_id"]]
        with open(mnt / "filler", "wb", buffering=0) as fh, contextlib.suppress(OSError):
            while fh.write(b"\0" * 4096):  # fill what is left, until ENOSPC
                pass
        for argv in ([*TRAIN, "--save"], [*TRAIN, "--csv", str(mnt / "h.csv")],
                     [*EMBED, "--csv", str(mnt / "e.csv")]):
            res = run_cli(argv, mnt)
            one_error_line(res)
            json.loads(res.stdout)
        assert_store_consistent(mnt, before)
        assert not (mnt / "h.csv").exists() and not (mnt / "e.csv").exists()
    finally:
        subprocess.run(["umount", str(mnt)], check=False)

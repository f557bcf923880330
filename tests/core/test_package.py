"""The built wheel works outside the repository (pyproject.toml, dln_core/resources.py).

One module-scoped fixture builds the wheel from a copy of the source tree (so no stale ``build/``
folder of the checkout leaks into it), installs it into a fresh virtual environment that reuses the
already-installed dependencies (``--system-site-packages``, ``--no-deps``: nothing is downloaded) and
runs the commands from an empty folder outside the repo, with no PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_WHEEL_BYTES = 30_000_000
DATA_FILES = (
    "dln_core/data/README.md",  # the data licences travel with the data
    "dln_core/data/corpus/default_corpus.npz",
    "dln_core/data/corpus/nogpl_corpus.npz",
    "dln_core/data/corpus/default_cooc_V2500_w16.npz",
    "dln_core/data/eval/questions-words.txt",
    "dln_core/data/eval/wordsim353.tsv",
    "dln_core/data/eval/simlex999.txt",
    "dln_core/data/eval/men.txt",
)

pytestmark = pytest.mark.slow


def _source_copy(dest: Path) -> Path:
    """The files git would ship (tracked + new, not ignored), copied to ``dest``."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel path, venv python, venv bin dir, a clean environment, an empty work folder)."""
    base = tmp_path_factory.mktemp("wheel")
    src = _source_copy(base / "src")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DLN_LAB_PROFILE")}
    env.update(DLN_LAB_HOME=str(base / "home"), OMP_NUM_THREADS="1", PIP_NO_INDEX="1")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q", "-w", str(base / "dist")],
        cwd=src, env=env, check=True, capture_output=True, timeout=600,
    )
    (wheel,) = (base / "dist").glob("dln_lab-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(base / "venv")], check=True, timeout=300)
    bindir = base / "venv" / "bin"
    subprocess.run(
        [str(bindir / "python"), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        env=env, check=True, capture_output=True, timeout=600,
    )
    work = base / "elsewhere"
    work.mkdir()
    return wheel, bindir / "python", bindir, env, work


def _run(cmd: list[str], installed, timeout: float = 300) -> subprocess.CompletedProcess:
    *_, env, work = installed
    return subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout)


def test_wheel_carries_the_data_and_its_licences_within_the_size_cap(installed):
    wheel = installed[0]
    assert wheel.stat().st_size <= MAX_WHEEL_BYTES, wheel.stat().st_size
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(DATA_FILES) <= names, sorted(set(DATA_FILES) - names)
    assert not any(n.startswith(("tests/", "pages/", "data/")) for n in names)  # only the package


def test_installed_package_is_the_wheel_not_the_checkout(installed):
    _, python, *_ = installed
    out = _run([str(python), "-c", "import dln_core, dln_core.resources as r; print(dln_core.__file__); "
                "print(r.data_path('eval', 'men.txt').is_file())"], installed)
    path, found = out.stdout.split()
    assert out.returncode == 0, out.stderr
    assert str(ROOT) not in path and "site-packages" in path
    assert found == "True"


def test_train_sweep_embed_run_from_another_folder(installed):
    _, python, *_ = installed
    train = _run([str(python), "-m", "dln_core", "train", "--depth", "2", "--init-scale", "1e-3", "--lr", "0.04",
                  "--steps", "300"], installed)
    assert train.returncode == 0, train.stderr
    assert json.loads(train.stdout)["steps"] == 300
    sweep = _run([str(python), "-m", "dln_core", "sweep", "--depth", "2,3", "--init", "aligned", "--init-scale",
                  "1e-2", "--lr", "0.02", "--steps", "200"], installed)
    assert sweep.returncode == 0, sweep.stderr
    assert json.loads(sweep.stdout)["members"] == 2
    # the shipped corpus and the evaluation sets come from the installed package data
    embed = _run([str(python), "-m", "dln_core", "embed", "--vocab", "300", "--dim", "8", "--steps", "10"], installed)
    assert embed.returncode == 0, embed.stderr
    summary = json.loads(embed.stdout)
    assert summary["corpus"] == "default" and summary["corpus_tokens"] > 1_000_000
    assert summary["wordsim_pairs"] > 0 and summary["analogy_questions"] > 0


def test_console_script_runs_from_another_folder(installed):
    *_, bindir, _, _ = installed
    out = _run([str(bindir / "dln-lab"), "embed", "--corpus", "nogpl", "--vocab", "200", "--dim", "4", "--steps", "5"],
               installed)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["corpus"] == "nogpl"


def test_reproduce_and_export_work_from_the_wheel(installed):
    *_, bindir, _, work = installed
    dln = str(bindir / "dln-lab")
    saved = _run([dln, "train", "--depth", "2", "--init-scale", "1e-3", "--lr", "0.04", "--steps", "500", "--save"],
                 installed)
    assert saved.returncode == 0, saved.stderr
    run_id = json.loads(saved.stdout)["run_id"]
    report = _run([dln, "reproduce", run_id], installed)
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["max_abs_diff"] <= 1e-12
    out = _run([dln, "export", run_id, "--layout", "long", "--format", "parquet", "--out", "t.parquet"], installed)
    assert out.returncode == 0, out.stderr
    assert (work / "t.parquet").is_file() and (work / "t.runs.parquet").is_file()


def test_app_from_the_wheel_says_the_dashboard_runs_from_a_checkout(installed):
    *_, bindir, _, _ = installed
    out = _run([str(bindir / "dln-lab"), "app"], installed)
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and "checkout of the repository" in out.stderr

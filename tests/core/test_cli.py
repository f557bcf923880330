"""The dispatcher (dln_core/cli/__init__.py): the command registry, the real entry points, and a bad
flag rejected before anything heavy loads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

from dln_core import cli

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("dln_core.engine", "pandas", "torch")


@pytest.mark.parametrize(
    "argv", [["train", "--depth", "x"], ["sweep", "--seeds", "x"], ["embed", "--dim", "x"], ["train", "--bogus"]]
)
def test_a_bad_flag_is_rejected_before_the_engine_pandas_or_torch_load(tmp_path, argv):
    """The real ``python -m dln_core``, with ``-X importtime`` listing every module it imported: the
    parser of every subcommand is built and the flag refused with none of HEAVY among them."""
    env = dict(os.environ, DLN_LAB_HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "dln_core", *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    imported = {m.group(1) for m in re.finditer(r"^import time:.*\| +(\S+)$", proc.stderr, re.M)}
    assert {"dln_core.cli.train", "dln_core.cli.sweep", "dln_core.cli.embed"} <= imported  # it did measure
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("dln_core"), lines
    assert f"'{argv[-1]}'" in lines[0] or argv[-1] in lines[0].split()  # it names what was typed
    assert proc.stdout == ""


def test_one_registry_entry_adds_a_subcommand(monkeypatch, capsys):
    """A subcommand is a module with HELP, DESCRIPTION, add_arguments and run: one COMMANDS entry
    puts it in the help, the parser and the dispatch, with the usual one-line errors."""
    seen = []
    hello = SimpleNamespace(
        HELP="say hello n times",
        DESCRIPTION="A test command.",
        add_arguments=lambda p: p.add_argument("--n", type=int, default=1),
        run=lambda args: seen.append(args.n) or 0,
    )
    monkeypatch.setitem(cli.COMMANDS, "hello", hello)
    assert cli.main(["hello", "--n", "3"]) == 0 and seen == [3]
    assert cli.main(["--help"]) == 0  # help returns its exit code instead of raising SystemExit
    assert "say hello n times" in capsys.readouterr().out
    assert cli.main(["hello", "--n", "x"]) == 2
    assert capsys.readouterr().err.splitlines() == ["dln_core hello: argument --n: invalid int value: 'x'"]
    hello.run = lambda args: 7
    assert cli.main(["hello"]) == 7  # run's return value is the exit code


def test_no_command_or_an_unknown_one_is_one_line_exit_2(capsys):
    for argv in ([], ["trian"]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith("dln_core: ") and "Traceback" not in err[0]


def test_the_console_script_is_cli_main():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, name = scripts["dln-lab"].partition(":")
    assert getattr(__import__(module, fromlist=[name]), name) is cli.main

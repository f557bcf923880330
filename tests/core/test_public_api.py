"""The lazy public API (dln_core/__init__.py, PEP 562): cheap to import, every name resolves to its
defining module's object."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import dln_core
from dln_core import config, engine, errors, store, sweep

ROOT = Path(__file__).resolve().parents[2]


def test_import_dln_core_loads_none_of_the_heavy_modules():
    code = ("import sys, json, dln_core; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('numpy', 'pandas', 'scipy', 'torch') or m.startswith('dln_core.'))))")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_every_public_name_is_its_modules_object():
    assert dln_core.run is engine.run and dln_core.run_batch is engine.run_batch
    assert dln_core.RunConfig is config.RunConfig and dln_core.ConfigError is errors.ConfigError
    assert dln_core.RunStore is store.RunStore and dln_core.run_sweep is sweep.run_sweep
    for name in dln_core.__all__:
        module = sys.modules[f"dln_core.{dln_core._EXPORTS[name]}"]
        assert getattr(dln_core, name) is getattr(module, name), name
    assert set(dln_core.__all__) <= set(dir(dln_core))


def test_a_patched_module_is_seen_through_the_package(monkeypatch):
    """Names are looked up on each access, not copied: the module stays their one owner."""
    monkeypatch.setattr(engine, "run", "patched")
    assert dln_core.run == "patched"


def test_submodules_resolve_and_unknown_names_raise_attribute_error():
    assert dln_core.theory is sys.modules["dln_core.theory"]
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = dln_core.no_such_thing
    with pytest.raises(AttributeError):
        _ = dln_core._private
    assert not hasattr(dln_core, "no_such_thing")

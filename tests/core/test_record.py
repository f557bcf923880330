"""The snapshot recorder measures snapshots in blocks (record.py): the same numbers as measuring one
snapshot at a time, for a single run and a batch, including a run that records more snapshots than
it announced (the storage doubles)."""

from __future__ import annotations

import numpy as np
import pytest

from dln_core import diagnostics as dg
from dln_core import record
from dln_core.config import RunConfig
from dln_core.engine import init_weights
from dln_core.targets import build_problem


def _trajectory(cfg: RunConfig, batch: int, n: int, seed: int):
    """``n`` stacked weight states of ``batch`` members along a real GD path (plus a random drift, so
    each snapshot differs)."""
    p = build_problem(cfg.target)
    w0 = [np.stack([w] * batch) for w in init_weights(cfg, p)]
    rng = np.random.default_rng(seed)
    states, ws = [], [w.copy() for w in w0]
    for _ in range(n):
        g = dg.gradients(ws, p.sigma_xx, p.sigma_yx)
        ws = [w - 0.05 * gl + 1e-3 * rng.standard_normal(w.shape) for w, gl in zip(ws, g)]
        states.append([w.copy() for w in ws])
    return p, w0, states


def _snapshots(p, lrs, w0, states, announced, monkeypatch, block_members):
    monkeypatch.setattr(record, "BLOCK_MEMBERS", block_members)
    rec = record.Recorder(p, lrs, w0, announced)
    for k, ws in enumerate(states):
        rec.record(10 * k, ws)
    return rec.snapshots()


def _flat(snaps):
    out = {}
    for name, v in snaps.arrays.items():
        if isinstance(v, list):
            out.update({f"{name}{i}": x for i, x in enumerate(v)})
        elif isinstance(v, dict):
            out.update({f"{name}:{k}": x for k, x in v.items()})
        else:
            out[name] = v
    return out


@pytest.mark.parametrize("batch,announced", [(1, 40), (3, 40), (2, 7)])
def test_blocks_equal_one_snapshot_at_a_time(monkeypatch, batch, announced):
    cfg = RunConfig.make(depth=3, width=7, init_scale=0.3, init_scheme="gaussian", lr=0.05)
    p, w0, states = _trajectory(cfg, batch, 23, seed=batch)
    lrs = np.linspace(0.01, 0.05, batch)
    one = _snapshots(p, lrs, w0, states, announced, monkeypatch, block_members=1)  # a block per snapshot
    blocks = _snapshots(p, lrs, w0, states, announced, monkeypatch, block_members=4096)
    assert len(one.steps) == len(blocks.steps) == 23
    np.testing.assert_array_equal(one.steps, 10 * np.arange(23))
    a, b = _flat(one), _flat(blocks)
    assert a.keys() == b.keys() and len(a) > 10
    for name in a:
        assert a[name].shape[:2] == (23, batch), name
        np.testing.assert_allclose(b[name], a[name], rtol=1e-12, atol=1e-12, err_msg=name)
    # and the block path agrees with the diagnostics called directly on one snapshot
    k = 17
    W = dg.end_to_end(states[k])
    np.testing.assert_allclose(blocks.arrays["loss"][k], p.loss(W), rtol=1e-13)
    np.testing.assert_allclose(blocks.arrays["u"][k], dg.mode_strengths(W, p.U_star, p.V_star), rtol=1e-13)

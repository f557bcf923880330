"""The cheap per-step trace (engine.run ``trace``, steppers.Trace, issue 14).

Checked: at the snapshot steps the traced loss and mode strengths equal the full diagnostics'
(history frame) to 1e-12; every traced row equals a reference numpy GD loop that evaluates the
loss (H) and u_i = u*_iᵀ W v*_i from scratch at every step; the frames with the trace on equal the
frames with it off exactly; diverged members keep rows before the divergence step only; the option
is validated, capped, priced and written by ``train --trace``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import dln_core
from dln_core import budget, fused
from dln_core.config import TRACE_MAX_VALUES, RunConfig, check_trace, check_trace_size
from dln_core.errors import ConfigError
from dln_core.frames import trace_columns

TOL = 1e-12

CASES = {
    # whitened, U*, V* the standard basis (u is a diagonal entry), L = 3
    "article_L3": dict(depth=3, init_scheme="near-identity", init_scale=0.3, lr=0.01, steps=600),
    # rotated modes and non-white inputs: the loss uses W − W*, u the projection with U*, V*
    "rotated_inputs": dict(target_kind="spectrum", singular_values=(3.0, 2.0, 1.0), n_out=5, n_in=4, rotate_seed=1,
                           input_kind="rotated", input_eigenvalues=(1.5, 1.0, 0.7, 0.4), input_seed=2, depth=2,
                           width=6, init_scale=0.05, lr=0.05, steps=500),
    "hierarchy": dict(target_kind="hierarchy", depth=2, steps=400),
}


def _close(a, b, tol=TOL) -> float:
    """Largest |a − b| relative to max(1, |b|)."""
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)) / np.maximum(1.0, np.abs(np.asarray(b)))))


def _snapshot_gap(res) -> float:
    r = len(res.summary.lambda_star)
    h = res.history.merge(res.trace, on="step", suffixes=("", "_tr"), validate="one_to_one")
    assert len(h) == len(res.history)  # every snapshot step is a traced step
    gaps = [_close(h["loss_tr"], h["loss"])]
    gaps += [_close(h[f"mode_{i}_tr"], h[f"mode_{i}"]) for i in range(1, r + 1)]
    return max(gaps)


@pytest.mark.parametrize("name", list(CASES))
def test_trace_equals_full_diagnostics_at_snapshots(name):
    res = dln_core.run(RunConfig.make(**CASES[name]), trace="every")
    assert list(res.trace.columns) == trace_columns(len(res.summary.lambda_star))
    assert res.trace["step"].tolist() == list(range(CASES[name]["steps"] + 1))
    np.testing.assert_allclose(res.trace["t"], res.summary.lr * res.trace["step"], rtol=0, atol=0)
    assert _snapshot_gap(res) < TOL


@pytest.mark.parametrize("name", ["article_L3", "rotated_inputs"])
def test_trace_equals_reference_numpy_loop(name, manual_gd):
    """Against the naive per-step GD of conftest.manual_gd (diagnostics.gradients, loss and u from scratch)."""
    cfg = RunConfig.make(**CASES[name])
    res = dln_core.run(cfg, trace="every")
    _, loss, u = manual_gd(cfg, cfg.optim.steps)
    # the same trajectory to rounding: ~1e-14 relative after a few hundred steps
    assert _close(res.trace["loss"], loss) < 1e-11
    assert _close(res.trace[[f"mode_{i}" for i in range(1, u.shape[1] + 1)]].to_numpy(), u) < 1e-11


def test_every_n_steps_and_the_last_step():
    cfg = RunConfig.make(**{**CASES["article_L3"], "steps": 253})
    res = dln_core.run(cfg, trace=10)
    assert res.trace["step"].tolist() == [*range(0, 251, 10), 253]
    full = dln_core.run(cfg, trace="every").trace.set_index("step")
    sub = res.trace.set_index("step")
    assert _close(sub.to_numpy(), full.loc[sub.index].to_numpy()) == 0.0


def test_trace_leaves_every_frame_unchanged():
    cfg = RunConfig.make(**CASES["rotated_inputs"])
    off = dln_core.run(cfg, backend="numpy")
    on = dln_core.run(cfg, backend="numpy", trace=3)
    assert off.trace is None
    for name, frame in off.frames.items():
        pd.testing.assert_frame_equal(on.frame(name), frame, check_exact=True, obj=name)
    a, b = off.summary.to_dict(), on.summary.to_dict()
    a.pop("wall_time_s"), b.pop("wall_time_s")
    assert repr(a) == repr(b)  # repr: NaN plateau levels compare equal


def test_batch_with_a_diverging_member():
    lrs = (0.02, 0.3, 0.55)  # the last diverges on the article target at L = 2
    cfgs = [RunConfig.make(depth=2, init_scale=0.01, lr=lr, steps=600) for lr in lrs]
    out = dln_core.run_batch(cfgs, trace="every")
    assert out[-1].summary.diverged and not out[0].summary.diverged
    for res in out:
        d = res.summary.diverged_step
        assert res.trace["step"].tolist() == list(range(d if d is not None else 601))
        assert np.isfinite(res.trace.to_numpy()).all()
        assert _snapshot_gap(res) < TOL
        solo = dln_core.run(res.config, trace="every").trace
        assert _close(res.trace.to_numpy(), solo.to_numpy()) < 1e-12  # a member traces as if alone


@pytest.mark.skipif(not fused.available(), reason="numba not installed")
def test_fused_backend_traces_the_same_numbers():
    n = 2 * fused.BLOCK
    cfgs = [RunConfig.make(depth=3, init_scheme="near-identity", init_scale=0.3, lr=0.01, steps=300, seed=s)
            for s in range(n)]
    fused_out = dln_core.run_batch(cfgs[:n], backend="fused", trace="every")
    numpy_out = dln_core.run_batch(cfgs[:n], backend="numpy", trace="every")
    for a, b in zip(fused_out[:3], numpy_out[:3]):
        assert _close(a.trace.to_numpy(), b.trace.to_numpy()) < 1e-12
        assert _snapshot_gap(a) < TOL


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "sometimes", "", [1]])
def test_bad_trace_values_name_the_field(bad):
    with pytest.raises(ConfigError) as err:
        check_trace(bad)
    assert err.value.field == "trace" and "'every'" in err.value.allowed


def test_trace_values_parse():
    assert check_trace(None) is None and check_trace("none") is None
    assert check_trace("every") == 1 and check_trace(7) == 7 and check_trace("12") == 12


def test_trace_size_is_capped():
    check_trace_size(1, 1000, 1, 6)
    with pytest.raises(ConfigError) as err:
        check_trace_size(1, TRACE_MAX_VALUES, 4, 6)
    assert err.value.field == "trace" and "trace every" in err.value.allowed
    with pytest.raises(ConfigError):
        dln_core.run_batch([RunConfig.make(depth=2, steps=2_000_000, lr=1e-4)] * 8, trace="every")


def test_budget_prices_the_trace():
    dims = (6, 6, 6)
    plain = budget.train_counts(dims, 1, 1000, 200, 6, True)
    assert plain["trace_rows"] == plain["trace_cells"] == 0.0  # off: the old estimate
    traced = budget.train_counts(dims, 4, 1000, 200, 6, True, trace_rows=budget.trace_rows(1000, 1))
    assert traced["trace_rows"] == 1002 and traced["trace_cells"] == 1002 * 4 * (36 + 6)
    cfgs = [RunConfig.make(depth=2, steps=1000)]
    assert budget.batch_seconds(cfgs, 1000, 1) > budget.batch_seconds(cfgs, 1000, 10) > budget.batch_seconds(cfgs, 1000)
    assert budget.batch_seconds(cfgs, 1000, None) == budget.batch_seconds(cfgs, 1000)
    assert budget.trace_seconds((6, 6, 6), 4, 1002) == pytest.approx(
        budget.batch_seconds([cfgs[0]] * 4, 1000, 1) - budget.batch_seconds([cfgs[0]] * 4, 1000), rel=1e-9)


def test_auto_steps_trace_is_priced_at_the_step_cap():
    import dataclasses

    from dln_core.limits import current_limits

    lim = dataclasses.replace(current_limits(), max_steps=500_000, max_cpu_seconds=5.0)
    cfg = RunConfig.make(depth=2, init_scale=0.5, lr=0.05)
    dln_core.run(cfg, limits=lim)  # the plain 'auto' run fits
    at_cap = budget.trace_seconds(cfg.layer_dims, 1, budget.trace_rows(lim.max_steps, 1))
    assert at_cap > lim.max_cpu_seconds  # ... an every-step trace up to the step cap does not
    with pytest.raises(budget.BudgetError):
        dln_core.run(cfg, limits=lim, trace="every")
    dln_core.run(cfg, limits=lim, trace=1000)  # a sparse one does


def test_cli_trace_csv(tmp_path, cli_train):
    path = tmp_path / "trace.csv"
    base = ["--target", "article", "--depth", "2", "--init-scale", "1e-3", "--lr", "0.04", "--steps", "200"]
    code, out, _ = cli_train([*base, "--trace", "4", "--trace-csv", str(path), "--csv", str(tmp_path / "h.csv")],
                          tmp_path)
    assert code == 0 and str(path) in out
    df = pd.read_csv(path)
    assert list(df.columns) == trace_columns(6) and df["step"].tolist() == list(range(0, 201, 4))
    hist = pd.read_csv(tmp_path / "h.csv").merge(df, on="step", suffixes=("", "_tr"))
    assert len(hist) and _close(hist["loss_tr"], hist["loss"]) < TOL
    for bad, flag in ((["--trace", "0", "--trace-csv", str(path)], "--trace:"),
                      (["--trace", "every"], "--trace-csv:"),
                      (["--trace", "2", "--trace-csv", str(tmp_path / "no" / "t.csv")], "--trace-csv:")):
        code, _, err = cli_train([*base, *bad], tmp_path)
        assert code == 2 and err.count("\n") == 1 and flag in err

"""The cost model and budget per request (dln_core/budget.py): estimates from the config alone, refusal
with the estimate in the message, and the cancel token the runners poll between chunks. How close the
estimates are to measured CPU time is printed side by side by benchmarks/calibrate_budget.py."""

from __future__ import annotations

import pytest

from dln_core import budget
from dln_core.config import RunConfig
from dln_core.errors import ConfigError
from dln_core.limits import HOSTED, LOCAL


def _issue_request() -> RunConfig:
    """The issue's explorer URL: 64 singular values, depth 8, width 64, Gaussian init, 50 000 steps."""
    sv = ",".join(str(1 + i / 10) for i in range(64))
    return RunConfig.make(target_kind="spectrum", singular_values=sv, depth=8, width=64, init_scheme="gaussian",
                          init_scale=0.1, lr=0.001, steps=50_000)


def test_the_issues_explorer_request_is_priced_far_over_the_hosted_budget():
    cfg = _issue_request()
    cfg.check_limits(HOSTED)  # within every cap: only the budget stops it
    seconds = budget.batch_seconds([cfg], 50_000)
    assert seconds > 2 * HOSTED.max_cpu_seconds  # the training alone; the issue measured 130-167 s for the page
    with pytest.raises(budget.BudgetError) as err:
        budget.check_budget(seconds, HOSTED.max_cpu_seconds, "this run", budget.TRAIN_HINT)
    msg = str(err.value)
    assert f"estimated at {seconds:.1f} s of CPU" in msg and "allows 15 s per request" in msg
    assert isinstance(err.value, ConfigError)  # pages show it as an error box, the CLI as one line


def test_cost_grows_with_every_work_count():
    base = budget.train_seconds((6, 6, 6), 1, 1000, 100, 6)
    assert budget.train_seconds((6, 6, 6), 1, 2000, 100, 6) > base  # steps
    assert budget.train_seconds((6, 6, 6), 1, 1000, 400, 6) > base  # snapshots
    assert budget.train_seconds((6, 6, 6), 64, 1000, 100, 6, frames=False) > base  # members
    assert budget.train_seconds((6, 64, 6), 1, 1000, 100, 6) > base  # width
    assert budget.train_seconds((6, 6, 6, 6, 6), 1, 1000, 100, 6) > base  # depth
    for method in ("dense", "eigenbasis"):  # on each GD route; "auto" takes the cheaper of the two
        e = budget.embed_seconds(2500, 50, 250, 40, method)
        assert budget.embed_seconds(5000, 50, 250, 40, method) > e and budget.embed_seconds(2500, 100, 250, 40, method) > e
        assert budget.embed_seconds(2500, 50, 500, 40, method) > e and budget.embed_seconds(2500, 50, 250, 400, method) > e
    auto = budget.embed_seconds(2500, 50, 500, 40)
    assert auto == min(budget.embed_seconds(2500, 50, 500, 40, m) for m in ("dense", "eigenbasis"))


def test_the_auto_search_stops_where_the_budget_would_be_spent():
    cfg = _issue_request().replace(steps="auto", singular_values=(3, 2.5, 2, 1.5, 1, 0.8, 0.6, 0.5))
    cap = budget.auto_search_cap([cfg], HOSTED.max_cpu_seconds, HOSTED.max_steps)
    assert 0 < cap < HOSTED.max_steps
    search = budget.step_seconds(cfg.layer_dims, 1)
    assert search * cap + budget.batch_seconds([cfg], max(4 * cap, 500)) <= HOSTED.max_cpu_seconds
    assert search * (cap + 1) + budget.batch_seconds([cfg], max(4 * cap + 4, 500)) > HOSTED.max_cpu_seconds
    small = RunConfig.make(steps="auto")  # the article target: the search may use the whole step cap
    assert budget.auto_search_cap([small], LOCAL.max_cpu_seconds, 100_000) == 100_000


def test_an_embedding_over_the_budget_is_refused_by_its_config():
    from dln_core.embeddings import EmbedConfig

    EmbedConfig(vocab=2500, dim=50, steps=250, n_snapshots=40).check_limits(HOSTED)  # the page's default
    with pytest.raises(budget.BudgetError, match=r"this embedding is estimated at \d+\.\d s of CPU"):
        EmbedConfig(vocab=5000, dim=100, steps=40).check_limits(HOSTED)  # within max_embed_work
    EmbedConfig(vocab=5000, dim=100, steps=40).check_limits(LOCAL)  # locally the budget is an hour


def test_cancel_token_polls_at_most_every_interval_and_stops_for_good():
    now = [0.0]
    calls = []

    def poll():
        calls.append(now[0])
        return now[0] >= 1.0

    token = budget.CancelToken(poll, every_s=0.5, clock=lambda: now[0])
    token.check()
    now[0] = 0.2
    token.check()  # not due: poll not asked
    assert calls == [0.0]
    now[0] = 1.0
    with pytest.raises(budget.Cancelled):
        token.check()
    assert token.cancelled
    with pytest.raises(budget.Cancelled):
        token.check()  # stays cancelled


def test_checkpoint_consults_only_the_token_of_the_current_scope():
    budget.checkpoint()  # no scope: nothing to cancel
    token = budget.CancelToken()
    with budget.cancel_scope(token):
        budget.checkpoint()
        token.cancel()
        with pytest.raises(budget.Cancelled):
            budget.checkpoint()
    budget.checkpoint()  # the scope ended


def test_the_budget_can_be_set_per_deployment(monkeypatch):
    from dln_core.limits import current_limits

    monkeypatch.setenv("DLN_LAB_PROFILE", "hosted")
    assert current_limits().max_cpu_seconds == 15
    monkeypatch.setenv("DLN_LAB_MAX_CPU_SECONDS", "30")
    assert current_limits().max_cpu_seconds == 30


def test_the_engine_refuses_an_over_budget_run_before_any_work(monkeypatch):
    from dataclasses import replace

    from dln_core import engine

    def no_work(*a, **k):
        raise AssertionError("work started before the budget check")

    monkeypatch.setattr(engine, "build_problem", no_work)
    with pytest.raises(budget.BudgetError, match=r"this run is estimated at \d+\.\d s of CPU"):
        engine.run(_issue_request(), limits=HOSTED)
    with pytest.raises(budget.BudgetError, match="this batch of 4 networks"):
        engine.run_batch([_issue_request().replace(seed=s) for s in range(4)],
                         limits=replace(HOSTED, max_cpu_seconds=1.0))


def test_auto_gives_up_where_the_budget_ends_and_says_so():
    from dataclasses import replace

    from dln_core import engine

    cfg = RunConfig.make(init_scheme="aligned", init_scale=1e-8, lr=0.01, steps="auto")  # a long plateau
    tight = replace(LOCAL, max_cpu_seconds=1.5)
    cap = budget.auto_search_cap([cfg], tight.max_cpu_seconds, tight.max_steps)
    res = engine.run(cfg, limits=tight)
    assert res.summary["auto_reached"] is False
    assert res.summary["total_steps"] <= max(4 * cap, 500) + engine.CHUNK


def test_a_cancelled_run_stops_between_chunks():
    from dln_core import engine

    calls = []

    def poll():
        calls.append(1)
        return len(calls) >= 3  # cancel at the third chunk boundary

    token = budget.CancelToken(poll, every_s=0.0)
    cfg = RunConfig.make(steps=1_000_000, lr=0.01)
    with budget.cancel_scope(token), pytest.raises(budget.Cancelled):
        engine.run(cfg, limits=LOCAL)
    assert len(calls) == 3  # it did not run on to the end


def test_a_sweep_is_priced_as_a_whole_before_it_starts():
    from dataclasses import replace

    from dln_core import sweep

    spec = sweep.SweepSpec(depths=(2, 3), init_scales=(0.1,), lrs=(0.02,), seeds=tuple(range(8)),
                           base={"steps": 20_000, "init_scheme": "aligned"})
    with pytest.raises(budget.BudgetError, match="this sweep of 16 networks"):
        sweep.run_sweep(spec, limits=replace(LOCAL, max_cpu_seconds=0.05))


def test_sharpness_tracking_is_priced_on_top_of_the_training(monkeypatch):
    """A run that fits the budget without the Hessian tracker is refused with it, before any work, and
    the estimate grows with the weights (n² on the full-Hessian path, ~n on the Lanczos path)."""
    from dataclasses import replace

    from dln_core import engine

    cfg = RunConfig.make(target_kind="hierarchy", depth=2, init_scale=1e-3, lr=0.05, steps=2000)
    train = budget.batch_seconds([cfg], 2000)
    snaps = budget.snapshot_count(2000, cfg.optim.record, cfg.optim.n_snapshots)
    sharp = budget.sharpness_seconds(252, 1, snaps)
    assert sharp > 0 and budget.sharpness_seconds(400, 1, snaps) > sharp
    assert budget.sharpness_seconds(20_000, 1, snaps) > budget.sharpness_seconds(500, 1, snaps)
    limits = replace(HOSTED, max_cpu_seconds=train + sharp / 2)
    engine.run(cfg, limits=limits)  # fits without sharpness

    def no_work(*a, **k):
        raise AssertionError("work started before the budget check")

    monkeypatch.setattr(engine, "build_problem", no_work)
    with pytest.raises(budget.BudgetError, match=r"this run is estimated at \d+\.\d s of CPU"):
        engine.run(cfg, limits=limits, sharpness=True)

"""Shared fixtures for the engine-core tests: cached article runs and a brute-force reference GD.

The reference (``manual_gd``) is deliberately naive: one network, one step at a time, gradients from
dln_core.diagnostics.gradients (THEORY.md §1), every state kept. Engine results are compared with it.
"""

from __future__ import annotations

import numpy as np
import pytest

from dln_core import config, engine
from dln_core.diagnostics import end_to_end, gradients, mode_strengths


def manual_gd(cfg, steps: int):
    """Plain GD for one config: returns (list of per-step weight lists, losses (steps+1,), u (steps+1, r))."""
    problem = engine.build_problem(cfg.target)
    ws = engine.init_weights(cfg, problem)
    states, losses, us = [], [], []
    for k in range(steps + 1):
        W = end_to_end(ws)
        states.append(ws)
        losses.append(float(problem.loss(W)))
        us.append(mode_strengths(W, problem.U_star, problem.V_star))
        if k < steps:
            grads = gradients(ws, problem.sigma_xx, problem.sigma_yx)
            ws = [w - cfg.optim.lr * g for w, g in zip(ws, grads)]
    return states, np.array(losses), np.array(us)


@pytest.fixture(name="manual_gd")
def manual_gd_fixture():
    """The naive reference GD (a fixture, so test modules need no package imports)."""
    return manual_gd


@pytest.fixture(scope="session")
def article_l2_small():
    """The article's L = 2 "Small" preset (near-identity c = 1e-5, lr = 0.01), auto run length."""
    return engine.run(config.preset(2, "Small"))


@pytest.fixture(scope="session")
def article_l1_small():
    return engine.run(config.preset(1, "Small"))


@pytest.fixture
def cli_train():
    """``cli_train(args, home) -> (exit code, stdout, stderr)``: ``python -m dln_core train *args`` run in
    process with its run store in ``home`` and the local profile."""
    import contextlib
    import io

    from dln_core import cli

    def run(args, home):
        out, err = io.StringIO(), io.StringIO()
        with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            mp.setenv("DLN_LAB_HOME", str(home))
            mp.delenv("DLN_LAB_PROFILE", raising=False)
            code = cli.main(["train", *args])
        return code, out.getvalue(), err.getvalue()

    return run

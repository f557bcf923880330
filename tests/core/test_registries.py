"""Registries: a new init scheme or target kind is one registry entry; config, runs and labels follow."""

from __future__ import annotations

import numpy as np
import pytest

from dln_core import inits, targets
from dln_core.config import RunConfig
from dln_core.engine import run
from dln_core.errors import ConfigError
from dln_core.linalg import haar_columns


@pytest.fixture
def orthogonal_scheme():
    """A test scheme: every layer c times Haar-random orthonormal columns (registered, then removed)."""

    def draw(cfg, problem, rng):
        out = []
        for n_in, n_out in zip(cfg.layer_dims[:-1], cfg.layer_dims[1:]):
            q = haar_columns(max(n_out, n_in), min(n_out, n_in), rng)
            out.append(cfg.init.scale * (q if n_out >= n_in else q.T))
        return out

    def check(cfg):
        if cfg.network.depth > 4:
            raise ConfigError("init_scheme", "'orthogonal-test' needs depth <= 4", cfg.network.depth)

    scheme = inits.register(inits.InitScheme("orthogonal-test", "orthogonal (test)", "layer scale c", draw, check))
    yield scheme
    del inits.SCHEMES["orthogonal-test"]


def test_registering_an_init_scheme_makes_config_accept_it_and_a_run_use_it(orthogonal_scheme):
    with pytest.raises(ConfigError, match="init_scheme"):
        RunConfig.make(init_scheme="no-such-scheme")
    cfg = RunConfig.make(init_scheme="orthogonal-test", init_scale=0.5, depth=3, lr=0.05, steps=400, seed=3)
    res = run(cfg)
    W0 = res.initial_weights
    for w in W0:  # the registered draw is what the run started from: 0.5 × orthonormal rows/columns
        g = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
        np.testing.assert_allclose(g, 0.25 * np.eye(len(g)), atol=1e-12)
    assert res.summary.final_loss < 1e-3 * res.summary.initial_loss  # it trains like any other start
    assert not res.summary.diverged
    # the scheme's cross-field rule is part of config validation
    with pytest.raises(ConfigError, match="depth <= 4"):
        RunConfig.make(init_scheme="orthogonal-test", depth=5)
    # and the error listing the allowed schemes names it
    with pytest.raises(ConfigError, match="'orthogonal-test'"):
        RunConfig.make(init_scheme="nope")


def test_builtin_schemes_and_kinds_are_the_registries():
    assert list(inits.SCHEMES) == ["gaussian", "near-identity", "aligned", "lambda-balanced"]
    assert [n for n, s in inits.SCHEMES.items() if s.exact_l2] == ["lambda-balanced"]
    assert list(targets.TARGET_KINDS) == ["article", "spectrum", "hierarchy", "matrix"]
    for name, kind in targets.TARGET_KINDS.items():
        assert kind.label and kind.name == name


def test_registering_a_target_kind_makes_config_and_build_problem_use_it():
    def modes(t):
        lam = np.array([2.0, 1.0])
        return targets.Modes(np.diag(lam), np.eye(2), lam, np.eye(2))

    targets.register(targets.TargetKind("diag21-test", "diag(2, 1) (test)", lambda t: (2, 2), modes))
    try:
        cfg = RunConfig.make(target_kind="diag21-test", depth=2, init_scale=0.1, lr=0.05, steps=600)
        assert cfg.target.dims == (2, 2)
        p = targets.build_problem(cfg.target)
        np.testing.assert_array_equal(p.lambda_star, [2.0, 1.0])
        res = run(cfg)
        assert res.summary.halfway_step[0] < res.summary.halfway_step[1]  # larger mode first
        with pytest.raises(ConfigError, match="rotate_seed"):  # not rotatable: the registry says so
            RunConfig.make(target_kind="diag21-test", rotate_seed=1)
    finally:
        del targets.TARGET_KINDS["diag21-test"]


def test_modes_say_what_they_carry():
    """targets.Modes names what _modes used to return as one overloaded ``extra`` value."""
    spec = targets.TARGET_KINDS["spectrum"].modes(RunConfig.make(target_kind="spectrum", singular_values="1,3").target)
    assert list(spec.order) == [1, 0] and spec.sigma_xx is None and spec.d is None
    hier = targets.TARGET_KINDS["hierarchy"].modes(RunConfig.make(target_kind="hierarchy").target)
    assert hier.order is None
    np.testing.assert_array_equal(hier.sigma_xx, np.eye(4) / 4)
    np.testing.assert_array_equal(hier.d, np.full(4, 0.25))

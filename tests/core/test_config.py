"""Config validation: every invalid field gives one ConfigError naming the field and its allowed range."""

from __future__ import annotations

import math

import pytest

from dln_core.config import (
    PRESETS,
    InitConfig,
    NetworkConfig,
    OptimConfig,
    RunConfig,
    TargetConfig,
    parse_floats,
    preset,
)
from dln_core.errors import ConfigError
from dln_core.limits import HOSTED, LOCAL
from dln_core.targets import load_matrix_csv

NAN, INF = math.nan, math.inf

# (flat overrides, offending field, fragment of the allowed range that must be in the message)
INVALID = [
    ({"depth": 0}, "depth", "[1, 64]"),
    ({"depth": 65}, "depth", "[1, 64]"),
    ({"depth": 2.5}, "depth", "integer"),
    ({"depth": True}, "depth", "integer"),
    ({"width": 0}, "width", ">= 1"),
    ({"width": -3}, "width", ">= 1"),
    ({"init_scale": 0.0}, "init_scale", "> 0"),
    ({"init_scale": -1e-3}, "init_scale", "> 0"),
    ({"init_scale": NAN}, "init_scale", "finite"),
    ({"init_scale": INF}, "init_scale", "finite"),
    ({"lr": 0.0}, "lr", "> 0"),
    ({"lr": -0.01}, "lr", "> 0"),
    ({"lr": NAN}, "lr", "finite"),
    ({"lr": INF}, "lr", "finite"),
    ({"lr": "fast"}, "lr", "parse"),
    ({"init_scheme": "xavier"}, "init_scheme", "'gaussian'"),
    ({"init_scheme": "lambda-balanced", "depth": 3}, "init_scheme", "depth = 2"),
    ({"init_scheme": "lambda-balanced", "width": 9}, "width", "width <= n_out"),
    ({"lambda_b": NAN}, "lambda_b", "finite"),
    ({"seed": -1}, "seed", ">= 0"),
    ({"target_kind": "cifar"}, "target_kind", "'article'"),
    ({"target_kind": "spectrum", "singular_values": ()}, "singular_values", "non-empty"),
    ({"target_kind": "spectrum", "singular_values": (3.0, -1.0)}, "singular_values", ">= 0"),
    ({"target_kind": "spectrum", "singular_values": (3.0, NAN)}, "singular_values", "finite"),
    ({"target_kind": "spectrum", "singular_values": (0.0, 0.0)}, "singular_values", "> 0"),
    ({"target_kind": "spectrum", "singular_values": (3, 2, 1), "n_out": 2}, "singular_values", "min(n_out, n_in)"),
    ({"target_kind": "spectrum", "n_in": 0}, "n_in", ">= 1"),
    ({"rotate_seed": -2}, "rotate_seed", ">= 0"),
    ({"target_kind": "hierarchy", "rotate_seed": 1}, "rotate_seed", "'article' or 'spectrum'"),
    ({"target_kind": "matrix", "matrix": ((1.0, 2.0),), "rotate_seed": 0}, "rotate_seed", "'spectrum'"),
    ({"target_kind": "spectrum", "singular_values": (2e6, 1.0)}, "singular_values", "<= 1e+06"),
    ({"target_kind": "matrix", "matrix": ((1.0, -3e6),)}, "matrix", "[-1e+06, 1e+06]"),
    ({"input_kind": "commuting", "input_eigenvalues": (1, 1, 1, 1, 1, 1e7)}, "input_eigenvalues", "<= 1e+06"),
    ({"target_kind": "matrix"}, "matrix", "rectangular"),
    ({"target_kind": "matrix", "matrix": ((1.0, 2.0), (3.0,))}, "matrix", "rectangular"),
    ({"target_kind": "matrix", "matrix": ((1.0, INF), (3.0, 4.0))}, "matrix", "finite"),
    ({"target_kind": "matrix", "matrix": ((0.0, 0.0),)}, "matrix", "zeros"),
    ({"input_kind": "sphered"}, "input_kind", "'whitened'"),
    ({"input_kind": "commuting"}, "input_eigenvalues", "required"),
    ({"input_kind": "commuting", "input_eigenvalues": (1.0, 2.0)}, "input_eigenvalues", "n_in = 6"),
    ({"input_kind": "rotated", "input_eigenvalues": (1, 1, 1, 1, 1, 0)}, "input_eigenvalues", "> 0"),
    ({"input_kind": "rotated", "input_eigenvalues": (1, 1, 1, 1, 1, -2)}, "input_eigenvalues", "> 0"),
    ({"target_kind": "hierarchy", "input_kind": "rotated", "input_eigenvalues": (1, 1, 1, 1)}, "input_kind",
     "one-hot"),
    ({"input_seed": -1}, "input_seed", ">= 0"),
    ({"steps": 0}, "steps", "'auto'"),
    ({"steps": 2.5}, "steps", "'auto'"),
    ({"steps": "forever"}, "steps", "'auto'"),
    ({"record": 0}, "record", "'log'"),
    ({"record": "linear"}, "record", "'log'"),
    ({"n_snapshots": 1}, "n_snapshots", "[2, 100000]"),
    ({"device": "tpu"}, "device", "'cuda'"),
    ({"dtype": "float16"}, "dtype", "'float64'"),
    ({"colour": "red"}, "colour", "unknown"),
]


@pytest.mark.parametrize(("flat", "field", "fragment"), INVALID, ids=[f"{f}-{i}" for i, (_, f, _) in enumerate(INVALID)])
def test_every_invalid_field_is_rejected_with_its_range(flat, field, fragment):
    with pytest.raises(ConfigError) as err:
        RunConfig.make(**flat)
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")
    assert fragment in str(err.value)


def test_defaults_are_the_article_l2_small_setting():
    cfg = RunConfig()
    assert cfg.target.kind == "article" and cfg.target.dims == (6, 6)
    assert cfg.network.depth == 2 and cfg.width == 6 and cfg.layer_dims == (6, 6, 6)
    assert (cfg.init.scheme, cfg.init.scale, cfg.optim.lr, cfg.optim.steps) == ("near-identity", 1e-5, 0.01, "auto")


def test_flat_round_trip_including_strings_from_a_url():
    cfg = RunConfig.make(target_kind="spectrum", singular_values=(5, 2, 1), n_out=4, n_in=3, rotate_seed=7,
                         input_kind="commuting", input_eigenvalues=(1, 2, 0.5), depth=3, width=5,
                         init_scheme="gaussian", init_scale=0.01, seed=4, lr=0.02, steps=300, record=10)
    flat = cfg.to_flat()
    assert flat["singular_values"] == "5.0,2.0,1.0" and flat["depth"] == 3
    assert RunConfig.from_flat(flat) == cfg
    as_strings = {k: ("" if v is None else str(v)) for k, v in flat.items()}
    assert RunConfig.from_flat(as_strings) == cfg
    m = RunConfig.make(target_kind="matrix", matrix=((1, 2, 3), (4, 5, 6)))
    assert m.to_flat()["matrix"] == "1.0,2.0,3.0;4.0,5.0,6.0"
    assert RunConfig.from_flat(m.to_flat()) == m and m.target.dims == (2, 3)


def test_whitened_inputs_ignore_eigenvalues_and_configs_are_hashable():
    a = RunConfig.make(input_eigenvalues=(1, 2, 3, 4, 5, 6))
    assert a.target.input_eigenvalues is None and a == RunConfig()
    assert len({a, RunConfig(), RunConfig.make(depth=3)}) == 2


def test_presets_are_the_widget_values_in_convention_h():
    assert PRESETS[(2, "Small")] == (0.01, 1e-5) and PRESETS[(3, "Small")] == (0.0006, 0.1)
    assert PRESETS[(1, "Large")] == (0.04, 1.5) and len(PRESETS) == 9
    cfg = preset(3, "Medium")
    assert (cfg.network.depth, cfg.optim.lr, cfg.init.scale, cfg.init.scheme) == (3, 0.02, 0.3, "near-identity")
    with pytest.raises(ConfigError) as err:
        preset(4, "Small")
    assert err.value.field == "depth"
    with pytest.raises(ConfigError):
        preset(2, "Huge")


def test_check_limits_names_the_cap():
    RunConfig.make(depth=12, steps=2_000_000).check_limits(LOCAL)
    with pytest.raises(ConfigError) as err:
        RunConfig.make(depth=9).check_limits(HOSTED)
    assert err.value.field == "depth" and "at most 8" in str(err.value)
    with pytest.raises(ConfigError) as err:
        RunConfig.make(steps=50_001).check_limits(HOSTED)
    assert err.value.field == "steps"
    with pytest.raises(ConfigError) as err:
        RunConfig.make(width=65).check_limits(HOSTED)
    assert err.value.field == "width"


def test_snapshot_count_is_capped_per_run():
    """limits.max_snapshots bounds the recorded snapshots: log -> n_snapshots, every N -> steps // N + 2."""
    from dataclasses import replace

    small = replace(LOCAL, max_snapshots=1000, max_steps=100_000)
    RunConfig.make(n_snapshots=1000).check_limits(small)  # exactly at the cap
    with pytest.raises(ConfigError) as err:
        RunConfig.make(n_snapshots=1001).check_limits(small)
    assert err.value.field == "n_snapshots" and "at most 1000" in str(err.value)
    RunConfig.make(steps=9980, record=10).check_limits(small)  # 998 + 2 = 1000 snapshots
    with pytest.raises(ConfigError) as err:
        RunConfig.make(steps=9990, record=10).check_limits(small)  # 1001
    assert err.value.field == "record" and "at most 1000" in str(err.value)
    # 'auto' steps: checked against the longest run 'auto' may make (the step cap), before training
    with pytest.raises(ConfigError) as err:  # 100 000 // 100 + 2 = 1002 > 1000
        RunConfig.make(record=100).check_limits(small)
    assert err.value.field == "record" and "record every 101 steps or more" in str(err.value)
    RunConfig.make(record=101).check_limits(small)
    RunConfig.make(record=10).check_snapshots(9980, small)
    with pytest.raises(ConfigError) as err:
        RunConfig.make(record=10).check_snapshots(9990, small)
    assert err.value.field == "record"


def test_auto_steps_with_every_n_recording_is_checked_before_training():
    """'auto' + every-N recording is refused up front when the longest 'auto' run (the step cap) would
    record too many snapshots; within the cap it records every step. The article L=2 run stops at
    8,800 steps."""
    from dataclasses import replace

    from dln_core import engine

    cfg = RunConfig.make(record=1)  # steps="auto"
    result = engine.run(cfg, limits=replace(LOCAL, max_snapshots=10_000, max_steps=9_998))
    assert len(result.history) == result.summary["steps"] + 1
    with pytest.raises(ConfigError) as err:
        cfg.check_limits(replace(LOCAL, max_snapshots=5_000, max_steps=9_998))  # before any step
    assert err.value.field == "record" and "at most 5000" in str(err.value)


def test_singular_values_at_the_magnitude_bound_are_accepted():
    assert RunConfig.make(target_kind="spectrum", singular_values=(1e6, 1.0)).target.singular_values[0] == 1e6
    assert RunConfig.make(target_kind="matrix", matrix=((-1e6, 2.0),)).target.matrix[0][0] == -1e6


def test_sub_configs_validate_on_their_own():
    with pytest.raises(ConfigError):
        NetworkConfig(depth=0)
    with pytest.raises(ConfigError):
        InitConfig(scale=-1)
    with pytest.raises(ConfigError):
        OptimConfig(lr=0)
    with pytest.raises(ConfigError):
        TargetConfig(kind="spectrum", singular_values=())


def test_load_matrix_csv_reads_text_files_and_rejects_bad_content(tmp_path):
    assert load_matrix_csv("a,b\n1,2\n3,4\n") == ((1.0, 2.0), (3.0, 4.0))
    path = tmp_path / "m.csv"
    path.write_text("1, 0.5\n\n-2, 3e-1\n")
    assert load_matrix_csv(path) == ((1.0, 0.5), (-2.0, 0.3))
    assert load_matrix_csv(str(path)) == ((1.0, 0.5), (-2.0, 0.3))
    with pytest.raises(ConfigError) as err:
        load_matrix_csv("1,2\n3,x\n")
    assert err.value.field == "matrix" and "row 2, column 2" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_matrix_csv("1,2\n3\n")
    assert "rectangular" in str(err.value)
    with pytest.raises(ConfigError):
        load_matrix_csv("1,nan\n3,4\n")
    with pytest.raises(ConfigError):
        load_matrix_csv("   \n")


@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_a_blank_singular_value_list_is_an_error_not_the_article_spectrum(blank):
    # a blank string used to parse as None and silently become the default (article) spectrum
    with pytest.raises(ConfigError) as info:
        RunConfig.make(target_kind="spectrum", singular_values=blank)
    assert info.value.field == "singular_values" and "non-empty" in str(info.value)
    with pytest.raises(ConfigError, match=r"input_eigenvalues.*non-empty"):
        RunConfig.make(input_kind="commuting", input_eigenvalues=blank)
    # "none" still means "not given": the whitened default keeps no eigenvalues
    assert RunConfig.make(input_eigenvalues="none").target.input_eigenvalues is None


def test_parse_floats_is_the_one_comma_list_rule():
    assert parse_floats("lr", " 1e-3, 1e-2 ") == (0.001, 0.01)
    assert parse_floats("lr", "1,,2,") == (1.0, 2.0)  # empty items are skipped
    assert RunConfig.make(target_kind="spectrum", singular_values="3,,1").target.singular_values == (3.0, 1.0)
    for text, positive, words in (("", False, "at least one"), ("1,x", False, "comma-separated"),
                                  ("1,inf", False, "finite"), ("1,0", True, "> 0")):
        with pytest.raises(ConfigError, match=words) as info:
            parse_floats("lr", text, positive=positive)
        assert info.value.field == "lr"

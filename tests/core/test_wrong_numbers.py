"""Regression tests for the wrong numbers of issue 10 point 4 (each found by an independent check)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dln_core import config
from dln_core.charts import explorer as ch
from dln_core.config import RunConfig
from dln_core.engine import run
from dln_core.targets import build_problem


def test_hierarchy_target_lines_sit_where_the_modes_converge():
    """Hierarchy: Σxx = I/4, so mode i converges to λ_i/d_i = 4λ_i; the chart's target rules are there."""
    res = run(RunConfig.make(target_kind="hierarchy", depth=2, init_scheme="aligned", init_scale=0.1, lr=0.5,
                             steps=4000, record=100))
    p = res.problem
    np.testing.assert_allclose(p.target_strength, 4 * p.lambda_star, rtol=1e-12)
    last = res.modes[res.modes.step == res.modes.step.max()].sort_values("mode")
    np.testing.assert_allclose(last["u"], p.target_strength, rtol=1e-6)  # measured: converged to λ/d
    spec = ch.modes_chart(res.modes).to_dict()
    rules = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "rule")
    values = sorted(row["target"] for row in spec["datasets"][rules["data"]["name"]])
    np.testing.assert_allclose(values, sorted(p.target_strength), rtol=1e-12)


def test_repeated_singular_values_converged_network_scores_alignment_one():
    """(3, 3, 1, 1): inside an equal-λ subspace any basis is as good as any other; the score counts
    the whole block (it scored 0.333 when only diagonals counted)."""
    res = run(RunConfig.make(target_kind="spectrum", singular_values=(3, 3, 1, 1), depth=2, init_scale=0.01,
                             lr=0.05, steps=3000))
    assert res.summary["converged"]
    assert res.history["alignment"].iloc[-1] > 0.999


def test_rotated_inputs_have_no_whitened_plateau_levels():
    cfg = RunConfig.make(input_kind="rotated", input_eigenvalues=(1, 2, 3, 0.5, 1, 2), init_scheme="aligned",
                         init_scale=1e-8, steps=50)
    res = run(cfg)
    levels = res.summary["plateau_levels"]
    p = build_problem(cfg.target)
    assert levels[0] == pytest.approx(float(p.loss(np.zeros_like(p.w_star))), rel=1e-12)
    assert levels[0] == pytest.approx(res.summary["initial_loss"], rel=1e-6)  # W(0) ≈ 0
    assert levels[-1] == 0.0 and all(np.isnan(v) for v in levels[1:-1])
    spec = ch.loss_chart(res.history, levels).to_dict()
    json.dumps(spec, allow_nan=False)  # NaN levels are left out, not drawn
    assert res.mode_summary["plateau_level"].iloc[1:].isna().all()


def test_embedding_loss_is_half_of_loss_h_with_the_same_dynamics():
    """¼‖M* − WWᵀ‖² is half of (H) = ½‖M* − W₂W₁‖² at W₂ = W₁ᵀ = W, and one GD step on each moves W alike."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((5, 5))
    M = A + A.T
    W = 0.3 * rng.standard_normal((5, 2))
    eta = 0.01
    quarter = 0.25 * np.sum((M - W @ W.T) ** 2)
    loss_h = 0.5 * np.sum((M - W @ W.T) ** 2)
    assert quarter == pytest.approx(0.5 * loss_h, rel=1e-14)
    step_quarter = W + eta * (M - W @ W.T) @ W  # −∇ of ¼‖·‖²
    W1, W2 = W.T.copy(), W.copy()  # two-layer network on loss (H), Σyx = M, Σxx = I
    E = W2 @ W1 - M
    W1n, W2n = W1 - eta * W2.T @ E, W2 - eta * E @ W1.T
    np.testing.assert_allclose(W2n, step_quarter, atol=1e-15)
    np.testing.assert_allclose(W1n.T, step_quarter, atol=1e-15)
    from dln_core.embeddings import theory as et

    assert "exactly the project's loss (H)" not in (et.__doc__ or "")


def test_presets_caption_says_eta_is_the_converted_step():
    assert "twice the widget's" in config.PRESET_CAPTION and "loss (H)" in config.PRESET_CAPTION
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "pages" / "explorer.py").read_text()
    assert "st.caption(PRESET_CAPTION)" in page


def test_unigram_token_frequency_option_changes_m_star_by_the_documented_amount():
    """M*'s unigram: the co-occurrence marginal (default) or the token frequency (QWEM reference); on a
    small synthetic corpus both are probability vectors, differ, and give the documented M*."""
    from dln_core.embeddings.cooccurrence import count_cooccurrences, target_matrix, unigram_probabilities
    from dln_core.embeddings.model import EmbedConfig
    from dln_core.errors import ConfigError

    class _Corpus:  # the two fields unigram_probabilities reads: ids (with a document break) and pad_id
        pad_id = 99
        ids = np.array([0, 1, 0, 2, 99, 1, 1, 3, 0, 0, 2, 99, 3])

    C = count_cooccurrences(_Corpus.ids, 4, 2, pad_id=99)
    pc = unigram_probabilities(_Corpus, 4, C, "cooccurrence")
    pt = unigram_probabilities(_Corpus, 4, C, "tokens")
    np.testing.assert_allclose(pt, np.array([4, 3, 2, 2]) / 11)
    assert pc.sum() == pytest.approx(1.0) and not np.allclose(pc, pt)
    P = C / C.sum()
    M = target_matrix(C, 1.0, np.float64, unigram=pt)
    ok = P > 0
    np.testing.assert_allclose(M[ok], (2 * (P - np.outer(pt, pt)) / (P + np.outer(pt, pt)))[ok], atol=1e-6)
    np.testing.assert_allclose(target_matrix(C, 1.0, np.float64), target_matrix(C, 1.0, np.float64, unigram=pc),
                               atol=1e-6)
    with pytest.raises(ConfigError) as err:
        EmbedConfig(unigram="words")
    assert err.value.field == "unigram"
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "dln_core" / "data" / "README.md").read_text()
    assert "token frequency" in readme and "11.0 %" in readme

"""run_embedding end to end on the shipped corpus (small V) and its documented frames (the CLI: test_cli_embed.py)."""

from __future__ import annotations

import numpy as np
import pytest

from dln_core.embeddings.model import EmbedConfig
from dln_core.embeddings.pipeline import run_embedding
from dln_core.errors import ConfigError
from dln_core.limits import LOCAL

D = 8


@pytest.fixture(scope="module")
def result():
    cfg = EmbedConfig(vocab=300, dim=D, steps=120, init_scale=1e-6, n_snapshots=25, n_scatter_snapshots=5,
                      scatter_words=100, device="cpu")
    return run_embedding(cfg, limits=LOCAL)


def test_history_columns_and_time_axis(result):
    h = result.history
    expected = ["step", "t", "loss", "analogy_accuracy", "eff_rank", "learned_rank"]
    for prefix in ("sv", "theory_sv", "theory_gd_sv", "mode"):
        expected += [f"{prefix}_{k}" for k in range(1, D + 1)]
    assert list(h.columns) == expected
    np.testing.assert_allclose(h["t"], result.summary["lr"] * h["step"])
    assert h["step"].iloc[0] == 0 and h["step"].iloc[-1] == 120
    assert h["loss"].iloc[-1] < h["loss"].iloc[0]
    sv1 = h["sv_1"].to_numpy()
    rise = sv1[: int(np.argmax(sv1)) + 1]
    assert np.all(np.diff(rise) > 0)  # the top mode grows (finite η may overshoot by a hair at the top)
    assert sv1[-1] == pytest.approx(np.sqrt(result.modes["mu"].iloc[0]), rel=0.01)
    assert h["learned_rank"].iloc[0] == 0 and h["learned_rank"].iloc[-1] >= 4


def test_trace_is_per_step_and_matches_history(result):
    tr = result.trace
    assert list(tr.columns) == ["step", "t", "loss", "learned_rank"] and len(tr) == 121
    merged = result.history.merge(tr, on="step", suffixes=("", "_trace"))
    np.testing.assert_allclose(merged["loss"], merged["loss_trace"])


def test_top_modes_match_finite_step_theory(result):
    m = result.modes.head(4)
    assert np.all(m["mu"].diff().dropna() <= 0)
    np.testing.assert_allclose(m["halfway_step"], m["halfway_step_gd_theory"], rtol=0.05)


def test_embedding_frame_for_the_scatter(result):
    e = result.embedding
    assert list(e.columns[:5]) == ["step", "t", "word", "rank", "highlight"]
    assert [c for c in e.columns if c.startswith("pc_")] == [f"pc_{k}" for k in range(1, D + 1)]
    assert e["step"].nunique() == 5
    final = e[e["step"] == e["step"].max()]
    # a rotation of W's rows: norms are preserved
    W = result.W[final["rank"].to_numpy()]
    coords = final[[f"pc_{k}" for k in range(1, D + 1)]].to_numpy()
    np.testing.assert_allclose(np.linalg.norm(coords, axis=1), np.linalg.norm(W, axis=1), rtol=1e-4, atol=1e-6)
    # the first principal direction carries the most variance at the end
    assert coords[:, 0].var() >= coords[:, -1].var()
    assert set(final.loc[final["highlight"], "word"]) == {"man"}  # the only highlighted word in the top 300


def test_summary_keys(result):
    s = result.summary
    for k in ("analogy_accuracy", "analogy_questions", "closed_form_accuracy", "king_man_woman", "wordsim_rho",
              "lr", "mu_min", "optimum_loss", "diverged"):
        assert k in s
    assert s["king_man_woman"] is None  # king is not in the top 300
    assert s["mu_min"] < 0 < s["mu_max"] and not s["diverged"]
    assert s["analogy_questions"] > 0 and 0 <= s["analogy_accuracy"] <= 1


def test_config_validation_names_the_field():
    with pytest.raises(ConfigError, match="dim"):
        EmbedConfig(vocab=10, dim=10)
    with pytest.raises(ConfigError, match="lr"):
        EmbedConfig(lr="fast")
    with pytest.raises(ConfigError, match="init_scale"):
        EmbedConfig(init_scale=0.0)
    with pytest.raises(ConfigError, match="vocab"):
        EmbedConfig(vocab=30_000).check_limits(LOCAL)


# ------------------------------------------------------------------ review fixes


def test_dim_one_on_a_small_vocabulary_trains():
    # V ≤ 400 takes the dense eigensolver; its reversed (V, 1) eigenvector slice used to reach torch
    # with a negative stride and crash
    fractions = []
    cfg = EmbedConfig(vocab=300, dim=1, steps=40, n_snapshots=5, n_scatter_snapshots=2, scatter_words=50,
                      device="cpu")
    r = run_embedding(cfg, limits=LOCAL, progress=fractions.append)
    assert len(r.modes) == 1 and r.W.shape == (300, 1)
    assert r.summary["final_loss"] < r.history["loss"].iloc[0]
    assert fractions[-1] == 1.0 and fractions == sorted(fractions) and len(fractions) >= 2


def test_compute_budget_names_the_cap():
    from dln_core.limits import HOSTED

    EmbedConfig(vocab=2500, dim=50, steps=250).check_limits(HOSTED)  # the page's default: 7.8e10 ≤ 2e11
    with pytest.raises(ConfigError, match="max_embed_work"):
        EmbedConfig(vocab=5000, dim=100, steps=1000).check_limits(HOSTED)  # 2.5e12 > 2e11, other caps ok
    with pytest.raises(ConfigError, match="max_embed_work"):
        EmbedConfig(vocab=20_000, dim=400, steps=20_000).check_limits(LOCAL)
    assert EmbedConfig(vocab=10, dim=2, steps=3).work == 10 * 10 * 2 * 3


def test_same_config_gives_identical_results_twice():
    """The spectrum solver starts from a fixed vector, so a config's results are reproducible
    (the page caches on the config and must never mix two different trainings)."""
    import numpy as np

    from dln_core.embeddings.model import EmbedConfig
    from dln_core.embeddings.pipeline import run_embedding

    cfg = EmbedConfig(vocab=700, dim=20, steps=60, n_snapshots=5, n_scatter_snapshots=2)
    a, b = run_embedding(cfg), run_embedding(cfg)
    np.testing.assert_array_equal(a.history.to_numpy(dtype=float), b.history.to_numpy(dtype=float))

"""Plotly builders of the embeddings page on small hand-made frames (pure functions, no streamlit)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dln_core.charts import embeddings as charts


def _embedding() -> pd.DataFrame:
    rows = []
    for step, scale in ((0, 0.01), (10, 1.0)):
        for i, w in enumerate(["man", "woman", "king", "queen", "the"]):
            rows.append({"step": step, "t": 0.1 * step, "word": w, "rank": i, "highlight": w != "the",
                         "pc_1": scale * (i + 1), "pc_2": -scale * i, "pc_3": scale, "pc_4": 0.0})
    return pd.DataFrame(rows)


def _history(d: int = 3) -> pd.DataFrame:
    t = np.linspace(0, 1, 5)
    h = pd.DataFrame({"step": np.arange(5) * 10, "t": t, "analogy_accuracy": t / 2, "eff_rank": 1 + t,
                      "learned_rank": np.floor(3 * t)})
    for k in range(1, d + 1):
        h[f"sv_{k}"] = t * k
        h[f"theory_sv_{k}"] = t * k * 1.01
        h[f"theory_gd_sv_{k}"] = t * k * 1.02
        h[f"mode_{k}"] = (t * k * 0.99) ** 2
    return h


def test_scatter_has_hover_words_labels_and_arrows():
    fig = charts.embedding_scatter(_embedding(), 10, (1, 2, 4), [("man", "woman"), ("king", "queen"), ("man", "zzz")])
    names = [t.name for t in fig.data]
    assert names.count("man → woman") == 2 and names.count("king → queen") == 2  # line + cone each
    assert not any("zzz" in (n or "") for n in names)  # arrows with a missing word are skipped
    words = next(t for t in fig.data if t.name == "words")
    assert list(words.text) == ["man", "woman", "king", "queen", "the"]
    np.testing.assert_allclose(words.z, 0.0)  # pc_4 on the z axis
    labelled = next(t for t in fig.data if t.name == "highlighted")
    assert "the" not in list(labelled.text)
    # the axis range spans the whole run, so the early cloud looks small
    assert fig.layout.scene.xaxis.range[1] == pytest.approx(5 * 1.05)
    with pytest.raises(ValueError, match="pc_9"):
        charts.embedding_scatter(_embedding(), 10, (1, 2, 9))


def test_singular_values_solid_measured_dashed_theory():
    fig = charts.singular_values_chart(_history(), 3, theory="both")
    solid = [t for t in fig.data if t.line.dash is None]
    assert len(solid) == 3
    assert sum(t.line.dash == "dash" for t in fig.data) == 3 and sum(t.line.dash == "dot" for t in fig.data) == 3
    assert solid[0].line.color != solid[2].line.color  # coloured by mode
    np.testing.assert_allclose(solid[2].y, _history()["t"] * 3 * 0.99)  # √u_k by default
    sv = charts.singular_values_chart(_history(), 3, measured="sv")
    np.testing.assert_allclose(sv.data[0].y, _history()["sv_1"])
    with pytest.raises(ValueError):
        charts.singular_values_chart(_history(), 3, theory="exact")
    with pytest.raises(ValueError):
        charts.singular_values_chart(_history(), 3, measured="both")


def test_loss_chart_excess_is_log_and_positive():
    trace = pd.DataFrame({"step": [0, 1, 2], "t": [0.0, 0.1, 0.2], "loss": [10.0, 6.0, 5.0]})
    fig = charts.loss_chart(trace, optimum_loss=5.0, excess=True)
    assert fig.layout.yaxis.type == "log"
    assert np.all(np.asarray(fig.data[0].y) > 0) and fig.data[0].y[0] == pytest.approx(5.0)
    with pytest.raises(ValueError):
        charts.loss_chart(trace, optimum_loss=None, excess=True)


def test_accuracy_rank_chart_uses_percent_and_two_axes():
    fig = charts.accuracy_rank_chart(_history(), closed_form_accuracy=0.4)
    acc = fig.data[0]
    assert acc.y[-1] == pytest.approx(50.0)
    assert {t.yaxis for t in fig.data} == {"y", "y2"}


def test_animation_has_one_frame_per_snapshot_and_consistent_traces():
    fig = charts.embedding_animation(_embedding(), (1, 2, 3), [("man", "woman")])
    assert [f.name for f in fig.frames] == ["0", "10"]
    assert all(len(f.data) == len(fig.data) for f in fig.frames)  # Plotly animates trace by trace
    assert [s.label for s in fig.layout.sliders[0].steps] == ["0", "10"]
    assert fig.layout.updatemenus[0].buttons[0].method == "animate"


def test_close_highlighted_words_share_one_label():
    from dln_core.charts.embeddings import label_mask

    coords = np.array([[0.0, 0, 0], [0.01, 0, 0], [1.0, 1, 1], [1.0, 1.02, 1], [np.nan, 0, 0]])
    assert label_mask(coords, np.array([2.0, 2, 2])).tolist() == [True, False, True, False, False]
    assert label_mask(np.zeros((4, 3)), np.array([2.0, 2, 2])).tolist() == [True, False, False, False]

"""The in-browser player's data (dln_core.charts.playback): every snapshot once, aligned, JSON-safe."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from dln_core import landscape
from dln_core.charts import playback


@pytest.fixture(scope="module")
def payload(article_l2_small):
    view = landscape.two_mode_view(article_l2_small, n=21)
    return playback.playback_payload(article_l2_small, view)


def test_every_series_has_one_value_per_snapshot(article_l2_small, payload):
    h = article_l2_small.history
    n = len(h)
    assert payload["x"]["step"] == h["step"].tolist()
    assert len(payload["loss"]) == len(payload["drift"]) == len(payload["rank"]) == n
    assert all(len(u) == n for u in payload["modes"]["u"] + payload["modes"]["gf"])
    assert len(payload["land"]["path"]["w1"]) == n and len(payload["upd"]["noise"]) == n
    # the values are the frames' numbers, rounded to 5 significant digits
    np.testing.assert_allclose(payload["loss"], h["loss"], rtol=1e-4)
    np.testing.assert_allclose(payload["modes"]["u"][0], h["mode_1"], rtol=1e-4, atol=1e-300)
    assert payload["modes"]["lambda"] == [6.0, 4.0, 3.0, 2.0, 1.0, 0.5]
    assert payload["start"] == n - 1


def test_alignment_matrices_match_the_long_frame(article_l2_small, payload):
    al = article_l2_small.alignment
    k = 40
    step = payload["x"]["step"][k]
    for j, pair in enumerate(dict.fromkeys(al["pair"])):
        sub = al[(al["pair"] == pair) & (al["step"] == step)].sort_values(["row", "col"])
        np.testing.assert_allclose(payload["align"]["values"][j][k], sub["value"], atol=1e-3)
    assert payload["align"]["pairs"] == ["U*ᵀU_{L}", "V_{1}ᵀV*", "V_{2}ᵀU_{1}"]


def test_updates_are_relative_and_the_converged_tail_is_noise(payload):
    for layer in payload["upd"]["values"]:
        tops = [max(v for v in snap if v is not None) for snap in layer if any(v is not None for v in snap)]
        assert tops and all(t == pytest.approx(1.0) for t in tops)
    noise = payload["upd"]["noise"]
    assert noise[-1] is True and noise[len(noise) // 3] is False
    first = noise.index(True)
    assert all(noise[first:])  # once converged, it stays converged


def test_update_noise_rule_on_a_hand_made_frame():
    steps = np.array([0, 1, 2])
    upd = pd.DataFrame({"step": [0, 0, 1, 1, 2, 2], "layer": [1, 2] * 3, "index": 1,
                        "value": [1.0, 2.0, 1e-3, 1e-9, 1e-9, 1e-9]})
    assert playback.update_noise(upd, steps) == [False, False, True]  # both layers must be quiet


def test_landscape_is_clipped_and_html_is_self_contained(article_l2_small, payload):
    assert max(max(row) for row in payload["land"]["z"]) <= 1.2
    html = playback.player_html(payload)
    assert "http://" not in html and "https://" not in html  # nothing fetched: works offline
    start = html.index("window.DLN_PAYLOAD=") + len("window.DLN_PAYLOAD=")
    assert json.loads(html[start:html.index(";</script>", start)]) == payload
    with pytest.raises(ValueError, match="time_axis"):
        playback.playback_payload(article_l2_small, None, time_axis="epoch")


def test_no_data_value_can_close_the_script():
    html = playback.player_html({"x": "</script><b>", "modes": {"lambda": [], "gd": None}})
    assert "</script><b>" not in html


def test_pair_labels_become_subscripts():
    assert playback.pair_label("V_3ᵀU_2") == "V_{3}ᵀU_{2}"
    assert playback.pair_label("V_12ᵀU_11") == "V_{12}ᵀU_{11}"

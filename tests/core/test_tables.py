"""Display formatting (dln_core.charts.tables) and depth-aware captions (dln_core.charts.captions)."""

import math

import pandas as pd

from dln_core.charts import captions, tables


def test_numbers_read_cleanly_and_missing_is_a_dash():
    f = tables.fmt_value
    assert [f(None), f(math.nan), f(math.inf)] == ["—"] * 3
    assert f(1e-14) == "1.00e-14" and f(12345.0) == "12,345" and f(0.123456) == "0.1235" and f(0) == "0"
    assert f(2.5e7) == "2.50e+07" and f("text") == "text"


def test_display_frame_and_help():
    df = pd.DataFrame({"mode": [1, 2], "halfway": [120.0, None]})
    out = tables.display_frame(df, keep=("mode",))
    assert out["halfway"].tolist() == ["120", "—"] and out["mode"].tolist() == [1, 2]
    assert tables.column_help(df) == {"halfway": tables.MISSING_HELP}


def test_loss_caption_follows_depth_and_floor():
    assert "flat steps" not in captions.loss_caption(1, {})
    assert "no plateaus" in captions.loss_caption(1, {})
    assert "flat steps" in captions.loss_caption(3, {"loss_floor": 0.0})
    assert "rank-limited floor 2.625" in captions.loss_caption(2, {"loss_floor": 2.625})

"""Explorer curvature and hierarchy-geometry panels (AppTest): off by default, on with the toggle; the
hierarchy target shows its SVD and RSA heatmaps with the measured-vs-theory error."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "app.py"


def _open(query: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    for k, v in query.items():
        at.query_params[k] = v
    at.switch_page("pages/explorer.py").run()
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _dataset(at: AppTest, column: str):
    """The first Altair dataset on the page with this column (charts carry no readable key in AppTest)."""
    for c in at.get("vega_lite_chart"):
        json.loads(c.proto.spec)  # a valid spec
        for d in c.proto.datasets:
            df = pa.ipc.open_stream(d.data.data).read_pandas()
            if column in df.columns:
                return df
    raise AssertionError(f"no chart dataset with {column!r}")


def test_sharpness_panel_off_then_on(home):
    at = _open({"lr": "0.04", "log_scale": "-3", "steps": "1500"})
    _ok(at)
    assert any("Track sharpness" in c.value for c in at.caption)  # off: says how to switch it on
    at.toggle(key="sharpness").set_value(True).run()
    _ok(at)
    values = _dataset(at, "eigenvalue")
    top = values[values["series"] == "Hessian λ₁ (sharpness)"]
    assert abs(top["eigenvalue"].iloc[-1] - 12.0) < 1e-6 * 12  # L = 2 article: 2·λ_1 at the end
    assert any("Converged below the cap" in i.value for i in at.info)
    cap = [c.value for c in at.caption if "Cost:" in c.value]
    assert cap and "ms each" in cap[0] and "η above it: no, converged: yes" in cap[0]


def test_hierarchy_panel_svd_and_rsa(home):
    at = _open({"target": "hierarchy", "lr": "0.05", "log_scale": "-3", "steps": "2000"})
    _ok(at)
    assert any(s.value == "The hierarchy's geometry" for s in at.subheader)
    assert "2: canary, salmon vs oak, rose" in set(_dataset(at, "lambda")["mode"])
    rsa = _dataset(at, "kind")
    assert set(rsa["kind"]) == {"measured", "theory"} and rsa["step"].nunique() >= 4
    metrics = {m.label: m.value for m in at.metric}
    err = float(metrics["mode-strength theory: relative error"])
    assert err < 1e-3  # the last snapshot: converged, aligned
    steps = at.select_slider(key="rsa_snapshot")
    steps.set_value(steps.options[0] if isinstance(steps.options[0], int) else int(steps.options[0])).run()
    _ok(at)

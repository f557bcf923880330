"""Client-side playback of one explorer run: the data, sent once, and a self-contained HTML player.

Pure functions (no streamlit). :func:`playback_payload` packs the snapshot-dependent frames of a run
(``history``, ``modes``, ``alignment``, ``updates``; docs/API.md) and the two-mode landscape slice
(THEORY §5) into plain JSON-able lists; :func:`player_html` wraps them with ``player.js``, which draws
every panel on canvases and animates them with requestAnimationFrame. The page embeds the result once
per run, so play, pause, reset and scrubbing never call back into the app (no rerun per frame) and
nothing is fetched from the network.

Why a canvas player and not Vega-Lite parameters or Plotly frames (benchmarks/bench_playback.py,
headless Chromium on the loaded 2-core machine): Plotly frames redraw the WebGL surface in software,
≈ 1 frame/s; a Vega-Lite parameter bound to a slider repaints one chart at ≈ 50 frames/s, but each
chart is its own view with its own slider, so seven panels cannot share one clock; the canvas player
draws all seven panels from one clock at ≈ 45–58 frames/s (2–8 ms per frame).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

PLAYER_JS = Path(__file__).with_name("player.js")
NOISE_RATIO = 1e-6  # an update whose top σ is below this fraction of the layer's peak is rounding noise
PAIR_LABELS = {"U*ᵀU_L": "U*ᵀU_{L}", "V_1ᵀV*": "V_{1}ᵀV*"}  # canvas sub-script markup


def _num(v, digits: int = 5):
    """A JSON number rounded to ``digits`` significant digits; None for NaN/inf/missing."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


def _nums(values, digits: int = 5) -> list:
    return [_num(v, digits) for v in np.asarray(values, dtype=float).ravel()]


def pair_label(pair: str) -> str:
    """Canvas markup for an alignment pair name: "V_2ᵀU_1" -> "V_{2}ᵀU_{1}"."""
    if pair in PAIR_LABELS:
        return PAIR_LABELS[pair]
    return re.sub(r"_([0-9]+|[A-Za-z])", r"_{\1}", pair)


def update_noise(updates: pd.DataFrame, steps: np.ndarray) -> list[bool]:
    """Per snapshot: True where every layer's largest update singular value is below
    :data:`NOISE_RATIO` of that layer's peak over the run (the converged tail, where ΔW_ℓ is rounding
    noise and its spectrum says nothing about low-rank learning)."""
    top = updates.groupby(["step", "layer"])["value"].max().unstack("layer")
    peak = top.max(axis=0)
    quiet = (top.le(NOISE_RATIO * peak, axis=1) | top.isna()).all(axis=1)
    return [bool(quiet.get(int(s), False)) for s in steps]


def _alignment(alignment: pd.DataFrame, steps: np.ndarray) -> dict:
    pairs = list(dict.fromkeys(alignment["pair"]))
    out = {"pairs": [pair_label(p) for p in pairs], "rows": [], "cols": [], "values": []}
    for p in pairs:
        sub = alignment[alignment["pair"] == p]
        R, C = int(sub["row"].max()), int(sub["col"].max())
        cube = np.zeros((len(steps), R, C))
        pos = {int(s): k for k, s in enumerate(steps)}
        k = sub["step"].map(pos).to_numpy()
        cube[k, sub["row"].to_numpy() - 1, sub["col"].to_numpy() - 1] = sub["value"].to_numpy(float)
        out["rows"].append(R)
        out["cols"].append(C)
        out["values"].append([_nums(m.ravel(), 3) for m in cube])
    return out


def _updates(updates: pd.DataFrame, steps: np.ndarray) -> dict:
    layers = sorted(int(v) for v in updates["layer"].unique())
    values = []
    for layer in layers:
        sub = updates[updates["layer"] == layer].pivot_table(index="step", columns="index", values="value")
        sub = sub.reindex([int(s) for s in steps])
        top = sub.max(axis=1).where(lambda s: s > 0)
        rel = sub.div(top, axis=0)
        values.append([_nums(row, 3) for row in rel.to_numpy()])
    return {"values": values, "labels": [f"ΔW_{{{layer}}}" for layer in layers],
            "noise": update_noise(updates, steps)}


def _landscape(view, steps: np.ndarray, clip: float) -> dict:
    """Surface clipped at ``clip`` × the loss at the origin (1 after normalising), so deep wells and
    the flat centre both stay readable at L ≥ 3; the path is aligned to the snapshot steps."""
    z = np.minimum(np.asarray(view.loss, float), clip)
    path = view.path.set_index("step").reindex([int(s) for s in steps])
    return {"w1": _nums(view.w1, 4), "w2": _nums(view.w2, 4), "z": [_nums(row, 4) for row in z],
            "zmax": float(np.nanmax(z)) if np.isfinite(z).any() else 1.0,
            "path": {"w1": _nums(path["w1"], 4), "w2": _nums(path["w2"], 4), "z": _nums(path["loss"], 4)},
            "caption": f"loss over per-layer strengths of modes 1–2 (L = {view.depth}), clipped at {clip:g}; drag to turn"}


def _extras(result, steps: np.ndarray) -> dict:
    """Optional panels: the hidden-layer RSA (hierarchy runs, ``result.first_layer``; measured W_1ᵀW_1
    and the mode-strength theory, THEORY §10.3) and the sharpness (``result.curvature``, THEORY §10.1),
    aligned to the snapshot steps; absent keys when not recorded."""
    out = {}
    first = getattr(result, "first_layer", None)
    if first is not None:
        from .. import representation as rep

        f_steps, w1, _ = first
        pos = {int(k): j for j, k in enumerate(f_steps)}
        u_steps, _, u_all = result.mode_series()
        u_pos = {int(k): j for j, k in enumerate(u_steps)}
        idx = [pos.get(int(k)) for k in steps]
        u_idx = [u_pos.get(int(k)) for k in steps]  # measured and theory on the same snapshots
        if all(i is not None for i in idx + u_idx):
            u = u_all[u_idx]
            p = result.problem
            meas = rep.rsa_measured(w1[idx])
            theo = rep.rsa_theory(p.V_star[:, : p.r], u, result.summary["depth"])
            peak = float(np.abs(meas).max()) or 1.0
            items = p.labels_in or tuple(f"in {j + 1}" for j in range(meas.shape[-1]))
            out["rsa"] = {"items": list(items), "peak": peak,
                          "measured": [_nums(m.ravel() / peak, 4) for m in meas],
                          "theory": [_nums(m.ravel() / peak, 4) for m in theo]}
    curv = getattr(result, "curvature", None)
    if curv is not None and len(curv) == len(steps):
        out["sharp"] = {"top": _nums(curv["sharpness"]), "gn": _nums(curv["gauss_newton"]),
                        "edge": _num(curv["two_over_lr"].iloc[0]), "min": _num(curv["sharpness_min"].iloc[0])}
    return out


def player_height(payload: dict) -> int:
    """Iframe height for this payload: :data:`PLAYER_HEIGHT`, plus one row when an optional panel is shown."""
    return PLAYER_HEIGHT + (EXTRA_ROW_HEIGHT if ("rsa" in payload or "sharp" in payload) else 0)


def playback_payload(result, view, time_axis: str = "step", show_gd: bool = False,
                     seconds: float = 8.0, clip: float = 1.2) -> dict:
    """Everything the player draws for one run, as plain lists.

    ``result``: a run with the frames of docs/API.md and a summary with ``plateau_levels`` and ``lr``;
    ``view``: its :class:`dln_core.landscape.TwoModeView`; ``seconds``: a full replay at 1× speed.
    The player opens at the last snapshot with every curve drawn; Play restarts from step 0.
    """
    if time_axis not in ("step", "t"):
        raise ValueError(f"time_axis must be 'step' or 't', got {time_axis!r}")
    h = result.history
    steps = h["step"].to_numpy(np.int64)
    modes = result.modes.sort_values(["mode", "step"], kind="stable")
    per_mode = [g.set_index("step").reindex(steps) for _, g in modes.groupby("mode", sort=True)]
    return {
        "axis": time_axis,
        "seconds": float(seconds),
        "start": len(steps) - 1,
        "x": {"step": [int(s) for s in steps], "t": _nums(h["t"], 6)},
        "loss": _nums(h["loss"]),
        "levels": _nums(result.summary.get("plateau_levels", ())),
        "drift": _nums(h["balance_drift"], 3) if "balance_drift" in h else [],
        "rank": _nums(h["update_eff_rank"], 3) if "update_eff_rank" in h else [],
        "modes": {
            "lambda": [_num(g["lambda"].dropna().iloc[0]) if g["lambda"].notna().any() else 0.0 for g in per_mode],
            "u": [_nums(g["u"]) for g in per_mode],
            "gf": [_nums(g["theory_gf"]) for g in per_mode],
            "gd": [_nums(g["theory_gd"]) for g in per_mode] if show_gd else None,
        },
        "align": _alignment(result.alignment, steps),
        "upd": _updates(result.updates, steps),
        "land": _landscape(view, steps, clip),
        **_extras(result, steps),
    }


def _legend(payload: dict) -> str:
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf"]
    items = [f'<span><i style="background:{colours[i % 10]}"></i>mode {i + 1} (λ = {lam:g})</span>'
             for i, lam in enumerate(payload["modes"]["lambda"])]
    items.append('<span><b class="solid"></b>measured</span><span><b class="dash"></b>theory (gradient flow)</span>')
    if payload["modes"]["gd"] is not None:
        items.append('<span><b class="dot"></b>theory (finite η)</span>')
    return "".join(items)


CSS = """
body{margin:0;font:13px sans-serif;color:#222}
#bar{display:flex;gap:8px;align-items:center;padding:4px 2px 8px}
#bar button{font:13px sans-serif;padding:4px 10px;border:1px solid #bbb;border-radius:6px;background:#fff;cursor:pointer}
#bar button:hover{border-color:#d62728}
#scrub{flex:1}
#now{min-width:230px;text-align:right;font-variant-numeric:tabular-nums}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:10px 18px}
.panel h4{margin:2px 0 2px;font-size:14px}
canvas{width:100%;display:block}
.legend{display:flex;flex-wrap:wrap;gap:4px 12px;font-size:11px;color:#333;margin-top:2px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
.legend b{display:inline-block;width:22px;height:0;margin-right:4px;vertical-align:middle;border-top:2px solid #333}
.legend b.dash{border-top-style:dashed}.legend b.dot{border-top-style:dotted}
"""


def _extra_panels(payload: dict) -> str:
    html = ""
    if "rsa" in payload:
        html += ('<div class="panel"><h4>7. Hidden-layer similarity W₁ᵀW₁: measured | theory V* diag(u<sup>2/L</sup>) V*ᵀ'
                 '</h4><canvas id="c_rsa" style="height:250px"></canvas><div class="legend"><span>scaled by the '
                 f'largest measured entry ({payload["rsa"]["peak"]:.3g})</span></div></div>')
    if "sharp" in payload:
        html += ('<div class="panel"><h4>8. Sharpness (top Hessian eigenvalue)</h4><canvas id="c_sharp" '
                 'style="height:250px"></canvas><div class="legend"><span><b></b>Hessian λ₁</span><span><b '
                 'class="dash" style="border-color:#ff7f0e"></b>Gauss–Newton top (= NTK)</span><span><b '
                 'style="border-color:#d62728"></b>2/η</span><span><b class="dot"></b>balanced minimum</span>'
                 '</div></div>')
    return html


def player_html(payload: dict) -> str:
    """The self-contained player page (markup, styles, data and script; nothing loaded from outside).
    ``</`` in the JSON is escaped so no data value can close the script element."""
    data = json.dumps(payload, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>{CSS}</style></head><body data-playing="0">
<div id="bar"><button id="play" title="Play from here (from the start at the end)">▶ Play</button>
<button id="reset" title="Back to step 0">Reset</button><button id="end" title="Jump to the last snapshot">End</button>
<input id="scrub" type="range" min="0" step="0.01" value="0" aria-label="snapshot">
<select id="speed" aria-label="speed"><option value="0.5">0.5×</option><option value="1" selected>1×</option>
<option value="2">2×</option><option value="4">4×</option></select><span id="now"></span></div>
<div class="grid">
<div class="panel"><h4>1. Loss</h4><canvas id="c_loss" style="height:260px"></canvas>
<div class="legend"><span><b></b>loss so far</span><span><b class="dash" style="border-color:#999"></b>saddle plateaus: ½ Σ λᵢ² over the modes not yet learned</span></div></div>
<div class="panel"><h4>2. Mode strengths</h4><canvas id="c_modes" style="height:260px"></canvas>
<div class="legend">{_legend(payload)}</div></div>
<div class="panel"><h4>3. Alignment of singular vectors</h4><canvas id="c_align" style="height:270px"></canvas>
<div class="legend"><span><i style="background:rgb(33,102,172)"></i>+1</span><span><i style="background:#fff;border:1px solid #ccc"></i>0</span><span><i style="background:rgb(178,24,43)"></i>−1</span></div></div>
<div class="panel"><h4>4. Loss landscape and training path</h4><canvas id="c_land" style="height:270px;cursor:grab"></canvas></div>
<div class="panel"><h4>5. Update spectrum at this moment</h4><canvas id="c_spec" style="height:220px"></canvas></div>
<div class="panel"><h4>6. Balancedness drift and update rank</h4><canvas id="c_drift" style="height:110px"></canvas>
<canvas id="c_rank" style="height:110px"></canvas></div>
{_extra_panels(payload)}</div>
<script>window.DLN_PAYLOAD={data};</script>
<script>{PLAYER_JS.read_text(encoding="utf-8")}</script>
</body></html>"""


PLAYER_HEIGHT = 1010  # px of the iframe the page gives the player
EXTRA_ROW_HEIGHT = 300  # one more row for the optional RSA / sharpness panels

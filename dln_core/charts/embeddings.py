"""Chart builders for the word-embeddings page: documented frames in, Plotly figures out.

Inputs are the frames of :mod:`dln_core.embeddings.pipeline` (``history``, ``trace``, ``modes``,
``embedding``). Time axes are gradient-flow time t = η·k (THEORY.md §1); the loss is
¼‖M* − WWᵀ‖²_F (the two-layer (H) loss, see dln_core.embeddings.theory). Pure: no streamlit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

T_TITLE = "time t = η·k"
ARROW_COLOURS = ("#d62728", "#ff7f0e", "#2ca02c", "#9467bd")


def mode_colours(n: int) -> list[str]:
    """Mode 1 dark blue … mode n light blue (the article's palette idea)."""
    if n <= 1:
        return sample_colorscale("Blues", [0.95])
    return sample_colorscale("Blues", list(np.linspace(0.95, 0.35, n)))


def scatter_steps(embedding: pd.DataFrame) -> list[int]:
    """The steps available for the 3-D scatter."""
    return sorted(int(s) for s in embedding["step"].unique())


def label_mask(coords: np.ndarray, span: np.ndarray, min_sep: float = 0.08) -> np.ndarray:
    """Which highlighted words get a text label: greedily, in order, a word is labelled only if it
    sits at least ``min_sep`` (a fraction of each axis's span) from every word labelled before it,
    so close words (man/woman early on, or the whole cloud at the origin) do not print into a blob."""
    scaled = np.asarray(coords, float) / np.where(np.asarray(span, float) > 0, span, 1.0)
    keep = np.zeros(len(scaled), dtype=bool)
    for i, p in enumerate(scaled):
        if not np.all(np.isfinite(p)):
            continue
        if not keep.any() or np.min(np.linalg.norm(scaled[keep] - p, axis=1)) >= min_sep:
            keep[i] = True
    return keep


def embedding_scatter(
    embedding: pd.DataFrame,
    step: int,
    axes: Sequence[int] = (1, 2, 3),
    arrows: Sequence[tuple[str, str]] = (),
    fixed_range: bool = True,
) -> go.Figure:
    """3-D scatter of all words at ``step`` on principal directions ``axes`` (1-based).

    Hover shows the word; highlighted words carry permanent labels; each arrow a → b is drawn as a
    line with a cone at b. With ``fixed_range`` the axes span the whole run, so the cloud visibly
    grows out of the origin as modes are learned.
    """
    cols = [f"pc_{a}" for a in axes]
    missing = [c for c in cols if c not in embedding.columns]
    if missing:
        raise ValueError(f"principal directions out of range: {missing}")
    frame = embedding[embedding["step"] == step]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter3d(
            x=frame[cols[0]], y=frame[cols[1]], z=frame[cols[2]], mode="markers", name="words",
            text=frame["word"], hovertemplate="%{text}<extra></extra>",
            marker={"size": 2.5, "color": frame["rank"], "colorscale": "Viridis", "opacity": 0.55,
                    "colorbar": {"title": "frequency rank", "thickness": 12}},
        )
    )
    hl = frame[frame["highlight"]]
    if len(hl):
        span = 2 * np.nanmax(np.abs(embedding[cols].to_numpy()), axis=0)
        shown = label_mask(hl[cols].to_numpy(), span)
        fig.add_trace(
            go.Scatter3d(
                x=hl[cols[0]], y=hl[cols[1]], z=hl[cols[2]], mode="markers+text", name="highlighted",
                text=np.where(shown, hl["word"], ""), customdata=hl["word"], textposition="top center",
                hovertemplate="%{customdata}<extra></extra>", marker={"size": 5, "color": "#d62728"},
                textfont={"size": 13},
            )
        )
    pos = {w: (float(r[cols[0]]), float(r[cols[1]]), float(r[cols[2]])) for w, r in hl.set_index("word").iterrows()}
    for i, (a, b) in enumerate(arrows):
        if a not in pos or b not in pos:
            continue
        (xa, ya, za), (xb, yb, zb) = pos[a], pos[b]
        colour = ARROW_COLOURS[i % len(ARROW_COLOURS)]
        fig.add_trace(
            go.Scatter3d(x=[xa, xb], y=[ya, yb], z=[za, zb], mode="lines", name=f"{a} → {b}",
                         line={"color": colour, "width": 5}, hoverinfo="skip")
        )
        fig.add_trace(
            go.Cone(x=[xb], y=[yb], z=[zb], u=[xb - xa], v=[yb - ya], w=[zb - za], sizemode="absolute",
                    sizeref=0.15 * float(np.linalg.norm([xb - xa, yb - ya, zb - za]) or 1.0), anchor="tip",
                    showscale=False, colorscale=[[0, colour], [1, colour]], hoverinfo="skip", name=f"{a} → {b}")
        )
    scene = {f"{ax}axis": {"title": f"PC {a}"} for ax, a in zip("xyz", axes)}
    if fixed_range:
        for ax, c in zip("xyz", cols):
            lim = float(np.nanmax(np.abs(embedding[c].to_numpy()))) * 1.05 or 1.0
            scene[f"{ax}axis"]["range"] = [-lim, lim]
    scene["aspectmode"] = "cube"
    t = float(frame["t"].iloc[0]) if len(frame) else float("nan")
    fig.update_layout(scene=scene, height=580, margin={"l": 0, "r": 0, "t": 70, "b": 0},
                      title=f"Embedding at step {step} (t = {t:.3g})",
                      legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"})
    return fig


def singular_values_chart(history: pd.DataFrame, n_modes: int, theory: str = "gd", measured: str = "mode") -> go.Figure:
    """Per-mode strength vs t: measured solid, theory dashed, one colour per mode.

    ``measured``: "mode" plots √u_k = ‖v_kᵀW‖ (the projection on M*'s k-th eigenvector, THEORY §1's
    recommended measurement), "sv" the sorted singular values of W (can swap modes with close
    eigenvalues). ``theory``: "gd" (exact finite-η recursion), "gf" (gradient-flow logistic) or "both".
    """
    if theory not in ("gd", "gf", "both"):
        raise ValueError(f"theory must be 'gd', 'gf' or 'both', got {theory!r}")
    if measured not in ("mode", "sv"):
        raise ValueError(f"measured must be 'mode' or 'sv', got {measured!r}")
    fig = go.Figure()
    colours = mode_colours(n_modes)
    for k in range(1, n_modes + 1):
        c = colours[k - 1]
        y = np.sqrt(np.clip(history[f"mode_{k}"], 0, None)) if measured == "mode" else history[f"sv_{k}"]
        fig.add_trace(go.Scatter(x=history["t"], y=y, mode="lines", name=f"mode {k}",
                                 legendgroup=f"m{k}", line={"color": c, "width": 2}))
        kinds = [("gd", "theory_gd_sv", "dash"), ("gf", "theory_sv", "dot")]
        for kind, prefix, dash in kinds:
            if theory in (kind, "both"):
                label = "finite-η theory" if kind == "gd" else "gradient-flow theory"
                fig.add_trace(go.Scatter(x=history["t"], y=history[f"{prefix}_{k}"], mode="lines",
                                         name=f"mode {k} {label}", legendgroup=f"m{k}", showlegend=False,
                                         line={"color": c, "width": 1.5, "dash": dash}))
    what = "√u_k = ‖v_kᵀW‖" if measured == "mode" else "sorted singular values of W"
    fig.update_layout(title=f"{what}: measured (solid) vs theory (dashed)", height=380,
                      xaxis_title=T_TITLE, yaxis_title="√u_k" if measured == "mode" else "singular value",
                      margin={"t": 40, "b": 40})
    return fig


def loss_chart(trace: pd.DataFrame, optimum_loss: float | None = None, excess: bool = False) -> go.Figure:
    """Loss vs t at every step (the staircase); dotted line at the closed-form optimum.

    With ``excess`` the y axis is loss − optimum on a log scale: every learned mode is then a
    visible step, also late ones whose drops are small next to the first.
    """
    if excess:
        if optimum_loss is None or not np.isfinite(optimum_loss):
            raise ValueError("excess loss needs a finite optimum_loss")
        y = np.clip(trace["loss"].to_numpy() - optimum_loss, 1e-12, None)
        fig = go.Figure(go.Scatter(x=trace["t"], y=y, mode="lines", name="loss − optimum",
                                   line={"color": "#1f77b4"}))
        # one label per decade as a power of ten (minor ticks unlabelled: no "7 6 5 … 9 8")
        fig.update_yaxes(type="log", dtick=1, exponentformat="power", showexponent="all")
        title, ytitle = "Excess loss ¼‖M* − WWᵀ‖² − optimum (log)", "loss − optimum"
    else:
        fig = go.Figure(go.Scatter(x=trace["t"], y=trace["loss"], mode="lines", name="loss",
                                   line={"color": "#1f77b4"}))
        if optimum_loss is not None and np.isfinite(optimum_loss):
            fig.add_hline(y=optimum_loss, line_dash="dot", line_color="grey",
                          annotation_text="closed-form optimum", annotation_position="top right")
        title, ytitle = "Loss ¼‖M* − WWᵀ‖²", "loss"
    fig.update_layout(title=title, height=340, xaxis_title=T_TITLE, yaxis_title=ytitle, margin={"t": 40, "b": 40})
    return fig


def accuracy_rank_chart(history: pd.DataFrame, closed_form_accuracy: float | None = None) -> go.Figure:
    """Analogy accuracy (left axis) and effective / learned rank (right axis) vs t."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=history["t"], y=100 * history["analogy_accuracy"], mode="lines+markers",
                             name="analogy accuracy (%)", marker={"size": 4}, line={"color": "#d62728"}),
                  secondary_y=False)
    if closed_form_accuracy is not None and np.isfinite(closed_form_accuracy):
        fig.add_trace(go.Scatter(x=[history["t"].min(), history["t"].max()], y=[100 * closed_form_accuracy] * 2,
                                 mode="lines", name="closed-form optimum (%)",
                                 line={"color": "#d62728", "dash": "dot"}), secondary_y=False)
    fig.add_trace(go.Scatter(x=history["t"], y=history["eff_rank"], mode="lines", name="effective rank",
                             line={"color": "#2ca02c"}), secondary_y=True)
    fig.add_trace(go.Scatter(x=history["t"], y=history["learned_rank"], mode="lines", name="learned modes",
                             line={"color": "#2ca02c", "dash": "dash", "shape": "hv"}), secondary_y=True)
    fig.update_layout(title="Analogy accuracy and rank of the embedding", height=360, margin={"t": 40, "b": 40})
    fig.update_xaxes(title_text=T_TITLE)
    fig.update_yaxes(title_text="accuracy (%)", secondary_y=False, rangemode="tozero")
    fig.update_yaxes(title_text="rank", secondary_y=True, rangemode="tozero")
    return fig


def halfway_chart(modes: pd.DataFrame, n_modes: int = 20) -> go.Figure:
    """Measured vs predicted halfway step per mode (points on the diagonal = agreement)."""
    m = modes.head(n_modes)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=m["halfway_step_gd_theory"], y=m["halfway_step"], mode="markers+text",
                             text=m["mode"], textposition="top center", name="finite-η theory"))
    fig.add_trace(go.Scatter(x=m["halfway_step_theory"], y=m["halfway_step"], mode="markers",
                             marker={"symbol": "x"}, name="gradient-flow theory"))
    lo = float(np.nanmin(m[["halfway_step", "halfway_step_theory", "halfway_step_gd_theory"]].to_numpy(), initial=0))
    hi = float(np.nanmax(m[["halfway_step", "halfway_step_theory", "halfway_step_gd_theory"]].to_numpy(), initial=1))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line={"color": "grey", "dash": "dot"},
                             name="equal"))
    fig.update_layout(title="Halfway step per mode: measured vs theory", height=340,
                      xaxis_title="predicted halfway step", yaxis_title="measured halfway step",
                      margin={"t": 40, "b": 40})
    return fig


def embedding_animation(
    embedding: pd.DataFrame, axes: Sequence[int] = (1, 2, 3), arrows: Sequence[tuple[str, str]] = ()
) -> go.Figure:
    """The 3-D scatter as a Plotly animation over all scatter snapshots (play / pause and a scrub
    bar, like the article's widget), on fixed axes so the cloud visibly unfolds from the origin."""
    steps = scatter_steps(embedding)
    figs = [embedding_scatter(embedding, s, axes, arrows) for s in steps]
    fig = go.Figure(figs[0])
    fig.frames = [go.Frame(data=f.data, name=str(s), layout={"title": {"text": f.layout.title.text}})
                  for s, f in zip(steps, figs)]
    play = {"frame": {"duration": 350, "redraw": True}, "fromcurrent": True, "transition": {"duration": 0}}
    pause = {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"}
    fig.update_layout(
        height=660,
        margin={"l": 0, "r": 0, "t": 70, "b": 80},
        updatemenus=[{"type": "buttons", "direction": "left", "showactive": False, "x": 0.0, "y": 0.0,
                      "xanchor": "left", "yanchor": "top", "pad": {"t": 30},
                      "buttons": [{"label": "▶ play", "method": "animate", "args": [None, play]},
                                  {"label": "❚❚ pause", "method": "animate", "args": [[None], pause]}]}],
        sliders=[{"currentvalue": {"prefix": "step "}, "pad": {"t": 10}, "x": 0.2, "len": 0.8, "y": 0.0,
                  "yanchor": "top",
                  "steps": [{"label": str(s), "method": "animate",
                             "args": [[str(s)], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate"}]}
                            for s in steps]}],
    )
    return fig

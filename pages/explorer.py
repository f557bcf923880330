"""DLN explorer: train one deep linear network and compare every curve with its theory.

Thin page: widgets -> one cached engine call keyed on the frozen RunConfig -> chart builders in
dln_core.charts.explorer. Main widgets are bound to the URL, so a link reproduces the view.
"""

from __future__ import annotations

import dataclasses
import math

import streamlit as st

from dln_core import engine, frames, landscape
from dln_core.charts import explorer as charts
from dln_core.config import PRESETS, RunConfig
from dln_core.errors import ConfigError
from dln_core.inits import SCHEMES as SCHEMES_REGISTRY
from dln_core.limits import current_limits
from dln_core.targets import TARGET_KINDS
from pages._shared import computation, ensure_entrypoint, plain, remember_run, run_store, show_error

AUTO_STEP_CAP = 100_000  # interactive "auto" gives up here (a few seconds) instead of at the server cap
LAST_GOOD = "explorer_last_good"  # (label, RunResult) of the last valid, non-diverged run
# labels from the registries (targets.TARGET_KINDS, inits.SCHEMES); "random" = spectrum + rotate seed
TARGETS = {"article": TARGET_KINDS["article"].label, "spectrum": TARGET_KINDS["spectrum"].label,
           "random": TARGET_KINDS["spectrum"].label + ", random singular vectors",
           "hierarchy": TARGET_KINDS["hierarchy"].label}
SCHEMES = {name: SCHEMES_REGISTRY[name].label for name in sorted(SCHEMES_REGISTRY, key=lambda n: n != "near-identity")}
DEFAULTS = {"depth": 2, "target": "article", "init": "near-identity", "log_scale": -5.0, "lr": 0.01,
            "steps": 0, "seed": 0}


def _apply_preset(depth: int, name: str) -> None:
    """Button callback: the article widget's (η, c) pair for this depth (THEORY.md §1.6)."""
    lr, scale = PRESETS[(depth, name)]
    st.session_state.update(depth=depth, target="article", init="near-identity", lr=float(lr),
                            log_scale=round(math.log10(scale), 4), steps=0)


@st.cache_data(max_entries=16, show_spinner=False)
def train(cfg: RunConfig):
    """The page's one call into the engine: full-batch GD for this frozen config (deterministic given
    its seeds), priced first (over the CPU budget: refused with the estimate), with a progress bar,
    stopped between chunks if the visitor leaves or changes a widget meanwhile (_shared.computation);
    frames built here, once, so the cached copy carries them and a rerun never rebuilds."""
    limits = current_limits()
    if cfg.optim.steps == "auto":  # a hopeless plateau must not hold the page for minutes
        limits = dataclasses.replace(limits, max_steps=min(limits.max_steps, AUTO_STEP_CAP))
    with computation("Training the network…") as progress:
        return engine.run(cfg, progress, limits=limits).build_frames()


# The chart caches below are keyed on the config (and view); the run itself is handed in (``_run``:
# leading underscore = not hashed), never fetched again.
@st.cache_data(max_entries=16, show_spinner=False)
def surfaces(_run, cfg: RunConfig):
    """Two-mode slice with the training path, and the one-mode L = 2 saddle (THEORY §5)."""
    return landscape.two_mode_view(_run), landscape.saddle_view(_run)


@st.cache_data(max_entries=32, show_spinner=False)
def run_specs(_run, cfg: RunConfig, show_gd: bool, time_axis: str) -> dict:
    """Charts that do not depend on the snapshot, built once per run and view (Altair building costs
    more than the cached run); the page only adds the current-time marker to them."""
    h, levels = _run.history, _run.summary.plateau_levels
    saddle = surfaces(_run, cfg)[1]
    return {
        "loss": charts.to_spec(charts.loss_chart(h, levels, time_axis)),
        "modes": charts.to_spec(charts.modes_chart(_run.modes, show_gd, time_axis)),
        "balance": charts.to_spec(charts.balance_chart(h, time_axis)),
        "rank": charts.to_spec(charts.update_rank_chart(h, time_axis)),
        "saddle": charts.saddle_figure(saddle.a, saddle.b, saddle.loss, saddle.path_list(), saddle.saddle,
                                       saddle.hyperbola),
    }


@st.cache_data(max_entries=512, show_spinner=False)
def snapshot_specs(_run, cfg: RunConfig, step: int) -> dict:
    """The two snapshot-dependent views: alignment heatmaps and the landscape with the path so far."""
    two_mode = surfaces(_run, cfg)[0]
    path, now = two_mode.at(step)
    return {
        "alignment": charts.to_spec(charts.alignment_chart(_run.alignment, step)),
        "surface": charts.landscape_figure(two_mode.w1, two_mode.w2, two_mode.loss, path, now),
        "spectrum": charts.to_spec(charts.update_spectrum_chart(_run.updates, step)),
    }


@st.cache_data(max_entries=16, show_spinner=False)
def export_csv(_run, cfg: RunConfig) -> str:
    """The run's history with its flat config columns (frames.export_frame), as CSV text."""
    return frames.export_frame([_run]).to_csv(index=False)


# ------------------------------------------------------------------ controls
ensure_entrypoint()
st.title("DLN explorer")
st.caption("Train a deep linear network by full-batch gradient descent (loss ½‖·‖², time t = η·k) and "
           "watch each curve next to its exact theory.")

with st.sidebar:
    st.subheader("Article presets")
    st.caption("The article widget's (η, c) pairs, near-identity init, article target.")
    for col, name in zip(st.columns(3), ("Small", "Medium", "Large")):
        col.caption(name)
        for depth in (1, 2, 3):
            lr_p, c_p = PRESETS[(depth, name)]
            col.button(f"L={depth}", key=f"preset_{depth}_{name}", on_click=_apply_preset, args=(depth, name),
                       width="stretch", help=f"depth {depth}, {name}: η = {lr_p:g}, c = {c_p:g}")
    st.subheader("Network and target")
    depth = st.slider("depth L", 1, 8, DEFAULTS["depth"], key="depth", bind="query-params")
    # no format_func on bound widgets: the URL carries the displayed option, so keep it short
    target = st.selectbox("target Σyx", list(TARGETS), key="target", bind="query-params")
    st.caption(TARGETS[target])
    sv_text, rot_seed = "6, 4, 3, 2, 1, 0.5", None
    if target in ("spectrum", "random"):
        sv_text = st.text_input("singular values (comma separated, ≥ 0)", sv_text, key="sv",
                                bind="query-params")
    if target == "random":
        rot_seed = st.number_input("singular-vector seed", 0, 10**6, 0, key="rot_seed", bind="query-params")
    width = st.number_input("hidden width (0 = auto)", 0, 4096, 0, key="width", bind="query-params")
    st.subheader("Initialisation and training")
    scheme = st.selectbox("init scheme", list(SCHEMES), key="init", bind="query-params")
    st.caption(SCHEMES[scheme])
    log_scale = st.slider("init scale c (log₁₀)", -8.0, 1.0, DEFAULTS["log_scale"], 0.05, format="%.2f",
                          key="log_scale", bind="query-params")
    st.caption(f"c = {10 ** log_scale:.3g}")
    lambda_b = 0.0
    if scheme == "lambda-balanced":
        lambda_b = st.number_input("λ_b (W₂ᵀW₂ − W₁W₁ᵀ = λ_b I)", -10.0, 10.0, 0.0, key="lambda_b",
                                   bind="query-params")
    lr = st.number_input("learning rate η", 0.0, 10.0, DEFAULTS["lr"], format="%.5g", key="lr",
                         bind="query-params")
    steps = st.number_input("steps (0 = auto: until loss < 0.05, then ×4)", 0, 10**8, 0, key="steps",
                            bind="query-params")
    seed = st.number_input("seed", 0, 10**6, 0, key="seed", bind="query-params")
    st.subheader("View")
    show_gd = st.toggle("finite-η theory overlay", key="show_gd", bind="query-params")
    time_axis = st.radio("time axis (step k or t = η·k)", ["step", "t"], horizontal=True, key="time_axis",
                         bind="query-params")

target_label = f"{target} {sv_text}" if target in ("spectrum", "random") else target
label = (f"L={depth} {scheme} c={10 ** log_scale:.3g} η={lr:g} steps={steps or 'auto'} seed={seed} "
         f"({target_label})")

# ------------------------------------------------------------------ one cached run
result = None
try:
    cfg = RunConfig.make(
        target_kind="spectrum" if target == "random" else target,
        singular_values=sv_text, rotate_seed=rot_seed, depth=depth, width=width or None,
        init_scheme=scheme, init_scale=10 ** log_scale, lambda_b=lambda_b, lr=lr,
        steps=steps or "auto", seed=seed,
    )
    cfg.check_limits(current_limits())
    result = train(cfg)
except ConfigError as exc:
    show_error(exc)
except Exception as exc:  # an unexpected engine failure: message, never a traceback
    show_error(exc, "training failed")

if result is not None and result.summary.diverged:
    st.warning(f"Training diverged at step {result.summary.diverged_step}: η = {lr:g} is too "
               "large for this target and depth (stable only below 2 / sharpness).", icon=":material/warning:")
    result = None
if result is not None:
    st.session_state[LAST_GOOD] = (label, cfg, result)
    remember_run(result, label)
elif LAST_GOOD in st.session_state:
    label, cfg, result = st.session_state[LAST_GOOD]
    st.info(plain(f"Showing the last valid run: {label}"), icon=":material/history:")
if result is None:
    st.stop()

summary = result.summary
if summary.lr_over_cap is True:
    st.warning(f"η = {summary.lr:g} is above the stable cap 2/sharpness = {summary.lr_cap or math.nan:.4g}"
               " at the balanced minimum: the run oscillates or diverges.", icon=":material/warning:")
if summary.auto and summary.auto_reached is False:
    st.warning(f"'auto' stopped after {summary.steps:,} steps and the loss is still above 0.05 (the "
               "network is stuck on a plateau). Raise the init scale or η, or set the steps yourself.",
               icon=":material/hourglass_bottom:")
elif not summary.converged and not summary.diverged:
    fix = "Lower η below the cap." if summary.lr_over_cap else "Run more steps, or raise the init scale or η."
    st.warning(f"Not converged after {summary.steps:,} steps: the loss ({summary.final_loss:.3g}) has "
               f"not reached its minimum. {fix}", icon=":material/hourglass_bottom:")
m1, m2, m3, m4 = st.columns(4)
m1.metric("final loss", f"{summary.final_loss:.4g}")
m2.metric("steps run", f"{summary.steps:,}")
m3.metric("modes", len(summary.lambda_star))
m4.metric("train time", f"{summary.wall_time_s:.2f} s")

# ------------------------------------------------------------------ export
e1, e2 = st.columns(2)
e1.download_button("Download history (CSV)", export_csv(result, cfg), file_name="dln_run.csv", mime="text/csv",
                   on_click="ignore", key="download_csv", icon=":material/download:")
if e2.button("Save to runs", key="save_run", icon=":material/save:"):
    store = run_store()
    if store is None:
        st.warning("The run store is not available on this server.")
    else:
        try:
            run_id = store.save(result, name=label)
            st.toast(f"Saved as {run_id}", icon=":material/check:")
        except Exception as exc:  # disk full / read-only: say so, keep the page
            show_error(exc, "could not save")

# ------------------------------------------------------------------ time-dependent panels
steps_recorded = [int(s) for s in result.history["step"]]
if st.session_state.get("snap_for") != cfg or st.session_state.get("snap", 0) >= len(steps_recorded):
    st.session_state["snap_for"] = cfg  # a new run starts at its last snapshot
    st.session_state["snap"] = len(steps_recorded) - 1
st.session_state.setdefault("playing", False)


def _set_playing(value: bool) -> None:
    st.session_state["playing"] = value
    if value and st.session_state.get("snap", 0) >= len(steps_recorded) - 1:
        st.session_state["snap"] = 0  # replay from the start


playing = st.session_state["playing"]
st.button("Pause" if playing else "Play", icon=":material/pause:" if playing else ":material/play_arrow:",
          key="play_pause", on_click=_set_playing, args=(not playing,),
          help="Replay the recorded snapshots (no retraining).")


@st.fragment(run_every=0.5 if st.session_state["playing"] else None)
def time_panels(result, cfg) -> None:
    """Everything that depends on the chosen snapshot; replays stored snapshots, never retrains."""
    last = len(steps_recorded) - 1
    if st.session_state["playing"]:
        st.session_state["snap"] = min(st.session_state["snap"] + max(1, last // 60), last)
    snap = st.slider("snapshot", 0, last, key="snap", help="Scrub through the recorded snapshots.")
    if st.session_state["playing"] and snap >= last:
        st.session_state["playing"] = False
        st.rerun()  # full rerun: re-declares this fragment without the timer
    step = steps_recorded[snap]
    st.caption(f"step k = {step:,}, t = η·k = {step * result.summary.lr:.4g}")
    try:
        spec = {**run_specs(result, cfg, show_gd, time_axis), **snapshot_specs(result, cfg, step)}
        for name in ("loss", "modes", "balance", "rank"):
            spec[name] = charts.with_current_step(spec[name], result.history, step, time_axis)
    except Exception as exc:  # a chart that cannot be drawn is reported, never a traceback
        show_error(exc, "could not draw the charts")
        return

    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**1. Loss**")
        st.vega_lite_chart(spec["loss"], theme=None)
        st.caption("From small init the loss rests on flat steps at the dotted levels: each is a saddle "
                   "where some modes are learned and the rest are still zero. Each drop is a mode switching on.")
    with c2:
        st.markdown("**2. Mode strengths**")
        st.vega_lite_chart(spec["modes"], theme=None)
        st.caption(r"Solid: measured $u_i = u_i^{*\top} W v_i^*$. Dashed: the scalar ODE, started from the "
                   r"measured $u_i$ once mode $i$ has aligned. Larger singular values switch on first.")
    if (result.mode_summary["theory_start_step"].fillna(0) > 0).any():
        st.caption("From this start the layers first rotate onto the target's modes, which the mode ODE does "
                   "not describe; each dashed curve begins where its mode has aligned (column 'theory from').")
    st.dataframe(charts.halfway_table(result.mode_summary), hide_index=True, column_config={
        "u(0)": st.column_config.NumberColumn(format="%.2e"),
        "halfway step (theory)": st.column_config.NumberColumn(format="%.1f"),
        "measured / theory": st.column_config.NumberColumn(format="%.3f"),
    })

    st.markdown("**3. Alignment**")
    st.vega_lite_chart(spec["alignment"], theme=None)
    st.caption("Overlaps of singular vectors (blue +1, red −1). A diagonal pattern means the layers "
               "point along the target's modes and agree with each other; with small init this happens "
               "long before the loss moves.")

    st.markdown("**4. Loss landscape**")
    t1, t2 = st.tabs(["top two modes", "one-mode saddle (L = 2)"])
    with t1:
        st.plotly_chart(spec["surface"], key="surface_two_mode")
        st.caption("Loss over the per-layer strengths of modes 1 and 2 (the others held at zero), scaled "
                   "to 1 at the origin. The red path leaves the flat centre along mode 1 first.")
    with t2:
        st.plotly_chart(spec["saddle"], key="surface_saddle")
        st.caption("½(λ − ab)² for one mode: the origin is a saddle, not a trap; every point of the white "
                   "curves ab = λ is a global minimum, and gradient flow (red) keeps a² − b² fixed.")

    c3, c4 = st.columns(2)
    with c3:
        st.markdown("**5a. Balancedness drift**")
        st.vega_lite_chart(spec["balance"], theme=None)
        st.caption(r"How far $W_{l+1}^\top W_{l+1} - W_l W_l^\top$ has moved. Gradient flow conserves it; "
                   "a finite step η adds a tiny drift.")
    with c4:
        st.markdown("**5b. Update effective rank**")
        st.vega_lite_chart(spec["rank"], theme=None)
        st.caption("While one mode is being learned each step's weight change is close to rank one. Once "
                   "training has converged the updates are rounding noise, so the tail means nothing.")
    st.markdown("**Update spectrum at this snapshot**: singular values of each layer's step ΔW_l, "
                "relative to its largest.")
    st.vega_lite_chart(spec["spectrum"], theme=None)


time_panels(result, cfg)

"""DLN explorer: train one deep linear network and compare every curve with its theory.

Thin page: widgets -> one cached engine call keyed on the frozen RunConfig -> chart builders in
dln_core.charts.explorer. Main widgets are bound to the URL, so a link reproduces the view.
"""

from __future__ import annotations

import dataclasses
import math

import streamlit as st

from dln_core import advice, engine, frames, landscape, launch, urlparams
from dln_core.charts import captions, playback, tables
from dln_core.charts import explorer as charts
from dln_core.config import PRESET_CAPTION, PRESETS, RunConfig
from dln_core.errors import ConfigError
from dln_core.inits import SCHEMES as SCHEMES_REGISTRY
from dln_core.limits import current_limits
from dln_core.targets import TARGET_KINDS
from pages import _curvature, _laws
from pages._shared import (
    computation,
    ensure_entrypoint,
    explorer_footer,
    plain,
    remember_run,
    run_store,
    show_error,
)

ICONS = {"success": ":material/check_circle:", "info": ":material/info:", "warning": ":material/warning:",
         "error": ":material/error:"}
AUTO_STEP_CAP = 100_000  # interactive "auto" gives up here (a few seconds) instead of at the server cap
LAST_GOOD = "explorer_last_good"  # (label, RunResult) of the last valid, non-diverged run
# labels from the registries (targets.TARGET_KINDS, inits.SCHEMES); "random" = spectrum + rotate seed
TARGETS = {"article": TARGET_KINDS["article"].label, "spectrum": TARGET_KINDS["spectrum"].label,
           "random": TARGET_KINDS["spectrum"].label + ", random singular vectors",
           "hierarchy": TARGET_KINDS["hierarchy"].label}
SCHEMES = {name: SCHEMES_REGISTRY[name].label for name in sorted(SCHEMES_REGISTRY, key=lambda n: n != "near-identity")}
# URL rules of the bound widgets (urlparams.check_query): a bad value is named, never dropped silently
URL_SPEC = {"depth": ("int", 1, 8), "target": ("choice", list(TARGETS)), "width": ("int", 0, 4096),
            "init": ("choice", list(SCHEMES)), "log_scale": ("float", -8.0, 1.0), "lambda_b": ("float", -10.0, 10.0),
            "lr": ("float", 0.0, 10.0), "steps": ("int", 0, 10**8), "seed": ("int", 0, 10**6),
            "rot_seed": ("int", 0, 10**6), "show_gd": ("bool",), "time_axis": ("choice", ["step", "t"])}
DEFAULTS = {"depth": 2, "target": "article", "init": "near-identity", "log_scale": -5.0, "lr": 0.01,
            "steps": 0, "seed": 0}


def _apply_preset(depth: int, name: str) -> None:
    """Button callback: the article widget's (η, c) pair for this depth (THEORY.md §1.6)."""
    lr, scale = PRESETS[(depth, name)]
    st.session_state.update(depth=depth, target="article", init="near-identity", lr=float(lr),
                            log_scale=round(math.log10(scale), 4), steps=0)


@st.cache_data(max_entries=16, show_spinner=False)
def train(cfg: RunConfig, sharpness: bool = False):
    """The page's one call into the engine: full-batch GD for this frozen config (deterministic given
    its seeds), priced first (over the CPU budget: refused with the estimate), with a progress bar,
    stopped between chunks if the visitor leaves or changes a widget meanwhile (_shared.computation);
    frames built here, once, so the cached copy carries them and a rerun never rebuilds."""
    limits = current_limits()
    if cfg.optim.steps == "auto":  # a hopeless plateau must not hold the page for minutes
        limits = dataclasses.replace(limits, max_steps=min(limits.max_steps, AUTO_STEP_CAP))
    with computation("Training the network…") as progress:
        return engine.run(cfg, progress, limits=limits, sharpness=sharpness).build_frames()


# The chart caches below are keyed on the config (and view); the run itself is handed in (``_run``:
# leading underscore = not hashed), never fetched again.
@st.cache_data(max_entries=16, show_spinner=False)
def surfaces(_run, cfg: RunConfig):
    """Two-mode slice with the training path, and the one-mode L = 2 saddle (THEORY §5)."""
    return landscape.two_mode_view(_run), landscape.saddle_view(_run)


@st.cache_data(max_entries=16, show_spinner=False)
def player(_run, cfg: RunConfig, show_gd: bool, time_axis: str, sharp: bool) -> tuple[str, int]:
    """The in-browser player for this run and view (html, height): all snapshot data, sent once."""
    view = landscape.two_mode_view(_run, n=31)
    payload = playback.playback_payload(_run, view, time_axis, show_gd)
    return playback.player_html(payload), playback.player_height(payload)


@st.cache_data(max_entries=16, show_spinner=False)
def run_specs(_run, cfg: RunConfig) -> dict:
    """The rotatable 3-D figures (whole path), built once per run."""
    two_mode, saddle = surfaces(_run, cfg)
    path, now = two_mode.at(None)
    return {
        "surface": charts.landscape_figure(two_mode.w1, two_mode.w2, two_mode.loss, path, now),
        "saddle": charts.saddle_figure(saddle.a, saddle.b, saddle.loss, saddle.path_list(), saddle.saddle,
                                       saddle.hyperbola),
    }


@st.cache_data(max_entries=16, show_spinner=False)
def export_csv(_run, cfg: RunConfig) -> str:
    """The run's history with its flat config columns (frames.export_frame), as CSV text."""
    return frames.export_frame([_run]).to_csv(index=False)


def _scale_init(depth: int, target: str, scheme: str) -> None:
    """Button callback: the depth-scaled init c (dln_core.advice.scaled_init_for) for this target and η."""
    try:
        cfg = RunConfig.make(target_kind="spectrum" if target == "random" else target, depth=depth,
                             singular_values=st.session_state.get("sv", "6, 4, 3, 2, 1, 0.5"),
                             width=st.session_state.get("width") or None, init_scheme=scheme,
                             lr=st.session_state.get("lr") or DEFAULTS["lr"])
    except ConfigError:
        return  # the page shows the bad control's error on this rerun
    c = advice.scaled_init_for(cfg)
    st.session_state.update(log_scale=round(min(max(math.log10(c), -8.0), 1.0), 2), steps=0)


def _apply_fix(fix: dict) -> None:
    """Button callback: set the controls a message's one-click fix names (auto steps again)."""
    st.session_state.update({**fix, "steps": 0})


def _show_messages(messages, where: str) -> None:
    """The run's verdicts from dln_core.advice, each with its one-click fix when it has one."""
    for k, m in enumerate(messages):
        getattr(st, m.level)(m.text, icon=ICONS[m.level])
        if m.fix:
            st.button(m.fix_label, key=f"fix_{where}_{k}", on_click=_apply_fix, args=(m.fix,),
                      icon=":material/auto_fix_high:")


# ------------------------------------------------------------------ controls
ensure_entrypoint()
bad_params = urlparams.check_query(st.query_params.to_dict(), URL_SPEC)
st.title("DLN explorer")
st.caption("Train a deep linear network by full-batch gradient descent (loss ½‖·‖², time t = η·k) and "
           "watch each curve next to its exact theory.")

with st.sidebar:
    st.subheader("Article presets")
    st.caption(PRESET_CAPTION)
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
    st.button(f"Scale c for depth {depth}", key="scale_init", on_click=_scale_init, args=(depth, target, scheme),
              icon=":material/tune:", help="The smallest c whose slowest mode is learned within ≈ 2,500 steps at "
              "this η (half-way time of the mode law): plateaus stay visible and the run finishes.")
    lambda_b = 0.0
    if scheme == "lambda-balanced":
        lambda_b = st.number_input("λ_b (W₂ᵀW₂ − W₁W₁ᵀ = λ_b I)", -10.0, 10.0, 0.0, key="lambda_b",
                                   bind="query-params")
    lr = st.number_input("learning rate η", 0.0, 10.0, DEFAULTS["lr"], format="%.5g", key="lr",
                         bind="query-params")
    steps = st.number_input("steps (0 = auto: until loss < 0.05, then ×4)", 0, 10**8, 0, key="steps",
                            bind="query-params")
    seed = st.number_input("seed", 0, 10**6, 0, key="seed", bind="query-params")
    sharp = st.toggle("Track sharpness (Hessian at every snapshot)", key="sharpness",
                      help="Top Hessian eigenvalues along the path; retrains the run, and its cost is shown.")
    st.subheader("View")
    show_gd = st.toggle("finite-η theory overlay", key="show_gd", bind="query-params")
    time_axis = st.radio("time axis (step k or t = η·k)", ["step", "t"], horizontal=True, key="time_axis",
                         bind="query-params")

for bad in bad_params:
    st.warning(plain(bad.message(st.session_state.get(bad.name))), icon=":material/link_off:")  # the value is user text

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
    result = train(cfg, sharp)
except ConfigError as exc:
    show_error(exc)
except Exception as exc:  # an unexpected engine failure: message, never a traceback
    show_error(exc, "training failed")

if result is not None and result.summary.diverged:
    _show_messages(advice.run_messages(result.summary, cfg), "diverged")
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
if not summary.diverged:
    _show_messages(advice.run_messages(summary, cfg), "run")
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

# ------------------------------------------------------------------ playback (in the browser)
st.markdown("**Watch it learn.** Play, pause, reset and scrub run in your browser from this run's recorded "
            "snapshots: no retraining and no server round trip per frame.")
try:
    html, height = player(result, cfg, show_gd, time_axis, result.curvature is not None)
    st.iframe(html, height=height)
except Exception as exc:  # a chart that cannot be drawn is reported, never a traceback
    show_error(exc, "could not draw the charts")
st.caption(captions.loss_caption(depth, summary))
# plain Unicode, no $…$: the page's only TeX would make the browser fetch KaTeX (≈ 0.3 MB of script and
# fonts) while the player draws, delaying the first chart (benchmarks/bench_browser.py)
st.caption(r"Modes: solid is the measured uᵢ = uᵢ\*ᵀ W vᵢ\*, dashed the scalar mode ODE (faint ahead of the "
           r"playhead). Alignment: overlaps of singular vectors, U\*ᵀ U of the top layer, V₁ᵀ V\* and Vₗ₊₁ᵀ Uₗ; a "
           r"diagonal pattern means the layers point along the target's modes.")
note, no_theory = launch.theory_note(result.mode_summary)  # where each dashed curve starts, or why none
st.caption(note)
if no_theory:
    st.info(no_theory)
table = charts.halfway_table(result.mode_summary)
st.dataframe(tables.display_frame(table, keep=("mode",)), hide_index=True, column_config={
    col: st.column_config.TextColumn(help=text) for col, text in tables.column_help(table).items()})
_laws.depth_exponent_panel(result)  # "the depth exponent of this run"
_curvature.curvature_panel(result, time_axis)
_curvature.hierarchy_panel(result, time_axis)

if st.toggle("Rotatable 3-D views (WebGL): the two-mode slice and the one-mode saddle", key="show_3d",
             help="Plotly surfaces you can turn and zoom. Off by default: WebGL is slow on machines without a GPU."):
    spec = run_specs(result, cfg)
    t1, t2 = st.tabs(["top two modes", "one-mode saddle (L = 2)"])
    with t1:
        st.plotly_chart(spec["surface"], key="surface_two_mode")
        st.caption("Loss over the per-layer strengths of modes 1 and 2 (the others held at zero), scaled "
                   "to 1 at the origin and clipped above 1.2. The red path leaves the flat centre along mode 1 first.")
    with t2:
        st.plotly_chart(spec["saddle"], key="surface_saddle")
        st.caption("½(λ − ab)² for one mode: the origin is a saddle, not a trap; every point of the white "
                   "curves ab = λ is a global minimum, and gradient flow (red) keeps a² − b² fixed.")

explorer_footer(result, time_axis, show_gd)

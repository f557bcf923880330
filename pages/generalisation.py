"""Generalisation & early stopping: a teacher, a noisy sample, a DLN trained on it (thin page; THEORY §9).

Widgets → one cached call into ``dln_core.generalize`` / ``generalize_studies`` per panel → charts from
``dln_core.charts.generalize``. Each call is priced against the CPU budget first; bad input shows an
error and keeps the previous results.
"""

from __future__ import annotations

import streamlit as st

from dln_core import generalize, generalize_studies
from dln_core.charts import generalize as charts
from dln_core.config import parse_floats
from dln_core.generalize_config import INIT_SCHEMES, INPUTS, GeneralizeConfig
from pages._shared import altair_figure, computation, ensure_entrypoint, plain, references, show_error, url

ensure_entrypoint()
st.title("Generalisation & early stopping")
st.markdown("""
A **teacher** matrix W̄ of low rank labels P random inputs, and every label carries Gaussian noise of size
σ. A deep linear **student** is trained by full-batch gradient descent on this sample only. Its *train*
loss keeps falling; its **test** loss — the error on fresh inputs, ½‖W − W̄‖² plus the noise floor
½·n_out·σ² — falls while the student picks up the teacher's strong modes and rises again once it starts
fitting the noise. Stopping at the minimum generalises best.

With whitened inputs the sample's input covariance is exactly the identity, so the dynamics are the
mode law on the sample's own Σ̂yx, and the **exact theory** (dashed) predicts the whole test curve and
its best step from the sample's singular values and their overlap with the teacher. The **asymptotic**
(dotted) curve uses only the teacher's singular values, σ, P and the dimensions (random-matrix theory:
outliers above the BBP threshold, a Marchenko–Pastur noise bulk).
""")

DEFAULTS = GeneralizeConfig().to_dict()


@st.cache_data(show_spinner=False, max_entries=32)
def compute(kind: str, params: dict) -> dict:
    """One cached computation: the run itself or one of the studies, on the config ``params``."""
    cfg = GeneralizeConfig(**{**params, "singular_values": tuple(params["singular_values"])})
    with computation("Training on the sample…") as progress:
        if kind == "run":
            res = generalize.run_generalize(cfg, progress)
            return {"summary": res.summary, "history": res.history, "modes": res.modes, "teacher": res.teacher}
        if kind == "init_depth":
            return generalize_studies.study_init_depth(cfg, scales=(3e-3, 1e-2, 3e-2, 1e-1), depths=(1, 2, 3),
                                                       progress=progress)
        if kind == "depths":
            return generalize_studies.study_depths(cfg, depths=(1, 2), progress=progress)
        return generalize_studies.study_rmt_gap(cfg, sizes=(25, 50, 100, 200), seeds=(0, 1, 2), progress=progress)


def panel(kind: str, params: dict) -> dict | None:
    """compute(), or an error box (e.g. over the CPU budget) and None."""
    try:
        return compute(kind, params)
    except Exception as exc:
        show_error(exc)
        return None


with st.form("gen_form"):
    c = st.columns(6)
    n_in = c[0].number_input("n_in", value=20, min_value=1, max_value=4096, step=1, **url("g_n_in"))
    n_out = c[1].number_input("n_out", value=20, min_value=1, max_value=4096, step=1, **url("g_n_out"))
    sv = c[2].text_input("teacher singular values", "4,2,1", **url("g_sv"), help="one per teacher mode (rank = count)")
    samples = c[3].number_input("samples P", value=40, min_value=1, step=1, **url("g_samples"))
    noise = c[4].number_input("noise σ", value=1.0, min_value=0.0, format="%.3f", **url("g_noise"))
    inputs = c[5].selectbox("inputs", INPUTS, **url("g_inputs"),
                            help="whitened in the sample (exact theory) or raw Gaussian (simulation only)")
    c = st.columns(6)
    depth = c[0].number_input("depth L", value=2, min_value=1, max_value=12, step=1, **url("g_depth"))
    scheme = c[1].selectbox("init", INIT_SCHEMES, **url("g_init"),
                            help="aligned: on the sample's modes (exact theory); gaussian: small random start")
    scale = c[2].number_input("init scale", value=1e-3, min_value=1e-12, format="%.1e", **url("g_scale"))
    lr = c[3].number_input("learning rate η", value=0.05, min_value=1e-6, format="%.4f", **url("g_lr"))
    steps = c[4].text_input("steps", "auto", **url("g_steps"), help="'auto': past the minimum until the test "
                            "loss has risen most of the way to its final value")
    seed = c[5].number_input("seed", value=0, min_value=0, step=1, **url("g_seed"))
    submitted = st.form_submit_button("Run", icon=":material/play_arrow:")


def parse() -> dict:
    values = parse_floats("teacher singular values", sv, positive=True)
    text = steps.strip().lower()
    cfg = GeneralizeConfig(n_in=int(n_in), n_out=int(n_out), rank=len(values), singular_values=values,
                           samples=int(samples), noise=float(noise), inputs=inputs, depth=int(depth),
                           init_scheme=scheme, init_scale=float(scale), lr=float(lr),
                           steps="auto" if text == "auto" else (int(text) if text.isdigit() else text), seed=int(seed))
    return cfg.to_dict()


KEY = "gen_params"
if submitted or KEY not in st.session_state:
    try:
        new = parse()
        compute("run", new)  # only a computation that worked replaces the previous parameters
        st.session_state[KEY] = new
    except Exception as exc:
        show_error(exc)
params = st.session_state.get(KEY, DEFAULTS)
data = panel("run", params)

if data is not None:
    s = data["summary"]
    if s["diverged"]:
        st.warning(f"The run diverged at step {s['diverged_step']}: lower the learning rate η.",
                   icon=":material/warning:")
    if s.get("auto_reached") is False or (s["best_step"] is not None and s["best_step"] >= s["steps"]):
        st.warning(f"The test loss was still falling at the last step ({s['steps']:,}): the minimum was not "
                   "reached, so the best step shown is only the end of the run. Raise η or the steps.",
                   icon=":material/warning:")
    if not s["theory_applies"]:
        st.info(plain(f"No theory curve: {s['theory_reason']}."), icon=":material/info:")
    else:
        st.caption(plain(f"Theory: {s['theory_level']}."))
    m = st.columns(4)
    m[0].metric("best step (measured)", s["best_step"], help="the step of the lowest test loss, to the step")
    m[1].metric(f"best step ({charts.theory_source(s['theory_level']) if s['theory_applies'] else 'theory'})", "—" if s["best_step_theory"] is None else s["best_step_theory"])
    m[2].metric("lowest test loss", f"{s['test_loss_min']:.4g}",
                help=f"exact theory: {s['test_loss_min_theory']}; noise floor {s['noise_floor']:.4g}")
    m[3].metric("final test loss", f"{s['final_test_loss']:.4g}", help=f"after {s['steps']} steps")
    altair_figure(charts.loss_chart(data["history"], s), "generalisation_loss")
    altair_figure(charts.signal_noise_chart(data["history"], s["theory_level"]), "generalisation_signal_noise")
    altair_figure(charts.spectrum_chart(data["modes"], s), "generalisation_spectrum")
    st.markdown("**Teacher modes**: the empirical value ŝ and the squared overlaps of its singular vectors with "
                "the teacher's (cos²), measured on this sample and predicted by random-matrix theory.")
    st.dataframe(data["teacher"], hide_index=True)
    st.download_button("history.csv", data["history"].to_csv(index=False), file_name="generalisation_history.csv",
                       mime="text/csv", icon=":material/download:", key="gen_dl_history")

st.subheader("The best step moves with init scale and depth")
st.markdown("Same sample, aligned start (exact theory), one run per (depth, init scale). The init scale is the "
            "per-layer strength, so each mode starts at u0 = scale^L: a smaller or deeper start waits longer.")
study_params = {**params, "init_scheme": "aligned", "inputs": "whitened", "steps": "auto"}
grid = panel("init_depth", study_params)
if grid is not None:
    altair_figure(charts.best_step_chart(grid["summary"]), "generalisation_best_step")

st.subheader("Depth 2 against depth 1 (ridge-like), each at its own best step")
st.markdown("A depth-1 student from zero shrinks every mode by the same factor, like ridge regression; depth 2 "
            "learns the strong (signal) modes well before the weak (noise) ones, so its best stopping point is "
            "closer to keeping the signal and dropping the noise.")
both = panel("depths", study_params)
if both is not None:
    altair_figure(charts.depth_compare_chart(both["curves"], both["summary"]), "generalisation_depths")
    st.dataframe(both["summary"][["depth", "best_step", "best_step_theory", "test_loss_min", "test_loss_min_theory",
                                  "ridge_test_loss_min", "noise_floor"]], hide_index=True)

st.subheader("Asymptotic level vs exact level as the dimension grows")
st.markdown("n_in grows while n_out/n_in and P/n_in stay fixed (three samples per size): the random-matrix "
            "prediction, which knows only the teacher's singular values, σ and the ratios, closes in on the "
            "exact level of each sample.")
gaps = panel("rmt_gap", {**study_params, "depth": 2})
if gaps is not None:
    if gaps["skipped"] or gaps["stopped_at"]:
        st.caption(f"Not computed: n_in = {', '.join(map(str, gaps['skipped']))} (over this server's size caps)"
                   if gaps["skipped"] else f"Stopped at n_in = {gaps['stopped_at']}: the CPU budget ran out.")
    if gaps["gaps"]["reached"].eq(False).any():
        st.caption("Samples whose minimum lies beyond the step cap have no step or loss gap (blank): raise η.")
    altair_figure(charts.rmt_gap_chart(gaps["summary"]), "generalisation_rmt_gap")
    st.dataframe(gaps["summary"], hide_index=True)
references("generalisation")

"""Theory & scaling: batched sweeps that put the article's laws to the test (thin page).

Widgets → one cached call into ``dln_core.studies`` / ``studies_matrix`` per figure → charts from
``dln_core.charts.scaling``. Only the chosen study is computed; bad input shows an error, keeps results.
"""

from __future__ import annotations

import streamlit as st

from dln_core import advice, studies, studies_laws, studies_matrix, sweep
from dln_core.charts import scaling as charts
from pages import _laws
from pages._shared import (
    altair_figure,
    computation,
    ensure_entrypoint,
    references,
    run_store,
    show_error,
    url,
    warn_if,
)

ensure_entrypoint()
st.title("Theory & scaling")
st.markdown("""
Each study below trains a whole family of small networks at once (one batched tensor program per
shape) and sets the measurements against closed-form predictions. Time is always gradient-flow time
t = η·k and the loss is ½‖·‖². Unless a study says otherwise the weights start **exactly aligned and
balanced** ("aligned" init): then each mode starts at u0 = (init scale)^L, so the laws are not blurred
by the short alignment phase a random start goes through first.
""")


STUDY_FUNCTIONS = {n: f for m in (studies, studies_matrix) for n, f in vars(m).items() if n.startswith("study_")}
STUDY_FUNCTIONS |= {"study_u0_law": studies_laws.study_u0_law, "study_lambda_law": studies_laws.study_lambda_law}


@st.cache_data(show_spinner=False, max_entries=48)
def compute(study: str, params: dict) -> dict:
    """The one cached call per figure: ``study_<study>(**params)`` (studies / studies_matrix, or the
    exponent studies of dln_core.laws) → DataFrames, priced first against the CPU budget, with a
    progress bar, stopped if the visitor leaves meanwhile."""
    with computation("Running the sweep…") as progress:
        return STUDY_FUNCTIONS[f"study_{study}"](**params, progress=progress)


def offer_downloads(frames: dict, stem: str) -> None:
    """CSV download per frame, and a button saving the whole study (and its parameters) to the run store."""
    meta = {k: list(v) if isinstance(v, tuple) else v for k, v in st.session_state.get(f"scaling_params_{stem}", {}).items()}
    cols = st.columns(len(frames) + 1)
    for col, (name, frame) in zip(cols, frames.items()):
        col.download_button(f"{name}.csv", frame.to_csv(index=False), file_name=f"{stem}_{name}.csv",
                            mime="text/csv", icon=":material/download:", key=f"dl_{stem}_{name}")
    if cols[-1].button("Save to run store", key=f"save_{stem}", icon=":material/save:"):
        store = run_store()
        if store is None:
            st.warning("The run store is not available on this server.")
        else:
            try:
                run_id = store.save_frames(frames, {"name": f"sweep: {stem}", "study": stem, "params": meta},
                                           kind="sweep")
                st.success(f"Saved as {run_id} (see the Runs page).")
            except Exception as exc:  # a full or read-only disk must not break the page
                show_error(exc, "Saving failed")


def run_study(study: str, defaults: dict, submitted: bool, parse) -> dict | None:
    """Compute with the submitted parameters (first visit: the form's, e.g. a link's), else the last good ones."""
    key = f"scaling_params_{study}"
    if submitted or key not in st.session_state:
        try:
            new = parse()
            data = compute(study, new)
            st.session_state[key] = new
            return data
        except Exception as exc:
            show_error(exc)
    try:
        return compute(study, st.session_state.setdefault(key, defaults))
    except Exception as exc:  # e.g. a cap lowered since: say so instead of a traceback
        show_error(exc)
        return None


# ---------------------------------------------------------------------------------------- studies
def study_learning_order() -> None:
    st.markdown(
        """
**Which mode goes first?** The time a mode needs scales inversely with its singular value λ, so the
strongest direction of the target is learned first and the weakest last. Points: measured halfway
times of every mode of one network; dashed: the exact prediction from each mode's measured start.
"""
    )
    defaults = {"singular_values": "6,4,3,2,1,0.5", "depth": 2, "init_scheme": "aligned", "init_scale": 1e-3,
                "lr": 0.01, "seed": 0}
    with st.form("form_order"):
        c = st.columns(5)
        sv = c[0].text_input("target singular values", "6,4,3,2,1,0.5", **url("lo_sv"))
        depth = c[1].number_input("depth L", value=2, min_value=1, max_value=12, step=1, **url("lo_depth"))
        scheme = c[2].selectbox("init", ["aligned", "near-identity", "gaussian"], **url("lo_scheme"))
        scale = c[3].number_input("init scale", value=1e-3, format="%.1e", min_value=1e-12, **url("lo_scale"))
        lr = c[4].number_input("learning rate η", value=0.01, format="%.4f", min_value=1e-6, **url("lo_lr"))
        submitted = st.form_submit_button("Run", icon=":material/play_arrow:")

    def parse() -> dict:
        return {"singular_values": sv, "depth": int(depth), "init_scheme": scheme, "init_scale": float(scale),
                "lr": float(lr), "seed": 0}

    data = run_study("learning_order", defaults, submitted, parse)
    if data is None:
        return
    warn_if(advice.sweep_cap_warning_for(st.session_state.get("scaling_params_learning_order", defaults)))
    altair_figure(charts.learning_order_chart(data["summary"]), "scaling_learning_order")
    st.dataframe(data["summary"][["mode", "lambda", "u0", "halfway_time", "tau_half_theory", "halfway_step",
                                  "halfway_step_theory"]], hide_index=True)
    offer_downloads(data, "learning_order")


def study_sharpness() -> None:
    st.markdown(
        """
**How sudden is the drop?** Compare the time a mode takes to climb from 10 % to 90 % of its target
with the time it waited to get half way. Deeper networks wait longer and then jump faster, so the
ratio shrinks with depth: the staircase gets crisper. Each depth is one network with a single mode,
trained with a small step so that gradient descent follows gradient flow closely.
"""
    )
    defaults = {"depths": (2, 3, 4, 5, 6), "lam": 1.0, "u0": 1e-3}
    with st.form("form_sharp"):
        c = st.columns(3)
        depths = c[0].text_input("depths L", "2,3,4,5,6", **url("sh_depths"))
        lam = c[1].number_input("singular value λ", value=1.0, min_value=1e-3, **url("sh_lam"))
        u0 = c[2].number_input("initial strength u0", value=1e-3, format="%.1e", min_value=1e-12, **url("sh_u0"))
        submitted = st.form_submit_button("Run", icon=":material/play_arrow:")

    def parse() -> dict:
        return {"depths": sweep.parse_ints("depths L", depths, 2, 12), "lam": float(lam), "u0": float(u0)}

    data = run_study("sharpness", defaults, submitted, parse)
    if data is None:
        return
    altair_figure(charts.sharpness_chart(data["ratios"]), "scaling_sharpness")
    st.dataframe(data["ratios"], hide_index=True)
    offer_downloads(data, "sharpness")


def study_stability() -> None:
    st.markdown(
        """
**How large can the step be?** Near a minimum, gradient descent is stable only if η < 2 / sharpness,
where sharpness is the largest curvature there. At the balanced minimum of a whitened problem that is
L·λ_max^(2−2/L); with a non-whitened input covariance it is computed numerically. Each dot is a run at
η = factor × cap: below the bar runs converge, above it they oscillate or blow up.
"""
    )
    defaults = {"depths": (2, 3), "singular_values": "6,4,3,2,1,0.5", "factors": (0.5, 0.8, 0.95, 1.05, 1.25, 2.0),
                "input_eigenvalues": None}
    with st.form("form_stab"):
        c = st.columns(4)
        depths = c[0].text_input("depths L", "2,3", **url("st_depths"))
        sv = c[1].text_input("target singular values", "6,4,3,2,1,0.5", **url("st_sv"))
        factors = c[2].text_input("η as multiples of the cap", "0.5,0.8,0.95,1.05,1.25,2", **url("st_factors"))
        ev = c[3].text_input("input variances (blank = whitened)", "", **url("st_ev"),
                             help="commuting Σxx: one variance per input direction")
        submitted = st.form_submit_button("Run sweep", icon=":material/play_arrow:")

    def parse() -> dict:
        return {"depths": sweep.parse_ints("depths L", depths, 1, 12), "singular_values": sv,
                "factors": sweep.parse_floats("η multiples", factors, positive=True),
                "input_eigenvalues": ev.strip() or None}

    data = run_study("stability", defaults, submitted, parse)
    if data is None:
        return
    altair_figure(charts.stability_chart(data["summary"], data["caps"]), "scaling_stability")
    st.dataframe(data["caps"], hide_index=True)
    st.markdown(
        "Per run: where it ended and how sharp the loss is there. A run can only settle where the "
        "sharpness is below 2/η. With whitened inputs the balanced minimum is the flattest one, so "
        "nothing converges past the cap; with non-whitened inputs a run slightly past the cap may "
        "still settle, in a flatter *unbalanced* minimum (compare the two sharpness columns)."
    )
    st.dataframe(
        data["summary"].drop_duplicates("member")[
            ["depth", "lr", "lr_over_cap", "outcome", "final_loss", "sharpness_final", "two_over_lr", "diverged_step"]
        ],
        hide_index=True,
        column_config={"final_loss": st.column_config.NumberColumn(format="%.2e")},
    )
    offer_downloads(data, "stability")


def study_commuting() -> None:
    st.markdown(
        """
**When inputs are not whitened.** If the input covariance shares its eigenvectors with the target
(commuting case), each mode still follows its own equation, but its *speed* is set by the
input–output covariance λ_i while its *end point* is λ_i/d_i (d_i = input variance along that
direction). A direction with a lot of input variance can then be learned first even though the map
the network ends up with is weaker along it. Below: measured (solid) and theory (dashed) for the
commuting case, then the same variances in a rotated basis, which no longer commutes: no closed form
is known there, so that panel is **simulation only**.
"""
    )
    defaults = {"depth": 2, "singular_values": "3,1", "input_eigenvalues": "6,1", "init_scale": 1e-2, "lr": 0.02}
    with st.form("form_comm"):
        c = st.columns(5)
        depth = c[0].number_input("depth L", value=2, min_value=2, max_value=12, step=1, **url("co_depth"))
        sv = c[1].text_input("cross-covariance singular values λ", "3,1", **url("co_sv"))
        ev = c[2].text_input("input variances d", "6,1", **url("co_ev"))
        scale = c[3].number_input("init scale", value=1e-2, format="%.1e", min_value=1e-12, **url("co_scale"))
        lr = c[4].number_input("learning rate η", value=0.02, format="%.4f", min_value=1e-6, **url("co_lr"))
        submitted = st.form_submit_button("Run", icon=":material/play_arrow:")

    def parse() -> dict:
        return {"depth": int(depth), "singular_values": sv, "input_eigenvalues": ev, "init_scale": float(scale),
                "lr": float(lr)}

    data = run_study("commuting", defaults, submitted, parse)
    if data is None:
        return
    altair_figure(charts.mode_curves_chart(data["commuting_curves"], "Commuting Σxx: measured vs theory"),
                  "scaling_commuting")
    st.markdown("**Learning order** (1 = first): measured, predicted, and what ordering by the end "
                "point λ/d would naively suggest.")
    st.dataframe(data["order"], hide_index=True)
    altair_figure(charts.mode_curves_chart(
        data["noncommuting_curves"], "Non-commuting Σxx (rotated basis): simulation only, no theory"),
        "scaling_noncommuting")
    offer_downloads(data, "commuting")


def study_exact_l2() -> None:
    st.markdown(
        """
**The whole matrix, exactly.** For two layers started λ-balanced (W₂ᵀW₂ − W₁W₁ᵀ = λ_b·I), gradient
flow has a closed-form solution for the full end-to-end matrix, even from a random start that is not
aligned with the target. The chart shows how far gradient descent strays from it. The gap comes only
from taking finite steps: dividing η by 4 divides it by about 4.
"""
    )
    defaults = {"singular_values": "3,2,1", "rotate_seed": 1, "init_scale": 0.1, "lambda_b": 0.0, "lr": 0.01,
                "t_max": 6.0}
    with st.form("form_exact"):
        c = st.columns(5)
        sv = c[0].text_input("target singular values", "3,2,1", **url("ex_sv"))
        lam_b = c[1].number_input("λ_b", value=0.0, format="%.3f", **url("ex_lam_b"))
        scale = c[2].number_input("init scale", value=0.1, format="%.3g", min_value=1e-8, **url("ex_scale"))
        lr = c[3].number_input("learning rate η", value=0.01, format="%.4f", min_value=1e-6, **url("ex_lr"))
        t_max = c[4].number_input("up to time t", value=6.0, min_value=0.01, **url("ex_t_max"))
        submitted = st.form_submit_button("Run", icon=":material/play_arrow:")

    def parse() -> dict:
        return {"singular_values": sv, "rotate_seed": 1, "init_scale": float(scale), "lambda_b": float(lam_b),
                "lr": float(lr), "t_max": float(t_max)}

    data = run_study("exact_l2", defaults, submitted, parse)
    if data is None:
        return
    altair_figure(charts.exact_solution_chart(data["errors"]), "scaling_exact_l2")
    offer_downloads(data, "exact_l2")


STUDIES = {
    "u₀ law (plateau vs init)": lambda: _laws.study_u0_law(run_study, offer_downloads),
    "λ law (depth exponent)": lambda: _laws.study_lambda_law(run_study, offer_downloads),
    "Learning order": study_learning_order,
    "Sharper steps with depth": study_sharpness,
    "Step-size limit": study_stability,
    "Non-whitened inputs": study_commuting,
    "Exact L = 2 solution": study_exact_l2,
}

choice = st.segmented_control("Study", list(STUDIES), default=next(iter(STUDIES)), **url("study"))
STUDIES[choice or next(iter(STUDIES))]()
references("scaling")

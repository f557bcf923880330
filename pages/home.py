"""Home: what DLN Lab is, the four claims it lets you test, and where to test each one."""

import streamlit as st

from pages._shared import ensure_entrypoint, references

ensure_entrypoint()
st.title("DLN Lab")
st.markdown(
    """
A deep linear network multiplies its input by a chain of weight matrices and nothing else. The function
it can express is just one matrix, yet training it by gradient descent is a non-convex problem with rich,
exactly solvable dynamics. That makes it the cleanest place to *watch* phenomena that also show up in
large nonlinear models, and to check each one against a formula.

Every curve in this lab is computed live: networks are trained by full-batch gradient descent (loss
½‖·‖², time t = η·k), and the dashed lines next to them are the exact theory evaluated from the same
starting point.
"""
)

st.subheader("Four claims you can check here")
claims = [
    (
        "Big directions first.",
        "The network picks up the target's singular directions one at a time, strongest first.",
        "pages/explorer.py",
        "Mode strengths in the DLN explorer",
    ),
    (
        "Saddles, not traps.",
        "The loss surface is non-convex, but its only minima are global; training just lingers near saddles.",
        "pages/explorer.py",
        "Loss landscape panel",
    ),
    (
        "Low-rank updates.",
        "At any moment the weight change of each layer is dominated by very few directions.",
        "pages/explorer.py",
        "Update effective rank panel",
    ),
    (
        "Stairs from small init, sharper with depth.",
        "Starting near zero gives plateaus and sudden drops; deeper networks wait longer and drop faster.",
        "pages/scaling.py",
        "Theory & scaling sweeps",
    ),
]
for i, (title, text, page, link) in enumerate(claims, start=1):
    with st.container(border=True):
        st.markdown(f"**{i}. {title}** {text}")
        st.page_link(page, label=link, icon=":material/arrow_forward:")

st.subheader("Pages")
st.page_link("pages/explorer.py", label="DLN explorer: train one network, compare with theory", icon=":material/ssid_chart:")
st.page_link("pages/embeddings.py", label="Word embeddings: a word2vec-like model as a two-layer linear net", icon=":material/scatter_plot:")
st.page_link("pages/scaling.py", label="Theory & scaling: sweeps over depth, init scale and step size", icon=":material/functions:")
st.page_link("pages/generalisation.py", label="Generalisation: a noisy teacher sample, early stopping vs exact theory",
             icon=":material/model_training:")
st.page_link("pages/runs.py", label="Runs: saved and session runs, overlays, CSV export", icon=":material/table_chart:")
st.caption("Headless use: `python -m dln_core train|sweep|embed|generalize --help`.")
references("home")

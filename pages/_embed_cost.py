"""The embeddings page's cost gate: the estimated time of a configuration (dln_core.embeddings.cost),
shown before it runs; above a minute it asks first, above the refusal limit it says no with the largest
V that fits. Widgets only, kept apart so pages/embeddings.py stays short.
"""

from __future__ import annotations

import streamlit as st

from dln_core.embeddings import EmbedConfig, cost


@st.cache_resource(show_spinner=False)
def machine_rate() -> float:
    """This machine's speed for the training step's product (dln_core.embeddings.cost), once per server."""
    return cost.measure_rate()


def confirm_cost(cfg: EmbedConfig) -> bool:
    """Show the estimated cost; above cost.CONFIRM_ABOVE_S ask first, above REFUSE_ABOVE_S refuse."""
    est = cost.estimate(cfg.vocab, cfg.dim, cfg.steps, cfg.n_snapshots, machine_rate(), cfg.method, cfg.dtype)
    verdict = cost.verdict(est)
    if verdict == "refuse":
        top = cost.largest_vocab(cfg.dim, cfg.steps, cfg.n_snapshots, machine_rate(), method=cfg.method,
                                 dtype=cfg.dtype)
        st.error(f"Not run: V = {cfg.vocab:,}, d = {cfg.dim}, {cfg.steps:,} steps would take {est.describe()}, "
                 f"holding this server for that long (M* alone is V × V). At d = {cfg.dim} and {cfg.steps:,} "
                 f"steps the largest V within {cost.REFUSE_ABOVE_S / 60:.0f} min is ≈ {top:,}; or use the CLI "
                 "(python -m dln_core embed) on a bigger machine.", icon=":material/block:")
        return False
    st.caption(f"Estimated cost of this configuration: {est.describe()}.")
    if verdict == "run" or st.session_state.get("emb_confirmed") == cfg:
        return True
    st.warning(f"This configuration will take {est.describe()}. The page is busy until it finishes.",
               icon=":material/timer:")
    if st.button(f"Run it anyway ({est.describe().split(' on ')[0]})", key="emb_confirm"):
        st.session_state["emb_confirmed"] = cfg
        return True
    return False

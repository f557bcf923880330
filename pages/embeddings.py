"""Word embeddings: word2vec's distilled form as a deep linear network, trained for real.

Thin page: widgets → one cached call (dln_core.embeddings.run_embedding, keyed on the frozen
EmbedConfig and the corpus digest) → Plotly builders in dln_core.charts.embeddings, each figure
cached on the same key plus its view options.
Smaller defaults for tests: environment DLN_LAB_EMBED_TEST=1 or the query parameter ?embed_test=1.
"""

from __future__ import annotations

import dataclasses
import math
import os

import pandas as pd
import streamlit as st

from dln_core import advice
from dln_core.charts import embeddings as charts
from dln_core.charts.export import plotly_export_available
from dln_core.embeddings import (
    ARROW_PAIRS,
    EmbedConfig,
    complete_analogy,
    corpus_from_upload,
    load_default_corpus,
    nearest_neighbours,
    run_embedding,
    save_embedding_run,
)
from dln_core.errors import ConfigError
from dln_core.limits import current_limits
from pages._embed_cost import confirm_cost
from pages._shared import (
    computation,
    ensure_entrypoint,
    figure_downloads,
    plain,
    references,
    run_store,
    show_error,
    upload_cap_mb,
)

TEST_MODE = os.environ.get("DLN_LAB_EMBED_TEST") == "1" or st.query_params.get("embed_test") == "1"
DEFAULTS = (
    {"vocab": 700, "dim": 20, "steps": 150, "init": -6.0, "snapshots": 30}
    if TEST_MODE
    else {"vocab": 2500, "dim": 50, "steps": 250, "init": -6.0, "snapshots": 40}  # V ≥ 2054: queen is in
)
CORPORA = {
    "default": "Shipped: 6 sources, 10 M words (incl. a GPL dictionary)",
    "nogpl": "Shipped: 5 sources, 6 M words (no GPL text)",
    "upload": "a plain-text file of yours",
}


@st.cache_data(max_entries=4, show_spinner="Reading the uploaded corpus…")
def uploaded_corpus(data: bytes, name: str, max_mb: float):
    return corpus_from_upload(data, name, max_mb)


@st.cache_data(max_entries=8, max_size="600MB", show_spinner="Counting co-occurrences and training by gradient descent…")
def train(cfg: EmbedConfig, corpus_digest: str, _corpus):
    """The one expensive call (deterministic given cfg and the corpus, whose digest is the key).

    The progress bar is created inside: a cached function may not write to a block made outside it
    (CacheReplayClosureError on the next cache hit); on a hit the bar is replayed already emptied."""
    with computation("Gradient descent…") as progress:
        return run_embedding(cfg, _corpus, current_limits(), progress=progress)


# The page's charts: (result, *view options) → Plotly figure
FIGURES = {
    "scatter": lambda r, snap, axes: charts.embedding_scatter(r.embedding, snap, axes, ARROW_PAIRS),
    "animation": lambda r, axes: charts.embedding_animation(r.embedding, axes, ARROW_PAIRS),
    "modes": lambda r, n, measured: charts.singular_values_chart(r.history, n, theory="gd", measured=measured),
    "loss": lambda r, excess: charts.loss_chart(r.trace, r.summary["optimum_loss"], excess=excess),
    "accuracy": lambda r: charts.accuracy_rank_chart(r.history, r.summary["closed_form_accuracy"]),
    "halfway": lambda r, n: charts.halfway_chart(r.modes, n),
}


@st.cache_data(max_entries=64, show_spinner=False)
def figure(kind: str, cfg: EmbedConfig, corpus_digest: str, options: tuple, _result):
    """One chart, cached on (chart, config, corpus digest, view options): a keystroke in a probe box
    reruns the page and would otherwise rebuild every figure (~0.4 s, the animation ~1 s more).
    ``_result`` is not hashed: (cfg, corpus_digest) already determine it (see ``train``)."""
    return FIGURES[kind](_result, *options)


def percent(x: float, questions: int) -> str:
    """Accuracy as a metric value: "n/a (…)" instead of "nan %" (no questions, or a diverged run)."""
    if questions == 0:
        return "n/a (0 in-vocabulary questions)"
    return "n/a" if not math.isfinite(x) else f"{100 * x:.1f} %"


def rho(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.2f}"


ensure_entrypoint()
st.title("Word embeddings as a deep linear network")
st.markdown(
    "word2vec's training can be boiled down to a least-squares problem: find an embedding table "
    "**W** (one row per word) so that **W Wᵀ** matches a fixed matrix **M\\*** built from how often "
    "words appear near each other. That is a two-layer linear network with tied weights. From a tiny "
    "initialisation it learns the top directions of M\\* one at a time: each time a new direction "
    "switches on, the embedding gains a dimension and the loss drops by a step. Here the model is "
    "really trained by gradient descent on a real corpus and compared with the closed-form theory."
)

limits = current_limits()
with st.sidebar:
    st.header("Embedding model")
    # short option names: a bound radio puts the shown name in the URL (?emb_corpus=nogpl)
    corpus_choice = st.radio("Corpus", list(CORPORA), captions=list(CORPORA.values()), key="emb_corpus",
                             bind="query-params")
    upload = None
    if corpus_choice == "upload":
        # the browser refuses a bigger file before sending it; the server's maxUploadSize is the hard stop
        upload_mb = upload_cap_mb(limits)
        upload = st.file_uploader(f"Plain text, at most {upload_mb:g} MB", type=["txt"], key="emb_upload",
                                  max_upload_size=max(1, math.floor(upload_mb)))
    vocab = st.number_input("Vocabulary size V", min_value=2, value=DEFAULTS["vocab"], step=500, key="emb_vocab", bind="query-params",
                            help=f"Top-V words by frequency (at most {limits.max_vocab} here).")
    dim = st.number_input("Embedding dimension d", min_value=1, value=DEFAULTS["dim"], step=10, key="emb_dim", bind="query-params",
                          help=f"At most {limits.max_dim} here.")
    log_init = st.slider("Initial scale (log₁₀)", -12.0, 0.0, DEFAULTS["init"], 0.05, format="%.2f",
                         key="emb_init_log", bind="query-params",
                         help="≈ the singular values of W at the start. Smaller = sharper steps.")
    init_scale = 10.0**log_init
    st.caption(f"initial scale = {init_scale:.3g}")
    auto_lr = st.toggle("Automatic step size", value=True, key="emb_auto_lr", bind="query-params",
                        help="The largest safe step from M*'s extreme eigenvalues, with a 10% margin.")
    lr = "auto"
    if not auto_lr:
        lr = st.number_input("Step size η", min_value=1e-7, max_value=1.0, value=5e-4, format="%.2e", key="emb_lr",
                             bind="query-params")
    steps = st.number_input("GD steps", min_value=1, value=DEFAULTS["steps"], step=50, key="emb_steps", bind="query-params",
                            help=f"At most {limits.max_embed_steps} here.")
    seed = st.number_input("Seed", min_value=0, value=0, step=1, key="emb_seed", bind="query-params")

# ---------------------------------------------------------------- corpus + one cached training call
result = None
try:
    if corpus_choice == "upload":
        if upload is None:
            st.info("Upload a plain-text file to train on it (blank lines separate documents).")
            st.stop()
        if upload.size > upload_mb * 1e6:  # refused before its bytes are copied again
            raise ConfigError("corpus", f"at most {upload_mb:g} MB on this server", f"{upload.size / 1e6:.1f} MB")
        data = upload.getvalue()
        if not data.strip():
            raise ConfigError("corpus", "the uploaded file is empty", upload.name)
        corpus = uploaded_corpus(data, upload.name, upload_mb)
    else:
        corpus = load_default_corpus(corpus_choice)
    requested = EmbedConfig(vocab=int(vocab), dim=int(dim), init_scale=float(init_scale), lr=lr,
                            steps=int(steps), seed=int(seed), n_snapshots=DEFAULTS["snapshots"])
    requested.check_limits(limits)  # the server's caps first: an absurd V is an error, not a clamp
    cfg = requested
    if vocab > len(corpus.vocab):  # a small upload: use all its words
        st.warning(f"This corpus has only {len(corpus.vocab)} distinct words: using V = {len(corpus.vocab)}.")
        cfg = dataclasses.replace(requested, vocab=len(corpus.vocab))
    if not confirm_cost(cfg):
        st.stop()
    result = train(cfg, corpus.digest, corpus)
except ConfigError as exc:
    show_error(exc)
    st.stop()


def show(kind: str, *options, key: str, where=st) -> None:
    """Draw one cached chart of this run (``where``: the page or a column); a 2-D one gets SVG/PDF
    downloads and an SVG camera button (3-D views keep Plotly's PNG camera button)."""
    fig = figure(kind, cfg, corpus.digest, options, result)
    flat = kind in ("modes", "loss", "accuracy", "halfway")
    where.plotly_chart(fig, key=key, config={"toImageButtonOptions": {"format": "svg"}} if flat else None)
    if flat and plotly_export_available():  # kaleido needs a local Chromium
        figure_downloads(fig, f"embeddings_{kind}", key, where)


s = result.summary
if s["diverged"]:
    st.warning(f"Gradient descent diverged at step {s['diverged_step']}: the step size {s['lr']:.3g} is above "
               f"the stable limit ≈ {s['lr_max_stable']:.3g}. Use the automatic step size.")

modes_note = advice.embedding_modes_message(s, result.modes)
if modes_note:
    st.info(modes_note, icon=":material/hourglass_bottom:")

c1, c2, c3, c4, c5 = st.columns(5)
c1.metric("Analogy accuracy (trained)", percent(s["analogy_accuracy"], s["analogy_questions"]),
          help=f"3CosAdd on the {s['analogy_questions']} Google analogy questions fully in the vocabulary.")
c2.metric("Closed-form optimum", percent(s["closed_form_accuracy"], s["analogy_questions"]),
          help="Top-d eigenvectors of M*.")
c3.metric("man : woman :: king : ?", s["king_man_woman"] or "n/a")
c4.metric("WordSim-353 ρ", rho(s["wordsim_rho"]), help=f"Spearman ρ over {s['wordsim_pairs']} pairs.")
c5.metric("Step size η", f"{s['lr']:.2e}", help=f"{'automatic' if s['lr_auto'] else 'manual'}; "
          f"μ_max = {s['mu_max']:.0f}, μ_min = {s['mu_min']:.0f}")
st.caption(f"{s['analogy_questions']} in-vocabulary analogy questions · corpus: {plain(s['corpus'])} "
           f"({s['corpus_tokens']:,} words) · {s['steps']} steps on {s['device']} in {s['wall_time_s']:.1f} s")

# ---------------------------------------------------------------- 3-D scatter
st.subheader("The embedding grows one direction at a time")
st.markdown(
    "Each point is a word, placed by its coordinates along three principal directions of the trained "
    "embedding. Early on everything sits at the origin; each direction only spreads out once its "
    "mode has been learned. Arrows show the offsets man→woman and king→queen (and two capital-city "
    "pairs): when analogies work, they are nearly parallel."
)
steps_avail = charts.scatter_steps(result.embedding)
a1, a2, a3, a4 = st.columns([1, 1, 1, 3])
axes = (
    a1.number_input("x: direction", 1, cfg.dim, min(1, cfg.dim), key="emb_ax1"),
    a2.number_input("y: direction", 1, cfg.dim, min(2, cfg.dim), key="emb_ax2"),
    a3.number_input("z: direction", 1, cfg.dim, min(3, cfg.dim), key="emb_ax3"),
)
animate = a4.toggle("Play as an animation", value=False, key="emb_animate",
                    help="All snapshots in one figure with play / pause and a scrub bar.")
if animate:
    show("animation", axes, key="emb_anim")
else:
    snap = a4.select_slider("Snapshot (step)", options=steps_avail, value=steps_avail[-1], key="emb_snap")
    show("scatter", snap, axes, key="emb_scatter")

# ---------------------------------------------------------------- dynamics vs theory
st.subheader("Training dynamics against the theory")
st.markdown(
    "Every mode k follows its own S-curve with the k-th eigenvalue μ_k of M\\* as target: it waits on a "
    "plateau whose length grows with log(1/initial scale) / μ_k, then rises. Dashed lines are that law "
    "for the exact step size used, started from each mode's measured initial strength."
)
m1, m2 = st.columns([3, 1])
# a slider needs min < max: with d = 1 there is nothing to choose
n_show = m1.slider("Modes shown", 1, cfg.dim, min(20, cfg.dim), key="emb_nmodes", bind="query-params") if cfg.dim > 1 else 1
sorted_sv = m2.toggle("Sorted singular values of W", value=False, key="emb_sorted",
                      help="Off: the strength of each eigen-direction of M* (the like-for-like comparison).")
show("modes", n_show, "sv" if sorted_sv else "mode", key="emb_sv")
st.caption("Later modes can lag their curve a little when d is small: each starts from a random direction "
           "that must first turn away from the directions already learned, which costs some initial strength.")
col_loss, col_acc = st.columns(2)
excess = col_loss.toggle("Loss above the optimum, log scale", value=True, key="emb_excess",
                         help="Shows every step, also the late small ones.")
show("loss", bool(excess and not s["diverged"]), key="emb_loss", where=col_loss)
show("accuracy", key="emb_acc", where=col_acc)
st.caption("Effective rank = exp(entropy) of the eigenvalues of WᵀW: at the start it is high because a tiny "
           "random W has a flat spectrum; it collapses to 1 when the first mode takes over, then climbs. "
           "Learned modes = how many eigenvalues of WᵀW have passed half of their target μ_k.")
with st.expander("Halfway times per mode"):
    show("halfway", n_show, key="emb_half")
    st.dataframe(result.modes.head(n_show), hide_index=True)

# ---------------------------------------------------------------- probes
st.subheader("Probe the trained embedding")
left, right = st.columns(2)
with left:
    st.markdown("**Analogy**: *a* is to *b* as *c* is to ?")
    b1, b2, b3 = st.columns(3)
    qa = b1.text_input("a", "man", key="emb_qa")
    qb = b2.text_input("b", "woman", key="emb_qb")
    qc = b3.text_input("c", "king", key="emb_qc")
    try:
        answers = complete_analogy(result.W, result.vocab, qa, qb, qc, topk=5)
        st.dataframe(pd.DataFrame(answers, columns=["answer", "cosine"]), hide_index=True)
    except ConfigError as exc:
        st.warning(plain(exc))
with right:
    st.markdown("**Nearest neighbours** (cosine)")
    word = st.text_input("Word", "france", key="emb_nn")
    try:
        st.dataframe(pd.DataFrame(nearest_neighbours(result.W, result.vocab, word, k=8), columns=["word", "cosine"]),
                     hide_index=True)
    except ConfigError as exc:
        st.warning(plain(exc))

with st.expander("Chosen analogies over training"):
    tracks = result.analogy_tracks
    if len(tracks):
        top = tracks[tracks["rank"] == 1].pivot_table(index="step", columns="question", values="answer", aggfunc="first")
        st.dataframe(top, height=280)
    st.download_button("History (CSV)", result.history.to_csv(index=False), "embedding_history.csv", "text/csv")

if st.button("Save to runs", key="emb_save", help="Store this run's frames, config and summary on disk."):
    store = run_store()
    try:
        if store is None:
            raise OSError("the run store is unavailable")
        st.success(f"Saved as run {save_embedding_run(store, result)}.")
    except (OSError, ValueError) as exc:  # e.g. a read-only disk: the page stays usable
        show_error(exc, "Save to runs")
references("embeddings")

"""Word embeddings as a deep linear network (THEORY.md §7): corpus → co-occurrence → M* → GD → evaluation.

Modules: ``corpus`` (tokenise, id stream, default artifact, user text), ``cooccurrence`` (windowed
counts, M*, disk cache), ``theory`` (loss scaling, logistic law, halfway times, stable step),
``model`` (config, spectrum, GD loop), ``evaluate`` (3CosAdd, Spearman ρ), ``frames`` (the
documented DataFrames), ``pipeline`` (run_embedding). ``python -m dln_core embed`` is dln_core/cli/embed.py.

Names are imported lazily so that the CLI dispatcher stays quick to start.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Corpus": "corpus",
    "tokenize": "corpus",
    "load_default_corpus": "corpus",
    "load_corpus_artifact": "corpus",
    "SHIPPED_CORPORA": "corpus",
    "corpus_from_text": "corpus",
    "corpus_from_upload": "corpus",
    "read_text_corpus": "corpus",
    "CooccurrenceStats": "cooccurrence",
    "count_cooccurrences": "cooccurrence",
    "corpus_statistics": "cooccurrence",
    "target_matrix": "cooccurrence",
    "EmbedConfig": "model",
    "spectrum": "model",
    "train_gd": "model",
    "closed_form_embedding": "model",
    "analogy_accuracy": "evaluate",
    "complete_analogy": "evaluate",
    "nearest_neighbours": "evaluate",
    "similarity_rho": "evaluate",
    "load_analogies": "evaluate",
    "load_similarity": "evaluate",
    "run_embedding": "pipeline",
    "EmbedResult": "pipeline",
    "save_embedding_run": "pipeline",
    "HIGHLIGHT_WORDS": "frames",
    "ARROW_PAIRS": "pipeline",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""``python -m dln_core embed``: train word embeddings headless (THEORY.md §7).

Prints one JSON object (analogy_accuracy, analogy_questions, closed_form_accuracy, king_man_woman =
top answer to man:woman::king:?, wordsim_rho, and more) and, with ``--csv``, writes the history
frame (columns documented in :mod:`dln_core.embeddings.frames`); ``--save`` stores the run (kind
"embed", meta = config + summary) in the run store. Bad input, including an unwritable output,
raises ConfigError before training, which the dispatcher prints as one line with exit code 2.
A diverged run still exits 0 (the JSON says ``"diverged": true``, trained scores are null) and
prints "diverged at step k" on stderr.

Options left unset keep EmbedConfig's defaults; the parser does not read them, so building it loads
no numpy or scipy.
"""

from __future__ import annotations

import argparse
import sys

import dln_core

from .. import embeddings  # lazy itself (PEP 562): the model, corpus and pipeline load in run()
from ..errors import ConfigError
from ..limits import current_limits
from .common import Outputs, check_outputs, given

HELP = "word embeddings as a deep linear network (QWEM)"
DESCRIPTION = None

JSON_KEYS = (
    "analogy_accuracy",
    "analogy_questions",
    "closed_form_accuracy",
    "king_man_woman",
    "wordsim_rho",
    "wordsim_pairs",
    "simlex_rho",
    "men_rho",
    "closed_form_wordsim_rho",
    "final_loss",
    "optimum_loss",
    "lr",
    "lr_max_stable",
    "mu_max",
    "mu_min",
    "diverged",
    "steps",
    "corpus",
    "corpus_tokens",
    "method",
    "wall_time_s",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--vocab", type=int, help="vocabulary size V (top-V words)")
    p.add_argument("--dim", type=int, help="embedding dimension d")
    p.add_argument("--init-scale", type=float, help="≈ singular values of W at init")
    p.add_argument("--lr", type=str, default="auto", help="step size η, or 'auto' (from M*'s extreme eigenvalues)")
    p.add_argument("--steps", type=int, help="full-batch GD steps")
    p.add_argument("--seed", type=int)
    p.add_argument("--window", type=int, help="context half-width (weights c+1-j)")
    p.add_argument("--unigram", choices=["cooccurrence", "tokens"],
                   help="P_i in M*: co-occurrence marginal (default) or token frequency (QWEM reference)")
    p.add_argument("--snapshots", type=int, help="history rows")
    p.add_argument("--corpus", type=str, default="default",
                   help="a shipped corpus ('default', or 'nogpl' = without the GPL dictionary) or a plain-text file")
    p.add_argument("--csv", type=str, default=None, help="write the history frame to this CSV file")
    p.add_argument("--save", action="store_true", help="save the run (kind 'embed') in the run store ($DLN_LAB_HOME)")
    p.add_argument("--name", type=str, default=None, help="a label for the saved run (with --save)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    # literal choices (= embeddings.model.METHODS / DTYPES): building the parser loads no numpy
    p.add_argument("--method", choices=["auto", "dense", "eigenbasis"],
                   help="GD route: dense M* products, or exact steps in M*'s eigenbasis (default auto: the faster)")
    p.add_argument("--dtype", choices=["float32", "float64"], help="GD precision (default float32)")


def _lr(text: str) -> float | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise ConfigError("lr", "must be a positive number or 'auto'", text) from None


def build_config(args: argparse.Namespace):
    """The EmbedConfig of the parsed arguments (one scatter snapshot of one word: the CLI draws none)."""
    return embeddings.EmbedConfig(
        **given(
            vocab=args.vocab,
            dim=args.dim,
            init_scale=args.init_scale,
            steps=args.steps,
            seed=args.seed,
            window=args.window,
            unigram=args.unigram,
            n_snapshots=args.snapshots,
            method=args.method,
            dtype=args.dtype,
        ),
        lr=_lr(args.lr),
        n_scatter_snapshots=1,
        event_snapshots=0,  # --snapshots is the exact number of history rows
        scatter_words=1,
        device=args.device,
    )


def run(args: argparse.Namespace) -> int:
    limits = current_limits()
    cfg = build_config(args)
    cfg.check_limits(limits)
    csv_path, store = check_outputs(args.csv, args.save)  # fail now, not after training
    if args.corpus in embeddings.SHIPPED_CORPORA:
        corpus = embeddings.load_default_corpus(args.corpus)
    else:
        corpus = embeddings.read_text_corpus(args.corpus, limits.max_upload_mb)
    result = embeddings.run_embedding(cfg, corpus, limits)
    if result.summary["diverged"]:
        print(f"diverged at step {result.summary['diverged_step']}", file=sys.stderr)
    out = {k: result.summary.get(k) for k in JSON_KEYS}
    outputs = Outputs(out)
    if store is not None:
        outputs.write("--save", "run_id", lambda: embeddings.save_embedding_run(store, result, args.name))
        if "run_id" in out:
            print(f"saved run {out['run_id']}", file=sys.stderr)
    if csv_path is not None:
        outputs.write("--csv", "csv", lambda: dln_core.store.atomic_write_bytes(
            csv_path, result.history.to_csv(index=False).encode()) or str(csv_path))
    return outputs.finish()
